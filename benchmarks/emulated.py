"""The library's own emulators, served in their own process for the benchmarks.

Run as ``python -m benchmarks.emulated --nanogpt 1:5 --lipsync 0.2:8 --prism 3:6``: each
option serves that emulator (``prism_async.testing``) and gives its jobs durations spread
evenly over ``LOW:HIGH`` seconds (a fixed duration with a single number), assigned in a
fixed shuffled order as jobs are created, so that every client gets the same mix.
``--spread N`` spreads them over N distinct values (default 100; table 6 gives each job
its own), and ``--first S`` makes the first job created (a client's warm-up) last S
seconds, outside the mix. It prints one JSON line with the root URL, then each
emulator's base URL, key and (lipsync) webhook signing secret, and serves until SIGTERM.

The rate, balance and concurrency limits the emulators enforce by default (NanoGPT 50
creates/min, lipsync 100 creates/min and 600 reads/min and a plan of 1 job, credits) are
lifted: the benchmarks measure clients, not the emulated plans. Long poll and the status
shapes are left as the emulators serve them.

Three routes are added under ``/bench``: ``stats`` (requests by emulator and route, and
the server's CPU seconds), ``ends`` (each job's id and the moment it ended,
``time.monotonic()``: the emulators' clock, a system-wide one on Linux) and ``webhooks``
(each callback the emulators' senders attempted: job id, kind, ``sent_at`` on that same
clock, the receiver's status or the error). The emulators compute a job's state from its
start and its queue and run durations when asked; a job ends at
``started + queue_seconds + run_seconds``, which is what ``ends`` reports. Jobs created
with a callback URL are called back by the emulator's sender when they end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web

from benchmarks.serving import announce, until_stopped
from prism_async.testing import EmulatorApp, EmulatorServer, WebhookSender
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

__all__ = ["Durations", "Timed"]

_UNLIMITED = 10**9
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _SimJob(Protocol):
    """What is read and set of an emulator's simulated job (``prism_async.testing``)."""

    started: float
    queue_seconds: float
    run_seconds: float


class Durations:
    """Job durations evenly spread over ``low``-``high`` (``count`` of them), shuffled with
    a fixed seed, handed out in turn. With ``first``, the first job created (a client's
    warm-up) lasts ``first`` seconds instead, outside the mix."""

    def __init__(
        self,
        low: float,
        high: float,
        count: int = 100,
        seed: int = 10,
        first: float | None = None,
    ) -> None:
        step = (high - low) / max(1, count - 1)
        self.values = [low + step * i for i in range(count)]
        random.Random(seed).shuffle(self.values)
        self.first = first
        self._next = 0

    @classmethod
    def parse(cls, text: str, count: int = 100, first: float | None = None) -> Durations:
        """``LOW:HIGH`` (or one number), spread over ``count`` values."""
        low, _, high = text.partition(":")
        return cls(float(low), float(high or low), count, first=first)

    def take(self) -> float:
        if self.first is not None:
            value, self.first = self.first, None
            return value
        value = self.values[self._next % len(self.values)]
        self._next += 1
        return value


# For each emulator: the name of its create route, the ids in a create's answer, and the
# simulated jobs by id.
def _nanogpt_ids(body: Any) -> list[str]:
    return [body["runId"]]


def _lipsync_ids(body: Any) -> list[str]:
    return [body["id"]]


def _prism_ids(body: Any) -> list[str]:
    return [g["id"] for g in body["data"]["generations"]]


class Timed:
    """An emulator whose new jobs take the durations given (an ``EmulatorApp`` wrapping
    the emulator: same prefix, key and routes, plus a middleware that sets each created
    job's durations before its id is answered)."""

    def __init__(self, name: str, durations: Durations) -> None:
        self.name = name
        self.durations = durations
        self.emulator: Any
        if name == "nanogpt":
            self.emulator = NanoGPTEmulator(submit_limit_per_minute=_UNLIMITED)
            self.emulator.balance = Decimal(_UNLIMITED)
            self._create, self._ids = "generate", _nanogpt_ids
        elif name == "lipsync":
            self.emulator = LipsyncEmulator(
                concurrency_limit=_UNLIMITED,
                create_limit_per_minute=_UNLIMITED,
                read_limit_per_minute=_UNLIMITED,
            )
            self._create, self._ids = "create", _lipsync_ids
        elif name == "prism":
            self.emulator = PrismEmulator(credits=_UNLIMITED)
            self._create, self._ids = "create", _prism_ids
        else:
            raise ValueError(f"no emulator {name!r}")
        self.prefix: str = self.emulator.prefix
        self.api_key: str = self.emulator.api_key

    def base_url(self, root: str) -> str:
        return str(self.emulator.base_url(root))

    def build_app(self) -> web.Application:
        app: web.Application = self.emulator.build_app()
        app.middlewares.append(self._time_new_jobs)
        return app

    def _store(self) -> Mapping[str, Any]:
        """The emulator's jobs by id (NanoGPT's ``jobs``, the others' ``generations``)."""
        return self.emulator.jobs if self.name == "nanogpt" else self.emulator.generations  # type: ignore[no-any-return]

    def _sim(self, held: Any) -> _SimJob:
        """The simulated job inside what the store holds (``sim`` or ``job``)."""
        return held.sim if self.name == "nanogpt" else held.job  # type: ignore[no-any-return]

    def jobs(self) -> Iterator[tuple[str, _SimJob]]:
        """Every job the emulator holds, by id."""
        for job_id, held in self._store().items():
            yield job_id, self._sim(held)

    def counts(self) -> Mapping[str, int]:
        return dict(self.emulator.counts.by_route)

    @property
    def sender(self) -> WebhookSender | None:
        """The emulator's webhook sender (lipsync and Prism call back; NanoGPT does not)."""
        sender: WebhookSender | None = getattr(self.emulator, "webhooks", None)
        return sender

    def info(self, root: str) -> dict[str, str]:
        """What a client needs: the base URL, the key and (lipsync) the signing secret."""
        info = {"base_url": self.base_url(root), "api_key": self.api_key}
        secret = getattr(self.emulator, "webhook_secret", None)
        if secret:
            info["webhook_secret"] = str(secret)
        return info

    @web.middleware
    async def _time_new_jobs(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.match_info.route.name != self._create or not 200 <= response.status < 300:
            return response
        assert isinstance(response, web.Response)
        store = self._store()
        for job_id in self._ids(json.loads(response.text or "null")):
            job = self._sim(store[job_id])
            job.queue_seconds, job.run_seconds = 0.0, self.durations.take()
        return response


class _Bench:
    """The ``/bench`` routes (an ``EmulatorApp`` with no API of its own)."""

    prefix = "bench"
    api_key = ""

    def __init__(self, timed: list[Timed]) -> None:
        self.timed = timed

    def base_url(self, root: str) -> str:
        return f"{root}/bench"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/stats", self._stats)
        app.router.add_get("/ends", self._ends)
        app.router.add_get("/webhooks", self._webhooks)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        requests = {t.name: t.counts() for t in self.timed}
        return web.json_response({"requests": requests, "cpu_s": time.process_time()})

    async def _ends(self, request: web.Request) -> web.Response:
        ends = {
            job_id: job.started + job.queue_seconds + job.run_seconds
            for t in self.timed
            for job_id, job in t.jobs()
        }
        return web.json_response(ends)

    async def _webhooks(self, request: web.Request) -> web.Response:
        sent = [
            {
                "job_id": d.job_id,
                "kind": d.kind,
                "sent_at": d.sent_at,
                "status": d.status,
                "error": d.error,
            }
            for t in self.timed
            if t.sender is not None
            for d in t.sender.sent
        ]
        return web.json_response(sent)


async def serve(timed: list[Timed]) -> None:
    apps: list[EmulatorApp] = [*timed, _Bench(timed)]
    async with EmulatorServer(apps) as server:
        info: dict[str, object] = {"root": server.root}
        for t in timed:
            info[t.name] = t.info(server.root)
        announce(info)
        await until_stopped()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulated")
    names = ("nanogpt", "lipsync", "prism")
    for name in names:
        parser.add_argument(f"--{name}", metavar="LOW:HIGH", help="serve it; job durations")
    parser.add_argument(
        "--spread", type=int, default=100, metavar="N", help="distinct durations (default 100)"
    )
    parser.add_argument(
        "--first", type=float, metavar="S", help="the first job created lasts S seconds"
    )
    args = parser.parse_args()
    timed = [
        Timed(n, Durations.parse(getattr(args, n), args.spread, args.first))
        for n in names
        if getattr(args, n)
    ]
    asyncio.run(serve(timed))


if __name__ == "__main__":
    main()
