"""A batch journal in PostgreSQL (asyncpg; ``pip install 'prism-async[postgres]'``).

Selected by a URL wherever a journal is named (``prism-async batch FILE --journal URL``)::

    postgresql://USER:PASSWORD@HOST:PORT/DATABASE?batch=NAME

``postgres://`` works too, and every libpq-style part asyncpg understands (``sslmode``,
``host=/socket/dir``...). ``batch`` names the batch within the database (default
``default``): one database holds any number of batches, each item keyed by ``(batch, key)``;
it is taken out of the URL before the rest goes to asyncpg.

Same promises as :class:`~prism_async.batch.SQLiteJournal` for one batch: every record is
its own transaction, committed before the call returns; any error of the server or the
connection is raised as a one-line :class:`~prism_async._errors.JournalError` naming the
URL (password hidden), with the original as ``__cause__``; opening fails the same way, before
any create is sent, if the server cannot be reached or holds a journal of a newer schema.

The schema lives in the PostgreSQL schema ``prism_async`` and is created and migrated by
the library: ``prism_async.meta`` holds its version (:data:`SCHEMA_VERSION`). Opening runs
the missing migrations in one transaction under ``pg_advisory_xact_lock``, so workers that
start together never race on ``CREATE``; a database of a newer version is refused.

:meth:`PostgresJournal.record_submitting` is one ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE`` statement, so of two callers claiming one key at once exactly one wins. A key left
``submitting`` may be claimed again (a replay, as after a crash) only by the run that left
it or once that run is gone: each open journal holds a PostgreSQL session advisory lock
named by its run id for its whole life (on one connection of its own), and a ``submitting``
item of a run whose lock is still held (a live run, on any machine) is taken. The server drops
the lock when the run's connection ends (a killed process's socket closes at once; a machine
that vanishes only when TCP gives up). Leases, takeover of a live worker's items, shared
rate limits and ``batch status`` for PostgreSQL are not built yet.

Schema (version 1)::

    prism_async.meta(name PK, value)                           -- 'schema': the version
    prism_async.items(batch, key, provider, fingerprint, idempotency_key, state, handles JSON
                      text, error, owner, updated_at, PK(batch, key))
    prism_async.results(batch, handle, key, status, result JSONB, PK(batch, handle))
    prism_async.downloads(batch, handle, output, key, path, size, PK(batch, handle, output))
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from prism_async._errors import JournalError
from prism_async._results import GenerationResult, JobHandle
from prism_async.batch._journal import ItemState, JournalEntry, StateNotes

if TYPE_CHECKING:
    import asyncpg

__all__ = ["SCHEMA_VERSION", "PostgresJournal", "is_postgres_url", "shown_url"]
T = TypeVar("T")

#: The schema version this library writes; older databases are migrated on open.
SCHEMA_VERSION = 1

#: ``pg_advisory_xact_lock`` key serializing migrations (any fixed bigint; "prismMIG").
_MIGRATION_LOCK = 0x707269736D4D4947

#: Step ``n`` migrates a database of version ``n`` to ``n + 1`` (version 0: no schema yet).
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS prism_async.items (
        batch TEXT NOT NULL,
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        state TEXT NOT NULL,
        handles TEXT,
        error TEXT,
        owner BIGINT,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (batch, key)
    );
    CREATE TABLE IF NOT EXISTS prism_async.results (
        batch TEXT NOT NULL,
        handle TEXT NOT NULL,
        key TEXT NOT NULL,
        status TEXT NOT NULL,
        result JSONB NOT NULL,
        PRIMARY KEY (batch, handle)
    );
    CREATE INDEX IF NOT EXISTS results_by_key ON prism_async.results (batch, key);
    CREATE TABLE IF NOT EXISTS prism_async.downloads (
        batch TEXT NOT NULL,
        handle TEXT NOT NULL,
        output INTEGER NOT NULL,
        key TEXT NOT NULL,
        path TEXT NOT NULL,
        size BIGINT NOT NULL,
        PRIMARY KEY (batch, handle, output)
    );
    CREATE INDEX IF NOT EXISTS downloads_by_key ON prism_async.downloads (batch, key);
    """,
)

# A run holding its presence lock: ``owner`` is the bigint key of pg_advisory_lock(owner).
_OWNER_LIVE = """EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::int8 << 32) | l.objid::int8) = items.owner
)"""

# One statement: a new key is inserted; a taken one is updated only when claimable (never
# sent, refused, or left submitting by this run or by a run that is gone). Concurrent
# callers serialize on the row, and the loser's WHERE sees the winner's claim.
_CLAIM = f"""
INSERT INTO prism_async.items AS items (batch, key, provider, fingerprint, idempotency_key,
    state, handles, error, owner, updated_at)
VALUES ($1, $2, $3, $4, $5, 'submitting', NULL, NULL, $6, now())
ON CONFLICT (batch, key) DO UPDATE SET provider = EXCLUDED.provider,
    fingerprint = EXCLUDED.fingerprint, idempotency_key = EXCLUDED.idempotency_key,
    state = 'submitting', handles = NULL, error = NULL, owner = EXCLUDED.owner,
    updated_at = EXCLUDED.updated_at
WHERE items.state IN ('refused', 'unsent')
   OR (items.state = 'submitting' AND (items.owner IS NOT DISTINCT FROM EXCLUDED.owner
       OR items.owner IS NULL OR NOT {_OWNER_LIVE}))
RETURNING 1
"""

_INSTALL_HINT = "a postgresql:// journal needs asyncpg: pip install 'prism-async[postgres]'"


def is_postgres_url(value: str) -> bool:
    """Whether a ``--journal`` value names a PostgreSQL journal (else it is a file path)."""
    return value.lower().startswith(("postgresql://", "postgres://"))


def shown_url(value: str) -> str:
    """``value`` as it may be printed: a PostgreSQL URL without its password (put it in
    ``PGPASSWORD`` to keep it off command lines), anything else as it is."""
    return _split_url(value)[2] if is_postgres_url(value) else value


def _split_url(url: str) -> tuple[str, str, str]:
    """``(dsn for asyncpg, batch name, the URL to show: no password)``."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    batches = [value for name, value in query if name == "batch"]
    batch = batches[-1] if batches and batches[-1] else "default"
    rest = urllib.parse.urlencode([(n, v) for n, v in query if n != "batch"])
    dsn = urllib.parse.urlunsplit(parts._replace(query=rest))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    shown = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=f"batch={batch}"))
    return dsn, batch, shown


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:
        raise JournalError(_INSTALL_HINT) from exc
    return asyncpg


class PostgresJournal(StateNotes):
    """A batch journal in a PostgreSQL database. Use as an async context (or open/aclose).

    Args:
        url: ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?batch=NAME`` (see the module).
        pool_size: Connections of its pool (plus one that holds the run's presence lock).
        timeout: Seconds to connect, and for each statement.
    """

    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 30.0) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"not a postgresql:// URL: {url!r}")
        self.url = url
        self._dsn, self.batch, self.shown = _split_url(url)
        self._pool_size = max(1, pool_size)
        self._timeout = timeout
        #: This run's id: the key of the advisory lock it holds while open (a positive bigint).
        self.owner = secrets.randbits(62) + 1
        self._pool: asyncpg.Pool | None = None
        self._presence: asyncpg.Connection | None = None

    def __repr__(self) -> str:
        return f"PostgresJournal({self.shown!r})"

    async def __aenter__(self) -> PostgresJournal:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
        raise JournalError(" ".join(f"journal {self.shown}: {reason}".split())) from cause

    def _errors(self) -> tuple[type[BaseException], ...]:
        asyncpg = _asyncpg()
        return (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            OSError,
            TimeoutError,
            asyncio.TimeoutError,  # not TimeoutError before Python 3.11
        )

    async def open(self) -> None:
        """Connect, create or migrate the schema, and take this run's presence lock.

        Raises:
            JournalError: asyncpg is missing, the server cannot be reached or refuses, or
                the database holds a journal of a newer schema; one line, naming the URL.
        """
        if self._pool is not None:
            return
        asyncpg = _asyncpg()
        errors = self._errors()
        try:
            presence = await asyncpg.connect(self._dsn, timeout=self._timeout)
        except errors as exc:
            self._fail(f"cannot connect ({_reason(exc)})", exc)
        except ValueError as exc:  # a malformed URL
            self._fail(f"cannot connect ({_reason(exc)})", exc)
        try:
            await self._migrate(presence)
            await presence.execute("SELECT pg_advisory_lock($1)", self.owner)
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
            )
        except errors as exc:
            await presence.close()
            self._fail(f"cannot open ({_reason(exc)})", exc)
        except BaseException:
            await presence.close()
            raise
        self._presence, self._pool = presence, pool

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE SCHEMA IF NOT EXISTS prism_async;"
                " CREATE TABLE IF NOT EXISTS prism_async.meta"
                " (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            value = await conn.fetchval("SELECT value FROM prism_async.meta WHERE name = 'schema'")
            try:
                version = 0 if value is None else int(value)
            except ValueError:
                self._fail(f"not a prism-async journal (schema version {value!r})")
            if version > SCHEMA_VERSION:
                self._fail(
                    f"a journal of schema version {version}; this prism-async reads up to"
                    f" version {SCHEMA_VERSION} (upgrade prism-async)"
                )
            for step in _MIGRATIONS[version:]:
                await conn.execute(step)
            await conn.execute(
                "INSERT INTO prism_async.meta (name, value) VALUES ('schema', $1)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                str(SCHEMA_VERSION),
            )

    async def aclose(self) -> None:
        """Close the pool (every record is already committed) and drop the presence lock."""
        pool, self._pool = self._pool, None
        presence, self._presence = self._presence, None
        if pool is None and presence is None:
            return
        errors = self._errors()
        try:
            if pool is not None:
                try:
                    await pool.close()
                except errors as exc:
                    pool.terminate()
                    self._fail(f"cannot close ({_reason(exc)})", exc)
        finally:
            if presence is not None:
                try:
                    await presence.close()
                except errors:
                    presence.terminate()

    async def _run(
        self, call: Callable[[asyncpg.Connection], Awaitable[T]], *, read: bool = False
    ) -> T:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the journal is not open: use 'async with' (or await open())")
        try:
            # A read sees one snapshot across its statements (an item and its results).
            isolation = "repeatable_read" if read else "read_committed"
            async with pool.acquire() as conn, conn.transaction(isolation=isolation):
                return await call(conn)
        except self._errors() as exc:
            self._fail(f"cannot {'read' if read else 'write'} ({_reason(exc)})", exc)
        except ValueError as exc:  # a row this version cannot read (bad JSON, unknown state)
            if not read:
                raise
            self._fail(f"cannot read ({_reason(exc)})", exc)

    async def lookup(self, key: str) -> JournalEntry | None:
        """The item's entry, or None."""
        return await self._run(lambda conn: _lookup(conn, self.batch, key), read=True)

    async def uncertain(self) -> list[JournalEntry]:
        """The items left uncertain (the create's outcome unknown), oldest first."""

        async def read(conn: asyncpg.Connection) -> list[JournalEntry]:
            rows = await conn.fetch(
                "SELECT key FROM prism_async.items WHERE batch = $1 AND state = $2"
                " ORDER BY updated_at, key",
                self.batch,
                ItemState.UNCERTAIN.value,
            )
            entries = [await _lookup(conn, self.batch, row["key"]) for row in rows]
            return [entry for entry in entries if entry is not None]

        return await self._run(read, read=True)

    async def record_submitting(
        self, *, key: str, provider: str, fingerprint: str, idempotency_key: str
    ) -> bool:
        """Note a create about to be sent: claim the key, in one statement. False if the
        key is taken (submitted, finished, uncertain, or submitting by another live run)."""

        async def claim(conn: asyncpg.Connection) -> bool:
            won = await conn.fetchval(
                _CLAIM, self.batch, key, provider, fingerprint, idempotency_key, self.owner
            )
            return won is not None

        return await self._run(claim)

    async def _update(
        self, key: str, state: ItemState, *, handles: str | None = None, error: str | None = None
    ) -> None:
        async def update(conn: asyncpg.Connection) -> None:
            status = await conn.execute(
                "UPDATE prism_async.items SET state = $3, handles = COALESCE($4, handles),"
                " error = $5, updated_at = now() WHERE batch = $1 AND key = $2",
                self.batch,
                key,
                state.value,
                handles,
                error,
            )
            if status != "UPDATE 1":
                raise KeyError(f"journal has no item {key!r}")

        await self._run(update)

    async def record_result(self, key: str, handle: JobHandle, result: GenerationResult) -> None:
        """Note a job's terminal result; the item is finished once each job has one."""
        text = json.dumps(result.to_dict())

        async def record(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO prism_async.results (batch, handle, key, status, result)"
                " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (batch, handle) DO UPDATE"
                " SET key = EXCLUDED.key, status = EXCLUDED.status, result = EXCLUDED.result",
                self.batch,
                str(handle),
                key,
                result.status.value,
                text,
            )
            # Row-locked, so two jobs of one item finishing at once both see each other.
            row = await conn.fetchrow(
                "SELECT handles FROM prism_async.items WHERE batch = $1 AND key = $2 FOR UPDATE",
                self.batch,
                key,
            )
            handles = set(json.loads(row["handles"])) if row and row["handles"] else set()
            done = {
                r["handle"]
                for r in await conn.fetch(
                    "SELECT handle FROM prism_async.results WHERE batch = $1 AND key = $2",
                    self.batch,
                    key,
                )
            }
            if handles and handles <= done:
                await conn.execute(
                    "UPDATE prism_async.items SET state = $3, updated_at = now()"
                    " WHERE batch = $1 AND key = $2",
                    self.batch,
                    key,
                    ItemState.FINISHED.value,
                )

        await self._run(record)

    async def record_download(
        self, key: str, handle: JobHandle, index: int, path: Path, size: int
    ) -> None:
        """Note an output downloaded and in place."""

        async def record(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO prism_async.downloads (batch, handle, output, key, path, size)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch, handle, output)"
                " DO UPDATE SET key = EXCLUDED.key, path = EXCLUDED.path, size = EXCLUDED.size",
                self.batch,
                str(handle),
                index,
                key,
                str(path),
                size,
            )

        await self._run(record)


async def _lookup(conn: asyncpg.Connection, batch: str, key: str) -> JournalEntry | None:
    row = await conn.fetchrow(
        "SELECT provider, fingerprint, idempotency_key, state, handles, error"
        " FROM prism_async.items WHERE batch = $1 AND key = $2",
        batch,
        key,
    )
    if row is None:
        return None
    results = {
        r["handle"]: json.loads(r["result"])
        for r in await conn.fetch(
            "SELECT handle, result FROM prism_async.results WHERE batch = $1 AND key = $2",
            batch,
            key,
        )
    }
    downloads = {
        (r["handle"], r["output"]): Path(r["path"])
        for r in await conn.fetch(
            "SELECT handle, output, path FROM prism_async.downloads WHERE batch = $1 AND key = $2",
            batch,
            key,
        )
    }
    handles = row["handles"]
    return JournalEntry(
        key=key,
        provider=row["provider"],
        fingerprint=row["fingerprint"],
        idempotency_key=row["idempotency_key"],
        state=ItemState(row["state"]),
        handles=tuple(JobHandle.parse(h) for h in json.loads(handles)) if handles else (),
        results=results,
        downloads=downloads,
        error=row["error"],
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
