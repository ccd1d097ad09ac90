"""How the command line prints results: JSON lines, or one readable line each."""

from __future__ import annotations

import json
import shlex
import sys
from typing import TextIO

from prism_async._results import GenerationResult, JobHandle

__all__ = ["print_handle", "print_result", "quoted"]


def quoted(handle: JobHandle) -> str:
    """A handle as a shell word, safe to paste (``nanogpt:vid_1`` stays as it is)."""
    return shlex.quote(str(handle))


def print_result(result: GenerationResult, *, as_json: bool, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    if as_json:
        stream.write(json.dumps(result.to_dict()) + "\n")
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


def print_handle(handle: JobHandle, *, as_json: bool) -> None:
    if as_json:
        record = {"provider": handle.provider, "id": handle.id, "handle": str(handle)}
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        sys.stdout.write(f"{quoted(handle)}\n")
    sys.stdout.flush()
