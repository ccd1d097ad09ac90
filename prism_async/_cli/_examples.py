"""``prism-async examples DIR``: copy the shipped examples out, for a pip user.

The examples live at the top of the source tree (``examples/``). The wheel carries a copy
as ``prism_async/_examples`` (pyproject.toml: hatch ``force-include``); a source checkout
(or an editable install) reads ``examples/`` itself.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import anyio.to_thread

from prism_async._errors import RequestValidationError

__all__ = ["copy_examples", "examples_dir"]

_PACKAGE = Path(__file__).resolve().parent.parent


def examples_dir() -> Path | None:
    """Where the examples are: in the installed wheel, else in the source tree."""
    for candidate in (_PACKAGE / "_examples", _PACKAGE.parent / "examples"):
        if (candidate / "batch.jsonl").is_file():
            return candidate
    return None


def _copy(target: Path) -> list[tuple[Path, bool]]:
    source = examples_dir()
    if source is None:
        raise RequestValidationError("examples", "this installation has no examples")
    if target.exists() and not target.is_dir():
        raise RequestValidationError("DIR", f"{target} exists and is not a folder")
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith((".", "__")):
            continue
        destination = target / path.name
        kept = destination.exists()
        if not kept:
            shutil.copyfile(path, destination)
        copied.append((destination, kept))
    return copied


async def copy_examples(target: Path) -> int:
    """Copy every example into ``target`` (created if need be), keeping files already
    there; print each path. The exit status."""
    for path, kept in await anyio.to_thread.run_sync(_copy, target):
        print(f"{path}{'  (already there: kept)' if kept else ''}")
    sys.stdout.flush()
    return 0
