"""A journaled batch survives a kill: resumed without losing a job or paying twice."""

from __future__ import annotations

import collections
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from prism_async import Client, EngineConfig, Media, PollPolicy, VideoRequest
from prism_async.batch import BatchItem, ItemState, SQLiteJournal, run_batch
from prism_async.providers.lipsync import AudioTrack, LipsyncProvider, LipsyncRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import EmulatorServer, Fault, FaultKind, VirtualClock
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests.conftest import FAST_RETRIES
from tests.integration._batches import collect

pytestmark = pytest.mark.anyio

# Real time: emulated jobs take a second; poll a few times a second.
QUICK = EngineConfig(poll=PollPolicy(first_delay=0.2, min_interval=0.1, max_interval=0.2))
ITEMS = 8
SLOTS = 2

# The child runs the same batch (same keys, same requests) as the resuming test process,
# on a SQLite journal or, given a postgresql:// URL, a PostgreSQL one.
CHILD = """
import sys, anyio
from prism_async import Client, EngineConfig, PollPolicy, VideoRequest
from prism_async.batch import BatchItem, run_batch
from prism_async.batch import PostgresJournal, SQLiteJournal
from prism_async.providers.nanogpt import NanoGPTProvider

base_url, api_key, journal_path, items, slots = sys.argv[1:6]
postgres = journal_path.startswith("postgresql://")
config = EngineConfig(poll=PollPolicy(first_delay=0.2, min_interval=0.1, max_interval=0.2))

def batch():
    for n in range(int(items)):
        request = VideoRequest(model="veo2-video", prompt=f"item-{n}")
        yield BatchItem(key=f"item-{n}", provider="nanogpt", request=request)

async def main():
    provider = NanoGPTProvider(api_key=api_key, base_url=base_url)
    journal_of = PostgresJournal if postgres else SQLiteJournal
    async with Client(provider, config=config) as client, journal_of(journal_path) as journal:
        async for outcome in run_batch(client, batch(), concurrency=int(slots), journal=journal):
            print(outcome.key, outcome.ok, flush=True)

anyio.run(main)
"""


def batch_items() -> Iterator[BatchItem]:
    for n in range(ITEMS):
        request = VideoRequest(model="veo2-video", prompt=f"item-{n}")
        yield BatchItem(key=f"item-{n}", provider="nanogpt", request=request)


def journaled_with_jobs(path: Path) -> set[str]:
    """Keys the journal holds job ids for, read as another process would."""
    if not path.exists():
        return set()
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute("SELECT key FROM items WHERE handles IS NOT NULL").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return set()
    return {key for (key,) in rows}


def creates_by_prompt(emulator: NanoGPTEmulator) -> collections.Counter[str]:
    return collections.Counter(str(job.sim.request["prompt"]) for job in emulator.jobs.values())


async def test_a_batch_killed_mid_way_resumes_and_finishes_each_item_exactly_once(
    tmp_path: Path,
) -> None:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=1.0, balance=Decimal(100))
    journal_path = tmp_path / "batch.sqlite"
    async with EmulatorServer([emulator]) as server:
        base_url = server.base_url("nanogpt")
        argv = [sys.executable, "-c", CHILD, base_url, emulator.api_key, str(journal_path)]
        argv += [str(ITEMS), str(SLOTS)]
        async with await anyio.open_process(argv) as child:
            # Kill it once a second wave of jobs is created and journaled: the first wave
            # is finished, the second running, the rest not yet submitted. The next create
            # is a job's length away, so no create is caught between send and answer.
            with anyio.fail_after(30):
                while not (
                    emulator.creates == 2 * SLOTS
                    and journaled_with_jobs(journal_path) >= set(emulator_keys(emulator))
                ):
                    assert child.returncode is None, "the child batch ended early"
                    await anyio.sleep(0.01)
            child.send_signal(signal.SIGKILL)
            await child.wait()
        assert child.returncode == -signal.SIGKILL
        created_before = emulator.creates
        assert 0 < created_before < ITEMS

        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=base_url)
        async with (
            Client(provider, config=QUICK, transport_config=FAST_RETRIES) as client,
            SQLiteJournal(journal_path) as journal,
        ):
            outcomes = await collect(
                run_batch(client, batch_items(), concurrency=SLOTS, journal=journal)
            )

    assert sorted(outcomes) == sorted(f"item-{n}" for n in range(ITEMS))
    assert all(o.ok for o in outcomes.values())
    # The emulator's own counts: one job per item, none created twice.
    assert emulator.creates == ITEMS
    assert emulator.counts.by_route["generate"] == ITEMS
    assert creates_by_prompt(emulator) == {f"item-{n}": 1 for n in range(ITEMS)}
    resumed = {k for k, o in outcomes.items() if o.resumed}
    assert len(resumed) == created_before  # jobs of the killed run were waited on, not redone


def emulator_keys(emulator: NanoGPTEmulator) -> list[str]:
    return [str(job.sim.request["prompt"]) for job in emulator.jobs.values()]


@pytest.fixture
async def nano() -> AsyncIterator[tuple[NanoGPTEmulator, EmulatorServer, VirtualClock]]:
    clock = VirtualClock()
    emulator = NanoGPTEmulator(clock=clock, queue_seconds=1, run_seconds=5)
    async with EmulatorServer([emulator]) as server:
        yield emulator, server, clock


def nano_client(env: tuple[NanoGPTEmulator, EmulatorServer, VirtualClock]) -> Client:
    emulator, server, clock = env
    provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
    return Client(provider, clock=clock, transport_config=FAST_RETRIES)


async def test_a_finished_batch_run_again_makes_no_request(
    nano: tuple[NanoGPTEmulator, EmulatorServer, VirtualClock], tmp_path: Path
) -> None:
    emulator = nano[0]
    items = [*batch_items()][:3]
    async with SQLiteJournal(tmp_path / "j.sqlite") as journal:
        async with nano_client(nano) as client:
            first = await collect(run_batch(client, items, journal=journal))
        seen = emulator.counts.total
        async with nano_client(nano) as client:
            second = await collect(run_batch(client, items, journal=journal))
            assert sum(client.engine.requests.values()) == 0
    assert emulator.counts.total == seen
    assert all(o.resumed and o.ok for o in second.values())
    assert {k: o.result for k, o in second.items()} == {k: o.result for k, o in first.items()}


async def test_an_unknown_create_outcome_is_reported_uncertain_and_never_sent_again(
    nano: tuple[NanoGPTEmulator, EmulatorServer, VirtualClock], tmp_path: Path
) -> None:
    emulator = nano[0]
    # The create happens, but its answer is lost: NanoGPT has no idempotency key.
    emulator.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE))
    item = next(batch_items())
    async with SQLiteJournal(tmp_path / "j.sqlite") as journal:
        for run in (1, 2):
            async with nano_client(nano) as client:
                (outcome,) = (await collect(run_batch(client, [item], journal=journal))).values()
            assert outcome.uncertain and not outcome.ok
            assert outcome.resumed is (run == 2)
            entry = await journal.lookup(item.key or "")
            assert entry is not None and entry.state is ItemState.UNCERTAIN
    assert emulator.creates == 1
    assert emulator.counts.by_route["generate"] == 1


async def test_a_create_recorded_but_not_answered_before_a_crash_is_uncertain(
    nano: tuple[NanoGPTEmulator, EmulatorServer, VirtualClock], tmp_path: Path
) -> None:
    from prism_async.batch import fingerprint

    item = next(batch_items())
    async with SQLiteJournal(tmp_path / "j.sqlite") as journal:
        # What a run killed between sending the create and recording its answer leaves.
        await journal.record_submitting(
            key="item-0",
            provider="nanogpt",
            fingerprint=fingerprint("nanogpt", item.request),
            idempotency_key="k-1",
        )
        async with nano_client(nano) as client:
            (outcome,) = (await collect(run_batch(client, [item], journal=journal))).values()
    assert outcome.uncertain and outcome.resumed
    assert nano[0].counts.by_route["generate"] == 0


async def test_an_unknown_create_outcome_is_replayed_with_its_idempotency_key(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    emulator = LipsyncEmulator(clock=clock, queue_seconds=1, run_seconds=3)
    track = AudioTrack(audio=Media.from_url("https://a.example/voice.wav"))
    request = LipsyncRequest(
        model="lipsync-2", video=Media.from_url("https://a.example/face.mp4"), audio=[track]
    )
    item = BatchItem(key="lip", provider="lipsync", request=request)
    async with EmulatorServer([emulator]) as server, SQLiteJournal(tmp_path / "j") as journal:
        provider = LipsyncProvider(api_key=emulator.api_key, base_url=server.base_url("lipsync"))
        # Every try of the create happens, and every answer is lost.
        emulator.faults.inject("create", Fault(kind=FaultKind.LOSE_RESPONSE), times=20)
        async with Client(provider, clock=clock, transport_config=FAST_RETRIES) as client:
            (first,) = (await collect(run_batch(client, [item], journal=journal))).values()
        assert not first.ok and not first.uncertain  # replayable: not left to the user
        entry = await journal.lookup("lip")
        assert entry is not None and entry.state is ItemState.SUBMITTING
        emulator.faults.clear()
        async with Client(provider, clock=clock, transport_config=FAST_RETRIES) as client:
            (second,) = (await collect(run_batch(client, [item], journal=journal))).values()
    assert second.ok and second.resumed
    assert emulator.counts.by_route["create"] > 2  # sent again, with the same key...
    assert emulator.creates == 1  # ...so the API made (and billed) one generation


async def test_a_key_journaled_for_another_request_is_refused(
    nano: tuple[NanoGPTEmulator, EmulatorServer, VirtualClock], tmp_path: Path
) -> None:
    first = BatchItem(
        key="a", provider="nanogpt", request=VideoRequest(model="veo2-video", prompt="x")
    )
    other = BatchItem(
        key="a", provider="nanogpt", request=VideoRequest(model="veo2-video", prompt="y")
    )
    async with SQLiteJournal(tmp_path / "j.sqlite") as journal, nano_client(nano) as client:
        await collect(run_batch(client, [first], journal=journal))
        (outcome,) = (await collect(run_batch(client, [other], journal=journal))).values()
    assert outcome.error is not None and "another request" in str(outcome.error)
    assert nano[0].creates == 1
