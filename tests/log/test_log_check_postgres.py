"""``log check`` on both backends: the same invariants, the same words, the same exit codes.

Each corruption is real: made behind the guards (on PostgreSQL by disabling a trigger as the
test cluster's superuser; on SQLite by dropping it, which the next writing open restores), then
found by ``ml-connector log check`` on a real SQLite file and a throwaway PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.log import NewEvent
from engine.log.opening import open_event_log

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return str(request.getfixturevalue("pg_dsn"))


def seed(target: str, n: int = 5, namespace: str | None = None) -> None:
    async def go() -> None:
        async with open_event_log(target, namespace=namespace) as log:
            for i in range(n):
                source = "sp-api:NA:searchOrders" if i % 2 else "qad"
                await log.append(
                    [NewEvent("amazon.orders", "OrderFetched", f"K{i}", {"i": i}, source)]
                )

    asyncio.run(go())


def sql(target: str, statements: str, postgres: str | None = None) -> None:
    """Behind the engine's back: ``postgres`` on PostgreSQL (default: the same statements)."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(postgres or statements)
    else:
        con = sqlite3.connect(target)
        try:
            con.executescript(statements)
        finally:
            con.close()


def check(target: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    rc = main(["log", "check", "--db", target, *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out + out.err


def test_a_sound_log_is_ok(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(target)
    rc, out = check(target, capsys)
    assert rc == 0, out
    assert out.startswith("ok: ") and "schema version 2, 5 events" in out
    assert "postgresql://mlc" not in out  # the label: never the user (nor a password)


def test_a_dropped_guard_is_reported_and_a_writing_open_restores_it(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(target)
    sql(target, "DROP TRIGGER events_no_delete", "DROP TRIGGER events_no_delete ON events")
    rc, out = check(target, capsys)
    assert rc == 1 and out.startswith("CORRUPT: ")
    assert (
        "  - append-only guard trigger events_no_delete is missing (a writing open restores it)"
        in out
    )
    seed(target, 1)
    assert check(target, capsys)[0] == 0


def test_a_payload_changed_behind_the_guard_fails_its_digest(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(target)
    sql(
        target,
        "DROP TRIGGER events_no_update; "
        "UPDATE events SET payload = CAST('{\"i\":99}' AS BLOB) WHERE position IN (2, 4);",
        "ALTER TABLE events DISABLE TRIGGER events_no_update; "
        "UPDATE events SET payload = convert_to('{\"i\":99}', 'UTF8') WHERE position IN (2, 4); "
        "ALTER TABLE events ENABLE TRIGGER events_no_update;",
    )
    seed(target, 0)  # SQLite: a writing open puts the guard back; only the payloads stay wrong
    rc, out = check(target, capsys)
    assert rc == 1, out
    assert (
        "  - 2 event(s) do not match their digest (recomputed from the payload), "
        "first at position 2"
    ) in out
    assert "guard" not in out  # the only problem left is the data


def test_a_gap_and_drifted_counts_are_reported(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(target)
    sql(
        target,
        "DROP TRIGGER events_no_delete; DELETE FROM events WHERE position = 3; "
        "UPDATE stream_stats SET events = events + 1;",
        "ALTER TABLE events DISABLE TRIGGER events_no_delete; "
        "DELETE FROM events WHERE position = 3; "
        "ALTER TABLE events ENABLE TRIGGER events_no_delete; "
        "UPDATE stream_stats SET events = events + 1;",
    )
    seed(target, 0)
    rc, out = check(target, capsys)
    assert rc == 1
    assert "  - positions are not gap-free: 4 events span 1..5" in out
    assert "  - stream_stats (status's event counts) differ from the events table" in out


def test_postgresql_head_row_disabled_guards_and_the_count_trigger(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(pg_dsn)
    # The head row may move forward (its guard allows that), past every event.
    sql(pg_dsn, "", "UPDATE log_head SET position = position + 2")
    sql(pg_dsn, "", "ALTER TABLE events DISABLE TRIGGER events_no_truncate")
    sql(pg_dsn, "", "DROP TRIGGER events_count ON events")
    rc, out = check(pg_dsn, capsys)
    assert rc == 1
    assert "  - log_head is at 7 but the newest event is at position 5" in out
    assert (
        "  - append-only guard trigger events_no_truncate is disabled "
        "(ALTER TABLE events ENABLE TRIGGER events_no_truncate)"
    ) in out
    assert "  - stream count trigger events_count is missing" in out


def test_postgresql_log_in_its_own_schema(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(pg_dsn, 3, namespace="seller_a")
    rc, out = check(pg_dsn, capsys, "--schema", "seller_a")
    assert rc == 0 and "(schema seller_a)" in out and "3 events" in out
    rc, out = check(pg_dsn, capsys)  # the default schema holds no log
    assert rc == 1 and "is an empty database, not an event log" in out


def test_postgresql_errors_are_one_line(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = check(pg_dsn, capsys)
    assert rc == 1 and "is an empty database, not an event log" in out
    bad = "postgresql://mlc:s3cret-pw@127.0.0.1:1/nowhere"
    rc, out = check(bad, capsys)
    assert rc == 1 and "cannot open event log postgresql://127.0.0.1:1/nowhere" in out
    assert "s3cret-pw" not in out and len(out.strip().splitlines()) == 1
    rc, out = check(str(tmp_path / "missing.db"), capsys)
    assert rc == 2 and "not found" in out  # as on SQLite always
    rc, out = check(str(tmp_path / "missing.db"), capsys, "--schema", "x")
    assert rc == 2 and "--schema" in out


def test_the_check_reads_one_snapshot_beside_appenders(pg_dsn: str) -> None:
    """Appends during the check never make the count, the head row and the counts disagree."""
    from engine.log.postgres_check import check_postgres

    seed(pg_dsn, 50)

    async def go() -> list[Any]:
        stop = asyncio.Event()

        async def appender() -> None:
            async with open_event_log(pg_dsn) as log:
                n = 0
                while not stop.is_set():
                    await log.append([NewEvent("s", "t", f"x{n}-{i}", {"n": n}) for i in range(20)])
                    n += 1

        task = asyncio.create_task(appender())
        await asyncio.sleep(0.2)
        reports = [await asyncio.to_thread(check_postgres, pg_dsn) for _ in range(5)]
        stop.set()
        await task
        return reports

    reports = asyncio.run(go())
    assert all(r.ok for r in reports), [r.problems for r in reports]
    assert len({r.events for r in reports}) > 1  # the appender did run during the checks
