"""``log check`` on a PostgreSQL log: the SQLite check's invariants, in one read-only snapshot.

What is checked (the wording is engine.log.backup's, so both backends read alike): the schema
version (newer is refused, as a writing open would), the ``events`` columns, gap-free positions
1..head, ``log_head`` equal to the newest position, every event's digest recomputed from its
payload, the append-only guards present and enabled, and (version 2) the count trigger and the
trigger-kept counts equal to a count of the table. PostgreSQL checks its own pages and indexes
as it reads them, so there is no ``quick_check`` step; ``amcheck`` is left to the DBA.

Everything runs in one REPEATABLE READ, READ ONLY transaction: an engine appending meanwhile
can never make the count, the head row and the counts disagree. Plain (sync) psycopg: the CLI
calls this with no event loop, as it calls the SQLite check. ``open_snapshot`` is shared with
the pg_dump backup, which exports the same kind of snapshot to pg_dump.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

import engine.log.postgres_schema as schema
from engine.errors import StoreError
from engine.log.backup import (
    STATS_DIFFER,
    CheckReport,
    DigestCheck,
    count_trigger_missing,
    gap_problem,
    guard_missing,
)
from engine.log.postgres import check_namespace
from engine.log.postgres_sql import translate_ddl
from engine.log.postgres_tx import error, safe_label
from engine.log.schema import region_of_source_sql

__all__ = ["check_postgres", "log_label", "open_snapshot", "schema_version"]

_TYPE_STATS_DIFFER = "stream_type_stats (stats' event counts) differ from the events table"


def log_label(dsn: str, namespace: str | None) -> str:
    """As PostgresEventLog labels it: no user, no password; the schema when there is one."""
    label = safe_label(dsn)
    return f"{label} (schema {check_namespace(namespace)})" if namespace is not None else label


@contextmanager
def open_snapshot(
    dsn: str, namespace: str | None, *, connect_timeout_s: float = 10.0
) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside one REPEATABLE READ, READ ONLY transaction on the log's schema.

    A server that cannot be reached is one StoreError line (the DSN's password never in it)."""
    label = log_label(dsn, namespace)
    try:
        conn = psycopg.connect(dsn, connect_timeout=max(1, int(connect_timeout_s)))
    except psycopg.Error as exc:
        raise error(f"cannot open event log {label}", exc, dsn) from exc
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        if namespace is not None:  # checked above: a name we may quote ourselves
            conn.execute(f'SET search_path TO "{namespace}"')
        yield conn
    finally:
        conn.close()


def _all(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def schema_version(conn: psycopg.Connection[Any], label: str) -> int | None:
    """The log's schema version, None for a database holding no log; StoreError for a newer
    version or an ``events`` table that is not ours (the words of the log's own open)."""
    [(has_versions, has_events, has_head)] = _all(
        conn,
        "SELECT to_regclass('schema_version') IS NOT NULL, to_regclass('events') IS NOT NULL, "
        "to_regclass('log_head') IS NOT NULL",
    )
    if not has_versions and not has_events:
        return None
    version = _all(conn, "SELECT max(version) FROM schema_version")[0][0] if has_versions else None
    if version is not None and version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"event log {label} has schema version {version}, newer than this ml-connector "
            f"understands ({schema.SCHEMA_VERSION}): upgrade ml-connector"
        )
    columns = tuple(
        str(r[0])
        for r in _all(
            conn,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
        )
    )
    if version is None or columns != schema.EVENT_COLUMNS or not has_head:
        raise StoreError(
            f"{label} holds an 'events' table that is not an ml-connector event log "
            f"(columns {', '.join(columns)}; schema version {version})"
        )
    return int(version)


def check_postgres(dsn: str, *, namespace: str | None = None, limit: int = 10) -> CheckReport:
    """The log's invariants (module doc). Every finding is a line in ``problems``; only a
    server that cannot be reached raises (StoreError)."""
    started = time.perf_counter()
    label = log_label(dsn, namespace)
    problems: list[str] = []
    version: int | None = None
    events = 0
    with open_snapshot(dsn, namespace) as conn:
        try:
            version = schema_version(conn, label)
            if version is None:
                problems.append(f"{label} is an empty database, not an event log")
            else:
                events = _invariants(conn, version, problems)
        except StoreError as exc:
            problems.append(str(exc))
        except psycopg.Error as exc:
            problems.append(str(error("PostgreSQL", exc, dsn)))
    seconds = time.perf_counter() - started
    return CheckReport(label, True, problems[:limit], version, events, seconds)


def _invariants(conn: psycopg.Connection[Any], version: int, problems: list[str]) -> int:
    [(count, low, high)] = _all(conn, "SELECT count(*), min(position), max(position) FROM events")
    if (gap := gap_problem(int(count), low, high)) is not None:
        problems.append(gap)
    heads = _all(conn, "SELECT position FROM log_head WHERE id = 1")
    newest = int(high or 0)
    if not heads:
        problems.append("log_head has no row: the next append cannot take a position")
    elif int(heads[0][0]) != newest:
        problems.append(
            f"log_head is at {heads[0][0]} but the newest event is at position {newest}"
        )
    digests = DigestCheck()
    # A server-side cursor: the payloads stream through in bounded batches.
    with conn.cursor(name="mlc_check_digests") as cur:
        cur.itersize = 2000
        cur.execute("SELECT position, type, digest, payload FROM events ORDER BY position")
        for position, etype, digest, payload in cur:
            digests.feed(int(position), etype, digest, payload)
    if (mismatch := digests.problem()) is not None:
        problems.append(mismatch)
    triggers = dict(
        _all(
            conn,
            "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
            "('events'::regclass, 'log_head'::regclass)",
        )
    )
    for name, table, _create in schema.GUARDS:
        if name not in triggers:
            problems.append(guard_missing(name))
        elif triggers[name] == "D":  # ALTER TABLE ... DISABLE TRIGGER: present but off
            problems.append(
                f"append-only guard trigger {name} is disabled "
                f"(ALTER TABLE {table} ENABLE TRIGGER {name})"
            )
    if version >= 2:
        if schema.COUNT_TRIGGER not in triggers:
            problems.append(count_trigger_missing(schema.COUNT_TRIGGER))
        elif triggers[schema.COUNT_TRIGGER] == "D":
            problems.append(f"stream count trigger {schema.COUNT_TRIGGER} is disabled")
        _compare_counts(conn, problems)
    return int(count)


def _compare_counts(conn: psycopg.Connection[Any], problems: list[str]) -> None:
    region = translate_ddl(region_of_source_sql("source"))
    counted = _all(
        conn,
        f"SELECT stream, {region}, count(*), max(position) FROM events GROUP BY 1, 2",
    )
    kept = _all(
        conn,
        "SELECT stream, region, events, last_position FROM stream_stats WHERE events > 0",
    )
    if sorted(counted) != sorted(kept):
        problems.append(STATS_DIFFER)
    by_type = _all(conn, "SELECT stream, type, count(*) FROM events GROUP BY 1, 2")
    kept_types = _all(conn, "SELECT stream, type, events FROM stream_type_stats WHERE events > 0")
    if sorted(by_type) != sorted(kept_types):
        problems.append(_TYPE_STATS_DIFFER)
