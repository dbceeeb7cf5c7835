"""The event log on PostgreSQL (psycopg 3, async, with its connection pool).

Gap-free positions under concurrent writers: the COUNTER ROW design of the three known ones
(issue 20's reference, "three gap-free designs" [C]). A transaction's first append locks the single
``log_head`` row (``SELECT ... FOR UPDATE``); its events take positions head+1.. and the row is
moved forward in the same transaction, so the row lock is held until COMMIT. Why this one [I]:

- positions commit in order: a second appender waits on the row until the first commits (or
  rolls back), so a reader can never see position N+1 while N is still in flight, and a tailing
  reader can never skip a position that is filled in later;
- truly gap-free, unlike a sequence (table lock over ``bigserial``): a rolled-back append or a
  duplicate gives its positions back with the counter, as SQLite's ``max(position)+1`` does;
- checkpoints stay one integer (the port's ``tracking(consumer) -> int``); the transaction-id
  design needs an ``(xid, position)`` pair and stalls every reader behind any long transaction
  in the cluster;
- it locks one row, not the table: VACUUM, index builds, ``pg_dump`` and readers never
  contend with it; batching amortises the serialisation (the write rate is API-bound).

A transaction that only writes derived output (commands, tracking) never takes the row, so it
runs beside appenders. Two transactions that lock rows in opposite orders can deadlock;
PostgreSQL aborts one (StoreBusy, retryable), it never waits forever (``lock_timeout``).

Raw SQL passed by the rooms above (written for SQLite) goes through ``postgres_sql``'s small
translation. Every psycopg failure surfaces as one StoreError line; the DSN's password never
appears in messages.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Self

import orjson
import psycopg
import psycopg.conninfo
import psycopg_pool

import engine.log.postgres_schema as schema
from engine.errors import StoreBusy, StoreError
from engine.log.capabilities import POSTGRESQL, LogCapabilities
from engine.log.postgres_sql import translate, translate_ddl
from engine.log.records import AppendResult, NewEvent, StoredEvent
from engine.log.sqlite import encode_payload, payload_digest

__all__ = ["PostgresEventLog", "PostgresTransaction", "safe_label"]

_SELECT = "SELECT position, stream, type, key, digest, payload, source, recorded_at FROM events"
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
_DDL_LOCK = 0x6D6C_6332  # advisory lock serialising ensure_schema (CREATE IF NOT EXISTS races)


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


def _error(what: str, exc: psycopg.Error, dsn: str | None = None) -> StoreError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if dsn is not None:
        message = _redact(message, dsn)
    if exc.sqlstate in _BUSY:
        return StoreBusy(f"{what}: {message}")
    return StoreError(f"{what}: {message}")


def _row_to_event(row: Sequence[Any]) -> StoredEvent:
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
            raise _error(f"write to {self._label} failed", exc) from exc

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
            raise _error(f"write to {self._label} failed", exc) from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._run(translate(sql), tuple(params))
        return [tuple(r) for r in await cur.fetchall()]


class PostgresEventLog:
    """The append-only event log in a PostgreSQL database (see ``engine.log.ports.EventLog``)."""

    capabilities: LogCapabilities = POSTGRESQL

    def __init__(self, label: str, pool: psycopg_pool.AsyncConnectionPool[Any], readonly: bool):
        self.label = label
        self._pool = pool
        self._readonly = readonly

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        dsn: str,
        *,
        readonly: bool = False,
        pool_size: int = 4,
        lock_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
    ) -> AsyncIterator[Self]:
        """Connect, check the schema (a writable open creates or migrates it), pool connections.

        Refuses with one StoreError line an unreachable server, a newer schema version, a
        database whose ``events`` table is not ours, and (read-only) a database with no log.
        ``lock_timeout_s`` bounds every wait for a lock (the head row, DDL): StoreBusy after it.
        """
        label = safe_label(dsn)
        settings = [f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'"]
        if readonly:
            settings.append("SET default_transaction_read_only = on")

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            for statement in settings:
                await conn.execute(statement)

        try:
            first = await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout_s))
            )
        except psycopg.Error as exc:
            raise _error(f"cannot open event log {label}", exc, dsn) from exc
        try:
            await configure(first)
            await schema.migrate(first, label, readonly=readonly)
        except psycopg.Error as exc:
            raise _error(f"cannot open event log {label}", exc) from exc
        finally:
            await first.close()
        pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            configure=configure,
            timeout=connect_timeout_s,
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout_s)
        except psycopg_pool.PoolTimeout as exc:
            await pool.close()
            raise StoreError(f"cannot open event log {label}: no connection in time") from exc
        try:
            yield cls(label, pool, readonly)
        finally:
            await pool.close()

    # -- writing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        """BEGIN ... COMMIT on one pooled connection; rollback on any exception."""
        if self._readonly:
            raise StoreError(f"event log {self.label} was opened read-only")
        async with self._pool.connection() as conn:
            tx = PostgresTransaction(conn, self.label)
            try:
                async with conn.transaction():
                    yield tx
                    tx.finished = True
            except psycopg.Error as exc:
                tx.finished = True
                raise _error(f"commit to {self.label} failed", exc) from exc
            finally:
                tx.finished = True

    async def append(
        self, events: Sequence[NewEvent], *, bookmark: tuple[str, dict[str, Any]] | None = None
    ) -> AppendResult:
        async with self.transaction() as tx:
            result = await tx.append(events)
            if bookmark is not None:
                await tx.set_bookmark(*bookmark)
        return result

    async def ensure_schema(self, ddl: str, *, native: bool = False) -> None:
        if self._readonly:
            raise StoreError(f"event log {self.label} was opened read-only")
        translated = ddl if native else translate_ddl(ddl)
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                await conn.execute(translated)  # no parameters: a whole script [D]
        except psycopg.Error as exc:
            raise _error(f"schema change on {self.label} failed", exc) from exc

    # -- reading ---------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return [tuple(r) for r in await cur.fetchall()]
        except psycopg.Error as exc:
            raise _error(f"reading event log {self.label} failed", exc) from exc

    async def read(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[StoredEvent]:
        """Stream events after ``after`` in position order, one bounded batch at a time."""
        where = " AND stream = ANY(%s)" if streams else ""
        extra: tuple[Any, ...] = (list(streams),) if streams else ()
        sql = f"{_SELECT} WHERE position > %s{where} ORDER BY position LIMIT %s"
        cursor = after
        while True:
            rows = await self._fetch(sql, (cursor, *extra, batch_size))
            for row in rows:
                yield _row_to_event(row)
            if len(rows) < batch_size:
                return
            cursor = int(rows[-1][0])

    async def read_raw(
        self, after: int = 0, *, batch_size: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Batches of raw rows (payload still bytes) for bulk consumers such as benchmarks."""
        sql = f"{_SELECT} WHERE position > %s ORDER BY position LIMIT %s"
        cursor = after
        while True:
            rows = await self._fetch(sql, (cursor, batch_size))
            if not rows:
                return
            yield rows
            cursor = int(rows[-1][0])

    async def history(self, stream: str | None, key: str) -> list[StoredEvent]:
        if stream is None:
            rows = await self._fetch(f"{_SELECT} WHERE key = %s ORDER BY position", (key,))
        else:
            sql = f"{_SELECT} WHERE key = %s AND stream = %s ORDER BY position"
            rows = await self._fetch(sql, (key, stream))
        return [_row_to_event(r) for r in rows]

    async def latest(self, stream: str, key: str) -> StoredEvent | None:
        """The newest version of one record."""
        sql = f"{_SELECT} WHERE key = %s AND stream = %s ORDER BY position DESC LIMIT 1"
        rows = await self._fetch(sql, (key, stream))
        return _row_to_event(rows[0]) if rows else None

    async def tables(self) -> set[str]:
        rows = await self._fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {str(r[0]) for r in rows}

    async def head(self) -> int:
        # The committed counter: equal to max(position), in O(1).
        rows = await self._fetch("SELECT position FROM log_head WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    async def tracking(self, consumer: str) -> int:
        rows = await self._fetch("SELECT position FROM tracking WHERE consumer = %s", (consumer,))
        return int(rows[0][0]) if rows else 0

    async def bookmark(self, name: str) -> dict[str, Any] | None:
        rows = await self._fetch("SELECT state FROM bookmarks WHERE name = %s", (name,))
        if not rows:
            return None
        state: dict[str, Any] = orjson.loads(rows[0][0])
        return state

    async def stats(self) -> dict[str, Any]:
        rows = await self._fetch(
            "SELECT stream, type, count(*) FROM events GROUP BY stream, type ORDER BY stream, type"
        )
        streams: dict[str, dict[str, int]] = {}
        for stream, etype, n in rows:
            streams.setdefault(stream, {})[etype] = int(n)
        total = sum(int(r[2]) for r in rows)
        return {"head": await self.head(), "events": total, "streams": streams}

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._fetch(translate(sql), tuple(params))

    async def maintain(self, sql: str) -> None:  # VACUUM, CHECKPOINT: refused in a transaction
        async with self._pool.connection() as conn:  # autocommit pool: psycopg sends no BEGIN [D]
            await conn.execute(sql)
