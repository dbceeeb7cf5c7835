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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self

import orjson
import psycopg
import psycopg_pool

import engine.log.postgres_schema as schema
from engine.errors import StoreError
from engine.log.capabilities import POSTGRESQL, LogCapabilities
from engine.log.postgres_sql import translate, translate_ddl
from engine.log.postgres_tx import (
    SELECT_EVENTS,
    PostgresTransaction,
    error,
    row_to_event,
    safe_label,
)
from engine.log.records import AppendResult, NewEvent, StoredEvent

__all__ = ["PostgresEventLog", "PostgresTransaction", "check_namespace", "safe_label"]

_DDL_LOCK = 0x6D6C_6332  # advisory lock serialising ensure_schema (CREATE IF NOT EXISTS races)
# A schema name we quote ourselves: lower-case, so it needs no case folding rules, and short
# enough for PostgreSQL's 63-byte identifiers; "pg_" names are reserved by the server [D].
_NAMESPACE = re.compile(r"(?!pg_)[a-z_][a-z0-9_]{0,62}")


def check_namespace(name: str) -> str:
    """``name`` if it can be a log's PostgreSQL schema, else one StoreError line."""
    if not _NAMESPACE.fullmatch(name):
        raise StoreError(
            f"{name!r} cannot name a PostgreSQL schema for an event log: use 1-63 lower-case "
            "letters, digits and _, starting with a letter or _ and not with pg_"
        )
    return name


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
        namespace: str | None = None,
    ) -> AsyncIterator[Self]:
        """Connect, check the schema (a writable open creates or migrates it), pool connections.

        Refuses with one StoreError line an unreachable server, a newer schema version, a
        database whose ``events`` table is not ours, and (read-only) a database with no log.
        ``lock_timeout_s`` bounds every wait for a lock (the head row, DDL): StoreBusy after it.
        ``namespace``: the PostgreSQL schema holding this log (one per partition, so partitions
        share a database but never a table); None keeps the role's default ``search_path``.
        """
        label = safe_label(dsn)
        settings = [f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'"]
        if namespace is not None:
            label = f"{label} (schema {check_namespace(namespace)})"
            # Only the log's own schema: an unqualified name can never reach another partition.
            settings.append(f'SET search_path TO "{namespace}"')
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
            raise error(f"cannot open event log {label}", exc, dsn) from exc
        try:
            if namespace is not None and not readonly:
                # Under the DDL lock: two engines opening one new partition at once would
                # otherwise race in the catalog ("duplicate key ... pg_namespace_nspname_index";
                # IF NOT EXISTS does not make CREATE SCHEMA atomic [D]).
                async with first.transaction():
                    await first.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                    await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
            await configure(first)
            await schema.migrate(first, label, readonly=readonly)
        except psycopg.Error as exc:
            raise error(f"cannot open event log {label}", exc) from exc
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
                raise error(f"commit to {self.label} failed", exc) from exc
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
            raise error(f"schema change on {self.label} failed", exc) from exc

    # -- reading ---------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return [tuple(r) for r in await cur.fetchall()]
        except psycopg.Error as exc:
            raise error(f"reading event log {self.label} failed", exc) from exc

    async def read(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[StoredEvent]:
        """Stream events after ``after`` in position order, one bounded batch at a time."""
        where = " AND stream = ANY(%s)" if streams else ""
        extra: tuple[Any, ...] = (list(streams),) if streams else ()
        sql = f"{SELECT_EVENTS} WHERE position > %s{where} ORDER BY position LIMIT %s"
        cursor = after
        while True:
            rows = await self._fetch(sql, (cursor, *extra, batch_size))
            for row in rows:
                yield row_to_event(row)
            if len(rows) < batch_size:
                return
            cursor = int(rows[-1][0])

    async def read_raw(
        self, after: int = 0, *, batch_size: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Batches of raw rows (payload still bytes) for bulk consumers such as benchmarks."""
        sql = f"{SELECT_EVENTS} WHERE position > %s ORDER BY position LIMIT %s"
        cursor = after
        while True:
            rows = await self._fetch(sql, (cursor, batch_size))
            if not rows:
                return
            yield rows
            cursor = int(rows[-1][0])

    async def history(self, stream: str | None, key: str) -> list[StoredEvent]:
        if stream is None:
            rows = await self._fetch(f"{SELECT_EVENTS} WHERE key = %s ORDER BY position", (key,))
        else:
            sql = f"{SELECT_EVENTS} WHERE key = %s AND stream = %s ORDER BY position"
            rows = await self._fetch(sql, (key, stream))
        return [row_to_event(r) for r in rows]

    async def latest(self, stream: str, key: str) -> StoredEvent | None:
        """The newest version of one record."""
        sql = f"{SELECT_EVENTS} WHERE key = %s AND stream = %s ORDER BY position DESC LIMIT 1"
        rows = await self._fetch(sql, (key, stream))
        return row_to_event(rows[0]) if rows else None

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
        # The trigger-kept counts (schema version 2), read with the head in one snapshot: as
        # cheap at 10M events as at 10; ``log check`` compares them with the table.
        rows = await self._fetch(
            "SELECT s.stream, s.type, s.events, h.position FROM log_head h "
            "LEFT JOIN stream_type_stats s ON s.events > 0 WHERE h.id = 1"
        )
        streams: dict[str, dict[str, int]] = {}
        for stream, etype, n, _head in sorted(r for r in rows if r[0] is not None):
            streams.setdefault(stream, {})[etype] = int(n)
        total = sum(sum(types.values()) for types in streams.values())
        return {"head": int(rows[0][3]) if rows else 0, "events": total, "streams": streams}

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._fetch(translate(sql), tuple(params))

    async def maintain(self, sql: str) -> None:  # VACUUM, CHECKPOINT: refused in a transaction
        async with self._pool.connection() as conn:  # autocommit pool: psycopg sends no BEGIN [D]
            await conn.execute(sql)
