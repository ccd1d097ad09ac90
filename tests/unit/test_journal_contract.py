"""The journal's contract, one suite for every implementation: SQLite (a file in tmp_path)
and PostgreSQL (a fresh database on the session's throwaway server, see tests/_postgres.py).

Plus, for PostgreSQL alone: the schema's version and its serialized migration, the batch
name in the URL, the extra named when asyncpg is missing, and a batch killed mid-way and
resumed on the emulators with no create sent twice.
"""

from __future__ import annotations

import collections
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.to_thread
import asyncpg
import pytest

from prism_async import Client
from prism_async._errors import JournalError, JournalLockedError
from prism_async._results import (
    Cost,
    CostUnit,
    GenerationResult,
    JobHandle,
    JobStatus,
    Output,
    SubmitReceipt,
)
from prism_async.batch import ItemState, Journal, SQLiteJournal, run_batch
from prism_async.batch._postgres import SCHEMA_VERSION, PostgresJournal, is_postgres_url
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._postgres import fresh_database
from tests.conftest import FAST_RETRIES
from tests.integration._batches import collect

# The end-to-end test's child, cadence and items are the SQLite resume test's (the child
# takes a postgresql:// URL as well as a file).
from tests.integration.test_resume import CHILD, ITEMS, QUICK, SLOTS, batch_items

pytestmark = pytest.mark.anyio

AnyJournal = SQLiteJournal | PostgresJournal


class Store:
    """Where one test's journal lives: ``new()`` is another journal on the same store (a
    later run, or a second worker), ``break_()`` damages the store under an open journal."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target

    def new(self) -> AnyJournal:
        if self.kind == "sqlite":
            return SQLiteJournal(self.target)
        return PostgresJournal(self.target)

    async def break_(self) -> None:
        """Drop the items table behind the journal's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.target) as conn:
                conn.execute("DROP TABLE items")
            return
        conn = await asyncpg.connect(self.target.partition("?")[0])
        try:
            await conn.execute("DROP TABLE prism_async.items")
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store("sqlite", str(tmp_path / "batch.db"))
    server_url: str = request.getfixturevalue("postgres_url")
    return Store("postgres", await fresh_database(server_url) + "?batch=contract")


@pytest.fixture
async def journal(store: Store) -> AsyncIterator[AnyJournal]:
    async with store.new() as opened:
        yield opened


async def claim(journal: Journal, key: str, idempotency_key: str = "k-1", **kw: str) -> bool:
    return await journal.record_submitting(
        key=key,
        provider=kw.get("provider", "nanogpt"),
        fingerprint=kw.get("fingerprint", "f-1"),
        idempotency_key=idempotency_key,
    )


def handle(n: int) -> JobHandle:
    return JobHandle(provider="nanogpt", id=f"vid_{n}", extra={"model": "veo2-video"})


def result(h: JobHandle, amount: str = "0.25") -> GenerationResult:
    return GenerationResult(
        provider=h.provider,
        id=h.id,
        status=JobStatus.SUCCEEDED,
        outputs=(Output(url=f"https://cdn.example/{h.id}.mp4", content_type="video/mp4"),),
        cost=Cost(amount=Decimal(amount), unit=CostUnit.USD),
    )


async def second_opener(store: Store) -> AnyJournal | None:
    """Another live journal on the same store, or None where the store allows one run only
    (SQLite: its lock refuses the second opener)."""
    other = store.new()
    try:
        await other.open()
    except JournalLockedError:
        assert store.kind == "sqlite"
        return None
    return other


# -- lookup and claims ---------------------------------------------------------------------


async def test_an_unknown_key_is_none(journal: AnyJournal) -> None:
    assert await journal.lookup("nothing") is None


async def test_a_new_key_is_claimed_and_noted_as_submitting(journal: AnyJournal) -> None:
    assert await claim(journal, "a", "k-1", provider="lipsync", fingerprint="f-a")
    entry = await journal.lookup("a")
    assert entry is not None
    assert (entry.key, entry.provider, entry.fingerprint) == ("a", "lipsync", "f-a")
    assert (entry.idempotency_key, entry.state) == ("k-1", ItemState.SUBMITTING)
    assert (entry.handles, dict(entry.results), dict(entry.downloads), entry.error) == (
        (),
        {},
        {},
        None,
    )


@pytest.mark.parametrize(
    ("state", "claimable"),
    [
        (ItemState.SUBMITTED, False),
        (ItemState.FINISHED, False),
        (ItemState.UNCERTAIN, False),
        (ItemState.REFUSED, True),
        (ItemState.UNSENT, True),
    ],
)
async def test_a_claim_is_refused_or_granted_by_the_items_state(
    journal: AnyJournal, state: ItemState, claimable: bool
) -> None:
    assert await claim(journal, "a", "k-1")
    if state is ItemState.SUBMITTED:
        await journal.record_submitted("a", [handle(1)])
    elif state is ItemState.FINISHED:
        await journal.record_submitted("a", [handle(1)])
        await journal.record_result("a", handle(1), result(handle(1)))
    elif state is ItemState.UNCERTAIN:
        await journal.record_uncertain("a", "lost answer")
    elif state is ItemState.REFUSED:
        await journal.record_refused("a", "400 bad prompt")
    else:
        await journal.record_unsent("a", "connection refused")
    before = await journal.lookup("a")
    assert before is not None and before.state is state
    assert await claim(journal, "a", "k-2", fingerprint="f-2") is claimable
    after = await journal.lookup("a")
    assert after is not None
    if claimable:
        assert (after.state, after.idempotency_key, after.fingerprint) == (
            ItemState.SUBMITTING,
            "k-2",
            "f-2",
        )
        assert after.error is None
    else:
        assert after == before  # a refused claim changes nothing


async def test_each_transition_is_noted_with_its_error(journal: AnyJournal) -> None:
    for key, record, state in [
        ("r", journal.record_refused, ItemState.REFUSED),
        ("u", journal.record_unsent, ItemState.UNSENT),
        ("x", journal.record_uncertain, ItemState.UNCERTAIN),
    ]:
        assert await claim(journal, key)
        await record(key, f"why {key}")
        entry = await journal.lookup(key)
        assert entry is not None
        assert (entry.state, entry.error, entry.idempotency_key) == (state, f"why {key}", "k-1")


async def test_a_submissions_receipt_is_kept_and_read_back(journal: AnyJournal) -> None:
    receipt = SubmitReceipt(
        (handle(1), handle(2)),
        provider="nanogpt",
        cost=Cost(amount=Decimal("0.5"), unit=CostUnit.USD, estimated=True),
        balance=Cost(amount=Decimal("99.5"), unit=CostUnit.USD),
    )
    assert await claim(journal, "a")
    await journal.record_submitted("a", receipt)
    entry = await journal.lookup("a")
    assert entry is not None and entry.state is ItemState.SUBMITTED
    assert entry.handles == (handle(1), handle(2))
    assert entry.receipt == receipt
    assert entry.receipt is not None and entry.receipt.balance == receipt.balance
    assert entry.receipt.cost == receipt.cost
    # Plain handles (no receipt) are noted as before, with none.
    assert await claim(journal, "b")
    await journal.record_submitted("b", [handle(3)])
    plain = await journal.lookup("b")
    assert plain is not None and plain.handles == (handle(3),) and plain.receipt is None


async def test_a_write_for_an_unknown_key_raises_key_error(journal: AnyJournal) -> None:
    with pytest.raises(KeyError):
        await journal.record_submitted("ghost", [handle(1)])


async def test_a_key_left_submitting_by_an_earlier_run_is_claimed_again(store: Store) -> None:
    async with store.new() as first:
        assert await claim(first, "a", "k-1")
    async with store.new() as second:
        assert await claim(second, "a", "k-1")  # a replay, with the key it was sent with
        entry = await second.lookup("a")
        assert entry is not None and entry.state is ItemState.SUBMITTING


async def test_two_concurrent_claimers_of_one_key_exactly_one_wins(store: Store) -> None:
    async with store.new() as first:
        second = await second_opener(store)
        if second is None:  # one run per store: the second claimer cannot even open it
            assert await claim(first, "a")
            return
        try:
            won: dict[str, list[bool]] = collections.defaultdict(list)

            async def claimant(journal: AnyJournal, key: str) -> None:
                won[key].append(await claim(journal, key))

            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(claimant, first, f"k{n}")
                    tg.start_soon(claimant, second, f"k{n}")
            assert {key: sorted(w) for key, w in won.items()} == {
                f"k{n}": [False, True] for n in range(20)
            }
            # A key a live run holds as submitting is not taken over by another.
            for n in range(20):
                assert not await claim(second, f"k{n}") or not await claim(first, f"k{n}")
        finally:
            await second.aclose()


async def test_a_live_runs_submitting_item_is_taken_until_that_run_ends(store: Store) -> None:
    async with store.new() as first:
        assert await claim(first, "a")
        second = await second_opener(store)
        if second is None:
            return  # SQLite: one live run per journal, so nobody else can even ask
        try:
            assert not await claim(second, "a")
        finally:
            await second.aclose()
    async with store.new() as third:
        assert await claim(third, "a")


# -- results, downloads, reopening ---------------------------------------------------------


async def test_an_item_is_finished_once_every_job_has_a_result(journal: AnyJournal) -> None:
    assert await claim(journal, "a")
    await journal.record_submitted("a", [handle(1), handle(2)])
    await journal.record_result("a", handle(1), result(handle(1)))
    entry = await journal.lookup("a")
    assert entry is not None and entry.state is ItemState.SUBMITTED
    assert entry.handles == (handle(1), handle(2))
    await journal.record_result("a", handle(2), result(handle(2), "0.5"))
    entry = await journal.lookup("a")
    assert entry is not None and entry.state is ItemState.FINISHED
    assert entry.results == {
        str(handle(1)): result(handle(1)).to_dict(),
        str(handle(2)): result(handle(2), "0.5").to_dict(),
    }


async def test_everything_is_read_back_by_a_later_run(store: Store, tmp_path: Path) -> None:
    async with store.new() as first:
        assert await claim(first, "a", "k-a", provider="prism", fingerprint="f-a")
        await first.record_submitted("a", [handle(1)])
        await first.record_result("a", handle(1), result(handle(1)))
        await first.record_download("a", handle(1), 0, tmp_path / "a.mp4", 1234)
        await first.record_download("a", handle(1), 0, tmp_path / "a-again.mp4", 1234)
        assert await claim(first, "b", "k-b")
        await first.record_uncertain("b", "lost")
        kept = {key: await first.lookup(key) for key in ("a", "b")}
    async with store.new() as later:
        assert {key: await later.lookup(key) for key in ("a", "b")} == kept
    entry = kept["a"]
    assert entry is not None and entry.state is ItemState.FINISHED
    assert entry.downloads == {(str(handle(1)), 0): tmp_path / "a-again.mp4"}
    assert (entry.provider, entry.fingerprint, entry.idempotency_key) == ("prism", "f-a", "k-a")


async def test_the_fingerprint_is_kept_for_the_runner_to_refuse_a_reused_key(
    journal: AnyJournal,
) -> None:
    # The runner compares it with the new request's and refuses another request under an
    # old key (tests/integration/test_resume.py); the journal must keep it exactly.
    assert await claim(journal, "a", fingerprint="sha256:" + "ab" * 32)
    entry = await journal.lookup("a")
    assert entry is not None and entry.fingerprint == "sha256:" + "ab" * 32


async def test_uncertain_lists_only_the_uncertain_items(journal: AnyJournal) -> None:
    for key in ("a", "b", "c"):
        assert await claim(journal, key)
    await journal.record_uncertain("b", "lost")
    await journal.record_refused("c", "no")
    assert [entry.key for entry in await journal.uncertain()] == ["b"]


# -- a broken store ------------------------------------------------------------------------


async def test_a_broken_store_raises_a_one_line_journal_error(
    journal: AnyJournal, store: Store
) -> None:
    assert await claim(journal, "a")
    await store.break_()
    for write in (
        lambda: claim(journal, "b"),
        lambda: journal.record_submitted("a", [handle(1)]),
        lambda: journal.lookup("a"),
    ):
        with pytest.raises(JournalError) as caught:
            await write()
        assert "\n" not in str(caught.value)
        assert str(caught.value).startswith("journal ")


async def test_a_store_that_cannot_be_opened_is_a_journal_error(
    store: Store, tmp_path: Path
) -> None:
    if store.kind == "sqlite":
        broken: AnyJournal = SQLiteJournal(tmp_path / "missing-folder" / "j.db")
    else:
        broken = PostgresJournal("postgresql://nobody@127.0.0.1:1/nowhere?batch=b")
    with pytest.raises(JournalError) as caught:
        await broken.open()
    assert "\n" not in str(caught.value)


# -- PostgreSQL only -----------------------------------------------------------------------


@pytest.fixture
async def pg_url(postgres_url: str) -> str:
    return await fresh_database(postgres_url)


async def test_postgres_urls_select_postgres_and_hide_the_password() -> None:
    assert is_postgres_url("postgresql://u@h/db") and is_postgres_url("POSTGRES://u@h/db")
    assert not is_postgres_url("batch.db") and not is_postgres_url("/tmp/postgresql.db")
    journal = PostgresJournal("postgresql://me:s3cret@db.example:5433/jobs?batch=nightly")
    assert journal.batch == "nightly"
    assert "s3cret" not in repr(journal) and "s3cret" not in journal.shown
    assert journal.shown == "postgresql://me:***@db.example:5433/jobs?batch=nightly"
    assert PostgresJournal("postgres://h/db").batch == "default"


async def test_workers_starting_together_create_the_schema_once(pg_url: str) -> None:
    journals = [PostgresJournal(pg_url + f"?batch=b{n % 2}") for n in range(6)]
    try:
        async with anyio.create_task_group() as tg:
            for journal in journals:
                tg.start_soon(journal.open)
        # Batches in one database are apart: b0 and b1 each win key "a".
        assert await claim(journals[0], "a") and await claim(journals[1], "a")
        assert not await claim(journals[2], "a")
    finally:
        for journal in journals:
            await journal.aclose()
    conn = await asyncpg.connect(pg_url)
    try:
        version = await conn.fetchval("SELECT value FROM prism_async.meta WHERE name='schema'")
        batches = await conn.fetch("SELECT batch FROM prism_async.items ORDER BY batch")
    finally:
        await conn.close()
    assert version == str(SCHEMA_VERSION)
    assert [r["batch"] for r in batches] == ["b0", "b1"]


async def test_a_newer_schema_is_refused_in_one_line(pg_url: str) -> None:
    async with PostgresJournal(pg_url):
        pass
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE prism_async.meta SET value = '99' WHERE name = 'schema'")
    finally:
        await conn.close()
    with pytest.raises(JournalError, match="schema version 99") as caught:
        await PostgresJournal(pg_url).open()
    assert "\n" not in str(caught.value)


async def test_without_asyncpg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(JournalError, match=r"pip install 'prism-async\[postgres\]'"):
        await PostgresJournal("postgresql://u@127.0.0.1/db").open()


# -- end to end: killed and resumed --------------------------------------------------------


async def journaled_with_jobs(url: str) -> set[str]:
    conn = await asyncpg.connect(url.partition("?")[0])
    try:
        rows = await conn.fetch("SELECT key FROM prism_async.items WHERE handles IS NOT NULL")
    except asyncpg.UndefinedTableError:  # not created yet
        return set()
    finally:
        await conn.close()
    return {row["key"] for row in rows}


def prompts(emulator: NanoGPTEmulator) -> list[str]:
    return [str(job.sim.request["prompt"]) for job in emulator.jobs.values()]


async def test_a_batch_on_postgres_killed_mid_way_resumes_without_a_second_create(
    pg_url: str,
) -> None:
    url = pg_url + "?batch=resume"
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=1.0, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        base_url = server.base_url("nanogpt")
        argv = [sys.executable, "-c", CHILD, base_url, emulator.api_key, url]
        argv += [str(ITEMS), str(SLOTS)]
        async with await anyio.open_process(argv) as child:
            # Killed once a second wave of jobs is created and journaled (see test_resume).
            with anyio.fail_after(30):
                while not (
                    emulator.creates == 2 * SLOTS
                    and await journaled_with_jobs(url) >= set(prompts(emulator))
                ):
                    assert child.returncode is None, "the child batch ended early"
                    await anyio.sleep(0.01)
            child.send_signal(signal.SIGKILL)
            await child.wait()
        created_before = emulator.creates
        assert 0 < created_before < ITEMS

        provider = NanoGPTProvider(api_key=emulator.api_key, base_url=base_url)
        async with (
            Client(provider, config=QUICK, transport_config=FAST_RETRIES) as client,
            PostgresJournal(url) as journal,
        ):
            outcomes = await collect(
                run_batch(client, batch_items(), concurrency=SLOTS, journal=journal)
            )
            entries = [await journal.lookup(f"item-{n}") for n in range(ITEMS)]

    assert sorted(outcomes) == sorted(f"item-{n}" for n in range(ITEMS))
    assert all(o.ok for o in outcomes.values())
    assert emulator.creates == ITEMS  # creates on the emulator equal the items
    assert emulator.counts.by_route["generate"] == ITEMS
    assert collections.Counter(prompts(emulator)) == {f"item-{n}": 1 for n in range(ITEMS)}
    assert len([o for o in outcomes.values() if o.resumed]) == created_before
    assert all(e is not None and e.state is ItemState.FINISHED for e in entries)


async def test_the_cli_takes_a_postgresql_url_as_its_journal(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prism_async._cli import main

    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.2, balance=Decimal(100))
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"key": k, "provider": "nanogpt", "model": "veo2-video", "prompt": k}) + "\n"
            for k in "xyz"
        )
    )
    url = pg_url + "?batch=cli"
    async with EmulatorServer([emulator]) as server:
        for name in ("PRISM_API_KEY", "SYNC_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("NANOGPT_API_KEY", emulator.api_key)
        monkeypatch.setenv("NANOGPT_BASE_URL", server.base_url("nanogpt"))
        for _ in range(2):  # run again: everything is reported from the journal
            argv = ["batch", str(batch), "--journal", url]
            assert await anyio.to_thread.run_sync(main, argv) == 0
    assert emulator.creates == 3
    async with PostgresJournal(url) as journal:
        for key in "xyz":
            entry = await journal.lookup(key)
            assert entry is not None and entry.state is ItemState.FINISHED
