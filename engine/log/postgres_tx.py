"""The PostgreSQL log's write transaction and its error handling (engine.log.postgres's half).

Why the append is one statement and why it takes the ``log_head`` row: engine.log.postgres.
Every psycopg failure becomes one StoreError line (StoreBusy when another holder of a lock made
it fail, so the caller may retry); the DSN's password never appears in a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import psycopg.conninfo

from engine.errors import StoreBusy, StoreError
from engine.log.postgres_sql import translate
from engine.log.records import AppendResult, NewEvent, StoredEvent
from engine.log.sqlite import encode_payload, payload_digest

__all__ = ["SELECT_EVENTS", "PostgresTransaction", "error", "row_to_event", "safe_label"]

SELECT_EVENTS = (
    "SELECT position, stream, type, key, digest, payload, source, recorded_at FROM events"
)
_LOCK_HEAD = "SELECT position FROM log_head WHERE id = 1 FOR UPDATE"
# One statement per append batch: keep the first of equal (stream, key, digest) rows, drop those
# already stored (safe: only the head-row holder inserts), number the rest from the locked head
# in batch order, insert them and move the head by as many.
_APPEND = """
WITH input AS (
    SELECT * FROM unnest(%(stream)s::text[], %(type)s::text[], %(key)s::text[],
                         %(digest)s::text[], %(payload)s::bytea[], %(source)s::text[])
        WITH ORDINALITY AS i (stream, type, key, digest, payload, source, ord)
), fresh AS (
    SELECT DISTINCT ON (stream, key, digest) * FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM events e
                      WHERE e.stream = i.stream AND e.key = i.key AND e.digest = i.digest)
    ORDER BY stream, key, digest, ord
), ins AS (
    INSERT INTO events (position, stream, type, key, digest, payload, source, recorded_at)
    SELECT %(head)s + row_number() OVER (ORDER BY ord), stream, type, key, digest, payload,
           source, %(now)s
    FROM fresh
    RETURNING 1
)
UPDATE log_head SET position = position + (SELECT count(*) FROM ins) WHERE id = 1
RETURNING position
"""
_SET_TRACKING = (
    "INSERT INTO tracking (consumer, position) VALUES (%s, %s) "
    "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position"
)
_SET_BOOKMARK = (
    "INSERT INTO bookmarks (name, state) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state"
)
# SQLSTATEs meaning "someone else holds it; try again", not "broken" [D] errcodes appendix.
_BUSY = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock_detected, serialization


def safe_label(dsn: str) -> str:
    """``postgresql://host:port/dbname`` without user or password, for messages."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql://(unparsable DSN)"
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{host}{port}/{parts.get('dbname') or ''}"


# ``scheme://user:password@``: what libpq echoes when it cannot parse a URI.
_URI_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]*@")


def _redact(message: str, dsn: str) -> str:
    """``message`` without the DSN's password: libpq quotes an unparsable URI whole."""
    message = message.replace(dsn, safe_label(dsn))
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return _URI_PASSWORD.sub(r"\1***@", message)


def error(what: str, exc: psycopg.Error, dsn: str | None = None) -> StoreError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if dsn is not None:
        message = _redact(message, dsn)
    if exc.sqlstate in _BUSY:
        return StoreBusy(f"{what}: {message}")
    return StoreError(f"{what}: {message}")


def row_to_event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        position=int(row[0]),
        stream=row[1],
        type=row[2],
        key=row[3],
        digest=row[4],
        payload=orjson.loads(row[5]),
        source=row[6],
        recorded_at=row[7].astimezone(UTC),
    )


class PostgresTransaction:
    """One write transaction on a pooled connection (see ``ports.Transaction``)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], label: str) -> None:
        self._conn = conn
        self._label = label
        self._head: int | None = None  # set once this transaction holds the head row
        self.finished = False

    async def _run(self, sql: str, params: Any) -> psycopg.AsyncCursor[Any]:
        if self.finished:
            raise StoreError(f"write to {self._label} after its transaction ended")
        try:
            return await self._conn.execute(sql, params)
        except psycopg.Error as exc:
            raise error(f"write to {self._label} failed", exc) from exc

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        if self._head is None:
            row = await (await self._run(_LOCK_HEAD, None)).fetchone()
            self._head = int(row[0]) if row else 0
        if not events:
            return AppendResult(0, 0, self._head)
        columns: dict[str, list[Any]] = {k: [] for k in ("stream", "type", "key", "digest")}
        columns.update(payload=[], source=[])
        for ev in events:
            body = encode_payload(ev.payload)
            columns["stream"].append(ev.stream)
            columns["type"].append(ev.type)
            columns["key"].append(ev.key)
            columns["digest"].append(payload_digest(ev.type, body))
            columns["payload"].append(body)
            columns["source"].append(ev.source)
        params = {**columns, "head": self._head, "now": datetime.now(UTC)}
        row = await (await self._run(_APPEND, params)).fetchone()
        head = int(row[0]) if row else self._head
        appended, self._head = head - self._head, head
        return AppendResult(appended, len(events) - appended, head)

    async def set_tracking(self, consumer: str, position: int) -> None:
        await self._run(_SET_TRACKING, (consumer, position))

    async def set_bookmark(self, name: str, state: dict[str, Any]) -> None:
        await self._run(_SET_BOOKMARK, (name, encode_payload(state)))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._run(translate(sql), tuple(params))
        return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(r) for r in rows]
        if not batch:
            return
        if self.finished:
            raise StoreError(f"write to {self._label} after its transaction ended")
        try:
            async with self._conn.cursor() as cur:
                await cur.executemany(translate(sql), batch)
        except psycopg.Error as exc:
            raise error(f"write to {self._label} failed", exc) from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._run(translate(sql), tuple(params))
        return [tuple(r) for r in await cur.fetchall()]
