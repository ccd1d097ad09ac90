"""The PostgreSQL journal's schema: its versions, and the migration run on every open.

The schema lives in the PostgreSQL schema ``prism_async``; ``prism_async.meta`` holds its
version (:data:`SCHEMA_VERSION`). Opening runs the missing migrations in one transaction
under ``pg_advisory_xact_lock``, so workers that start together never race on ``CREATE``;
a database of a newer version is refused.

Version 1::

    items(batch, key, provider, fingerprint, idempotency_key, state, handles JSON text,
          error, owner, updated_at, PK(batch, key))
    results(batch, handle, key, status, result JSONB, PK(batch, handle))
    downloads(batch, handle, output, key, path, size, PK(batch, handle, output))

Version 2 (many workers)::

    items + lease_until (the owner's lease), worker (its name: host:pid), receipt (what
            the create answered: SubmitReceipt.to_dict())
    spend(id, provider, kind, owner, taken_at, settled_at)  -- every worker's paid calls,
                                                        for request budgets they share
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

__all__ = ["SCHEMA_VERSION", "NewerSchema", "migrate", "owner_live"]

#: The schema version this library writes; older databases are migrated on open.
SCHEMA_VERSION = 2

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
    """
    ALTER TABLE prism_async.items ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ;
    ALTER TABLE prism_async.items ADD COLUMN IF NOT EXISTS worker TEXT;
    ALTER TABLE prism_async.items ADD COLUMN IF NOT EXISTS receipt JSONB;
    CREATE INDEX IF NOT EXISTS items_by_owner ON prism_async.items (batch, owner);
    CREATE TABLE IF NOT EXISTS prism_async.spend (
        id BIGSERIAL PRIMARY KEY,
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner BIGINT,
        taken_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        settled_at TIMESTAMPTZ
    );
    CREATE INDEX IF NOT EXISTS spend_by_kind ON prism_async.spend (provider, kind, taken_at);
    """,
)


def owner_live(table: str) -> str:
    """SQL: whether the run in ``table.owner`` is live, i.e. holds its presence lock (the
    session advisory lock keyed by its run id, dropped by the server when its connection
    ends)."""
    return f"""EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::int8 << 32) | l.objid::int8) = {table}.owner
)"""


class NewerSchema(ValueError):
    """The database holds a journal this version cannot read (its ``str`` says why)."""


async def migrate(conn: asyncpg.Connection) -> None:
    """Create or migrate the schema to :data:`SCHEMA_VERSION`, in one transaction under
    the migration lock.

    Raises:
        NewerSchema: A journal of a newer schema version, or not a prism-async journal.
    """
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
            raise NewerSchema(f"not a prism-async journal (schema version {value!r})") from None
        if version > SCHEMA_VERSION:
            raise NewerSchema(
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
