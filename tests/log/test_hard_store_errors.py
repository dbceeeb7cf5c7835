"""Hardening #11 and #14: a full disk and unusable db paths are one StoreError line.

The full disk is real SQLITE_FULL from ``PRAGMA max_page_count``; read-only opens never create a
file, whatever characters the path holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import StoreError
from engine.log import NewEvent, SQLiteEventLog


def ev(key: str, size: int = 10) -> NewEvent:
    return NewEvent("amazon.orders", "OrderFetched", key, {"k": key, "pad": "x" * size})


async def _writer_pragma(log: SQLiteEventLog, sql: str) -> int:
    assert log._writer is not None
    async with log._writer.execute(sql) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_disk_full_is_one_store_error_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        await log.append([ev(f"A{i}") for i in range(20)], bookmark=("orders", {"w": 1}))
        pages = await _writer_pragma(log, "PRAGMA page_count")
        await _writer_pragma(log, f"PRAGMA max_page_count = {pages}")

        with pytest.raises(StoreError) as caught:
            await log.append([ev(f"B{i}", 2000) for i in range(200)], bookmark=("orders", {"w": 2}))
        message = str(caught.value)
        assert "full" in message and "\n" not in message
        assert "cannot rollback" not in message
        assert log._writer is not None and not log._writer.in_transaction

        # Everything committed before is intact; the failed batch left no trace.
        assert await log.head() == 20
        assert await log.bookmark("orders") == {"w": 1}
        # Once space is back the same open log keeps working.
        await _writer_pragma(log, "PRAGMA max_page_count = 1073741823")
        result = await log.append([ev(f"B{i}", 2000) for i in range(200)])
        assert (result.appended, result.head) == (200, 220)
    async with SQLiteEventLog.open(path, readonly=True) as log:
        assert [e.key for e in await _all(log)][:20] == [f"A{i}" for i in range(20)]
        assert await log.head() == 220


async def test_disk_full_inside_a_transaction_body_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        await log.ensure_schema("CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, b TEXT)")
        await log.append([ev("A")])
        pages = await _writer_pragma(log, "PRAGMA page_count")
        await _writer_pragma(log, f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="full"):
            async with log.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO outbox VALUES (?, ?)", [(str(i), "y" * 3000) for i in range(100)]
                )
                await tx.set_tracking("projector", 1)
        assert await log.tracking("projector") == 0
        assert await log.query("SELECT count(*) FROM outbox") == [(0,)]


async def _all(log: SQLiteEventLog) -> list[object]:
    return [e async for e in log.read()]


@pytest.mark.parametrize("name", ["we?ird.db", "hash#tag.db", "per%41cent.db"])
async def test_readonly_open_of_odd_names_reads_that_file_and_creates_none(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    async with SQLiteEventLog.open(path) as log:
        await log.append([ev("A")])
    before = sorted(p.name for p in tmp_path.iterdir())
    async with SQLiteEventLog.open(path, readonly=True) as log:
        assert await log.head() == 1
    after = sorted(p.name for p in tmp_path.iterdir())
    # SQLite's own WAL side files for the same db are allowed; a file of another name is not.
    assert [n for n in after if n not in before and not n.startswith(name)] == []


async def test_readonly_open_of_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        async with SQLiteEventLog.open(tmp_path / "nope?x.db", readonly=True):
            pass
    assert list(tmp_path.iterdir()) == []


async def test_zero_length_file_readonly_is_one_line_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="empty") as caught:
        async with SQLiteEventLog.open(path, readonly=True) as log:
            await log.stats()
    assert "\n" not in str(caught.value)
    assert path.stat().st_size == 0


def test_cli_on_zero_length_file_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    assert main(["log", "stats", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "empty" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("readonly", [True, False])
async def test_directory_as_db_is_one_line_and_creates_nothing(
    tmp_path: Path, readonly: bool
) -> None:
    path = tmp_path / "adir"
    path.mkdir()
    with pytest.raises(StoreError, match="directory"):
        async with SQLiteEventLog.open(path, readonly=readonly):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["adir"]


async def _big_log(path: Path, n: int = 2000) -> None:
    async with SQLiteEventLog.open(path) as log:
        await log.append([ev(f"K{i}", 300) for i in range(n)])


async def test_truncated_file_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await _big_log(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2 + 100)  # a partial copy, torn mid-page
    for readonly in (True, False):
        with pytest.raises(StoreError, match="truncated"):
            async with SQLiteEventLog.open(path, readonly=readonly):
                pass


def _smash_middle_pages(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(b"\xa5" * 4096 * 3)


def test_corrupt_pages_read_as_one_store_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.db"
    asyncio.run(_big_log(path))
    _smash_middle_pages(path)

    async def read_all() -> None:
        async with SQLiteEventLog.open(path, readonly=True) as log:
            _ = [e async for e in log.read()]

    with pytest.raises(StoreError, match=r"malformed|corrupt"):
        asyncio.run(read_all())
    assert main(["log", "stats", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
