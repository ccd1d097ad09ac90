"""``prism-async cancel HANDLE``, and the batch's ``--cancel-on-timeout`` flag.

``cancel`` asks the job's API to cancel it and prints the job's state as the API then
reports it (``--json``: one ``GenerationResult.to_dict()`` object). Exit status 0 when
the job ended canceled; 2 (one line on stderr, nothing sent) for a provider whose API
has no cancel (NanoGPT, Prism), and 2 when the API refuses (the lipsync API cancels a
job only while it is PENDING); 1 when the API answered with a state that is not
canceled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

import prism_async._registry as registry
from prism_async._cli._output import print_result
from prism_async._cli._webhooks import cli_client
from prism_async._errors import RequestValidationError
from prism_async._results import JobHandle, JobStatus

__all__ = ["add_batch_cancel_flags", "add_cancel_parser", "cancel_command"]

DESCRIPTION = (
    "Ask the API to cancel a job, then print its state as the API reports it. Only the "
    "lipsync API can cancel, and only a job still PENDING (at no cost); NanoGPT and Prism "
    "document no cancel, so the command refuses them (exit 2) without sending anything."
)


def add_cancel_parser(verbs: argparse._SubParsersAction[Any]) -> None:
    """The ``cancel`` verb."""
    cancel = verbs.add_parser(
        "cancel", help="cancel a job (lipsync: a PENDING one)", description=DESCRIPTION
    )
    cancel.add_argument(
        "--provider", help="the provider's name (not needed for a full handle: lipsync:ID)"
    )
    cancel.add_argument("job", metavar="HANDLE", help="a job handle printed by --no-wait")
    cancel.add_argument("--json", action="store_true", help="print one JSON object")


def add_batch_cancel_flags(batch: argparse.ArgumentParser) -> None:
    """``batch --cancel-on-timeout`` (and ``--timeout``, which it needs, unless the batch
    verb already has one)."""
    if "--timeout" not in batch._option_string_actions:
        batch.add_argument(
            "--timeout",
            type=float,
            metavar="S",
            help="seconds to wait for one job (default: the client's, an hour); a job still "
            "running then is reported as timed out and waited on again by a resumed run",
        )
    batch.add_argument(
        "--cancel-on-timeout",
        action="store_true",
        help="cancel a job still running at --timeout where its API can (lipsync: a PENDING "
        "job); journaled as canceled. Never the default; NanoGPT and Prism jobs go on",
    )


def _handle(text: str, provider: str | None) -> JobHandle:
    if provider is not None and not text.startswith(f"{provider}:"):
        return JobHandle(provider=provider, id=text)
    try:
        return JobHandle.parse(text)
    except ValueError:
        raise RequestValidationError(
            "HANDLE", f"{text!r} is not a full handle (provider:id): give --provider too"
        ) from None


async def cancel_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run ``prism-async cancel``; the exit status."""
    handle = _handle(args.job, args.provider)
    try:
        provider = registry.from_env(handle.provider, environ)
    except KeyError as exc:
        raise RequestValidationError("--provider", str(exc.args[0])) from None
    async with cli_client(provider) as client:
        result = await client.cancel(handle)
    print_result(result, as_json=args.json)
    if result.status is not JobStatus.CANCELED:
        print(f"error: the API answered {result.status.value}, not canceled", file=sys.stderr)
        return 1
    return 0
