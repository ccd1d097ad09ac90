"""Carrying out the non-HTTP effects of a flow: local file reads and stats, off the loop."""

from __future__ import annotations

from pathlib import Path
from stat import S_ISREG

import anyio

from prism_async._errors import RequestValidationError
from prism_async._http import ReadFile, StatFile

__all__ = ["read_file", "stat_file"]


async def stat_file(effect: StatFile, provider: str) -> int:
    try:
        stat = await anyio.to_thread.run_sync(Path(effect.path).stat)
    except FileNotFoundError:
        raise RequestValidationError(
            effect.field, f"file not found: {effect.path}", provider=provider
        ) from None
    except OSError as exc:
        raise RequestValidationError(
            effect.field, f"cannot read {effect.path}: {exc.strerror}", provider=provider
        ) from None
    if not S_ISREG(stat.st_mode):
        raise RequestValidationError(effect.field, f"not a file: {effect.path}", provider=provider)
    return stat.st_size


async def read_file(effect: ReadFile, provider: str) -> bytes:
    size = await stat_file(StatFile(path=effect.path, field=effect.field), provider)
    if size > effect.max_bytes:
        raise RequestValidationError(
            effect.field,
            f"{effect.path} is {size} bytes, over the limit of {effect.max_bytes} bytes",
            provider=provider,
        )
    return await anyio.to_thread.run_sync(Path(effect.path).read_bytes)
