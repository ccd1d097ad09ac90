"""How the command line prints results: JSON lines, or one readable line each."""

from __future__ import annotations

import json
import shlex
import sys
from typing import TextIO

from prism_async._results import GenerationResult, JobHandle, JobStatus, SubmitReceipt

__all__ = ["just_created", "print_handle", "print_result", "quoted"]


def quoted(handle: JobHandle) -> str:
    """A handle as a shell word, safe to paste (``nanogpt:vid_1`` stays as it is)."""
    return shlex.quote(str(handle))


def just_created(handle: JobHandle, receipt: SubmitReceipt | None = None) -> GenerationResult:
    """A job as its create left it, before any status was fetched: the status the create
    answered (the receipt's ``statuses``: Prism's template generate may say ``generating``,
    i.e. running), else ``queued``, as every API documents a just-created job."""
    status = receipt.statuses.get(handle.id, JobStatus.QUEUED) if receipt else JobStatus.QUEUED
    return GenerationResult(provider=handle.provider, id=handle.id, status=status)


def print_result(
    result: GenerationResult,
    *,
    as_json: bool,
    out: TextIO | None = None,
    handle: JobHandle | None = None,
) -> None:
    """One line: with ``as_json``, the result's :meth:`~GenerationResult.to_dict` (every
    JSON line the command prints about a job is this object; ``handle``, when given, is
    added as the extra key ``handle``, the string ``wait``/``status`` take)."""
    stream = out or sys.stdout
    if as_json:
        record = result.to_dict()
        if handle is not None:
            record["handle"] = str(handle)
        stream.write(json.dumps(record) + "\n")
        stream.flush()
        return
    parts = [f"{result.status.value:<9}", quoted(result.handle)]
    if result.outputs:
        parts.append(result.outputs[0].url)
    if result.progress is not None and not result.is_terminal:
        parts.append(f"{result.progress:.0f}%")
    if result.failure is not None:
        reason = result.failure.message or result.failure.code or result.failure.kind.value
        parts.append(f"({result.failure.kind.value}: {reason})")
    if result.cost is not None:
        parts.append(f"cost {result.cost.amount} {result.cost.unit.value}")
    stream.write("  ".join(parts) + "\n")
    stream.flush()


def print_handle(handle: JobHandle, *, as_json: bool, receipt: SubmitReceipt | None = None) -> None:
    """A job just created (``generate --no-wait``): its handle as a shell word, or with
    ``as_json`` its result object as created (:func:`just_created`) plus ``handle``."""
    if as_json:
        print_result(just_created(handle, receipt), as_json=True, handle=handle)
        return
    # On a terminal, a shell word to paste; on a pipe, the bare handle, so that
    # handle=$(prism-async generate ... --no-wait) holds the handle itself, not its quotes.
    text = quoted(handle) if sys.stdout.isatty() else str(handle)
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()
