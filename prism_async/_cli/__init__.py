"""The ``prism-async`` command: generate, status, wait, batch, models, templates,
characters, emulate, demo, webhooks serve.

Bad input or a failed generation exits non-zero with one line on stderr, never a
traceback. Exit status:

- 0: every job succeeded;
- 1: a generation failed, or the API or the network failed;
- 2: input the command or the API refused (nothing was charged);
- 3: a create's outcome is unknown: a job may exist and be charged for; do not retry
  blindly (the message says what is known: the request, the idempotency key);
- 4: the batch journal cannot be used (in use by another run, unreadable, or it failed
  to write: the jobs already created were awaited, and any handle it could not take is
  on stderr and in ``<journal>.unrecorded.jsonl``);
- 5: a wait timed out (``--timeout``) and no job failed: each job that had not ended is
  printed in its last known state (``queued`` or ``running``); it goes on, and
  ``prism-async wait HANDLE`` takes it up again;
- 130: interrupted (Ctrl-C); the handles of jobs already created are printed first
  (``webhooks serve`` is meant to be stopped so: it exits 0 on SIGINT or SIGTERM).

Every job handle the command prints is shell-quoted, so it can be pasted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import anyio

from prism_async._cli._commands import run_command
from prism_async._cli._notes import RunNotes
from prism_async._cli._parser import build_parser
from prism_async._errors import (
    BadRequestError,
    JournalError,
    PrismAsyncError,
    RequestValidationError,
    SubmissionOutcomeUnknown,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_JOURNAL",
    "EXIT_OUTCOME_UNKNOWN",
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "main",
]

EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_OUTCOME_UNKNOWN = 3
EXIT_JOURNAL = 4
EXIT_TIMEOUT = 5
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    notes = args.notes = RunNotes()  # the commands note every job they create, for Ctrl-C
    try:
        return anyio.run(run_command, args, dict(os.environ))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C: on Python 3.11+ it leaves anyio.run as KeyboardInterrupt; on 3.10 the
        # main task is cancelled and the cancellation is what comes out.
        if args.command == "webhooks":  # a receiver's normal end (where signals cannot
            return 0  # be caught: the serve command catches them where they can)
        for line in notes.on_interrupt():
            print(line, file=sys.stderr)
        return EXIT_INTERRUPTED
    except SubmissionOutcomeUnknown as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(_OUTCOME_UNKNOWN_ADVICE, file=sys.stderr)
        return EXIT_OUTCOME_UNKNOWN
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_JOURNAL
    except (RequestValidationError, BadRequestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except PrismAsyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED


_OUTCOME_UNKNOWN_ADVICE = (
    "warning: a job may have been created and charged for. Do not run the same command "
    "again blindly: check the provider's dashboard or job list first (with the lipsync "
    "API, submitting again with the same idempotency key is safe)."
)
