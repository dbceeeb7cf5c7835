"""PostgreSQL schema version 2: event counts kept by a trigger (``stream_stats`` per stream and
region, ``stream_type_stats`` per stream and type), so ``stats()`` and ``status`` never count the
whole history. Checked against count(*) after concurrent appenders, and for a version-1 log whose
history is counted once by the migration while an older engine keeps appending."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import engine.log.postgres_schema as pg_schema
from engine.log import NewEvent
from engine.log.schema import region_of_source_sql

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")
from engine.log.postgres import PostgresEventLog  # noqa: E402
from engine.log.postgres_sql import translate_ddl  # noqa: E402

STREAMS = ("amazon.orders", "amazon.settlements", "qad.items")
SOURCES = ("sp-api:NA:searchOrders", "sp-api:EU", "qad", "import:file")


def raw(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def batch(writer: int, n: int) -> list[NewEvent]:
    return [
        NewEvent(
            STREAMS[(writer + i) % 3],
            f"T{i % 2}",
            f"w{writer}-{n}-{i}",
            {"i": i},
            SOURCES[(n + i) % 4],
        )
        for i in range(1 + (n + writer) % 7)
    ]


def counted(dsn: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """What count(*) over the events table says: the stats() shape, and per stream/region."""
    by_type = raw(dsn, "SELECT stream, type, count(*) FROM events GROUP BY 1, 2")
    streams: dict[str, dict[str, int]] = {}
    for stream, etype, n in sorted(by_type):
        streams.setdefault(stream, {})[etype] = n
    [(total, head)] = raw(dsn, "SELECT count(*), coalesce(max(position), 0) FROM events")
    region = translate_ddl(region_of_source_sql("source"))
    regions = raw(
        dsn,
        f"SELECT stream, {region}, count(*), max(position), max(recorded_at) FROM events "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    )
    return {"head": head, "events": total, "streams": streams}, regions


def kept_regions(dsn: str) -> list[tuple[Any, ...]]:
    return raw(
        dsn,
        "SELECT stream, region, events, last_position, last_recorded_at FROM stream_stats "
        "ORDER BY 1, 2",
    )


async def test_stats_equal_a_full_count_after_concurrent_appenders(pg_dsn: str) -> None:
    logs = [PostgresEventLog.open(pg_dsn) for _ in range(4)]
    opened = [await cm.__aenter__() for cm in logs]
    try:

        async def writer(w: int) -> None:
            for n in range(25):
                await opened[w].append(batch(w, n))
                if n % 5 == 0:  # a repeat: duplicates are not counted
                    await opened[w].append(batch(w, n))

        await asyncio.gather(*(writer(w) for w in range(4)))
        stats = await opened[0].stats()
    finally:
        for cm in logs:
            await cm.__aexit__(None, None, None)
    expected, regions = counted(pg_dsn)
    assert stats["events"] > 300 and len(stats["streams"]) == 3
    assert stats == expected
    assert kept_regions(pg_dsn) == regions
    assert raw(pg_dsn, "SELECT max(version) FROM schema_version") == [(2,)]


async def test_a_version_1_log_is_counted_once_while_an_old_engine_appends(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:  # an ml-connector from before version 2
        m.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:1])
        m.setattr(pg_schema, "SCHEMA_VERSION", 1)
        old_cm = PostgresEventLog.open(pg_dsn)
        old = await old_cm.__aenter__()
    try:
        for n in range(40):
            await old.append(batch(0, n))
        assert raw(pg_dsn, "SELECT to_regclass('stream_stats') IS NULL") == [(True,)]
        stop = asyncio.Event()
        appended = 0

        async def keep_appending() -> None:
            nonlocal appended
            n = 40
            while not stop.is_set():
                appended += (await old.append(batch(1, n))).appended
                n += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(keep_appending())
        await asyncio.sleep(0.1)
        async with PostgresEventLog.open(pg_dsn) as new:  # migrates to 2 under its lock
            await asyncio.sleep(0.1)
            stop.set()
            await task
            stats = await new.stats()
    finally:
        await old_cm.__aexit__(None, None, None)
    assert appended > 0, "the old engine appended nothing while the migration ran"
    expected, regions = counted(pg_dsn)
    assert stats == expected
    assert kept_regions(pg_dsn) == regions
    assert raw(pg_dsn, "SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,)]


async def test_stats_of_an_empty_log(pg_dsn: str) -> None:
    async with PostgresEventLog.open(pg_dsn) as log:
        assert await log.stats() == {"head": 0, "events": 0, "streams": {}}
