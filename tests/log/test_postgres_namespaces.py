"""Partitions share one PostgreSQL database, each log in its own schema: the logs are
independent (positions, tracking, derived tables, guards) and a bad schema name is refused
before anything is created (real throwaway clusters, tests/pg_fixture.py)."""

from __future__ import annotations

import pytest

from engine.errors import StoreError
from engine.log import NewEvent
from engine.log.opening import open_event_log

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")


def ev(key: str) -> NewEvent:
    return NewEvent("amazon.orders", "OrderFetched", key, {"k": key}, "t")


def schemas(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace").fetchall()
    return {str(r[0]) for r in rows}


async def test_two_namespaces_in_one_database_are_two_logs(pg_dsn: str) -> None:
    async with (
        open_event_log(pg_dsn, namespace="mlc_eu") as eu,
        open_event_log(pg_dsn, namespace="mlc_na") as na,
    ):
        await eu.append([ev("A"), ev("B")])
        await na.append([ev("A")])
        async with na.transaction() as tx:
            await tx.set_tracking("orders", 1)
        await eu.ensure_schema("CREATE TABLE IF NOT EXISTS derived (k TEXT PRIMARY KEY);")
        assert "schema mlc_eu" in eu.label
        # The same record key in each partition is each log's own first event.
        assert [e.position for e in await eu.history(None, "A")] == [1]
        assert [e.position for e in await na.history(None, "A")] == [1]
        assert (await eu.head(), await na.head()) == (2, 1)
        assert (await eu.tracking("orders"), await na.tracking("orders")) == (0, 1)
        assert "derived" in await eu.tables()
        assert "derived" not in await na.tables()
    async with open_event_log(pg_dsn) as default:
        # The role's default schema holds neither partition's events.
        assert await default.head() == 0
    assert {"mlc_eu", "mlc_na"} <= schemas(pg_dsn)


async def test_the_guards_hold_inside_a_namespace(pg_dsn: str) -> None:
    async with open_event_log(pg_dsn, namespace="mlc_guarded") as log:
        await log.append([ev("A")])
    with psycopg.connect(pg_dsn, autocommit=True) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("DELETE FROM mlc_guarded.events")
    assert "append-only" in str(err.value)


@pytest.mark.parametrize("name", ["EU", "pg_eu", "eu-west", "1eu", "a" * 64, 'x"; drop'])
async def test_an_unusable_schema_name_is_refused_before_anything_is_created(
    pg_dsn: str, name: str
) -> None:
    before = schemas(pg_dsn)
    with pytest.raises(StoreError, match="cannot name a PostgreSQL schema"):
        async with open_event_log(pg_dsn, namespace=name):
            pass
    assert schemas(pg_dsn) == before


async def test_a_read_only_open_of_a_missing_namespace_finds_no_log(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match="is an empty database, not an event log"):
        async with open_event_log(pg_dsn, namespace="mlc_never", readonly=True):
            pass
    assert "mlc_never" not in schemas(pg_dsn)


async def test_an_sqlite_log_has_no_namespaces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="SQLite file: it has no schemas"):
        async with open_event_log(tmp_path / "x.db", namespace="mlc_eu"):
            pass
    assert not (tmp_path / "x.db").exists()


async def test_a_partition_named_after_hash_is_its_schema_for_every_opener(pg_dsn: str) -> None:
    from tests.e2e.configfile import run_cli

    async with open_event_log(f"{pg_dsn}#acme_eu") as log:
        await log.append([ev("A"), ev("B")])
        assert "schema mlc_p_acme_eu" in log.label
    async with open_event_log(pg_dsn, namespace="mlc_p_acme_eu", readonly=True) as same:
        assert await same.head() == 2
    code, out, err = await run_cli("log", "check", "--db", f"{pg_dsn}#acme_eu")
    assert code == 0 and "2 events" in out, (out, err)
    code, _out, err = await run_cli(
        "log", "check", "--db", f"{pg_dsn}#acme_eu", "--schema", "mlc_p_acme_eu"
    )
    assert code == 2 and "not both" in err
    code, _out, err = await run_cli("log", "check", "--db", f"{pg_dsn}#Acme")
    assert code != 0 and "Traceback" not in err


async def test_engines_opening_one_new_partition_at_once_all_open(pg_dsn: str) -> None:
    """Found by bench_scale: workers starting together on a fresh database raced in
    CREATE SCHEMA IF NOT EXISTS (a duplicate key in pg_namespace); now under the DDL lock."""
    import asyncio

    async def one(schema: str, n: int) -> int:
        async with open_event_log(f"{pg_dsn}#{schema}") as log:
            await log.append([ev(f"k{n}")])
            return await log.head()

    for attempt in range(6):  # a new partition each round: only a new schema can race
        schema = f"fresh_{attempt}"
        heads = await asyncio.gather(*(one(schema, n) for n in range(12)))
        assert sorted(heads)[-1] == 12
        async with open_event_log(f"{pg_dsn}#{schema}", readonly=True) as log:
            assert await log.head() == 12
