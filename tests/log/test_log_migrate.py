"""``log migrate``: an SQLite log copied into PostgreSQL position for position, resumable,
verified, refusing a foreign target (real SQLite files and a throwaway PostgreSQL cluster,
tests/pg_fixture.py; skipped with the reason where no server can start)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from engine.log import NewEvent, SQLiteEventLog
from engine.log.migrate import MigrateError, migrate_log

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")
from engine.log.postgres import PostgresEventLog

STREAMS = ("amazon.orders", "amazon.settlements", "amazon.inventory")


async def _source(path: Path, n: int, start: int = 0) -> None:
    async with SQLiteEventLog.open(path) as log:
        for b in range(start, start + n, 500):
            events = [
                NewEvent(STREAMS[i % 3], "Fetched", f"K{i}", {"i": i, "amount": f"{i}.25"}, "t")
                for i in range(b, min(b + 500, start + n))
            ]
            await log.append(events, bookmark=("poll.orders.NA", {"watermark": b}))


async def _rows(log: object) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    async for rows in log.read_raw():  # type: ignore[attr-defined]
        out += [(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6]) for r in rows]
    return out


async def test_copy_is_exact_resumable_and_appendable(tmp_path: Path, pg_dsn: str) -> None:
    src = tmp_path / "log.db"
    await _source(src, 3000)
    report = await migrate_log(src, pg_dsn, batch_size=700)
    assert (report.status, report.copied, report.bookmarks) == ("migrated", 3000, 1)
    async with SQLiteEventLog.open(src, readonly=True) as s, PostgresEventLog.open(pg_dsn) as d:
        assert await _rows(s) == await _rows(d)  # positions, digests, payload bytes
        assert await d.bookmark("poll.orders.NA") == {"watermark": 2500}
        old = (await anext(s.read(after=2999))).recorded_at
        assert (await anext(d.read(after=2999))).recorded_at == old
    again = await migrate_log(src, pg_dsn)
    assert (again.status, again.copied) == ("already migrated", 0)
    # The source grew (an interrupted copy looks the same): the rest is copied after the head.
    await _source(src, 800, start=3000)
    more = await migrate_log(src, pg_dsn)
    assert (more.status, more.resumed_from, more.copied) == ("migrated", 3000, 800)
    async with PostgresEventLog.open(pg_dsn) as d:
        r = await d.append([NewEvent("amazon.orders", "Fetched", "NEW", {"x": 1}, "t")])
        assert r.head == 3801  # a normal append continues gap-free after the copy


async def test_foreign_target_is_refused_and_dry_run_writes_nothing(
    tmp_path: Path, pg_dsn: str
) -> None:
    src = tmp_path / "log.db"
    await _source(src, 1200)
    dry = await migrate_log(src, pg_dsn, dry_run=True)
    assert (dry.status, dry.copied) == ("would copy", 1200)
    async with PostgresEventLog.open(pg_dsn) as d:
        assert await d.head() == 0  # the dry run wrote no event
    async with PostgresEventLog.open(pg_dsn) as d:
        await d.append([NewEvent("other", "Fetched", "X", {"not": "ours"}, "t")])
    with pytest.raises(MigrateError, match="differ"):
        await migrate_log(src, pg_dsn)
    async with PostgresEventLog.open(pg_dsn) as d:
        assert await d.head() == 1  # nothing written


async def _cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "log", "migrate", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_dry_run_copy_and_errors(tmp_path: Path, pg_dsn: str) -> None:
    src = tmp_path / "log.db"
    await _source(src, 1500)
    rc, out, err = await _cli("--db", str(src), "--to", pg_dsn, "--dry-run")
    assert rc == 0 and "would copy 1500 events" in out, (rc, out, err)
    async with PostgresEventLog.open(pg_dsn) as d:
        assert await d.head() == 0
    rc, out, err = await _cli("--db", str(src), "--to", pg_dsn, "--batch", "400")
    assert rc == 0 and "migrated: 1500 events copied" in out, (rc, out, err)
    assert "1500/1500 events" in err
    rc, out, err = await _cli("--db", str(tmp_path / "missing.db"), "--to", pg_dsn)
    assert rc == 2 and "Traceback" not in err, err
    rc, out, err = await _cli("--db", str(src), "--to", "mysql://x/y")
    assert rc == 2 and "postgresql://" in err
    bad = "postgresql://mlc:s3cret-pw@127.0.0.1:1/nowhere"
    rc, out, err = await _cli("--db", str(src), "--to", bad)
    assert rc == 1 and "Traceback" not in err and "s3cret-pw" not in out + err, err


async def test_an_unparsable_url_never_echoes_its_password(tmp_path: Path) -> None:
    """libpq quotes a URI it cannot parse whole: the error must not carry the password."""
    src = tmp_path / "log.db"
    await _source(src, 10)
    rc, out, err = await _cli("--db", str(src), "--to", "postgresql://u:s3cret-pw@[bad/x")
    assert rc in (1, 2) and "Traceback" not in err, (rc, err)
    assert "s3cret-pw" not in out + err and "cannot open event log" in err, err
