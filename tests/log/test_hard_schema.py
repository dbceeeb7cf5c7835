"""Hardening #10 (part): schema version, migrations, refusal of future/foreign files, log check."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

import engine.log.schema as schema
from engine.cli import main
from engine.errors import StoreError
from engine.log import NewEvent, SQLiteEventLog

# The DDL the engine wrote before versioning (commit 4bad896): no user_version stamp.
UNVERSIONED = """
CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, type TEXT NOT NULL,
    key TEXT NOT NULL, digest TEXT NOT NULL, payload BLOB NOT NULL, source TEXT NOT NULL,
    recorded_at TEXT NOT NULL);
CREATE UNIQUE INDEX events_identity ON events (stream, key, digest);
CREATE INDEX events_by_key ON events (key, position);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
CREATE TABLE tracking (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE bookmarks (name TEXT PRIMARY KEY, state BLOB NOT NULL);
INSERT INTO events VALUES (1, 's', 't', 'k1', 'd1', '{"a":1}', '', '2026-01-01T00:00:00+00:00');
"""


def user_version(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("PRAGMA user_version").fetchone()[0])
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_unversioned(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(UNVERSIONED)
    con.close()


async def test_new_log_is_stamped_with_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path):
        pass
    assert user_version(path) == schema.SCHEMA_VERSION == 2


async def test_unversioned_log_is_readable_and_stamped_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    make_unversioned(path)
    async with SQLiteEventLog.open(path, readonly=True) as log:
        assert await log.head() == 1
    assert user_version(path) == 0  # a reader never writes
    async with SQLiteEventLog.open(path) as log:
        await log.append([NewEvent("s", "t", "k2", {"a": 2})])
        assert [e.key async for e in log.read()] == ["k1", "k2"]
    assert user_version(path) == schema.SCHEMA_VERSION


@pytest.mark.parametrize("readonly", [False, True])
async def test_newer_schema_is_refused_and_never_written(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        await log.append([NewEvent("s", "t", "k", {"a": 1})])
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = DELETE")  # one file, so its hash is the whole state
    con.execute("PRAGMA user_version = 7")
    con.close()
    before = digest(path)
    with pytest.raises(StoreError) as caught:
        async with SQLiteEventLog.open(path, readonly=readonly):
            pass
    message = str(caught.value)
    assert "schema version 7" in message and "newer" in message and "\n" not in message
    assert digest(path) == before
    assert not Path(f"{path}-wal").exists()


async def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "vault.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE secrets (name TEXT, value BLOB)")
    con.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not an event log"):
        async with SQLiteEventLog.open(path):
            pass
    assert digest(path) == before


async def test_migrations_run_in_order_and_stamp_each_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    make_unversioned(path)
    nxt = schema.SCHEMA_VERSION + 1
    ddl = "CREATE TABLE IF NOT EXISTS log_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL);"
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, (nxt, ddl)))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", nxt)
    async with SQLiteEventLog.open(path) as log:
        assert await log.query("SELECT count(*) FROM log_notes") == [(0,)]
        assert await log.head() == 1
    assert user_version(path) == nxt


async def test_a_failing_migration_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path):
        pass
    nxt = schema.SCHEMA_VERSION + 1
    broken = "CREATE TABLE half (x); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, (nxt, broken)))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", nxt)
    with pytest.raises(StoreError, match=f"version {nxt}"):
        async with SQLiteEventLog.open(path):
            pass
    assert user_version(path) == nxt - 1
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone() == (0,)
    con.close()


def _seed(path: Path, n: int = 3000) -> None:
    async def go() -> None:
        async with SQLiteEventLog.open(path) as log:
            await log.append([NewEvent("s", "t", f"k{i}", {"pad": "x" * 300}) for i in range(n)])

    asyncio.run(go())


def test_log_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.db"
    _seed(path)
    assert main(["log", "check", "--db", str(path)]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["log", "check", "--db", str(path), "--full"]) == 0
    assert "integrity_check" in capsys.readouterr().out


def test_log_check_corrupt_exits_1_with_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.db"
    _seed(path)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(b"\x5a" * 4096 * 2)
    for extra in ([], ["--full"]):
        assert main(["log", "check", "--db", str(path), *extra]) == 1
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0].startswith("CORRUPT:") and len(lines) >= 2
        assert all(line.startswith("  - ") for line in lines[1:]) and len(lines) <= 11


def test_log_check_reports_a_dropped_guard_and_a_writer_restores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.db"
    _seed(path, 5)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER events_no_delete")
    con.close()
    assert main(["log", "check", "--db", str(path)]) == 1
    assert "events_no_delete is missing" in capsys.readouterr().out
    _seed(path, 5)  # a writing open
    assert main(["log", "check", "--db", str(path)]) == 0


def test_log_check_on_a_non_database_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not sqlite at all" * 500)
    assert main(["log", "check", "--db", str(path)]) == 1
    out = capsys.readouterr().out
    assert "CORRUPT" in out and "not an SQLite database" in out
