"""``prism-async batch status|forget|retry``: seeing a whole batch in its journal, and
clearing an uncertain item deliberately, counted on the emulators.

``forget`` makes the next run submit the item with a new idempotency key (it may pay
twice: the user's decision); ``retry`` makes it send the item again with its journaled
key (a provider that honours keys replays the first create instead of charging again).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import prism_async._registry as registry
from prism_async import Client
from prism_async._cli import EXIT_FAILED, EXIT_JOURNAL, EXIT_REFUSED, main
from prism_async._cli._batch import print_summary
from prism_async._cli._jsonl import read_items
from prism_async._errors import JournalError
from prism_async._results import Cost, CostUnit, GenerationResult, JobHandle, JobStatus
from prism_async.batch import (
    BatchItem,
    InspectableJournal,
    ItemNotClearable,
    ItemState,
    Journal,
    SQLiteJournal,
    fingerprint,
)
from prism_async.testing import EmulatorServer, Fault, FaultKind
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests._cli import export, run_cli

pytestmark = pytest.mark.anyio

Emulators = tuple[NanoGPTEmulator, LipsyncEmulator, EmulatorServer]


@pytest.fixture
async def emulators(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulators]:
    nano = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.2, balance=Decimal(100))
    lip = LipsyncEmulator(queue_seconds=0.0, run_seconds=0.2, concurrency_limit=8)
    async with EmulatorServer([nano, lip]) as server:
        export(server, monkeypatch)
        yield nano, lip, server


def write_batch(path: Path, nano: int, lip: int) -> Path:
    lines: list[dict[str, object]] = [
        {"key": f"k{n}", "provider": "nanogpt", "model": "veo2-video", "prompt": f"p{n}"}
        for n in range(nano)
    ]
    lines += [
        {
            "key": f"lip{n}",
            "provider": "lipsync",
            "type": "lipsync",
            "model": "lipsync-2",
            "video": f"https://a.example/face-{n}.mp4",
            "audio": f"https://a.example/voice-{n}.wav",
        }
        for n in range(lip)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def batch_item(batch: Path, key: str) -> BatchItem:
    """The request the batch command reads from ``batch`` for ``key``."""
    errors: list[str] = []
    found = [i for i in read_items(batch, lambda _n, m: errors.append(m)) if i.key == key]
    assert not errors and len(found) == 1
    return found[0]


def outcomes(path: Path) -> dict[str, dict[str, object]]:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


def journal_rows(journal: Path) -> dict[str, tuple[str, str]]:
    """key -> (state, idempotency key), read as another process would."""
    with contextlib.closing(sqlite3.connect(journal)) as conn:
        rows = conn.execute("SELECT key, state, idempotency_key FROM items").fetchall()
    return {key: (state, idem) for key, state, idem in rows}


async def status_json(journal: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert await run_cli("batch", "status", "--journal", str(journal), "--json") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object
    data: dict[str, object] = json.loads(out)
    return data


# --- the whole story: uncertain items, status, forget and retry, the next run ------------------


async def test_forget_sends_anew_with_a_new_key_and_retry_with_the_old_one(
    emulators: Emulators, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nano, lip, server = emulators
    batch, journal = write_batch(tmp_path / "b.jsonl", nano=4, lip=1), tmp_path / "j.sqlite"
    out = tmp_path / "out.jsonl"

    # lip0's create reached the provider (a job exists, paid for, under key K) but its
    # answer was lost and the journal marked it uncertain.
    item = batch_item(batch, "lip0")
    env = {"SYNC_API_KEY": lip.api_key, "SYNC_BASE_URL": server.base_url("lipsync")}
    first_key = "lip0-first-create-key"
    async with Client(registry.from_env("lipsync", env)) as client:
        (lip_handle,) = await client.submit(
            item.request, provider="lipsync", idempotency_key=first_key
        )
    async with SQLiteJournal(journal) as j:
        assert await j.record_submitting(
            key="lip0",
            provider="lipsync",
            fingerprint=fingerprint("lipsync", item.request),
            idempotency_key=first_key,
        )
        await j.record_uncertain("lip0", "the create's answer was lost")
    assert lip.creates == 1

    # Two NanoGPT answers are lost: those items are uncertain, never sent again.
    nano.faults.inject("generate", Fault(kind=FaultKind.LOSE_RESPONSE), times=2)
    code = await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
    assert code == EXIT_FAILED
    uncertain_nano = sorted(k for k, o in outcomes(out).items() if o["uncertain"] and k != "lip0")
    assert len(uncertain_nano) == 2
    assert outcomes(out)["lip0"]["uncertain"]
    assert (nano.creates, lip.creates) == (4, 1)
    printed = capsys.readouterr().out
    assert "3 item(s) uncertain" in printed and f"batch status --journal {journal}" in printed

    # status: the whole batch, and the uncertain items with their keys.
    rows = journal_rows(journal)
    data = await status_json(journal, capsys)
    assert data["items"] == 5
    assert data["states"] == {
        "submitting": 0, "submitted": 0, "finished": 2, "refused": 0, "unsent": 0,
        "uncertain": 3,
    }  # fmt: skip
    providers = data["providers"]
    assert isinstance(providers, dict)
    assert providers["nanogpt"]["finished"] == 2 and providers["nanogpt"]["uncertain"] == 2
    assert providers["lipsync"]["uncertain"] == 1
    assert data["jobs"] == 2
    assert data["cost"] == {"USD": float(nano.price * 2)}
    listed = data["uncertain"]
    assert isinstance(listed, list)
    assert {u["key"]: (u["provider"], u["idempotency_key"]) for u in listed} == {
        key: (provider, rows[key][1])
        for key, provider in [*((k, "nanogpt") for k in uncertain_nano), ("lip0", "lipsync")]
    }
    assert all(u["error"] for u in listed)

    assert await run_cli("batch", "status", "--journal", str(journal)) == 0
    text = capsys.readouterr().out
    for key in (*uncertain_nano, "lip0"):
        assert key in text and rows[key][1] in text
    assert "nanogpt" in text and "lipsync" in text and "USD" in text

    # forget one NanoGPT item, retry the other, retry lip0.
    forgotten, retried = uncertain_nano
    assert await run_cli("batch", "forget", forgotten, "--journal", str(journal)) == 0
    said = capsys.readouterr()
    assert forgotten in said.out and "new idempotency key" in said.out
    assert await run_cli("batch", "retry", retried, "--journal", str(journal)) == 0
    said = capsys.readouterr()
    assert rows[retried][1] in said.out
    assert "does not honour idempotency keys" in said.err  # NanoGPT: it may pay again
    assert await run_cli("batch", "retry", "lip0", "--journal", str(journal)) == 0
    said = capsys.readouterr()
    assert first_key in said.out and not said.err  # lipsync honours its keys
    after = journal_rows(journal)
    assert forgotten not in after
    assert after[retried] == ("unsent", rows[retried][1])
    assert after["lip0"] == ("unsent", first_key)
    data = await status_json(journal, capsys)
    assert data["uncertain"] == [] and data["items"] == 4

    # The next run: the forgotten and the retried NanoGPT items are created (one each);
    # lip0 is replayed with its first key, so the lipsync API creates nothing new.
    code = await run_cli("batch", str(batch), "--journal", str(journal), "--out", str(out))
    assert code == 0
    assert all(o["ok"] for o in outcomes(out).values())
    assert (nano.creates, lip.creates) == (6, 1)
    final = journal_rows(journal)
    assert all(state == "finished" for state, _ in final.values()) and len(final) == 5
    assert final[forgotten][1] != rows[forgotten][1]  # a new idempotency key
    assert final[retried][1] == rows[retried][1]  # the same one
    assert final["lip0"][1] == first_key
    assert outcomes(out)["lip0"]["handle"] == str(lip_handle)  # the first create's job
    data = await status_json(journal, capsys)
    assert data["states"]["finished"] == 5  # type: ignore[index]
    # lip0's cost is the estimate asked before its create (10 s at the emulator's price).
    estimate = lip.cost_per_second * 10
    assert data["cost"] == {"USD": pytest.approx(float(nano.price * 4) + estimate)}
    assert data["estimated"] == {"USD": pytest.approx(estimate)}


# --- status of a journal with an item in every state -------------------------------------------


def result(handle: JobHandle, amount: str | None, unit: CostUnit, **kw: bool) -> GenerationResult:
    cost = None if amount is None else Cost(amount=Decimal(amount), unit=unit, **kw)
    return GenerationResult(
        provider=handle.provider, id=handle.id, status=JobStatus.SUCCEEDED, cost=cost
    )


async def every_state(path: Path) -> None:
    """A journal holding one item in each state, written through the journal API."""
    async with SQLiteJournal(path) as j:
        for key, provider in [
            ("done", "nanogpt"),
            ("done-2", "prism"),
            ("running", "lipsync"),
            ("sending", "lipsync"),
            ("refused", "prism"),
            ("unsent", "nanogpt"),
            ("lost", "nanogpt"),
        ]:
            assert await j.record_submitting(
                key=key, provider=provider, fingerprint="f", idempotency_key=f"idem-{key}"
            )
        a, b = JobHandle(provider="nanogpt", id="v1"), JobHandle(provider="nanogpt", id="v2")
        await j.record_submitted("done", [a, b])
        await j.record_result("done", a, result(a, "0.35", CostUnit.USD))
        await j.record_result("done", b, result(b, "0.1", CostUnit.USD, estimated=True))
        c = JobHandle(provider="prism", id="t1")
        await j.record_submitted("done-2", [c])
        await j.record_result("done-2", c, result(c, "12", CostUnit.CREDITS))
        d, e = JobHandle(provider="lipsync", id="g1"), JobHandle(provider="lipsync", id="g2")
        await j.record_submitted("running", [d, e])
        await j.record_result("running", d, result(d, None, CostUnit.USD))
        await j.record_refused("refused", "400: prompt refused")
        await j.record_unsent("unsent", "cannot connect")
        await j.record_uncertain("lost", "the connection dropped after the request was sent")


async def test_status_counts_every_state_and_sums_the_cost_per_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.sqlite"
    await every_state(journal)
    data = await status_json(journal, capsys)
    assert data["items"] == 7
    assert data["states"] == {
        "submitting": 1, "submitted": 1, "finished": 2, "refused": 1, "unsent": 1,
        "uncertain": 1,
    }  # fmt: skip
    assert data["providers"] == {
        "lipsync": {
            "submitting": 1, "submitted": 1, "finished": 0, "refused": 0, "unsent": 0,
            "uncertain": 0,
        },
        "nanogpt": {
            "submitting": 0, "submitted": 0, "finished": 1, "refused": 0, "unsent": 1,
            "uncertain": 1,
        },
        "prism": {
            "submitting": 0, "submitted": 0, "finished": 1, "refused": 1, "unsent": 0,
            "uncertain": 0,
        },
    }  # fmt: skip
    assert data["jobs"] == 4
    assert data["cost"] == {"USD": 0.45, "credits": 12.0}
    assert data["estimated"] == {"USD": 0.1}
    assert data["workers"] == {}
    listed = data["uncertain"]
    assert isinstance(listed, list)
    (lost,) = listed
    assert lost["key"] == "lost" and lost["provider"] == "nanogpt"
    assert lost["idempotency_key"] == "idem-lost"
    assert "connection dropped" in lost["error"]

    async with SQLiteJournal(journal, read_only=True) as j:
        summary = await j.summary()
    assert summary.cost == {"USD": Decimal("0.45"), "credits": Decimal("12")}  # exact
    assert summary.items == 7 and summary.states[ItemState.SUBMITTING] == 1


@pytest.mark.parametrize("rich", [True, False])
async def test_status_text_is_a_table_per_provider_then_the_uncertain_items(
    tmp_path: Path, rich: bool
) -> None:
    import io

    journal = tmp_path / "j.sqlite"
    await every_state(journal)
    async with SQLiteJournal(journal, read_only=True) as j:
        summary = await j.summary()
    out = io.StringIO()
    print_summary(summary, journal=str(journal), out=out, rich=rich)
    text = out.getvalue()
    lines = text.splitlines()
    total = next(line for line in lines if "total" in line)
    cells = total.replace("│", " ").split()  # rich draws cell borders
    assert cells == ["total", "7", "2", "1", "1", "1", "1", "1"]
    assert "cost so far: 0.45 USD (of which 0.1 estimated), 12 credits" in text
    assert any("lost" in line and "idem-lost" in line and "nanogpt" in line for line in lines)
    assert f"--journal {journal}" in text


async def test_status_of_a_journal_without_uncertain_items_says_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.sqlite"
    async with SQLiteJournal(journal):
        pass
    assert await run_cli("batch", "status", "--journal", str(journal)) == 0
    out = capsys.readouterr().out
    assert "uncertain items: none" in out and "cost so far: none recorded" in out


# --- forget and retry refuse what they must not clear ------------------------------------------


@pytest.mark.parametrize("action", ["forget", "retry"])
@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("nope", "no item 'nope'"),
        ("done", "is finished"),
        ("running", "is submitted"),
        ("sending", "is submitting"),
        ("unsent", "is unsent"),
    ],
)
async def test_forget_and_retry_refuse_unknown_keys_and_items_not_uncertain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str, key: str, named: str
) -> None:
    journal = tmp_path / "j.sqlite"
    await every_state(journal)
    before = journal_rows(journal)
    capsys.readouterr()
    assert await run_cli("batch", action, key, "--journal", str(journal)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "Traceback" not in err
    assert journal_rows(journal) == before  # nothing changed


@pytest.mark.parametrize("action", ["forget", "retry"])
async def test_a_refused_item_may_be_cleared_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    journal = tmp_path / "j.sqlite"
    await every_state(journal)
    assert await run_cli("batch", action, "refused", "--journal", str(journal)) == 0
    rows = journal_rows(journal)
    if action == "forget":
        assert "refused" not in rows
    else:
        assert rows["refused"] == ("unsent", "idem-refused")


async def test_the_journal_api_refuses_and_returns_the_entry_as_it_was(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite")
    assert isinstance(journal, InspectableJournal) and isinstance(journal, Journal)
    await every_state(journal.path)
    async with journal:
        with pytest.raises(ItemNotClearable) as caught:
            await journal.retry("done")
        assert caught.value.key == "done" and caught.value.state is ItemState.FINISHED
        with pytest.raises(ItemNotClearable) as caught:
            await journal.forget("nope")
        assert caught.value.state is None
        entry = await journal.retry("lost")
        assert entry.state is ItemState.UNCERTAIN and entry.idempotency_key == "idem-lost"
        now = await journal.lookup("lost")
        assert now is not None and now.state is ItemState.UNSENT
        assert now.idempotency_key == "idem-lost"
        with pytest.raises(ItemNotClearable):  # retried once: no longer uncertain
            await journal.forget("lost")


# --- the journal's own errors, as the batch command maps them ----------------------------------


async def test_forget_and_retry_wait_for_no_run_a_locked_journal_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.sqlite"
    await every_state(journal)
    async with SQLiteJournal(journal):  # a run using it
        for action in ("forget", "retry"):
            capsys.readouterr()
            assert await run_cli("batch", action, "lost", "--journal", str(journal)) == (
                EXIT_JOURNAL
            )
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(journal) in err
        # status reads without the lock: it works while a run uses the journal
        assert await run_cli("batch", "status", "--journal", str(journal)) == 0
    assert journal_rows(journal)["lost"][0] == "uncertain"


@pytest.mark.parametrize("action", ["status", "forget", "retry"])
async def test_a_missing_or_foreign_journal_exits_4_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    key = [] if action == "status" else ["k"]
    missing = tmp_path / "missing.sqlite"
    assert await run_cli("batch", action, *key, "--journal", str(missing)) == EXIT_JOURNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such journal file" in err
    assert sorted(os.listdir(tmp_path)) == []
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database, just some notes\n" * 50)
    assert await run_cli("batch", action, *key, "--journal", str(foreign)) == EXIT_JOURNAL
    assert "not a SQLite database" in capsys.readouterr().err


# --- the grammar: the admin commands never shadow a batch file ---------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


async def test_a_batch_file_named_status_runs_as_dot_slash_status(
    emulators: Emulators, in_tmp: Path
) -> None:
    nano = emulators[0]
    write_batch(in_tmp / "status", nano=2, lip=0)
    code = await run_cli("batch", "./status", "--journal", "j.sqlite", "--out", "o.jsonl")
    assert code == 0 and nano.creates == 2
    assert await run_cli("batch", "status", "--journal", "j.sqlite") == 0  # the admin command
    assert nano.creates == 2


async def test_admin_commands_refuse_batch_flags_and_need_a_journal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["batch", "status"],
        ["batch", "forget", "k"],
        ["batch", "retry", "--journal", "j.sqlite"],
        ["batch", "status", "--journal", "j.sqlite", "--out", "o.jsonl"],
    ):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == EXIT_REFUSED
    assert "prism-async batch status: error" in capsys.readouterr().err


async def test_a_read_only_journal_takes_no_lock_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await every_state(path)
    async with SQLiteJournal(path) as writer, SQLiteJournal(path, read_only=True) as reader:
        assert (await reader.summary()).items == 7  # beside a run that holds the lock
        await writer.record_uncertain("unsent", "marked by the run")
        assert len((await reader.summary()).uncertain) == 2  # sees the run's writes
        with pytest.raises(JournalError):
            await reader.record_uncertain("done", "never written")
    with pytest.raises(JournalError, match="no such journal file"):
        async with SQLiteJournal(tmp_path / "new.sqlite", read_only=True):
            pass
    assert not (tmp_path / "new.sqlite").exists()
