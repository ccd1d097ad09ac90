"""Request budgets: a sliding-window rate limit on the engine's clock."""

from __future__ import annotations

import collections

import anyio

from prism_async.clock import Clock
from prism_async.provider import Rate

__all__ = ["RateBudget"]


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
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                window_start = now - self.rate.per_seconds
                while self._sent and self._sent[0] <= window_start:
                    self._sent.popleft()
                if len(self._sent) < self.rate.requests:
                    self._sent.append(now)
                    return
                await self._clock.sleep(self._sent[0] - window_start)

    def defer(self, seconds: float) -> None:
        """The server said to wait (a 429's Retry-After): fill the window until then."""
        until = self._clock.monotonic() + seconds - self.rate.per_seconds
        self._sent.clear()
        self._sent.extend([until] * self.rate.requests)
