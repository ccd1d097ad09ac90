"""Memory probes a client takes of itself while its jobs are in flight.

- ``base``: after the client's warm-up, before the measured jobs are created;
- ``waiting``: every job created and waited on, before the first status poll; the
  number of status polls the server had answered by then is kept with it, to show
  whether any had happened already;
- ``polled``: once the server has answered a status request for every job.

Each probe is the RSS and, when ``tracemalloc`` is tracing, the traced Python memory. The
moments are read off the server's ``/bench/stats`` counts, through a session of the
probes' own.
"""

from __future__ import annotations

import asyncio
import tracemalloc

import aiohttp

from benchmarks.meter import rss_bytes

__all__ = ["Probes"]

_SETTLE = 1.0  # seconds for a client to start waiting on every job it created
_EVERY = 0.25  # seconds between two looks at the server's counts


class Probes:
    """Memory readings by name (see the module docstring)."""

    def __init__(self, stats_url: str, session: aiohttp.ClientSession) -> None:
        self.stats_url = stats_url
        self.session = session
        self.readings: dict[str, dict[str, float]] = {}
        self._before = (0, 0)

    def take(self, name: str, **extra: float) -> None:
        reading = {"rss": float(rss_bytes()), **extra}
        if tracemalloc.is_tracing():
            reading["traced"] = float(tracemalloc.get_traced_memory()[0])
        self.readings[name] = reading

    async def base(self) -> None:
        """Take ``base`` and note the server's counts so far (the warm-up's)."""
        self.take("base")
        self._before = await self._counts()

    async def _counts(self) -> tuple[int, int]:
        async with self.session.get(self.stats_url) as resp:
            counts = (await resp.json())["requests"]
        return int(counts.get("create", 0)), int(counts.get("status", 0))

    async def watch(self, jobs: int) -> None:
        """Take ``waiting`` once the server has every create (and the client has had a
        moment to start waiting), then ``polled`` once every job has been polled."""
        creates, polls = self._before
        # The counts live in another process: polling them is the only way to know.
        while (await self._counts())[0] - creates < jobs:  # noqa: ASYNC110
            await asyncio.sleep(_EVERY)
        await asyncio.sleep(_SETTLE)
        self.take("waiting", polls=(await self._counts())[1] - polls)
        while (done := (await self._counts())[1] - polls) < jobs:  # noqa: ASYNC110
            await asyncio.sleep(_EVERY)
        self.take("polled", polls=done)
