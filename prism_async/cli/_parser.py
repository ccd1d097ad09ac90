"""The command line's grammar: one argparse parser with a subcommand per verb."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["build_parser", "parse_assignment"]

PROVIDERS_HELP = "provider name: nanogpt, prism or lipsync"


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON where it is JSON (numbers, true, objects),
    else as a plain string: ``--set seed=42`` sends a number, ``--set style=anime`` text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object per result")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prism-async",
        description="Generate videos through Prism, a Sync.so-style lipsync API or NanoGPT.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log HTTP exchanges")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = verbs.add_parser("generate", help="submit a generation and (by default) wait for it")
    gen.add_argument("--provider", required=True, help=PROVIDERS_HELP)
    gen.add_argument("--model", help="the provider's model id")
    gen.add_argument("--prompt", help="what to generate")
    gen.add_argument("--image", help="start image: a local path or an http(s) URL")
    gen.add_argument("--duration", type=int, help="seconds")
    gen.add_argument("--aspect-ratio", help="16:9, 9:16, 1:1...")
    gen.add_argument("--resolution", help="720p, 1080p...")
    gen.add_argument("--count", type=int, default=1, help="videos to make (where supported)")
    gen.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        type=parse_assignment,
        metavar="KEY=VALUE",
        help="a raw wire field, passed through untouched (value read as JSON if it is JSON)",
    )
    gen.add_argument("--no-wait", action="store_true", help="print the job handles and exit")
    gen.add_argument("--timeout", type=_positive, help="give up waiting after S seconds")
    gen.add_argument("--download", metavar="DIR", help="download the outputs into DIR")
    _add_output(gen)

    status = verbs.add_parser("status", help="show a job's current state")
    status.add_argument("--provider", help=PROVIDERS_HELP + " (not needed for a full handle)")
    status.add_argument("job", metavar="ID", help="a job id, or a handle printed by --no-wait")
    _add_output(status)

    wait = verbs.add_parser("wait", help="wait for jobs to end, printing each as it ends")
    wait.add_argument("--provider", help=PROVIDERS_HELP + " (not needed for full handles)")
    wait.add_argument("jobs", nargs="+", metavar="ID")
    wait.add_argument("--timeout", type=_positive, help="give up waiting after S seconds")
    wait.add_argument("--download", metavar="DIR", help="download the outputs into DIR")
    _add_output(wait)

    models = verbs.add_parser("models", help="list a provider's video models")
    models.add_argument("--provider", default="nanogpt", help=PROVIDERS_HELP)
    _add_output(models)

    emulate = verbs.add_parser("emulate", help="serve the built-in API emulators on loopback")
    emulate.add_argument("--port", type=int, default=8000)
    emulate.add_argument("--host", default="127.0.0.1")

    demo = verbs.add_parser("demo", help="run a demo batch against in-process emulators")
    demo.add_argument("--out", default="prism-demo-output", help="folder for the outputs")
    return parser
