"""The event log's schema, its version (``PRAGMA user_version``) and the migrations to it.

``user_version`` lives in the database header, so it is read without touching any table and
belongs to the log as a whole; other rooms (outbox, PII keys) add their own tables with
idempotent DDL through ``ensure_schema`` and do not use it.

Versions: 0 = a log written before versioning (same tables as 1), 1 = the events, tracking and
bookmarks tables, 2 = per-stream-and-region counts kept by a trigger (``stream_stats``). A file with
a version newer than ``SCHEMA_VERSION`` is refused before anything is written to it: an older
engine cannot know what the newer one's invariants are.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from engine.errors import StoreError

__all__ = [
    "COUNT_TRIGGER",
    "EVENT_COLUMNS",
    "GUARDS_DDL",
    "GUARD_TRIGGERS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "classify",
    "inspect",
    "inspect_sync",
    "migrate",
    "region_of_source_sql",
]

# The append-only guards. Re-applied (idempotently) at every writing open, so a guard dropped by
# hand with the sqlite3 shell is back before the engine writes again.
GUARDS_DDL = """
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
"""

_V1 = (
    """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT NOT NULL,
    type        TEXT NOT NULL,
    key         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    source      TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_identity ON events (stream, key, digest);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, position);
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bookmarks (
    name  TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
"""
    + GUARDS_DDL
)

# Per stream and region: how many events, the newest position and time. Counting them from
# ``events`` is a scan of the whole history, which ``status`` and every ``/metrics`` scrape paid
# (issue 18: idle cost flat in history); the trigger moves one count per appended row, inside the
# statement that appends it. ``log check`` compares them with the table.


def region_of_source_sql(source: str) -> str:
    """SQL: the Amazon region of an event's ``source`` ("sp-api:NA:searchOrders", "sp-api:EU")
    or '' (QAD reads, imported files). The pollers write their region second; derived data, so
    a source in another shape only lands under ''."""
    rest = f"substr({source}, 8)"
    return (
        f"CASE WHEN {source} LIKE 'sp-api:%' THEN CASE WHEN instr({rest}, ':') > 0 "
        f"THEN substr({rest}, 1, instr({rest}, ':') - 1) ELSE {rest} END ELSE '' END"
    )


_V2 = f"""
CREATE TABLE IF NOT EXISTS stream_stats (
    stream           TEXT NOT NULL,
    region           TEXT NOT NULL,
    events           INTEGER NOT NULL,
    last_position    INTEGER NOT NULL,
    last_recorded_at TEXT NOT NULL,
    PRIMARY KEY (stream, region)
) WITHOUT ROWID;
DELETE FROM stream_stats;
INSERT INTO stream_stats (stream, region, events, last_position, last_recorded_at)
SELECT stream, {region_of_source_sql("source")}, count(*), max(position), max(recorded_at)
FROM events GROUP BY 1, 2;
CREATE TRIGGER IF NOT EXISTS events_count AFTER INSERT ON events
BEGIN
    INSERT INTO stream_stats (stream, region, events, last_position, last_recorded_at)
    VALUES (NEW.stream, {region_of_source_sql("NEW.source")}, 1, NEW.position, NEW.recorded_at)
    ON CONFLICT (stream, region) DO UPDATE SET events = events + 1,
        last_position = max(last_position, excluded.last_position),
        last_recorded_at = max(last_recorded_at, excluded.last_recorded_at);
END;
"""

# (version, DDL bringing version-1 to version). Each runs in its own transaction together with
# the user_version stamp, so a crash leaves the file at one version or the next, never between.
# Version 1's DDL is idempotent, so it both creates a new log and stamps an unversioned one.
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1), (2, _V2))
SCHEMA_VERSION = MIGRATIONS[-1][0]

EVENT_COLUMNS = ("position", "stream", "type", "key", "digest", "payload", "source", "recorded_at")
GUARD_TRIGGERS = ("events_no_update", "events_no_delete")
COUNT_TRIGGER = "events_count"


def classify(
    path: Path, user_version: int, objects: dict[str, str], event_columns: list[str]
) -> int | None:
    """The schema version of a file, or None for an empty database (a log not yet created).

    Raises StoreError for a newer version, an SQLite file that is not an event log, or an
    ``events`` table that is not ours.
    """
    if user_version > SCHEMA_VERSION:
        raise StoreError(
            f"event log {path} has schema version {user_version}, newer than this ml-connector "
            f"understands ({SCHEMA_VERSION}): upgrade ml-connector (the file was not modified)"
        )
    if objects.get("events") != "table":
        if not objects and user_version == 0:
            return None
        some = ", ".join(sorted(objects)[:3]) or "none"
        raise StoreError(
            f"{path} is an SQLite database but not an event log (no events table; tables: {some})"
        )
    if tuple(event_columns) != EVENT_COLUMNS:
        raise StoreError(
            f"event log {path} has an unexpected events table (columns {', '.join(event_columns)})"
        )
    return user_version


_OBJECTS = "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
_COLUMNS = "SELECT name FROM pragma_table_info('events') ORDER BY cid"


async def inspect(db: aiosqlite.Connection, path: Path) -> int | None:
    """``classify`` the file behind an open connection (reads only; cheap: header and schema)."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    async with db.execute(_OBJECTS) as cur:
        objects = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
    async with db.execute(_COLUMNS) as cur:
        columns = [str(r[0]) for r in await cur.fetchall()]
    result = classify(path, version, objects, columns)
    if result is not None:
        # Walks the right edge of the events b-tree: a cheap probe that the table's root and last
        # pages are readable, without the O(n) cost of a quick_check.
        async with db.execute("SELECT max(position) FROM events") as cur:
            await cur.fetchone()
    return result


def inspect_sync(con: sqlite3.Connection, path: Path) -> int | None:
    """``inspect`` for a plain sqlite3 connection (backup, restore, check)."""
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    objects = {str(r[0]): str(r[1]) for r in con.execute(_OBJECTS)}
    columns = [str(r[0]) for r in con.execute(_COLUMNS)]
    return classify(path, version, objects, columns)


async def migrate(db: aiosqlite.Connection, path: Path, current: int | None) -> None:
    """Apply every migration after ``current`` (None or 0: create or stamp version 1)."""
    for version, ddl in MIGRATIONS:
        if (current or 0) >= version:
            continue
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{ddl}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            # executescript stops at the failing statement with the transaction still open.
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise StoreError(
                f"cannot migrate event log {path} to schema version {version}: {exc}"
            ) from exc
