"""Many workers, one PostgreSQL journal: 300 items over three providers, one worker
SIGKILLed and one drained by SIGTERM mid-run, a replacement started; every item is created
once, finished once, and the workers together keep to each provider's create budget.

The workers are real processes (``WORKER``: ``run_batch`` on a ``PostgresJournal``, SIGTERM
setting its ``stop``), the emulators run in the test process over loopback, and the emulators'
own records are the truth: creates by prompt, and when each create arrived.
"""

from __future__ import annotations

import collections
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal

import anyio
import anyio.abc
import asyncpg
import attrs
import pytest

from prism_async import Client, EngineConfig, Media, PollPolicy
from prism_async.batch import BatchItem, BatchOutcome, PostgresJournal, run_batch
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.testing import EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator
from tests._postgres import fresh_database

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

ITEMS = 300
#: The create budget every provider gets in the workers: BUDGET creates per WINDOW seconds
#: (the documented budgets per minute, scaled down so the test takes seconds).
BUDGET, WINDOW = 10, 1.0
LEASE = 3.0

WORKER = """
import asyncio, signal, sys
import anyio
from prism_async import Client, EngineConfig, Media, PollPolicy, VideoRequest
from prism_async._provider import Rate
from prism_async.batch import BatchItem, PostgresJournal, run_batch
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider

(nano_url, nano_key, prism_url, prism_key, sync_url, sync_key, journal_url, items, budget,
 window, lease) = sys.argv[1:12]
config = EngineConfig(poll=PollPolicy(first_delay=0.2, min_interval=0.1, max_interval=0.3))


def item(n):
    kind = ("nanogpt", "prism", "lipsync")[n % 3]
    if kind == "lipsync":
        track = AudioTrack(audio=Media.from_url(f"https://a.example/item-{n}.wav"))
        request = LipsyncRequest(
            model="lipsync-2", video=Media.from_url("https://v.example/face.mp4"), audio=[track]
        )
    else:
        model = "veo2-video" if kind == "nanogpt" else "veo-3.1"
        request = VideoRequest(model=model, prompt=f"item-{n}")
    return BatchItem(key=f"item-{n}", provider=kind, request=request)


async def main():
    providers = [
        NanoGPTProvider(api_key=nano_key, base_url=nano_url),
        PrismProvider(api_key=prism_key, base_url=prism_url),
        LipsyncProvider(api_key=sync_key, base_url=sync_url),
    ]
    for provider in providers:
        rate = Rate(requests=int(budget), per_seconds=float(window))
        provider.rates = {**provider.rates, "submit": rate}
    stop = anyio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    journal = PostgresJournal(journal_url, lease=float(lease))
    async with Client(*providers, config=config) as client, journal:
        print("worker", journal.worker, flush=True)
        batch = run_batch(
            client, (item(n) for n in range(int(items))), concurrency=16, journal=journal,
            stop=stop,
        )
        async for outcome in batch:
            print("outcome", outcome.key, outcome.ok, outcome.from_journal, flush=True)
    print("drained" if stop.is_set() else "done", flush=True)

anyio.run(main)
"""


@attrs.define
class Worker:
    process: anyio.abc.Process
    lines: list[str] = attrs.field(factory=list)

    async def read(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        async for chunk in self.process.stdout:
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            self.lines += [line.decode() for line in done]

    @property
    def name(self) -> str | None:
        """The worker's name in the journal (its first line), once it printed it."""
        first = self.lines[0].split() if self.lines else []
        return first[1] if first[:1] == ["worker"] else None

    def finished(self) -> list[str]:
        """Keys of the outcomes this worker brought about (not read from the journal)."""
        return [
            line.split()[1]
            for line in self.lines
            if line.startswith("outcome ") and line.split()[3] == "False"
        ]


@attrs.define
class Emulators:
    nano: NanoGPTEmulator
    prism: PrismEmulator
    lipsync: LipsyncEmulator

    def creates(self) -> int:
        return self.nano.creates + self.prism.creates + self.lipsync.creates

    def arrivals(self) -> dict[str, list[datetime]]:
        """When each create arrived, by provider."""
        return {
            "nanogpt": sorted(job.sim.created_at for job in self.nano.jobs.values()),
            "prism": sorted(g.job.created_at for g in self.prism.generations.values()),
            "lipsync": sorted(g.job.created_at for g in self.lipsync.generations.values()),
        }

    def created_items(self) -> collections.Counter[str]:
        """Creates by the item they were for (each item's prompt or audio names it)."""
        names: collections.Counter[str] = collections.Counter()
        names.update(str(job.sim.request["prompt"]) for job in self.nano.jobs.values())
        names.update(g.prompt for g in self.prism.generations.values())
        for generation in self.lipsync.generations.values():
            audio = next(i for i in generation.body["input"] if i["type"] == "audio")
            names[audio["url"].rsplit("/", 1)[1].removesuffix(".wav")] += 1
        return names


async def freeze_a_holder(workers: list[Worker], journal_url: str) -> tuple[Worker, list[str]]:
    """Stop (SIGSTOP) the worker holding the most submitted items, and return it with the
    keys it holds, read while it is stopped."""
    conn = await asyncpg.connect(journal_url.partition("?")[0])
    try:
        with anyio.fail_after(30):
            while True:
                rows = await conn.fetch(
                    "SELECT worker, array_agg(key) AS keys FROM prism_async.items"
                    " WHERE batch = 'shared' AND state = 'submitted' GROUP BY worker"
                )
                by_name = {w.name: w for w in workers if w.name is not None}
                holders = [row for row in rows if row["worker"] in by_name]
                if holders:
                    most = max(holders, key=lambda row: len(row["keys"]))
                    chosen = by_name[most["worker"]]
                    chosen.process.send_signal(signal.SIGSTOP)
                    keys = await conn.fetchval(
                        "SELECT array_agg(key) FROM prism_async.items WHERE batch = 'shared'"
                        " AND state = 'submitted' AND worker = $1",
                        chosen.name,
                    )
                    if keys:
                        return chosen, list(keys)
                    chosen.process.send_signal(signal.SIGCONT)
                await anyio.sleep(0.02)
    finally:
        await conn.close()


@pytest.fixture
async def emulators() -> AsyncIterator[tuple[Emulators, EmulatorServer]]:
    many = 10**6  # no emulator limit in the way: the test checks the budget itself
    found = Emulators(
        nano=NanoGPTEmulator(
            queue_seconds=0.2, run_seconds=0.8, balance=Decimal(many), submit_limit_per_minute=many
        ),
        prism=PrismEmulator(queue_seconds=0.2, run_seconds=0.8, credits=many),
        lipsync=LipsyncEmulator(
            queue_seconds=0.2,
            run_seconds=0.8,
            concurrency_limit=many,
            create_limit_per_minute=many,
            read_limit_per_minute=many,
        ),
    )
    async with EmulatorServer([found.nano, found.prism, found.lipsync]) as server:
        yield found, server


async def test_three_workers_killed_drained_and_replaced_create_and_finish_each_item_once(
    emulators: tuple[Emulators, EmulatorServer], postgres_url: str
) -> None:
    emu, server = emulators
    journal_url = await fresh_database(postgres_url) + "?batch=shared"
    argv = [sys.executable, "-c", WORKER]
    argv += [server.base_url("nanogpt"), emu.nano.api_key, server.base_url("prism")]
    argv += [emu.prism.api_key, server.base_url("lipsync"), emu.lipsync.api_key, journal_url]
    argv += [str(ITEMS), str(BUDGET), str(WINDOW), str(LEASE)]
    workers: list[Worker] = []

    async with anyio.create_task_group() as tasks:

        async def start() -> Worker:
            process = await anyio.open_process(argv, stderr=None)
            worker = Worker(process)
            workers.append(worker)
            tasks.start_soon(worker.read)
            return worker

        async def until(creates: int) -> None:
            with anyio.fail_after(60):
                while emu.creates() < creates:
                    assert any(w.process.returncode is None for w in workers), "all ended"
                    await anyio.sleep(0.02)

        workers_started = [await start() for _ in range(3)]
        await until(ITEMS // 5)
        # The worker to kill is one holding jobs it waits on: frozen first (SIGSTOP), so
        # what it holds cannot change between the look and the kill.
        killed, held = await freeze_a_holder(workers_started, journal_url)
        killed.process.send_signal(signal.SIGKILL)
        drained, survivor = (w for w in workers_started if w is not killed)
        await until(ITEMS // 2)
        drained.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            await drained.process.wait()
        replacement = await start()
        with anyio.fail_after(150):
            for worker in (survivor, replacement):
                await worker.process.wait()

    assert killed.process.returncode == -signal.SIGKILL
    assert drained.process.returncode == 0 and drained.lines[-1] == "drained"
    for worker in (survivor, replacement):
        assert worker.process.returncode == 0, worker.lines[-5:]
        assert worker.lines[-1] == "done"

    # Created once each: as many creates as items, none twice.
    created = emu.created_items()
    assert emu.creates() == ITEMS
    assert sorted(created) == sorted(f"item-{n}" for n in range(ITEMS))
    assert set(created.values()) == {1}

    # Finished once each: every item finished in the journal with one result per job, and
    # no item brought to its end by two workers.
    conn = await asyncpg.connect(journal_url.partition("?")[0])
    try:
        states = dict(
            await conn.fetch(
                "SELECT state, count(*) FROM prism_async.items WHERE batch = 'shared'"
                " GROUP BY state"
            )
        )
        results = await conn.fetchval(
            "SELECT count(*) FROM prism_async.results WHERE batch = 'shared'"
        )
        by_worker = dict(
            await conn.fetch("SELECT key, worker FROM prism_async.items WHERE batch = 'shared'")
        )
    finally:
        await conn.close()
    assert states == {"finished": ITEMS}
    assert results == ITEMS
    # The killed worker's jobs were taken over: each finished in another worker's name.
    assert held and not set(held) & {key for key, name in by_worker.items() if name == killed.name}
    finished = [key for worker in workers for key in worker.finished()]
    assert len(finished) == len(set(finished))
    # Every item's end was seen by one worker, save those the killed one recorded in the
    # instant before it could print them (at most its items in flight).
    assert len({f"item-{n}" for n in range(ITEMS)} - set(finished)) <= 16

    # Within budget across workers: no WINDOW holds more than BUDGET creates of a provider.
    for provider, times in emu.arrivals().items():
        assert len(times) == ITEMS // 3, provider
        for first, last in zip(times, times[BUDGET:], strict=False):
            assert (last - first).total_seconds() >= WINDOW * 0.98, provider


async def test_two_workers_share_the_plans_job_slots_through_the_journal(
    postgres_url: str,
) -> None:
    """Lipsync's plan allows 2 jobs at once per account: two workers, each allowed 2 by its
    own fan-out, together never run more than 2 (the API's concurrency 429 never comes)."""
    emulator = LipsyncEmulator(
        queue_seconds=0.1, run_seconds=0.5, concurrency_limit=2, create_limit_per_minute=10**6
    )
    url = await fresh_database(postgres_url) + "?batch=slots"
    config = EngineConfig(poll=PollPolicy(first_delay=0.1, min_interval=0.1, max_interval=0.2))

    def items() -> Iterator[BatchItem]:
        for n in range(12):
            track = AudioTrack(audio=Media.from_url(f"https://a.example/{n}.wav"))
            video = Media.from_url("https://v.example/face.mp4")
            request = LipsyncRequest(model="lipsync-2", video=video, audio=[track])
            yield BatchItem(key=f"lip-{n}", provider="lipsync", request=request)

    async def worker(base_url: str, seen: list[BatchOutcome]) -> None:
        provider = LipsyncProvider(
            api_key=emulator.api_key, base_url=base_url, max_jobs_in_flight=2
        )
        async with Client(provider, config=config) as client, PostgresJournal(url) as journal:
            async for outcome in run_batch(client, items(), journal=journal):
                seen.append(outcome)

    seen: list[BatchOutcome] = []
    async with EmulatorServer([emulator]) as server, anyio.create_task_group() as tasks:
        for _ in range(2):
            tasks.start_soon(worker, server.base_url("lipsync"), seen)

    assert emulator.creates == 12
    assert emulator.counts.by_status[429] == 0  # never over the plan, across both workers
    assert sorted(o.key for o in seen if not o.from_journal) == sorted(
        f"lip-{n}" for n in range(12)
    )
