"""One worker of a batch that several share through a PostgreSQL journal (table 7).

Run as ``python -m benchmarks.client_worker SPEC_JSON``. The spec gives the NanoGPT and
lipsync emulators (``{"base_url", "api_key"}`` each), the journal's database URL, the
number of items (even numbers NanoGPT, odd ones lipsync, keys ``item-N``), the jobs in
flight per provider (``concurrency``) and the worker's ``index``.

The worker builds both providers with every client-side budget lifted to
``Rate(100_000 per second)``: still a budget, so that every create goes through the
journal's shared budget (``take_budget``), but one the run never reaches. It polls
NanoGPT on a short cadence (first poll 0.2 s after the create, then every 0.1-0.2 s);
lipsync long-polls as always.

Warm-up: a batch of its own (``warmup-INDEX``, one item per provider) in the same database,
through a second journal, so that the imports, converters, connections and the schema are
ready before the measured window. Then it prints ``ready``, waits for a line on stdin (the
parent starts every worker's window at once) and runs the batch ``bench`` with
``run_batch(client, items, journal=..., concurrency=...)``. Its report (the last stdout
line, JSON): ``started``; ``last_made``, when it brought about its last outcome;
``finished``, when its batch ended (``time.monotonic()`` all three: system-wide on Linux,
so the parent compares them across workers); its own CPU seconds; the outcomes it brought
about (``made``), those it read from the journal (another worker finished them) and those
not ok. A worker whose peers still hold items when its input is read waits for them,
looking again every ``recheck_interval`` of the journal (10 s at the default 120 s
lease): ``finished`` includes that wait.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread

from benchmarks.meter import read_spec, report
from benchmarks.workloads import request_for
from prism_async import Client, EngineConfig, PollPolicy, VideoProvider
from prism_async._provider import Rate
from prism_async.batch import BatchItem, PostgresJournal, run_batch
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.nanogpt import NanoGPTProvider

__all__ = ["run"]

#: Every client-side budget, lifted: the run measures the client and the journal.
LIFTED = Rate(requests=100_000, per_seconds=1.0)
_POLL = PollPolicy(first_delay=0.2, min_interval=0.1, max_interval=0.2)
_PROVIDERS = ("nanogpt", "lipsync")


def _providers(spec: dict[str, Any]) -> list[VideoProvider]:
    nano, sync = spec["nanogpt"], spec["lipsync"]
    providers: list[VideoProvider] = [
        NanoGPTProvider(api_key=nano["api_key"], base_url=nano["base_url"]),
        LipsyncProvider(api_key=sync["api_key"], base_url=sync["base_url"]),
    ]
    for provider in providers:
        provider.rates = dict.fromkeys(provider.rates, LIFTED)
    return providers


def _items(prefix: str, count: int) -> Iterator[BatchItem]:
    for n in range(count):
        provider = _PROVIDERS[n % 2]
        yield BatchItem(key=f"{prefix}-{n}", provider=provider, request=request_for(provider, n))


def _with_batch(url: str, batch: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}batch={batch}"


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    url, items, concurrency = spec["journal_url"], int(spec["items"]), int(spec["concurrency"])
    config = EngineConfig(poll=_POLL)
    async with Client(*_providers(spec), config=config) as client:
        warm = PostgresJournal(_with_batch(url, f"warmup-{spec['index']}"))
        async with warm:
            async for _ in run_batch(client, _items("warm", 2), journal=warm):
                pass
        async with PostgresJournal(_with_batch(url, "bench")) as journal:
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            made = read = failed = 0
            started, cpu = time.monotonic(), time.process_time()
            last_made = started
            batch = run_batch(
                client, _items("item", items), journal=journal, concurrency=concurrency
            )
            async for outcome in batch:
                if outcome.from_journal:
                    read += 1
                else:
                    made += 1
                    last_made = time.monotonic()
                if not outcome.ok:
                    failed += 1
            finished, cpu = time.monotonic(), time.process_time() - cpu
    return {
        "started": started,
        "last_made": last_made,
        "finished": finished,
        "cpu_s": cpu,
        "made": made,
        "read": read,
        "failed": failed,
    }


def main() -> None:
    report(asyncio.run(run(read_spec())))


if __name__ == "__main__":
    main()
