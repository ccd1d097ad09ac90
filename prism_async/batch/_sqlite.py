"""The default journal: one SQLite file (stdlib ``sqlite3``), every call off the event loop.

One connection, opened with ``check_same_thread=False`` and guarded by a lock, is used from
anyio's worker threads. The database runs in WAL mode, so another process (a test,
``sqlite3`` on the command line) can read it while a batch writes. Each record is its own
transaction, committed before the call returns: a killed process loses nothing it was told
was recorded.

One live run per journal. Two runs writing one journal would each claim, create and pay
for the same items, so an open journal holds an exclusive, non-blocking OS lock on the
sidecar file ``<journal>.lock`` (``flock`` on POSIX) until it is closed; a second opener,
in another process or this one, fails at once with
:class:`~prism_async._errors.JournalLockedError`. The kernel drops the lock when its holder
dies, even by SIGKILL, so a resumed run opens the journal straight away. The SQLite file
itself is never locked by this module (SQLite keeps its own locks on it), so readers are
never shut out.

A journal opened with ``read_only=True`` (``prism-async batch status``) takes no lock and
writes nothing: it reads a consistent snapshot while a run writes, and refuses a missing
file instead of creating one.

:meth:`SQLiteJournal.summary`, :meth:`~SQLiteJournal.forget` and
:meth:`~SQLiteJournal.retry` implement :class:`~prism_async.batch.InspectableJournal`:
``forget`` deletes an uncertain or refused item (a later run sees a new key and sends it
with a new idempotency key); ``retry`` marks it ``unsent``, keeping its idempotency key
(a later run sends it again with that key). Either refuses, changing nothing, a key the
journal does not hold or an item in another state.

A shared database (one journal for several machines) cannot use a file lock, and does not
need one: it grants claims per item, under leases, instead of one run per journal. Its
:meth:`record_submitting` would be one conditional write that only one worker wins, e.g.
``UPDATE items SET state='submitting', owner=:me, lease_until=now()+:ttl,
idempotency_key=:k WHERE key=:key AND (state IN ('refused','unsent') OR (state=
'submitting' AND lease_until < now()))`` (or an ``INSERT`` for a new key, a primary-key
conflict meaning "taken"). The winner renews its lease while it waits for the create's
answer and its ``record_*`` calls check that it still owns the item; an item whose lease
ran out with no answer recorded is what a killed run leaves here, a ``SUBMITTING`` item,
and is replayed with its idempotency key or marked uncertain. The
:class:`~prism_async.journal.Journal` protocol already makes ``record_submitting`` that
atomic claim and assumes no single writer, so such a journal fits behind it unchanged.

Opening refuses, with a one-line :class:`~prism_async._errors.JournalError` naming the file
and before any create is sent: a path that is a directory, a folder that does not exist or
is read-only, a read-only file, an empty file (a truncated journal would send every item
again), a file that is not SQLite, a corrupt one (``PRAGMA quick_check``) and a journal of
another schema version. A missing file is created as a new journal, atomically (built
beside it and renamed into place), so a run killed while creating it never leaves an empty
file behind. Any ``sqlite3`` or OS error of a read or a write later is raised as a
``JournalError`` too, with the original as ``__cause__``.

Schema::

    meta(name PK, value)                                   -- schema version, last opener
    items(key PK, provider, fingerprint, idempotency_key, state, handles JSON, error,
          updated_at)
    results(handle PK, key, status, result JSON)          -- GenerationResult.to_dict()
    downloads(handle, output, key, path, size, PK(handle, output))
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn, TypeVar

import anyio.to_thread

from prism_async._errors import JournalError
from prism_async._results import GenerationResult, JobHandle, SubmitReceipt
from prism_async.batch._journal import (
    BatchSummary,
    ItemState,
    JournalEntry,
    StateNotes,
    UncertainItem,
    clearable,
    summarize,
)
from prism_async.batch._lock import JournalLock

__all__ = ["SQLiteJournal"]
T = TypeVar("T")

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL,
    handles TEXT,
    error TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    handle TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_key ON results (key);
CREATE TABLE IF NOT EXISTS downloads (
    handle TEXT NOT NULL,
    output INTEGER NOT NULL,
    key TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (handle, output)
);
CREATE INDEX IF NOT EXISTS downloads_by_key ON downloads (key);
CREATE TABLE IF NOT EXISTS receipts (key TEXT PRIMARY KEY, receipt TEXT NOT NULL);
"""

# A create may be (re)sent for a key in these states: never seen, refused, never sent, or a
# replay of a create whose outcome is unknown (the caller decides that the provider makes it
# safe). With one live run per journal, no other run can be sending a SUBMITTING item.
_CLAIMABLE = (ItemState.REFUSED.value, ItemState.UNSENT.value, ItemState.SUBMITTING.value)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class SQLiteJournal(StateNotes):
    """A batch journal in one SQLite file. Use as an async context (or open/aclose).

    While open it holds the lock file ``<path>.lock``: one live run per journal.

    Args:
        path: The database file (created if missing).
        synchronous: SQLite's ``synchronous`` setting. ``NORMAL`` (the default) survives a
            killed process; ``FULL`` also survives a power cut, at an fsync per record.
        max_pages: Cap the file's size, in database pages (tests; a quota). A write past it
            fails with a :class:`~prism_async._errors.JournalError` (database or disk is full).
        read_only: Only read (``summary``, ``lookup``): no lock is taken, so it opens while
            a run uses the journal; a missing file is refused, not created; every write
            fails with a :class:`~prism_async._errors.JournalError`.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        max_pages: int | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._synchronous = synchronous
        self._max_pages = max_pages
        self._conn: sqlite3.Connection | None = None
        self._file_lock: JournalLock | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteJournal({str(self.path)!r})"

    async def __aenter__(self) -> SQLiteJournal:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Lock the journal for this run, then open (and if needed create) the database.

        Raises:
            JournalLockedError: Another live run holds the journal.
            JournalError: It cannot be used (see the module's notes); the message is one
                line naming the file.
        """
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(self._open)

    def _fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
        raise JournalError(_oneline(f"journal {self.path}: {reason}")) from cause

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return self._open_read_only()
        self._check_path()  # before the lock file is made beside it
        lock = JournalLock(self.path)
        lock.acquire()
        try:
            conn = self._connect()
        except BaseException:
            lock.release()
            raise
        self._file_lock = lock
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            self._fail("is a directory, not a journal file")
        if not path.is_file():
            self._fail("no such journal file")
        if not os.access(path, os.R_OK):
            self._fail("the file cannot be read")
        try:
            size = path.stat().st_size
        except OSError as exc:
            self._fail(f"cannot read ({_reason(exc)})", exc)
        if size == 0:
            self._fail("the file is empty (0 bytes), so it may have been truncated")
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as exc:
            self._fail(_open_reason(exc), exc)
        try:
            self._check_schema(conn)
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            self._fail(_open_reason(exc), exc)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """A prism-async journal of this schema version (an empty database is a new one)."""
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "meta" not in tables:
            self._fail("not a prism-async journal (a SQLite database without its meta table)")
        if tables:
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                version = "unknown" if row is None else row[0]
                self._fail(
                    f"a journal of schema version {version}; this prism-async reads"
                    f" version {SCHEMA_VERSION} (open it with the version that wrote it)"
                )
        elif self.read_only:
            self._fail("not a prism-async journal (an empty SQLite database)")
        (check,) = conn.execute("PRAGMA quick_check(1)").fetchone()
        if check != "ok":
            self._fail(f"corrupt ({check})")

    def _check_path(self) -> None:
        """Refusals that need only ``stat`` (no descriptor on a file SQLite may hold)."""
        path, folder = self.path, self.path.parent
        if path.is_dir():
            self._fail("is a directory, not a journal file")
        if not folder.is_dir():
            self._fail(f"its folder {folder} does not exist")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            self._fail("the file is read-only (a journal must be writable)")
        if not os.access(folder, os.W_OK | os.X_OK):
            self._fail(
                f"its folder {folder} is read-only (SQLite must create {path.name}-wal"
                f" and {path.name}-shm beside it)"
            )

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        try:
            size: int | None = path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as exc:
            self._fail(f"cannot read ({_reason(exc)})", exc)
        if size == 0:
            self._fail(
                "the file is empty (0 bytes), so it may have been truncated: resuming from it"
                " would send every item again; to start a new journal, delete it"
            )
        if size is None:
            self._create()
        try:
            conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as exc:
            self._fail(_open_reason(exc), exc)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self) -> None:
        """A new journal, built beside the path and renamed into place."""
        path = self.path
        new = path.with_name(path.name + ".new")
        try:
            # Under the lock nobody else uses these: leftovers of a killed creation, or
            # the WAL of a deleted journal (SQLite would replay it into the new file).
            for leftover in (new, _sidecar(new, "-journal"), _sidecar(path, "-wal")):
                leftover.unlink(missing_ok=True)
            _sidecar(path, "-shm").unlink(missing_ok=True)
            conn = sqlite3.connect(new)
            try:
                conn.execute("PRAGMA synchronous=FULL")
                with conn:
                    conn.executescript(_SCHEMA)
                    conn.execute(
                        "INSERT INTO meta (name, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
                    )
            finally:
                conn.close()
            os.replace(new, path)
            _fsync_folder(path.parent)
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"cannot create a new journal ({_reason(exc)})", exc)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check an opened database is a sound, writable journal of this schema."""
        try:
            if self._max_pages is not None:
                conn.execute(f"PRAGMA max_page_count = {int(self._max_pages)}")
            self._check_schema(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            with conn:  # a write now: a read-only or full database fails before any create
                conn.executescript(_SCHEMA)  # an empty database (no table yet) becomes one
                conn.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)",
                    (SCHEMA_VERSION,),
                )
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('opened', ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (f"{_now()} by pid {os.getpid()} on host {socket.gethostname()}",),
                )
        except (sqlite3.Error, OSError) as exc:
            self._fail(_open_reason(exc), exc)

    async def aclose(self) -> None:
        """Close the database (every record is already committed) and release the lock."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            lock, self._file_lock = self._file_lock, None
            try:
                await anyio.to_thread.run_sync(self._locked, conn.close)
            except sqlite3.Error as exc:
                self._fail(f"cannot close ({_reason(exc)})", exc)
            finally:
                if lock is not None:
                    lock.release()

    def _locked(self, call: Callable[[], T]) -> T:
        with self._lock:
            return call()

    async def _run(self, call: Callable[[sqlite3.Connection], T], *, read: bool = False) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the journal is not open: use 'async with' (or await open())")

        def in_transaction() -> T:
            with conn:  # commits, or rolls back on error
                return call(conn)

        try:
            return await anyio.to_thread.run_sync(self._locked, in_transaction)
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"cannot {'read' if read else 'write'} ({_reason(exc)})", exc)
        except ValueError as exc:  # a row this version cannot read (bad JSON, unknown state)
            if not read:
                raise
            self._fail(f"cannot read ({_reason(exc)})", exc)

    async def lookup(self, key: str) -> JournalEntry | None:
        """The item's entry, or None."""
        return await self._run(lambda conn: _lookup(conn, key), read=True)

    async def uncertain(self) -> list[JournalEntry]:
        """The items left uncertain (the create's outcome unknown), oldest first: the
        ones to check with the provider before :meth:`forget` or :meth:`retry` lets a run
        send them again."""

        def read(conn: sqlite3.Connection) -> list[JournalEntry]:
            keys = [
                key
                for (key,) in conn.execute(
                    "SELECT key FROM items WHERE state = ? ORDER BY updated_at, key",
                    (ItemState.UNCERTAIN.value,),
                )
            ]
            return [entry for key in keys if (entry := _lookup(conn, key)) is not None]

        return await self._run(read, read=True)

    async def record_submitting(
        self, *, key: str, provider: str, fingerprint: str, idempotency_key: str
    ) -> bool:
        """Note a create about to be sent; False if the key is already taken."""

        def claim(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT state FROM items WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] not in _CLAIMABLE:
                return False
            conn.execute(
                "INSERT INTO items (key, provider, fingerprint, idempotency_key, state,"
                " handles, error, updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)"
                " ON CONFLICT (key) DO UPDATE SET provider = excluded.provider,"
                " fingerprint = excluded.fingerprint,"
                " idempotency_key = excluded.idempotency_key, state = excluded.state,"
                " handles = NULL, error = NULL, updated_at = excluded.updated_at",
                (key, provider, fingerprint, idempotency_key, ItemState.SUBMITTING.value, _now()),
            )
            return True

        return await self._run(claim)

    async def _update(
        self, key: str, state: ItemState, *, handles: str | None = None, error: str | None = None
    ) -> None:
        def update(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE items SET state = ?, handles = COALESCE(?, handles), error = ?,"
                " updated_at = ? WHERE key = ?",
                (state.value, handles, error, _now(), key),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"journal has no item {key!r}")

        await self._run(update)

    #: The receipt of each submission is kept (table ``receipts``, added to a journal of an
    #: older version when it is opened: additive, so that version still reads it).
    stores_receipts = True

    async def _update_with_receipt(self, key: str, handles: str, receipt: str) -> None:
        def update(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE items SET state = ?, handles = ?, error = NULL, updated_at = ?"
                " WHERE key = ?",
                (ItemState.SUBMITTED.value, handles, _now(), key),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"journal has no item {key!r}")
            conn.execute(
                "INSERT INTO receipts (key, receipt) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET receipt = excluded.receipt",
                (key, receipt),
            )

        await self._run(update)

    async def record_result(self, key: str, handle: JobHandle, result: GenerationResult) -> None:
        """Note a job's terminal result; the item is finished once each job has one."""
        text = json.dumps(result.to_dict())

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO results (handle, key, status, result) VALUES (?, ?, ?, ?)",
                (str(handle), key, result.status.value, text),
            )
            row = conn.execute("SELECT handles FROM items WHERE key = ?", (key,)).fetchone()
            handles = set(json.loads(row[0])) if row and row[0] else set()
            done = {h for (h,) in conn.execute("SELECT handle FROM results WHERE key = ?", (key,))}
            if handles and handles <= done:
                conn.execute(
                    "UPDATE items SET state = ?, updated_at = ? WHERE key = ?",
                    (ItemState.FINISHED.value, _now(), key),
                )

        await self._run(record)

    async def record_download(
        self, key: str, handle: JobHandle, index: int, path: Path, size: int
    ) -> None:
        """Note an output downloaded and in place."""
        await self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO downloads (handle, output, key, path, size)"
                " VALUES (?, ?, ?, ?, ?)",
                (str(handle), index, key, str(path), size),
            )
        )

    async def summary(self) -> BatchSummary:
        """The whole batch: items per state and provider, the cost so far, the uncertain
        items (see :class:`~prism_async.batch.BatchSummary`)."""
        return await self._run(_summary, read=True)

    async def forget(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item so that a later run submits it again with
        a new idempotency key (if the first create reached the provider, that pays twice).
        The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """

        def forget(conn: sqlite3.Connection) -> JournalEntry:
            entry = self._clearable(conn, key, "forget")
            for table in ("items", "results", "downloads", "receipts"):
                conn.execute(f"DELETE FROM {table} WHERE key = ?", (key,))
            return entry

        return await self._run(forget)

    async def retry(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item so that a later run sends it again with
        its journaled idempotency key (it is marked unsent). The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """

        def retry(conn: sqlite3.Connection) -> JournalEntry:
            entry = self._clearable(conn, key, "retry")
            note = (
                f"to be sent again with the same idempotency key (batch retry); it was"
                f" {entry.state.value}: {entry.error or 'no reason recorded'}"
            )
            conn.execute(
                "UPDATE items SET state = ?, error = ?, updated_at = ? WHERE key = ?",
                (ItemState.UNSENT.value, note, _now(), key),
            )
            return entry

        return await self._run(retry)

    def _clearable(self, conn: sqlite3.Connection, key: str, verb: str) -> JournalEntry:
        return clearable(_lookup(conn, key), key, f"journal {self.path}", verb)


def _summary(conn: sqlite3.Connection) -> BatchSummary:
    counts = conn.execute(
        "SELECT provider, state, NULL, COUNT(*) FROM items GROUP BY provider, state"
        " ORDER BY provider, state"
    )
    uncertain = (
        UncertainItem(
            key=key, provider=provider, idempotency_key=idem, error=error, updated_at=updated
        )
        for key, provider, idem, error, updated in conn.execute(
            "SELECT key, provider, idempotency_key, error, updated_at FROM items"
            " WHERE state = ? ORDER BY updated_at, key",
            (ItemState.UNCERTAIN.value,),
        )
    )
    results = (text for (text,) in conn.execute("SELECT result FROM results"))
    return summarize(list(counts), list(results), list(uncertain))


def _lookup(conn: sqlite3.Connection, key: str) -> JournalEntry | None:
    row = conn.execute(
        "SELECT provider, fingerprint, idempotency_key, state, handles, error"
        " FROM items WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    provider, digest, idempotency_key, state, handles, error = row
    results = {
        handle: json.loads(text)
        for handle, text in conn.execute("SELECT handle, result FROM results WHERE key = ?", (key,))
    }
    downloads = {
        (handle, output): Path(path)
        for handle, output, path in conn.execute(
            "SELECT handle, output, path FROM downloads WHERE key = ?", (key,)
        )
    }
    try:
        kept = conn.execute("SELECT receipt FROM receipts WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # a journal of an older version, opened read-only
        kept = None
    return JournalEntry(
        key=key,
        provider=provider,
        fingerprint=digest,
        idempotency_key=idempotency_key,
        state=ItemState(state),
        handles=tuple(JobHandle.parse(h) for h in json.loads(handles)) if handles else (),
        results=results,
        downloads=downloads,
        error=error,
        receipt=SubmitReceipt.from_dict(json.loads(kept[0])) if kept else None,
    )


def _oneline(text: str) -> str:
    return " ".join(text.split())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _open_reason(exc: BaseException) -> str:
    reason = _reason(exc)
    text = reason.lower()
    if "not a database" in text:
        return f"not a SQLite database ({reason})"
    if "malformed" in text or "corrupt" in text:
        return f"corrupt ({reason})"
    if "readonly" in text or "read-only" in text:
        return f"read-only ({reason})"
    return f"cannot open ({reason})"


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
