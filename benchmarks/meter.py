"""What a client process measures about itself: CPU and wall time, event-loop lag, memory,
and the moment each job was handed to the caller. Everything is reported as one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any

__all__ = ["WARMUP", "LoopLag", "Meter", "Yields", "read_spec", "report", "rss_bytes"]

#: What every client does before its measured window, so that one-time costs (lazy
#: imports and converters, the first connection) are not counted: one create and one
#: status request, which the servers count too and the lab takes off.
WARMUP = {"creates": 1, "statuses": 1}

_PAGE = os.sysconf("SC_PAGE_SIZE")


def read_spec() -> dict[str, Any]:
    """The measurement's parameters: one JSON argument."""
    spec: dict[str, Any] = json.loads(sys.argv[1])
    return spec


def report(values: dict[str, Any]) -> None:
    """The measurement, as the process's last stdout line."""
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def rss_bytes() -> int:
    """The process's resident set size now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


class Meter:
    """CPU seconds of this process (every thread) and wall seconds, from ``start``."""

    def __init__(self) -> None:
        self._cpu = self._wall = 0.0
        self.cpu_s = self.wall_s = 0.0

    def start(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def elapsed(self) -> float:
        """Wall seconds since ``start``."""
        return time.perf_counter() - self._wall

    def stop(self) -> None:
        self.cpu_s = time.process_time() - self._cpu
        self.wall_s = time.perf_counter() - self._wall

    def as_dict(self) -> dict[str, float]:
        return {"cpu_s": self.cpu_s, "wall_s": self.wall_s}


class Yields:
    """When each job's final state reached the caller (``time.monotonic()``, the clock the
    servers stamp job ends with)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.failed = 0

    def done(self, job_id: str, ok: bool = True) -> None:
        self.at[job_id] = time.monotonic()
        if not ok:
            self.failed += 1


class LoopLag:
    """A task that asks to wake every ``period`` seconds and records how late it woke."""

    def __init__(self, period: float = 0.010) -> None:
        self.period = period
        self.late: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _tick(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.period)
            self.late.append(time.perf_counter() - asked - self.period)
