"""Request budgets: a sliding-window rate limit on the engine's clock."""

from __future__ import annotations

import bisect
import collections
from typing import Protocol

import anyio

from prism_async._clock import Clock
from prism_async._provider import Rate

__all__ = ["RateBudget", "SharedBudget"]


class SharedBudget(Protocol):
    """Request budgets shared with other processes (a batch journal that many workers
    share): the engine takes one before every paid call, besides its own
    :class:`RateBudget`, and settles it once the call is answered (or never sent)."""

    async def take(
        self, provider: str, kind: str, rate: Rate, jobs_limit: int | None = None
    ) -> object:
        """Wait until the shared window has room for one call (and, given the plan's
        ``jobs_limit``, until fewer jobs of the provider are in flight across every
        process); a token for :meth:`settle`. Raises
        :class:`~prism_async._errors.JournalError` if the store fails (the call is then
        not sent)."""
        ...

    async def settle(self, token: object) -> None:
        """The call of ``token`` was answered (or never sent); never raises."""
        ...


class RateBudget:
    """At most ``rate.requests`` acquisitions in any window of ``rate.per_seconds``.

    Waiters are served in arrival order (an anyio lock), so a burst of a thousand submits
    goes out at the documented pace instead of bouncing off 429s.
    """

    def __init__(self, rate: Rate, clock: Clock) -> None:
        if rate.requests < 1 or rate.per_seconds <= 0:
            raise ValueError(f"invalid rate {rate}")
        self.rate = rate
        self._clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._settled = anyio.Event()
        self._lock = anyio.Lock()

    async def acquire(self) -> float:
        """Wait for room; then the request counts as in flight until :meth:`settle`.

        Returns the time it was let through.
        """
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                # Test and sleep on the same sum: with ``now - per`` on one side, rounding
                # could leave a wait too small to move a virtual clock (a busy loop).
                while self._sent and self._sent[0] + self.rate.per_seconds <= now:
                    self._sent.popleft()
                if len(self._sent) + self._in_flight < self.rate.requests:
                    self._in_flight += 1
                    return now
                if self._sent:
                    await self._clock.sleep(self._sent[0] + self.rate.per_seconds - now)
                else:  # every request of the window is still in flight
                    self._settled = anyio.Event()
                    await self._settled.wait()

    def settle(self, stamp: float) -> None:
        """The request let through at ``stamp`` was answered (or never sent): it enters
        the window now, the latest the server can have counted it, so our window never
        closes before the server's does, whatever the latency."""
        self._in_flight -= 1
        now = max(stamp, self._clock.monotonic())
        self._sent.insert(bisect.bisect_right(self._sent, now), now)
        self._settled.set()

    def defer(self, seconds: float) -> None:
        """The server said to wait (a 429's Retry-After): fill the window until then."""
        until = self._clock.monotonic() + seconds - self.rate.per_seconds
        self._sent.clear()
        self._sent.extend([until] * self.rate.requests)
