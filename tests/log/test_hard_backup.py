"""Hardening #10 (part): online backup while the engine appends, and restore of it."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import StoreBusy, StoreError
from engine.log import NewEvent, SQLiteEventLog
from engine.log.backup import backup, restore

BATCH = 50


def batch(n: int) -> list[NewEvent]:
    return [
        NewEvent("amazon.orders", "OrderFetched", f"b{n}-{i}", {"pad": "x" * 200})
        for i in range(BATCH)
    ]


def rows(path: Path) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT position, key, digest, payload FROM events ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_backup_while_a_writer_appends_then_restore(tmp_path: Path) -> None:
    db, bak, restored = tmp_path / "events.db", tmp_path / "b" / "events.bak", tmp_path / "r.db"
    async with SQLiteEventLog.open(db) as log:
        for n in range(200):
            await log.append(batch(n))
        stop = asyncio.Event()
        during = 0
        backing_up = False

        async def appender() -> None:
            nonlocal during
            n = 200
            while not stop.is_set():
                await log.append(batch(n))
                n += 1
                during += backing_up
                await asyncio.sleep(0)

        task = asyncio.create_task(appender())
        await asyncio.sleep(0.05)
        backing_up = True
        result = await asyncio.to_thread(backup, db, bak)
        backing_up = False
        await asyncio.sleep(0.02)
        stop.set()
        await task
        source_head = await log.head()

    assert during > 0, "the writer must have appended while the backup ran"
    copied = rows(bak)
    # A consistent snapshot: a gap-free prefix made of whole batches, byte for byte the source's.
    assert [r[0] for r in copied] == list(range(1, len(copied) + 1))
    assert len(copied) % BATCH == 0 and len(copied) >= 200 * BATCH
    assert result.events == result.head == len(copied) < source_head
    assert copied == rows(db)[: len(copied)]
    assert mode(bak) == 0o600 and not Path(f"{bak}-wal").exists()

    assert main(["log", "restore", "--from", str(bak), "--db", str(restored)]) == 0
    assert rows(restored) == copied and mode(restored) == 0o600
    async with SQLiteEventLog.open(restored) as log:  # the engine can carry on from it
        assert (await log.append(batch(10_000))).head == len(copied) + BATCH


def _seed(path: Path, batches: int = 3) -> None:
    async def go() -> None:
        async with SQLiteEventLog.open(path) as log:
            for n in range(batches):
                await log.append(batch(n))

    asyncio.run(go())


def test_backup_cli_is_0600_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, bak = tmp_path / "events.db", tmp_path / "events.bak"
    _seed(db)
    assert main(["log", "backup", "--db", str(db), "--to", str(bak)]) == 0
    assert f"backed up {3 * BATCH} events" in capsys.readouterr().out
    assert mode(bak) == 0o600
    bak.chmod(0o644)
    assert main(["log", "backup", "--db", str(db), "--to", str(bak)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["log", "backup", "--db", str(db), "--to", str(bak), "--force"]) == 0
    assert mode(bak) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_restore_refuses_existing_db_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, bak, other = tmp_path / "events.db", tmp_path / "events.bak", tmp_path / "other.db"
    _seed(db, 2)
    backup(db, bak)
    _seed(other, 5)
    before = rows(other)
    assert main(["log", "restore", "--from", str(bak), "--db", str(other)]) == 1
    assert "--force" in capsys.readouterr().err
    assert rows(other) == before
    assert main(["log", "restore", "--from", str(bak), "--db", str(other), "--force"]) == 0
    assert rows(other) == rows(db)


async def test_restore_refuses_while_an_engine_holds_the_log(tmp_path: Path) -> None:
    db, bak = tmp_path / "events.db", tmp_path / "events.bak"
    async with SQLiteEventLog.open(db) as log:
        await log.append(batch(0))
        await asyncio.to_thread(backup, db, bak)
        with pytest.raises(StoreBusy):
            await asyncio.to_thread(restore, bak, db, force=True)
        assert await log.head() == BATCH


def test_restore_verifies_the_backup_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, bak, target = tmp_path / "events.db", tmp_path / "events.bak", tmp_path / "new.db"
    _seed(db, 40)
    backup(db, bak)
    size = bak.stat().st_size
    with bak.open("r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(b"\x00\xff" * 4096)
    assert main(["log", "restore", "--from", str(bak), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert "integrity check" in err and "nothing restored" in err
    assert not target.exists()


def test_backup_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db, bak = tmp_path / "events.db", tmp_path / "events.bak"
    _seed(db, 1)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 9")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        backup(db, bak)
    assert (
        list(p.name for p in tmp_path.iterdir() if p.name.startswith((".events.bak", "events.bak")))
        == []
    )
