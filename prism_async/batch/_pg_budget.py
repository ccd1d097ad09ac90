"""Request budgets that every worker on one PostgreSQL database shares.

A provider's documented budget (NanoGPT: 50 creates a minute) is per account, not per
process. Each paid call of every worker is a row of ``prism_async.spend``: taken before
the call, settled when it is answered. A call may go only while fewer than ``rate.requests``
calls are in the window: those in flight plus those settled within the last
``rate.per_seconds`` (a call counts from its answer, the latest the server can have counted
it, as in the engine's own :class:`~prism_async._engine._budget.RateBudget`). Takers of one
provider and kind serialize on a transaction advisory lock, so two workers never both see
the last free place. A call taken and never settled (its worker killed) stops counting as
in flight once its worker is gone (its presence lock released: see
:mod:`~prism_async.batch._postgres`), or at the latest after :data:`STALE_AFTER` seconds,
and counts from then on as settled when it was taken.

A plan's limit of jobs in flight (lipsync's concurrency slots, ``SupportsJobLimit``) is per
account too: given one, a create goes only while fewer jobs of the provider are in flight
across every live worker on the database (its items being created or waited on, and its
creates on their way), checked under the same lock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from prism_async._errors import JournalError
from prism_async._provider import Rate
from prism_async.batch._pg_schema import owner_live

if TYPE_CHECKING:
    import asyncpg

__all__ = ["STALE_AFTER", "SharedSpend"]
T = TypeVar("T")
log = logging.getLogger("prism_async.batch")

#: Seconds after which a paid call taken and never settled no longer counts as in flight.
STALE_AFTER = 300.0

# Serialize takers of one (provider, kind) for the transaction: hashtextextended gives
# the bigint key (PostgreSQL 11 and newer).
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('prism-async spend ' || $1 || ' ' || $2, 0))"

# In the window: in flight (taken, not settled, not stale) or settled within per_seconds.
# Returns how many, and when the oldest settled one leaves the window (seconds from now).
_COUNT = f"""
WITH c AS (
    SELECT settled_at, taken_at,
           settled_at IS NULL AND taken_at > clock_timestamp() - make_interval(secs => $4::float8)
               AND {owner_live("s")} AS flying
    FROM prism_async.spend AS s WHERE provider = $1 AND kind = $2
      AND taken_at > clock_timestamp() - make_interval(secs => $3::float8 + $4::float8)
), w AS (
    SELECT COALESCE(settled_at, taken_at) AS at, flying FROM c
)
SELECT
    count(*) FILTER (WHERE flying OR at > clock_timestamp() - make_interval(secs => $3::float8))
        AS n,
    EXTRACT(EPOCH FROM (
        min(at) FILTER (
            WHERE NOT flying AND at > clock_timestamp() - make_interval(secs => $3::float8))
        + make_interval(secs => $3::float8) - clock_timestamp())) AS wait
FROM w
"""

_TAKE = "INSERT INTO prism_async.spend (provider, kind, owner) VALUES ($1, $2, $3) RETURNING id"

_SETTLE = "UPDATE prism_async.spend SET settled_at = clock_timestamp() WHERE id = $1"

_FORGET_OLD = """
DELETE FROM prism_async.spend WHERE provider = $1 AND kind = $2
  AND taken_at < clock_timestamp() - make_interval(secs => $3::float8 + $4::float8)
"""

# The plan's jobs in flight, every worker's: items being created or waited on by a live
# worker, plus creates of live workers on their way (taken here, not yet answered).
_JOBS = f"""
SELECT (SELECT count(*) FROM prism_async.items AS items
        WHERE provider = $1 AND state IN ('submitting', 'submitted')
          AND COALESCE(items.lease_until > now(), true) AND {owner_live("items")})
     + (SELECT count(*) FROM prism_async.spend AS s
        WHERE provider = $1 AND settled_at IS NULL
          AND taken_at > clock_timestamp() - make_interval(secs => {STALE_AFTER}::float8)
          AND {owner_live("s")})
"""

#: How often a taker whose window is full of calls in flight looks again (seconds).
_RECHECK = 0.05
#: How often a taker waiting for one of the plan's job slots looks again (seconds).
_SLOT_RECHECK = 0.25

Run = Callable[[Callable[["asyncpg.Connection"], Awaitable[Any]]], Awaitable[Any]]


class SharedSpend:
    """The engine's :class:`~prism_async._engine._budget.SharedBudget` on a PostgreSQL
    journal's connection pool (:meth:`PostgresJournal.spend
    <prism_async.batch.PostgresJournal.spend>`)."""

    def __init__(self, run: Run, shown: str, owner: int) -> None:
        self._run = run
        self._shown = shown
        self._owner = owner
        # One taker per provider and kind in this process asks the database at a time.
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    async def take(
        self, provider: str, kind: str, rate: Rate, jobs_limit: int | None = None
    ) -> object:
        lock = self._locks.setdefault((provider, kind), anyio.Lock())
        async with lock:
            while True:
                wait = await self._run(
                    lambda conn: self._try(conn, provider, kind, rate, jobs_limit)
                )
                if isinstance(wait, int):
                    return wait
                await anyio.sleep(wait)

    async def _try(
        self,
        conn: asyncpg.Connection,
        provider: str,
        kind: str,
        rate: Rate,
        jobs_limit: int | None,
    ) -> int | float:
        """A token (the row id) if the window (and the plan) has room, else seconds to
        wait."""
        await conn.execute(_LOCK, provider, kind)
        if jobs_limit is not None:
            running = await conn.fetchval(_JOBS, provider)
            if running >= jobs_limit:
                return _SLOT_RECHECK
        row = await conn.fetchrow(_COUNT, provider, kind, rate.per_seconds, STALE_AFTER)
        if row["n"] < rate.requests:
            await conn.execute(_FORGET_OLD, provider, kind, rate.per_seconds, STALE_AFTER)
            token: int = await conn.fetchval(_TAKE, provider, kind, self._owner)
            return token
        wait = row["wait"]
        return max(_RECHECK, float(wait)) if wait is not None else _RECHECK

    async def settle(self, token: object) -> None:
        try:
            await self._run(lambda conn: conn.execute(_SETTLE, token))
        except JournalError as exc:  # counted as in flight until stale: never over budget
            log.warning("journal %s: cannot settle a shared budget: %s", self._shown, exc)
