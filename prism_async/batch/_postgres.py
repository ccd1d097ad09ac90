"""A batch journal in PostgreSQL that many workers share (asyncpg;
``pip install 'prism-async[postgres]'``).

Selected by a URL wherever a journal is named (``prism-async batch FILE --journal URL``)::

    postgresql://USER:PASSWORD@HOST:PORT/DATABASE?batch=NAME&lease=SECONDS

``postgres://`` works too, and every libpq-style part asyncpg understands (``sslmode``,
``host=/socket/dir``...). ``batch`` names the batch within the database (default
``default``): one database holds any number of batches, each item keyed by ``(batch, key)``.
``lease`` sets the lease length (default :data:`DEFAULT_LEASE`). Both are taken out of the
URL before the rest goes to asyncpg.

Every record is its own transaction, committed before the call returns; any error of the
server or the connection is raised as a one-line :class:`~prism_async._errors.JournalError`
naming the URL (password hidden), with the original as ``__cause__``; opening fails the same
way, before any create is sent, if the server cannot be reached or holds a journal of a
newer schema (:mod:`prism_async.batch._pg_schema`: created and migrated by the library,
under an advisory lock, so workers starting together never race).

**Many workers, one batch.** Any number of workers (processes, machines) run one batch
together: each reads the same items and works on those it can claim.

- *Claims.* :meth:`PostgresJournal.record_submitting` is one ``INSERT ... ON CONFLICT DO
  UPDATE ... WHERE`` statement, so of two workers claiming one key exactly one wins. The
  winner holds the item under a *lease* that it renews (one statement for all its items,
  every third of the lease) while it creates and waits.
- *Takeover.* An item is free to take over when its worker is gone: its lease ran out
  (a machine that vanished, a process stopped by a debugger), or at once when the worker's
  connection closed (each open journal holds a PostgreSQL session advisory lock named by
  its run id; a killed process's socket closes and the server drops the lock).
  :meth:`~PostgresJournal.take` takes such an item over with ``SELECT ... FOR UPDATE SKIP
  LOCKED``, so workers looking at once never block on or both take one row. A taken-over
  ``submitting`` item is resolved as one process resolves it after a crash (replayed with
  its idempotency key where the provider has one, uncertain otherwise); a ``submitted``
  item's jobs are simply waited on (handles are strings).
- *Settled elsewhere.* An item another worker refused, left unsent or uncertain *since this
  worker started* is that worker's outcome: this one leaves it (``DONE``); an item settled
  before it started is retried as a later run would.
- *Shared request budgets.* The paid calls of every worker on the database are noted in
  ``prism_async.spend``, and :meth:`~PostgresJournal.take_budget` lets a create through
  only while the provider's documented budget has room (a sliding window like the engine's
  own, serialized per provider and kind by an advisory lock): three workers together send
  at most the budget. The table is per database, not per batch: one account per provider
  per database.
- *Giving back.* :meth:`~PostgresJournal.release` gives an item back (a worker that drains
  on SIGTERM); the next worker to look takes it over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

from prism_async._errors import JournalError
from prism_async._results import GenerationResult, JobHandle, SubmitReceipt
from prism_async.batch._journal import (
    CLEARABLE_STATES,
    BatchSummary,
    Holding,
    ItemState,
    JournalEntry,
    StateNotes,
    UncertainItem,
    clearable,
    summarize,
)
from prism_async.batch._pg_budget import SharedSpend
from prism_async.batch._pg_schema import SCHEMA_VERSION, NewerSchema, migrate, owner_live

if TYPE_CHECKING:
    import asyncpg

__all__ = ["DEFAULT_LEASE", "SCHEMA_VERSION", "PostgresJournal", "is_postgres_url", "shown_url"]
T = TypeVar("T")
log = logging.getLogger("prism_async.batch")

#: Seconds a worker's claim lasts unless renewed: a dead worker's items are taken over
#: within this long at most (at once when its connection to the server closed).
DEFAULT_LEASE = 120.0

_OWNER_LIVE = owner_live("items")

# An item whose worker is gone: none, its lease ran out, or its connection closed.
_GONE = f"""(items.owner IS NULL OR COALESCE(items.lease_until < now(), false)
    OR NOT {_OWNER_LIVE})"""

_LEASE = "now() + make_interval(secs => $7::float8)"

# Reserved by a worker (take) and not sent yet: unsent, with no error recorded.
_RESERVED = "(items.state = 'unsent' AND items.error IS NULL)"

_RESERVE = f"""
INSERT INTO prism_async.items AS items (batch, key, provider, fingerprint, idempotency_key,
    state, owner, updated_at, lease_until, worker)
VALUES ($1, $2, $3, $4, $5, 'unsent', $6, now(), {_LEASE}, $8)
ON CONFLICT (batch, key) DO NOTHING
RETURNING 1
"""

# One statement: a new key is inserted; a taken one is updated only when claimable (never
# sent or refused before this worker started, or left submitting by this worker or by one
# that is gone). Concurrent callers serialize on the row, and the loser's WHERE sees the
# winner's claim.
_CLAIM = f"""
INSERT INTO prism_async.items AS items (batch, key, provider, fingerprint, idempotency_key,
    state, handles, error, owner, updated_at, lease_until, worker)
VALUES ($1, $2, $3, $4, $5, 'submitting', NULL, NULL, $6, now(), {_LEASE}, $8)
ON CONFLICT (batch, key) DO UPDATE SET provider = EXCLUDED.provider,
    fingerprint = EXCLUDED.fingerprint, idempotency_key = EXCLUDED.idempotency_key,
    state = 'submitting', handles = NULL, error = NULL, receipt = NULL, owner = EXCLUDED.owner,
    updated_at = EXCLUDED.updated_at, lease_until = EXCLUDED.lease_until,
    worker = EXCLUDED.worker
WHERE (items.state IN ('refused', 'unsent')
       AND (items.updated_at < $9 OR items.owner IS NOT DISTINCT FROM EXCLUDED.owner))
   OR (items.state = 'submitting'
       AND (items.owner IS NOT DISTINCT FROM EXCLUDED.owner OR {_GONE}))
RETURNING 1
"""

# Who may work on an item (see _holding), its row locked unless another worker has it locked.
_LOOK = f"""
SELECT key, state, owner, updated_at >= $3 AS recent, {_GONE} AS gone, {_RESERVED} AS reserved
FROM prism_async.items AS items WHERE batch = $1 AND key = $2 FOR UPDATE SKIP LOCKED
"""

_LOOK_MANY = f"""
SELECT key, state, owner, updated_at >= $3 AS recent, {_GONE} AS gone, {_RESERVED} AS reserved
FROM prism_async.items AS items WHERE batch = $1 AND key = ANY($2::text[])
"""

_TAKE_OVER = """
UPDATE prism_async.items SET owner = $3, worker = $4,
    lease_until = now() + make_interval(secs => $5::float8)
WHERE batch = $1 AND key = $2
"""

_RENEW = """
UPDATE prism_async.items SET lease_until = now() + make_interval(secs => $3::float8)
WHERE batch = $1 AND owner = $2 AND state IN ('unsent', 'submitting', 'submitted')
"""

_RELEASE = """
UPDATE prism_async.items SET owner = NULL, lease_until = NULL
WHERE batch = $1 AND key = $2 AND owner = $3 AND state IN ('unsent', 'submitting', 'submitted')
"""

_INSTALL_HINT = "a postgresql:// journal needs asyncpg: pip install 'prism-async[postgres]'"


def is_postgres_url(value: str) -> bool:
    """Whether a ``--journal`` value names a PostgreSQL journal (else it is a file path)."""
    return value.lower().startswith(("postgresql://", "postgres://"))


def shown_url(value: str) -> str:
    """``value`` as it may be printed: a PostgreSQL URL without its password (put it in
    ``PGPASSWORD`` to keep it off command lines), anything else as it is."""
    return _split_url(value).shown if is_postgres_url(value) else value


class _Url(NamedTuple):
    dsn: str  # for asyncpg: without batch and lease
    batch: str
    lease: float | None
    shown: str  # the URL as it may be printed: no password


def _split_url(url: str) -> _Url:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in ("batch", "lease") and value}
    batch = ours.get("batch", "default")
    lease = None
    if "lease" in ours:
        try:
            lease = float(ours["lease"])
        except ValueError:
            lease = math.nan
        if not (math.isfinite(lease) and lease > 0):
            raise ValueError(f"lease={ours['lease']!r}: not a positive number of seconds")
    rest = urllib.parse.urlencode([(n, v) for n, v in query if n not in ("batch", "lease")])
    dsn = urllib.parse.urlunsplit(parts._replace(query=rest))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    shown_query = urllib.parse.urlencode(
        {"batch": batch, **({"lease": ours["lease"]} if lease else {})}
    )
    shown = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=shown_query))
    return _Url(dsn, batch, lease, shown)


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

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout: float = 30.0,
        lease: float | None = None,
        worker: str | None = None,
    ) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"not a postgresql:// URL: {url!r}")
        self.url = url
        parts = _split_url(url)
        self._dsn, self.batch, self.shown = parts.dsn, parts.batch, parts.shown
        lease = lease if lease is not None else parts.lease or DEFAULT_LEASE
        if not (math.isfinite(lease) and lease > 0):
            raise ValueError(f"lease={lease!r}: not a positive number of seconds")
        #: Seconds a claim lasts unless renewed (renewed every third of it).
        self.lease = lease
        #: Seconds between two looks at the items other workers hold.
        # Short: a worker waiting on its peers' last items exits within this of their end.
        self.recheck_interval = min(2.0, max(0.1, lease / 6))
        #: This worker's name in ``batch status`` (default ``host:pid``).
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._pool_size = max(1, pool_size)
        self._timeout = timeout
        #: This run's id: the key of the advisory lock it holds while open (a positive bigint).
        self.owner = secrets.randbits(62) + 1
        #: Where a create's handles go if the database cannot take them (in the working
        #: directory: ``prism-async-batch-NAME.unrecorded.jsonl``).
        self.fallback = Path.cwd() / f"prism-async-batch-{_file_safe(self.batch)}"
        self._pool: asyncpg.Pool | None = None
        self._presence: asyncpg.Connection | None = None
        self._started: datetime | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._lease_lost: str | None = None

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
            await migrate(presence)
            await presence.execute("SELECT pg_advisory_lock($1)", self.owner)
            self._started = await presence.fetchval("SELECT now()")
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
            )
        except NewerSchema as exc:
            await presence.close()
            self._fail(str(exc), exc)
        except errors as exc:
            await presence.close()
            self._fail(f"cannot open ({_reason(exc)})", exc)
        except BaseException:
            await presence.close()
            raise
        self._presence, self._pool = presence, pool
        self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Renew this worker's leases every third of the lease. A lease not renewed in time
        (the server unreachable) is lost: no claim is made after that (fail closed)."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._run(
                    lambda conn: conn.execute(_RENEW, self.batch, self.owner, self.lease)
                )
            except JournalError as exc:
                if time.monotonic() - last > self.lease * 2 / 3:
                    self._lease_lost = f"leases not renewed in time ({exc.message})"
                log.warning("journal %s: cannot renew leases: %s", self.shown, exc)
            else:
                last = time.monotonic()

    async def aclose(self) -> None:
        """Close the pool (every record is already committed) and drop the presence lock."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
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
        """Note a create about to be sent: claim the key under this worker's lease, in one
        statement. False if the key is taken (submitted, finished, uncertain, submitting by
        another live worker, or refused or unsent by another worker since this one started).

        Raises:
            JournalError: Besides the store's errors: this worker's leases could not be
                renewed in time, so another worker may hold its items (no claim after that).
        """
        if self._lease_lost is not None:
            self._fail(self._lease_lost)

        async def claim(conn: asyncpg.Connection) -> bool:
            won = await conn.fetchval(
                _CLAIM, *self._row(key, provider, fingerprint, idempotency_key), self._started
            )
            return won is not None

        return await self._run(claim)

    # --- many workers ---------------------------------------------------------------------

    def _row(
        self, key: str, provider: str, fingerprint: str, idempotency_key: str
    ) -> tuple[Any, ...]:
        """``$1``-``$8`` of a claim or a reservation: the item, and this worker's lease."""
        return (
            self.batch,
            key,
            provider,
            fingerprint,
            idempotency_key,
            self.owner,
            self.lease,
            self.worker,
        )

    def _holding(self, row: Mapping[str, Any]) -> Holding:
        state = ItemState(row["state"])
        mine = row["owner"] == self.owner
        if state in (ItemState.SUBMITTING, ItemState.SUBMITTED) or row["reserved"]:
            return Holding.FREE if mine or row["gone"] else Holding.HELD
        # Finished or settled (refused, unsent, uncertain) since this worker started: the
        # other worker's outcome. Before it started: an earlier run's, reported (resumed)
        # or retried here as by any resumed run.
        return Holding.DONE if row["recent"] and not mine else Holding.FREE

    async def take(
        self, key: str, *, provider: str, fingerprint: str, idempotency_key: str
    ) -> Holding:
        """Whether this worker may work on the item. A new key is reserved for it (unsent,
        no error, under its lease), so that other workers pass it by; an item a worker
        that is gone left reserved, submitting or submitted is taken over (a row another
        worker has locked at this moment is skipped: ``HELD``, to look at again later)."""

        async def take(conn: asyncpg.Connection) -> Holding:
            reserved = await conn.fetchval(
                _RESERVE, *self._row(key, provider, fingerprint, idempotency_key)
            )
            if reserved is not None:
                return Holding.FREE
            row = await conn.fetchrow(_LOOK, self.batch, key, self._started)
            if row is None:  # locked by another worker's transaction right now
                return Holding.HELD
            holding = self._holding(row)
            held = row["state"] in ("submitting", "submitted") or row["reserved"]
            if holding is Holding.FREE and held and row["owner"] != self.owner:
                await conn.execute(_TAKE_OVER, self.batch, key, self.owner, self.worker, self.lease)
                log.info("journal %s: item %r taken over from a worker gone", self.shown, key)
            return holding

        return await self._run(take)

    async def recheck(self, keys: Sequence[str]) -> Mapping[str, Holding]:
        """:meth:`take`'s answer for each key, without taking anything."""

        async def look(conn: asyncpg.Connection) -> Mapping[str, Holding]:
            rows = await conn.fetch(_LOOK_MANY, self.batch, list(keys), self._started)
            found = {row["key"]: self._holding(row) for row in rows}
            return {key: found.get(key, Holding.FREE) for key in keys}

        return await self._run(look, read=True)

    async def release(self, key: str) -> None:
        """Give back an item this worker holds (submitting or submitted), for another
        worker to take over at once; nothing if it holds none."""
        await self._run(lambda conn: conn.execute(_RELEASE, self.batch, key, self.owner))

    def spend(self) -> SharedSpend:
        """The request budgets every worker on this database shares (see the module)."""
        return SharedSpend(self._run, self.shown, self.owner)

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

    #: The receipt of each submission is kept (``items.receipt``).
    stores_receipts = True

    async def _update_with_receipt(self, key: str, handles: str, receipt: str) -> None:
        async def update(conn: asyncpg.Connection) -> None:
            status = await conn.execute(
                "UPDATE prism_async.items SET state = $3, handles = $4, error = NULL,"
                " receipt = $5::jsonb, updated_at = now() WHERE batch = $1 AND key = $2",
                self.batch,
                key,
                ItemState.SUBMITTED.value,
                handles,
                receipt,
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

    # --- batch status | forget | retry -----------------------------------------------------

    async def summary(self) -> BatchSummary:
        """The whole batch, every worker's part: items per state, per provider and per
        worker, the cost so far, the uncertain items."""

        async def read(conn: asyncpg.Connection) -> BatchSummary:
            counts = await conn.fetch(
                "SELECT provider, state, COALESCE(worker, '(none)') AS worker, count(*) AS n"
                " FROM prism_async.items WHERE batch = $1 GROUP BY 1, 2, 3",
                self.batch,
            )
            results = await conn.fetch(
                "SELECT result::text AS result FROM prism_async.results WHERE batch = $1",
                self.batch,
            )
            uncertain = await conn.fetch(
                "SELECT key, provider, idempotency_key, error, updated_at"
                " FROM prism_async.items WHERE batch = $1 AND state = $2"
                " ORDER BY updated_at, key",
                self.batch,
                ItemState.UNCERTAIN.value,
            )
            return summarize(
                [(r["provider"], r["state"], r["worker"], r["n"]) for r in counts],
                [r["result"] for r in results],
                [
                    UncertainItem(
                        key=r["key"],
                        provider=r["provider"],
                        idempotency_key=r["idempotency_key"],
                        error=r["error"],
                        updated_at=r["updated_at"].isoformat(),
                    )
                    for r in uncertain
                ],
            )

        return await self._run(read, read=True)

    async def forget(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item, in one conditional write, so that a later
        run submits it again with a new idempotency key. The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """

        async def forget(conn: asyncpg.Connection) -> JournalEntry:
            entry = await self._clearable(conn, key, "forget")
            for table in ("results", "downloads"):
                await conn.execute(
                    f"DELETE FROM prism_async.{table} WHERE batch = $1 AND key = $2",
                    self.batch,
                    key,
                )
            await conn.execute(
                "DELETE FROM prism_async.items WHERE batch = $1 AND key = $2"
                " AND state = ANY($3::text[])",
                self.batch,
                key,
                [state.value for state in CLEARABLE_STATES],
            )
            return entry

        return await self._run(forget)

    async def retry(self, key: str) -> JournalEntry:
        """Clear an uncertain (or refused) item so that a later run sends it again with its
        journaled idempotency key (it is marked unsent). The entry as it was.

        Raises:
            ItemNotClearable: No such key, or the item is not uncertain or refused.
        """

        async def retry(conn: asyncpg.Connection) -> JournalEntry:
            entry = await self._clearable(conn, key, "retry")
            note = (
                f"to be sent again with the same idempotency key (batch retry); it was"
                f" {entry.state.value}: {entry.error or 'no reason recorded'}"
            )
            await conn.execute(
                "UPDATE prism_async.items SET state = $3, error = $4, owner = NULL,"
                " lease_until = NULL, updated_at = now()"
                " WHERE batch = $1 AND key = $2 AND state = ANY($5::text[])",
                self.batch,
                key,
                ItemState.UNSENT.value,
                note,
                [state.value for state in CLEARABLE_STATES],
            )
            return entry

        return await self._run(retry)

    async def _clearable(self, conn: asyncpg.Connection, key: str, verb: str) -> JournalEntry:
        # Row-locked: a worker's claim in between waits, and then sees the cleared state.
        await conn.execute(
            "SELECT 1 FROM prism_async.items WHERE batch = $1 AND key = $2 FOR UPDATE",
            self.batch,
            key,
        )
        return clearable(await _lookup(conn, self.batch, key), key, f"journal {self.shown}", verb)


async def _lookup(conn: asyncpg.Connection, batch: str, key: str) -> JournalEntry | None:
    row = await conn.fetchrow(
        "SELECT provider, fingerprint, idempotency_key, state, handles, error,"
        " receipt::text AS receipt FROM prism_async.items WHERE batch = $1 AND key = $2",
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
        receipt=SubmitReceipt.from_dict(json.loads(row["receipt"])) if row["receipt"] else None,
    )


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "default"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
