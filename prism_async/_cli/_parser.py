"""The command line's grammar: one argparse parser with a subcommand per verb."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from prism_async._cli._cancel import add_batch_cancel_flags, add_cancel_parser
from prism_async._cli._webhooks import SECRET_VARIABLE, add_webhook_flags, mount_path, port_number

__all__ = ["build_parser", "parse_assignment"]

BALANCES = ("nanogpt", "prism")  # the emulators that keep an account balance

PROVIDERS_HELP = "provider name: nanogpt, prism or lipsync"

SERVE_DESCRIPTION = (
    "A webhook receiver on its own, for jobs another process submitted with this receiver's "
    "public URL as its webhook URL. Every verified delivery is printed on stdout as one JSON "
    'line: {"provider", "job_id", "result", "waited_on"}; "result" is the job\'s state as a '
    "signed delivery tells it (GenerationResult.to_dict()), or null for an unsigned one "
    '(Prism: confirm it with prism-async status); "waited_on" is false (nothing waits '
    "here). Forged, tampered, stale, unknown-route "
    "and oversized deliveries are refused (401/404/413) and logged on stderr. Lipsync "
    f"deliveries are verified with the signing secret (--webhook-secret or {SECRET_VARIABLE}"
    "). Prism deliveries are unsigned: their callback URLs carry tokens keyed on the "
    "submitting process's webhook secret, so this server accepts them only when it is given "
    "the same --webhook-secret (so one is required). Runs until "
    "SIGINT or SIGTERM, then exits 0."
)


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


EXIT_STATUS_EPILOG = (
    "Exit status: 0 every job succeeded; 1 a generation failed, or the API or the network "
    "failed; 2 input the command or the API refused (nothing was charged); 3 a create's "
    "outcome is unknown (a job may exist and be charged for: do not retry blindly); 4 the "
    "batch journal cannot be used; 5 a wait timed out (--timeout) with no job failed: each "
    "job still going is printed in its last known state (queued or running), and "
    "'prism-async wait HANDLE' takes it up again; 130 interrupted (Ctrl-C). With --json, "
    "every line about a job is one result object: provider, id, status, outputs, error, "
    "progress, cost, created_at, completed_at (and more), plus handle."
)


class _VersionAction(argparse.Action):
    """``--version``: the installed version, read from the distribution's metadata only
    when asked for (building the parser must not pay for importlib.metadata)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from prism_async._version import version

        print(f"prism-async {version()}", flush=True)  # on stdout, as --help is
        parser.exit()


def _balance(text: str) -> tuple[str | None, Decimal]:
    """``--balance N`` (every emulated account) or ``--balance PROVIDER=N``."""
    name, sep, amount = text.rpartition("=")
    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"expected N or PROVIDER=N, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {amount}")
    if sep and name not in BALANCES:
        raise argparse.ArgumentTypeError(
            f"{name!r} has no balance: give {' or '.join(BALANCES)}=N, or N for both"
        )
    return (name if sep else None), value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


class _VerbParser(argparse.ArgumentParser):
    """A verb's parser. A verb may have *actions* (``batch status|forget|retry``): when its
    first argument is exactly an action's name, that action's own parser reads the rest;
    any other first argument is the verb's own (``batch FILE``). So the actions never
    clash with a flag or a file of the verb, and a file named like an action is run by
    another spelling of its path (``prism-async batch ./status``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actions: dict[str, argparse.ArgumentParser] = {}
        self.action_dest = "action"

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if args is not None and len(args) > 0 and args[0] in self.actions:
            name = args[0]
            parsed = self.actions[name].parse_args(list(args[1:]), namespace)
            setattr(parsed, self.action_dest, name)
            return parsed, []
        return super().parse_known_args(args, namespace)


BATCH_ACTIONS_EPILOG = (
    "To inspect a journal: 'prism-async batch status --journal PATH [--json]' (items per "
    "state and provider, cost so far, uncertain items); 'prism-async batch forget KEY "
    "--journal PATH' (an uncertain item is sent by the next run with a NEW idempotency key: "
    "it may be paid twice); 'prism-async batch retry KEY --journal PATH' (sent again with "
    "its journaled idempotency key, safe where the provider honours one). A batch file "
    "literally named status, forget or retry runs as ./status."
)


def _add_batch_actions(batch: _VerbParser) -> None:
    """``prism-async batch status|forget|retry``: a journal's admin commands."""
    batch.action_dest = "batch_action"
    batch.set_defaults(batch_action=None)
    journal_help = "the batch's SQLite journal (must exist)"
    status = argparse.ArgumentParser(
        prog=f"{batch.prog} status",
        description="The whole batch as the journal holds it: items per state and per "
        "provider, the cost so far (per unit, from the recorded results) and the uncertain "
        "items with their idempotency keys. Reads without locking, so it works while a run "
        "uses the journal.",
    )
    status.add_argument("--journal", metavar="PATH", required=True, help=journal_help)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    forget = argparse.ArgumentParser(
        prog=f"{batch.prog} forget",
        description="Clear an uncertain (or refused) item so that the next run of the batch "
        "submits it with a NEW idempotency key. If its first create reached the provider, "
        "that job is paid for and the next run pays again: check with the provider first. "
        "Exits 2 for an unknown key or an item in another state.",
    )
    retry = argparse.ArgumentParser(
        prog=f"{batch.prog} retry",
        description="Clear an uncertain (or refused) item so that the next run of the batch "
        "sends it again with its journaled idempotency key: a provider that honours "
        "idempotency keys (lipsync) answers with the first job instead of charging again; "
        "one that does not (NanoGPT, Prism) may charge again. Exits 2 for an unknown key "
        "or an item in another state.",
    )
    for action in (forget, retry):
        action.add_argument("key", metavar="KEY", help="the item's key in the batch")
        action.add_argument("--journal", metavar="PATH", required=True, help=journal_help)
    batch.actions.update(status=status, forget=forget, retry=retry)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object per result")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prism-async",
        description="Generate videos through Prism, a Sync.so-style lipsync API or NanoGPT.",
        epilog=EXIT_STATUS_EPILOG,
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log HTTP exchanges and retries"
    )
    verbs = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_VerbParser
    )

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
        help="a wire field (value read as JSON if it is JSON): a documented one goes through"
        " its typed field and check (--set resolution=9999p is refused), any other is sent"
        " as given, with a warning; for lipsync, an option such as sync_mode=loop",
    )
    tpl = gen.add_argument_group("prism templates")
    tpl.add_argument("--template", metavar="ID", help="generate from a Prism template")
    tpl.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template variable; VALUE @path uploads a local file",
    )
    tpl.add_argument(
        "--character", action="append", default=[], metavar="KEY=ID", help="a character variable"
    )
    lip = gen.add_argument_group("lipsync")
    lip.add_argument("--video", help="the face video: a local path or an http(s) URL")
    lip.add_argument(
        "--audio", action="append", default=[], metavar="[REF=]PATH_OR_URL", help="a track"
    )
    lip.add_argument(
        "--script", action="append", default=[], metavar="[REF=]TEXT", help="speech to voice"
    )
    lip.add_argument("--voice", help="the text-to-speech voice id for --script")
    lip.add_argument(
        "--segment",
        action="append",
        default=[],
        metavar="START:END:REF[:A0:A1]",
        help="a span of the video voiced by track REF (optionally a crop A0-A1 of it)",
    )
    lip.add_argument("--output-name", help="the output file's base name")
    gen.add_argument("--no-wait", action="store_true", help="print the job handles and exit")
    gen.add_argument("--timeout", type=_positive, help="give up waiting after S seconds")
    gen.add_argument("--download", metavar="DIR", help="download the outputs into DIR")
    _add_output(gen)
    add_webhook_flags(gen)

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

    add_cancel_parser(verbs)

    templates = verbs.add_parser("templates", help="list Prism templates")
    templates.add_argument("--search", help="search title and description (2+ characters)")
    templates.add_argument("--limit", type=int, default=50)
    _add_output(templates)

    characters = verbs.add_parser("characters", help="list or create Prism characters")
    characters.add_argument("action", choices=("list", "create"))
    characters.add_argument("--search", help="with list: search by name (2+ characters)")
    characters.add_argument("--name", help="with create: 1-60 characters")
    characters.add_argument("--description", help="with create: at most 300 characters")
    characters.add_argument(
        "--image", action="append", default=[], help="with create: 1-10 paths or URLs"
    )
    _add_output(characters)

    models = verbs.add_parser("models", help="list a provider's video models")
    models.add_argument("--provider", default="nanogpt", help=PROVIDERS_HELP)
    _add_output(models)

    emulate = verbs.add_parser("emulate", help="serve the built-in API emulators on loopback")
    emulate.add_argument("--port", type=int, default=8000)
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument(
        "--balance",
        action="append",
        default=[],
        type=_balance,
        metavar="[PROVIDER=]N",
        help="the emulated accounts' starting balance: N for both, or nanogpt=N (USD) / "
        "prism=N (credits); default NanoGPT $1,000,000 and Prism 10,000,000 credits",
    )

    examples = verbs.add_parser(
        "examples",
        help="copy the example scripts and batch file into a folder",
        description="Copy the examples shipped with prism-async (examples/ in the source "
        "tree: batch.jsonl, one script per provider, the webhook apps) into DIR, so that "
        "'prism-async batch DIR/batch.jsonl' and 'python DIR/lipsync.py' run. Files already "
        "in DIR are kept.",
    )
    examples.add_argument("dir", metavar="DIR", help="the folder to copy them into")

    batch = verbs.add_parser(
        "batch",
        help="run a JSONL file of requests, concurrently (batch status|forget|retry: its journal)",
        usage="%(prog)s [-h] FILE.jsonl|- [options]\n"
        "       %(prog)s status --journal PATH [--json]\n"
        "       %(prog)s {forget,retry} KEY --journal PATH",
        epilog=BATCH_ACTIONS_EPILOG,
    )
    _add_batch_actions(batch)
    batch.add_argument(
        "file",
        metavar="FILE.jsonl",
        help="one request per line (see README); - reads them from stdin (relative paths "
        "in it are then relative to the current folder)",
    )
    batch.add_argument(
        "--concurrency", type=int, metavar="N", help="jobs in flight per provider (plan limit)"
    )
    batch.add_argument(
        "--journal",
        metavar="PATH|URL",
        help="the batch's journal, to resume after a crash: a SQLite file, or a "
        "postgresql://USER@HOST/DB?batch=NAME URL (pip install 'prism-async[postgres]'; "
        "the password in PGPASSWORD)",
    )
    batch.add_argument("--out", metavar="RESULTS.jsonl", help="write every outcome as JSON lines")
    batch.add_argument("--download", metavar="DIR", help="download the outputs into DIR")
    batch.add_argument("--fail-fast", action="store_true", help="stop submitting at a failure")
    add_batch_cancel_flags(batch)
    add_webhook_flags(batch)

    hooks = verbs.add_parser("webhooks", help="a standalone webhook receiver (webhooks serve)")
    hooks_verbs = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    serve = hooks_verbs.add_parser(
        "serve",
        help="run a webhook receiver, printing each verified delivery",
        description=SERVE_DESCRIPTION,
    )
    serve.add_argument(
        "--port", type=port_number, required=True, metavar="N", help="the port to listen on"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--path",
        type=mount_path,
        default="/hooks",
        help="where the receiver is mounted: the path of the webhook URL the submitting "
        "client was given (default /hooks); deliveries go to PATH/lipsync, PATH/prism/TOKEN",
    )
    serve.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help="required: the lipsync signing secret (whsec_...), also the key Prism callback "
        f"tokens derive from; default: the {SECRET_VARIABLE} variable, which keeps it out of "
        "the process list. Never printed",
    )

    demo = verbs.add_parser("demo", help="run a demo batch against in-process emulators")
    demo.add_argument("--out", default="prism-demo-output", help="folder for the outputs")
    return parser
