"""A virtual clock shared by the client and the emulators, so tests run in virtual time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio

__all__ = ["VirtualClock"]


class VirtualClock:
    """Time that moves only when someone sleeps.

    ``sleep(d)`` advances the clock by ``d`` at once and yields to the event loop. Give the
    same instance to the Client and the emulators: a job that takes 90 virtual seconds
    finishes after the engine has slept 90 virtual seconds, in a few real milliseconds.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._elapsed = 0.0

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        self._elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
