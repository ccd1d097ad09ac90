"""The default journal: one SQLite file (stdlib ``sqlite3``), every call off the event loop.

One connection, opened with ``check_same_thread=False`` and guarded by a lock, is used from
anyio's worker threads. The database runs in WAL mode, so another process (a resuming run,
a test, ``sqlite3`` on the command line) can read it while a batch writes. Each record is
its own transaction, committed before the call returns: a killed process loses nothing it
was told was recorded.

Schema::

    items(key PK, provider, fingerprint, idempotency_key, state, handles JSON, error,
          updated_at)
    results(handle PK, key, status, result JSON)          -- GenerationResult.to_dict()
    downloads(handle, output, key, path, size, PK(handle, output))
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

import anyio.to_thread

from prism_async.journal._protocol import ItemState, JournalEntry
from prism_async.results import GenerationResult, JobHandle

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
"""

# A create may be (re)sent for a key in these states: never seen, refused, or a replay of a
# create whose outcome is unknown (the caller decides that the provider makes it safe).
_CLAIMABLE = (ItemState.REFUSED.value, ItemState.SUBMITTING.value)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class SQLiteJournal:
    """A batch journal in one SQLite file. Use as an async context (or open/aclose).

    Args:
        path: The database file (created if missing).
        synchronous: SQLite's ``synchronous`` setting. ``NORMAL`` (the default) survives a
            killed process; ``FULL`` also survives a power cut, at an fsync per record.
    """

    def __init__(
        self, path: str | PathLike[str], *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        self.path = Path(path)
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
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
        """Open (and if needed create) the database."""
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)",
                    (SCHEMA_VERSION,),
                )
            (version,) = conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            if version != SCHEMA_VERSION:
                raise ValueError(f"{self.path} is a journal of schema {version}, not 1")
        except BaseException:
            conn.close()
            raise
        return conn

    async def aclose(self) -> None:
        """Close the database (every record is already committed)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await anyio.to_thread.run_sync(self._locked, conn.close)

    def _locked(self, call: Callable[[], T]) -> T:
        with self._lock:
            return call()

    async def _run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the journal is not open: use 'async with' (or await open())")

        def in_transaction() -> T:
            with conn:  # commits, or rolls back on error
                return call(conn)

        return await anyio.to_thread.run_sync(self._locked, in_transaction)

    async def lookup(self, key: str) -> JournalEntry | None:
        """The item's entry, or None."""
        return await self._run(lambda conn: _lookup(conn, key))

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

    async def record_submitted(self, key: str, handles: Sequence[JobHandle]) -> None:
        """Note the jobs a create started."""
        text = json.dumps([str(h) for h in handles])
        await self._update(key, ItemState.SUBMITTED, handles=text)

    async def record_refused(self, key: str, error: str) -> None:
        """Note a create the API refused."""
        await self._update(key, ItemState.REFUSED, error=error)

    async def record_uncertain(self, key: str, error: str) -> None:
        """Note a create whose outcome is unknown."""
        await self._update(key, ItemState.UNCERTAIN, error=error)

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

    async def forget(self, key: str) -> None:
        """Drop an item (e.g. an uncertain one the user has checked), so a later run
        submits it again."""

        def forget(conn: sqlite3.Connection) -> None:
            for table in ("items", "results", "downloads"):
                conn.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

        await self._run(forget)


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
    )
