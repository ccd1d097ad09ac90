"""The SQLite journal: one live run per file, one-line errors, unsent items, the fallback."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from prism_async._errors import JournalError, JournalLockedError
from prism_async._results import JobHandle
from prism_async.batch import (
    ItemState,
    SQLiteJournal,
    save_unrecorded,
    unrecorded_path,
)

pytestmark = pytest.mark.anyio

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_IGNORES_MODES = pytest.mark.skipif(AS_ROOT, reason="root writes through read-only modes")

# Opens the journal, says so, and holds it until killed.
HOLDER = """
import sys, anyio
from prism_async.batch import SQLiteJournal

async def main():
    async with SQLiteJournal(sys.argv[1]):
        print("open", flush=True)
        await anyio.sleep(120)

anyio.run(main)
"""


def assert_one_line_about(error: JournalError, path: Path) -> str:
    text = str(error)
    assert "\n" not in text
    assert str(path) in text
    return text


async def claim(journal: SQLiteJournal, key: str, idempotency_key: str = "k-1", **kw: str) -> bool:
    return await journal.record_submitting(
        key=key,
        provider=kw.get("provider", "nanogpt"),
        fingerprint=kw.get("fingerprint", "f"),
        idempotency_key=idempotency_key,
    )


# -- one live run per journal ----------------------------------------------------------------


async def test_a_second_open_in_the_same_process_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "batch.db"
    first = SQLiteJournal(path)
    await first.open()
    await claim(first, "a")
    with pytest.raises(JournalLockedError) as caught:
        async with SQLiteJournal(path):
            pass
    text = assert_one_line_about(caught.value, path)
    assert text == (
        f"journal {path} is in use by another run (pid {os.getpid()} on host"
        f" {socket.gethostname()}); one run per journal"
    )
    with pytest.raises(JournalLockedError):
        await SQLiteJournal(path).open()
    await first.aclose()

    async with SQLiteJournal(path) as second:
        entry = await second.lookup("a")
    assert entry is not None and entry.state is ItemState.SUBMITTING


async def test_a_journal_opened_through_a_symlink_is_the_same_journal(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    link = tmp_path / "link.db"
    async with SQLiteJournal(path):
        link.symlink_to(path)
        with pytest.raises(JournalLockedError):
            await SQLiteJournal(link).open()


async def test_a_killed_holder_releases_the_journal_at_once(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    holder = await anyio.open_process([sys.executable, "-c", HOLDER, str(path)])
    try:
        assert holder.stdout is not None
        with anyio.fail_after(30):
            said = await holder.stdout.receive()
        assert said.strip() == b"open"

        with pytest.raises(JournalLockedError) as caught:
            await SQLiteJournal(path).open()
        assert f"(pid {holder.pid} on host " in assert_one_line_about(caught.value, path)
        # Read as another process would while the run holds it: the SQLite file is not locked.
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() == ("1",)
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        with anyio.fail_after(30):
            await holder.wait()
        await holder.aclose()
    assert holder.returncode == -9

    with anyio.fail_after(5):  # no waiting for a stale lock to expire
        async with SQLiteJournal(path) as journal:
            assert await claim(journal, "a")


# -- errors opening a journal ----------------------------------------------------------------


def empty(path: Path) -> None:
    path.write_bytes(b"")


def text(path: Path) -> None:
    path.write_text("key,prompt\na,a cat\n" * 200)


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(3 * 4096))


def directory(path: Path) -> None:
    path.mkdir()


def missing_folder(path: Path) -> None:
    pass  # the test's path is in a folder that does not exist


def other_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema', '2')")
    conn.close()


def other_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    conn.close()


def corrupt(path: Path) -> None:
    async def write() -> None:
        async with SQLiteJournal(path) as journal:
            for n in range(100):
                await claim(journal, f"item-{n}", fingerprint="f" * 200)

    anyio.run(write)
    with sqlite3.connect(path) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items'").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    # Garble the items table's root page only: the schema and meta stay readable, so
    # only a check of the whole file finds it (at open, before any create is sent).
    data = bytearray(path.read_bytes())
    data[(root - 1) * size + 8 : root * size] = b"\xff" * (size - 8)
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (empty, "the file is empty (0 bytes), so it may have been truncated"),
        (text, "not a SQLite database (file is not a database)"),
        (random_bytes, "not a SQLite database (file is not a database)"),
        (directory, "is a directory"),
        (missing_folder, "does not exist"),
        (other_schema, "a journal of schema version 2; this prism-async reads version 1"),
        (other_database, "not a prism-async journal"),
        (corrupt, "corrupt ("),
    ],
)
async def test_a_journal_that_cannot_be_used_is_refused_in_one_line(
    tmp_path: Path, make: Callable[[Path], None], reason: str
) -> None:
    path = tmp_path / ("nowhere/batch.db" if make is missing_folder else "batch.db")
    if make is corrupt:
        await anyio.to_thread.run_sync(make, path)
    else:
        make(path)
    before = path.read_bytes() if path.is_file() else None

    with pytest.raises(JournalError) as caught:
        await SQLiteJournal(path).open()
    assert not isinstance(caught.value, JournalLockedError)
    message = assert_one_line_about(caught.value, path)
    assert message.startswith(f"journal {path}: ")
    assert reason in message
    if before is not None:
        assert path.read_bytes() == before  # never taken over, nor made a new journal
    # The failed open let its lock go.
    if make not in (directory, missing_folder):
        path.unlink()
        async with SQLiteJournal(path):
            pass


async def test_an_empty_file_says_how_to_start_afresh(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    path.touch()
    with pytest.raises(JournalError, match="delete it"):
        await SQLiteJournal(path).open()
    assert path.stat().st_size == 0


@ROOT_IGNORES_MODES
async def test_a_read_only_journal_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    async with SQLiteJournal(path):
        pass
    path.chmod(0o444)
    with pytest.raises(JournalError) as caught:
        await SQLiteJournal(path).open()
    assert "read-only" in assert_one_line_about(caught.value, path)


@ROOT_IGNORES_MODES
async def test_a_journal_in_a_read_only_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "batch.db"
    async with SQLiteJournal(path):
        pass
    folder.chmod(0o555)
    try:
        with pytest.raises(JournalError) as caught:
            await SQLiteJournal(path).open()
    finally:
        folder.chmod(0o755)
    assert "read-only" in assert_one_line_about(caught.value, path)


async def test_a_missing_file_becomes_a_new_journal(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    async with SQLiteJournal(path) as journal:
        assert await journal.lookup("a") is None
        assert await claim(journal, "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.db", "batch.db.lock"]
    async with SQLiteJournal(path) as journal:
        assert await journal.lookup("a") is not None


# -- errors reading and writing --------------------------------------------------------------


async def test_a_full_journal_raises_a_one_line_journal_error_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "batch.db"
    async with SQLiteJournal(path):
        pass
    with sqlite3.connect(path) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.close()

    async with SQLiteJournal(path, max_pages=pages) as journal:
        assert await claim(journal, "a")  # fits in the pages the file has
        with pytest.raises(JournalError) as caught:
            await claim(journal, "b", fingerprint="f" * 10_000)  # would need new pages
        message = assert_one_line_about(caught.value, path)
        assert message == f"journal {path}: cannot write (database or disk is full)"
        assert isinstance(caught.value.__cause__, sqlite3.Error)

        handles = [JobHandle(provider="nanogpt", id=f"job-{n:04}") for n in range(500)]
        with pytest.raises(JournalError, match=r"cannot write \(database or disk is full\)"):
            await journal.record_submitted("a", handles)

        entry = await journal.lookup("a")
        assert entry is not None and entry.state is ItemState.SUBMITTING  # rolled back, readable
        assert await journal.lookup("b") is None
        await journal.record_submitted("a", handles[:1])  # a small record still fits
    async with SQLiteJournal(path) as journal:
        entry = await journal.lookup("a")
    assert entry is not None and entry.state is ItemState.SUBMITTED


async def test_a_row_it_cannot_read_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    async with SQLiteJournal(path) as journal:
        await claim(journal, "a")
        # Another process may write to it too: the SQLite file itself is not locked.
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE items SET state = 'teleported' WHERE key = 'a'")
        conn.close()
        with pytest.raises(JournalError) as caught:
            await journal.lookup("a")
    assert assert_one_line_about(caught.value, path).startswith(f"journal {path}: cannot read (")
    assert isinstance(caught.value.__cause__, ValueError)


# -- item states -----------------------------------------------------------------------------


async def test_an_unsent_item_is_claimed_again_with_the_key_given(tmp_path: Path) -> None:
    async with SQLiteJournal(tmp_path / "batch.db") as journal:
        assert await claim(journal, "a", "k-1")
        await journal.record_unsent("a", "cannot connect")
        entry = await journal.lookup("a")
        assert entry is not None
        assert (entry.state, entry.error, entry.idempotency_key) == (
            ItemState.UNSENT,
            "cannot connect",
            "k-1",
        )

        assert await claim(journal, "a", "k-1")  # sent again with the same key
        entry = await journal.lookup("a")
        assert entry is not None
        assert (entry.state, entry.error, entry.idempotency_key) == (
            ItemState.SUBMITTING,
            None,
            "k-1",
        )
        await journal.record_unsent("a", "cannot connect")
        assert await claim(journal, "a", "k-2")
        entry = await journal.lookup("a")
        assert entry is not None and entry.idempotency_key == "k-2"

        await journal.record_submitted("a", [JobHandle(provider="nanogpt", id="j")])
        assert not await claim(journal, "a", "k-3")  # submitted: never claimed again


async def test_uncertain_lists_only_the_uncertain_items(tmp_path: Path) -> None:
    async with SQLiteJournal(tmp_path / "batch.db") as journal:
        for key in ("a", "b", "c"):
            await claim(journal, key)
        await journal.record_uncertain("b", "answer lost")
        await journal.record_unsent("c", "cannot connect")
        uncertain = await journal.uncertain()
    assert [(e.key, e.state, e.error) for e in uncertain] == [
        ("b", ItemState.UNCERTAIN, "answer lost")
    ]


# -- the fallback for handles the journal could not record -----------------------------------


def test_save_unrecorded_appends_one_json_line_a_call(tmp_path: Path) -> None:
    journal = tmp_path / "batch.db"
    first = save_unrecorded(journal, "a", "nanogpt", ["nanogpt:j-1", "nanogpt:j-2"], "disk full")
    second = save_unrecorded(
        journal, "b", "prism", [JobHandle(provider="prism", id="p-1")], "read-only"
    )
    assert first == second == unrecorded_path(journal) == tmp_path / "batch.db.unrecorded.jsonl"
    lines = first.read_text().splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert records[0]["handles"] == ["nanogpt:j-1", "nanogpt:j-2"]
    assert {k: records[1][k] for k in ("key", "provider", "handles", "reason")} == {
        "key": "b",
        "provider": "prism",
        "handles": ["prism:p-1"],
        "reason": "read-only",
    }
    assert records[0]["at"].endswith("+00:00")


@pytest.mark.parametrize(
    "where",
    [
        "missing folder",
        "a directory in the way",
        pytest.param("read-only folder", marks=ROOT_IGNORES_MODES),
    ],
)
def test_save_unrecorded_returns_none_when_it_cannot_write(tmp_path: Path, where: str) -> None:
    journal = tmp_path / "batch.db"
    if where == "missing folder":
        journal = tmp_path / "gone" / "batch.db"
    elif where == "a directory in the way":
        unrecorded_path(journal).mkdir()
    else:
        tmp_path.chmod(0o555)
    try:
        assert save_unrecorded(journal, "a", "nanogpt", ["nanogpt:j-1"], "disk full") is None
    finally:
        tmp_path.chmod(0o755)
