"""Waiting for a plan slot after the API said its concurrency limit is reached."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from prism_async._clock import Clock
from prism_async._errors import ConcurrencyLimitError
from prism_async._provider import VideoProvider

__all__ = ["SlotWaiter"]

T = TypeVar("T")

#: How long to wait for a job of ours to end before asking again (the slot may be held by
#: jobs this process does not watch).
_RECHECK = 15.0


class SlotWaiter:
    """Per provider: one waiter at a time asks again, each time one of its jobs ends."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ended: dict[str, anyio.Event] = {}
        self._queues: dict[str, anyio.Lock] = {}

    def freed(self, provider: str) -> None:
        """A job of ``provider`` ended: wake the waiter."""
        event = self._ended.pop(provider, None)
        if event is not None:
            event.set()

    async def submit_when_free(
        self,
        provider: VideoProvider,
        submit: Callable[[], Awaitable[T]],
        *,
        give_up_after: float,
    ) -> T:
        """Submit again each time one of the provider's jobs ends (or every so often),
        while the API answers ConcurrencyLimitError and ``give_up_after`` seconds have not
        passed; then the last ConcurrencyLimitError is raised."""
        name = provider.name
        deadline = self._clock.monotonic() + give_up_after
        async with self._queues.setdefault(name, anyio.Lock()):
            while True:
                await self._until_freed(name, deadline)
                try:
                    return await submit()
                except ConcurrencyLimitError:
                    if self._clock.monotonic() >= deadline:
                        raise

    async def _until_freed(self, name: str, deadline: float) -> None:
        event = self._ended.setdefault(name, anyio.Event())
        wait = min(_RECHECK, max(0.0, deadline - self._clock.monotonic()))
        if not math.isfinite(wait) or wait <= 0:
            return
        async with anyio.create_task_group() as race:

            async def sleep() -> None:
                await self._clock.sleep(wait)
                race.cancel_scope.cancel()

            race.start_soon(sleep)
            await event.wait()
            race.cancel_scope.cancel()
