"""The tables beside an SQLite log, copied into its PostgreSQL copy (``log migrate``'s second half).

Which tables: those the SQLite file holds (``sqlite_master``) besides the log's own (events,
bookmarks and the trigger-kept counts; ``tracking`` IS copied, it goes with the state). Their
PostgreSQL form is never written here: the rooms that own them (outbox, projection state, PII
keys, flow health, ...) create it by running their own ``ensure`` on the target, given by the
layer that knows them (``Rooms``, from engine.ops.log_migrate). A source table no room creates,
or a column the target lacks, is refused before anything is written.

How: every table in ONE transaction (all or nothing: a crash leaves no half outbox), parents
before children (``REFERENCES``), in primary-key order in batches; identity columns (attempt and
park ids) are then moved past the copied ids. Tables kept by triggers are not copied: the
target's own triggers count them as the rows go in, and they are compared with the source's.
Before the transaction commits, every copied table is read back: the same row count and the same
digest (an order-independent sum of row hashes, so collations cannot differ) as the source, or
everything is rolled back. A target already holding rows beside its events is refused unless
they are exactly the source's (a copy run again).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import EngineError
from engine.log.ports import EventLog

__all__ = [
    "LOG_KEPT",
    "LOG_TABLES",
    "MigrateError",
    "Rooms",
    "Table",
    "copy_tables",
    "kept_differ",
    "plan",
    "quoted",
    "source_tables",
    "state_of",
]

Progress = Callable[[str, int, int], None]
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]

# The log's own tables (engine.log.schema / postgres_schema): copied by migrate.py, counted by
# triggers, or the target's bookkeeping. ``tracking`` is not here: it is state like the rest.
LOG_TABLES = frozenset(
    {"events", "bookmarks", "stream_stats", "stream_type_stats", "log_head", "schema_version"}
)
# table -> (columns compared, rows compared): the log's trigger-kept counts.
LOG_KEPT = {"stream_stats": ("stream, region, events, last_position", "events > 0")}
_MOD = 1 << 256


class MigrateError(EngineError):
    """The copy cannot be made (exit 1): the message says why; nothing more was written."""


@dataclass(frozen=True, slots=True)
class Rooms:
    """The rooms beside the log, known to the layers above it (engine.ops.log_migrate).

    ``ensure`` creates every room's tables on a log (their own idempotent DDL); ``kept`` names
    the tables their triggers keep, as table -> (columns, WHERE of the rows that count)."""

    ensure: Callable[[EventLog], Awaitable[None]]
    kept: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Table:
    name: str
    columns: list[str]  # the source's, all present on the target
    key: list[str]  # the source's primary key: batch order and keyset
    types: dict[str, str]  # target column -> PostgreSQL data_type
    identity: list[str]  # target identity columns
    rows: int = 0  # in the source


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(value: Any, pg_type: str) -> Any:
    """A source value in the target column's type (SQLite stores what it was given)."""
    if value is None:
        return None
    if pg_type == "bytea":
        return value.encode() if isinstance(value, str) else bytes(value)
    if pg_type in ("text", "character varying"):
        return bytes(value).decode() if isinstance(value, bytes | memoryview) else str(value)
    if pg_type in ("bigint", "integer", "smallint"):
        return int(value)
    if pg_type in ("double precision", "real", "numeric"):
        return float(value)
    if pg_type == "boolean":
        return bool(value)
    if pg_type == "timestamp with time zone":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.astimezone(UTC)
    return value


class RowDigest:
    """Row count and an order-independent digest of a table's rows (a sum of row hashes)."""

    def __init__(self) -> None:
        self.rows = 0
        self.total = 0

    def feed(self, row: Sequence[Any]) -> None:
        h = hashlib.sha256(repr(tuple(row)).encode()).digest()
        self.total = (self.total + int.from_bytes(h, "big")) % _MOD
        self.rows += 1

    @property
    def value(self) -> tuple[int, int]:
        return self.rows, self.total


async def _pages(
    fetch: Fetch, table: Table, batch: int, *, key: list[str] | None = None
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The table's rows in key order, ``batch`` at a time (keyset: constant cost per page)."""
    key = key or table.key
    cols = ", ".join(quoted(c) for c in table.columns)
    order = ", ".join(quoted(k) for k in key)
    at = [table.columns.index(k) for k in key]
    last: tuple[Any, ...] | None = None
    while True:
        where = ""
        if last is not None:
            marks = ", ".join("?" for _ in key)
            where = f"WHERE ({order}) > ({marks}) " if len(key) > 1 else f"WHERE {order} > ? "
        sql = f"SELECT {cols} FROM {quoted(table.name)} {where}ORDER BY {order} LIMIT {int(batch)}"
        rows = await fetch(sql, tuple(last or ()))
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][i] for i in at)


async def _digest(fetch: Fetch, table: Table, batch: int) -> tuple[int, int]:
    """Both sides through ``_value``: PostgreSQL's values are already of the column's type."""
    digest = RowDigest()
    async for rows in _pages(fetch, table, batch):
        for row in rows:
            digest.feed(
                [_value(v, table.types[c]) for v, c in zip(row, table.columns, strict=True)]
            )
    return digest.value


async def kept_differ(
    src: EventLog, fetch: Fetch, kept: Mapping[str, tuple[str, str]]
) -> list[str]:
    """The trigger-kept tables whose counted rows differ between the source and the target."""
    present = set(await source_tables(src))
    differ = []
    for name, (columns, where) in kept.items():
        if name not in present:
            continue  # an older source without them: the target's triggers counted anyway
        sql = f"SELECT {columns} FROM {quoted(name)} WHERE {where}"
        if sorted(await src.query(sql)) != sorted(await fetch(sql, ())):
            differ.append(name)
    return differ


async def source_tables(src: EventLog) -> list[str]:
    rows = await src.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return sorted(str(r[0]) for r in rows)


async def plan(
    src: EventLog, dst: EventLog, source_label: str, kept: Mapping[str, tuple[str, str]]
) -> list[Table]:
    """The tables to copy, parents first; refuses what the target cannot hold (module doc)."""
    names = [t for t in await source_tables(src) if t not in LOG_TABLES and t not in kept]
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, data_type, identity in await dst.query(
        "SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ):
        columns.setdefault(str(table), {})[str(column)] = (str(data_type), identity == "YES")
    unknown = [t for t in names if t not in columns]
    if unknown:
        raise MigrateError(
            f"{source_label} holds table(s) {', '.join(unknown)} that no part of this "
            "ml-connector creates on PostgreSQL; nothing written (is the source from a newer "
            "version?)"
        )
    tables: dict[str, Table] = {}
    parents: dict[str, set[str]] = {}
    for name in names:
        info = await src.query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", (name,))
        cols = [str(r[0]) for r in info]
        key = [str(r[0]) for r in sorted((r for r in info if r[1]), key=lambda r: r[1])]
        missing = [c for c in cols if c not in columns[name]]
        if missing or not key:
            why = f"columns {', '.join(missing)} it lacks" if missing else "no primary key"
            raise MigrateError(
                f"table {name} of {source_label} cannot be copied ({why} on PostgreSQL); "
                "nothing written"
            )
        target = columns[name]
        [(count,)] = await src.query(f"SELECT count(*) FROM {quoted(name)}")
        tables[name] = Table(
            name, cols, key, {c: t for c, (t, _) in target.items()},
            [c for c, (_, ident) in target.items() if ident], int(count),
        )  # fmt: skip
        refs = await src.query('SELECT "table" FROM pragma_foreign_key_list(?)', (name,))
        parents[name] = {str(r[0]) for r in refs} & set(names)
    ordered: list[Table] = []
    while len(ordered) < len(tables):  # parents first; a cycle falls back to name order
        done = {t.name for t in ordered}
        ready = [n for n in names if n not in done and parents[n] <= done]
        for n in ready or [next(n for n in names if n not in done)]:
            ordered.append(tables[n])
    return ordered


async def state_of(
    src: EventLog, dst: EventLog, tables: list[Table], room_tables: set[str], batch: int
) -> tuple[bool, list[str]]:
    """(target holds nothing beside its events, tables whose rows differ from the source)."""
    counts = {}
    for name in sorted(room_tables):
        [(n,)] = await dst.query(f"SELECT count(*) FROM {quoted(name)}")
        counts[name] = int(n)
    if not any(counts.values()):
        return True, []
    planned = {t.name for t in tables}
    differ = [n for n, c in counts.items() if c and n not in planned]
    for table in tables:
        mine = await _digest(src.query, table, batch)
        theirs = await _digest(dst.query, table, batch)
        if mine != theirs:
            differ.append(f"{table.name} ({theirs[0]} rows, the source {mine[0]})")
    return False, differ


async def copy_tables(
    src: EventLog,
    dst: EventLog,
    tables: list[Table],
    kept: Mapping[str, tuple[str, str]],
    *,
    batch: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Copy ``tables`` in one transaction, verified before it commits (module doc)."""
    copied: dict[str, int] = {}
    async with dst.transaction() as tx:
        for table in tables:
            cols = ", ".join(quoted(c) for c in table.columns)
            marks = ", ".join("?" for _ in table.columns)
            insert = f"INSERT INTO {quoted(table.name)} ({cols}) VALUES ({marks})"
            done = 0
            async for rows in _pages(src.query, table, batch):
                await tx.executemany(
                    insert,
                    [
                        [_value(v, table.types[c]) for v, c in zip(r, table.columns, strict=True)]
                        for r in rows
                    ],
                )
                done += len(rows)
                if progress is not None:
                    progress(table.name, done, table.rows)
            copied[table.name] = done
            for column in table.identity:  # the next attempt / park id follows the copied ones
                await tx.fetchall(
                    f"SELECT setval(pg_get_serial_sequence(?, ?), max({quoted(column)})) "
                    f"FROM {quoted(table.name)} HAVING max({quoted(column)}) IS NOT NULL",
                    (table.name, column),
                )
        for table in tables:
            mine = await _digest(src.query, table, batch)
            theirs = await _digest(tx.fetchall, table, batch)
            if mine != theirs:
                raise MigrateError(
                    f"table {table.name} does not read back as the source's ({theirs[0]} rows, "
                    f"the source {mine[0]}); nothing of it kept"
                )
        differ = await kept_differ(src, tx.fetchall, kept)
        if differ:
            raise MigrateError(
                f"{', '.join(differ)} counted on PostgreSQL differ from the source's; nothing "
                "of the tables beside the log kept"
            )
    return copied
