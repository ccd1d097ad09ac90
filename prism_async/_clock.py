"""Time as the engine sees it: injectable, so tests run polling in virtual time."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the engine needs of time: a monotonic reading, the wall time, and a sleep."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))
