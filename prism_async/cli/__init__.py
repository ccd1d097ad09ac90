"""The ``prism-async`` command: generate, status, wait, models, emulate, demo.

Bad input or a failed generation exits non-zero with one line on stderr, never a
traceback: 2 for input the command or the API refused, 1 for a failure, 130 on Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import anyio

from prism_async.cli._commands import run_command
from prism_async.cli._parser import build_parser
from prism_async.errors import (
    BadRequestError,
    PrismAsyncError,
    RequestValidationError,
)

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return anyio.run(run_command, args, dict(os.environ))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RequestValidationError, BadRequestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PrismAsyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
