"""The PostgreSQL log's schema, its versions (a ``schema_version`` table) and the migrations.

Opening runs, in one transaction under an advisory lock (so engines starting together migrate
once): read the version, refuse a newer one or a foreign ``events`` table, apply each missing
migration with its version row, then re-create any append-only guard dropped by hand. A crash
leaves the database at one version or the next, never between (PostgreSQL's DDL is
transactional [D]).

Append-only is enforced by the database itself: statement-level triggers refuse UPDATE, DELETE
and TRUNCATE on ``events`` (they fire even when no row matches), and ``log_head``, the counter
positions are taken from, may only move forward.

Versions: 1 = events, log_head, tracking, bookmarks; 2 = event counts kept by a trigger:
``stream_stats`` per stream and region (the same table as SQLite's version 2, which ``status``
reads) and ``stream_type_stats`` per stream and type (``stats()``), so neither scans the history.
"""

from __future__ import annotations

from typing import Any

import psycopg

from engine.errors import StoreError
from engine.log.postgres_sql import translate_ddl
from engine.log.schema import region_of_source_sql

__all__ = [
    "COUNT_TRIGGER",
    "EVENT_COLUMNS",
    "GUARDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "NoEventLog",
    "migrate",
]


class NoEventLog(StoreError):
    """A read-only open of a database that holds no event log yet."""


# Any constant unique to ml-connector: the key of the migration advisory lock.
_MIGRATION_LOCK = 0x6D6C_6331

_GUARD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION ml_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP;
END $$;
CREATE OR REPLACE FUNCTION ml_log_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.position < OLD.position OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'log_head only moves forward: % refused', TG_OP;
    END IF;
    RETURN NEW;
END $$;
"""

# (trigger name, table, its CREATE TRIGGER statement)
GUARDS: tuple[tuple[str, str, str], ...] = (
    (
        "events_no_update",
        "events",
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION ml_events_append_only()",
    ),
    (
        "events_no_delete",
        "events",
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION ml_events_append_only()",
    ),
    (
        "events_no_truncate",
        "events",
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION ml_events_append_only()",
    ),
    (
        "log_head_forward_only",
        "log_head",
        "CREATE TRIGGER log_head_forward_only BEFORE UPDATE OR DELETE ON log_head "
        "FOR EACH ROW EXECUTE FUNCTION ml_log_head_forward_only()",
    ),
    (
        "log_head_no_truncate",
        "log_head",
        "CREATE TRIGGER log_head_no_truncate BEFORE TRUNCATE ON log_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION ml_events_append_only()",
    ),
)

_V1 = """
CREATE TABLE events (
    position    BIGINT PRIMARY KEY,
    stream      TEXT NOT NULL,
    type        TEXT NOT NULL,
    key         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    source      TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX events_identity ON events (stream, key, digest);
CREATE INDEX events_by_key ON events (key, position);
CREATE TABLE log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL CHECK (position >= 0)
);
INSERT INTO log_head (id, position) VALUES (1, 0);
CREATE TABLE tracking (
    consumer TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE bookmarks (
    name  TEXT PRIMARY KEY,
    state BYTEA NOT NULL
);
"""

COUNT_TRIGGER = "events_count"
# The region as SQLite's trigger computes it (engine.log.schema), in PostgreSQL's spelling.
_REGION = translate_ddl(region_of_source_sql("source"))
# Statement-level, over the statement's new rows (a transition table): one upsert per stream and
# region per append batch, not one per event. Appenders hold the log_head row, so two never
# update the same count row at once. GROUP BY makes every conflict target unique per statement.
_V2 = f"""
-- Counting the history and creating the trigger must see the same rows: no insert between.
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE stream_stats (
    stream           TEXT NOT NULL,
    region           TEXT NOT NULL,
    events           BIGINT NOT NULL,
    last_position    BIGINT NOT NULL,
    last_recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream, region)
);
CREATE TABLE stream_type_stats (
    stream TEXT NOT NULL,
    type   TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (stream, type)
);
INSERT INTO stream_stats (stream, region, events, last_position, last_recorded_at)
SELECT stream, {_REGION}, count(*), max(position), max(recorded_at) FROM events GROUP BY 1, 2;
INSERT INTO stream_type_stats (stream, type, events)
SELECT stream, type, count(*) FROM events GROUP BY 1, 2;
CREATE OR REPLACE FUNCTION ml_events_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stream_stats AS s (stream, region, events, last_position, last_recorded_at)
    SELECT stream, {_REGION}, count(*), max(position), max(recorded_at) FROM added
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (stream, region) DO UPDATE SET events = s.events + excluded.events,
        last_position = greatest(s.last_position, excluded.last_position),
        last_recorded_at = greatest(s.last_recorded_at, excluded.last_recorded_at);
    INSERT INTO stream_type_stats AS t (stream, type, events)
    SELECT stream, type, count(*) FROM added GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (stream, type) DO UPDATE SET events = t.events + excluded.events;
    RETURN NULL;
END $$;
CREATE TRIGGER {COUNT_TRIGGER} AFTER INSERT ON events REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION ml_events_count();
"""

# (version, DDL bringing version-1 to version), each applied with its schema_version row.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1), (2, _V2))
SCHEMA_VERSION = MIGRATIONS[-1][0]

EVENT_COLUMNS = ("position", "stream", "type", "key", "digest", "payload", "source", "recorded_at")

_BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


async def _scalar(conn: psycopg.AsyncConnection[Any], sql: str, params: Any = None) -> Any:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    return row[0] if row else None


async def _inspect(conn: psycopg.AsyncConnection[Any], label: str) -> int | None:
    """The stored version, None for a database holding no log; refuses newer or foreign."""
    has_versions = await _scalar(conn, "SELECT to_regclass('schema_version') IS NOT NULL")
    has_events = await _scalar(conn, "SELECT to_regclass('events') IS NOT NULL")
    version = None
    if has_versions:
        version = await _scalar(conn, "SELECT max(version) FROM schema_version")
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"event log {label} has schema version {version}, newer than this ml-connector "
            f"understands ({SCHEMA_VERSION}): upgrade ml-connector (the database was not modified)"
        )
    if has_events:
        cur = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
            "AND table_schema = current_schema() ORDER BY ordinal_position"
        )
        columns = tuple(str(r[0]) for r in await cur.fetchall())
        if version is None or columns != EVENT_COLUMNS:
            raise StoreError(
                f"{label} holds an 'events' table that is not an ml-connector event log "
                f"(columns {', '.join(columns)}; schema version {version})"
            )
    return int(version) if version is not None else None


async def migrate(conn: psycopg.AsyncConnection[Any], label: str, *, readonly: bool) -> int:
    """Bring the schema to ``SCHEMA_VERSION`` (a writable open) or check it (read-only)."""
    try:
        async with conn.transaction():
            if readonly:
                version = await _inspect(conn, label)
                if version is None:
                    raise NoEventLog(f"event log {label} is an empty database, not an event log")
                if version < SCHEMA_VERSION:
                    raise StoreError(
                        f"event log {label} has schema version {version}: open it writable once "
                        f"to migrate it to {SCHEMA_VERSION}"
                    )
                return version
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            version = await _inspect(conn, label)
            await conn.execute(_BOOTSTRAP)
            await conn.execute(_GUARD_FUNCTIONS)
            for target, ddl in MIGRATIONS:
                if (version or 0) >= target:
                    continue
                await conn.execute(ddl)
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
            cur = await conn.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
                "('events'::regclass, 'log_head'::regclass)"
            )
            present = {str(r[0]) for r in await cur.fetchall()}
            for name, _table, create in GUARDS:
                if name not in present:  # dropped by hand: back before the engine writes
                    await conn.execute(create)
            return SCHEMA_VERSION
    except psycopg.Error as exc:
        raise StoreError(f"cannot migrate event log {label}: {exc}") from exc
