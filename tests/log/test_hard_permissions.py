"""Hardening #6: every file of the event log is owner-only; looser existing modes are reported."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.log import NewEvent, SQLiteEventLog


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual login umask (022), under which SQLite alone would create 0644 files."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["events.db", "events.db.replay-0123abcd.sqlite"])
async def test_new_log_wal_and_shm_are_0600(tmp_path: Path, lax_umask: None, name: str) -> None:
    path = tmp_path / name  # the outbox of replay-to-tenant is opened the same way
    async with SQLiteEventLog.open(path) as log:
        await log.append([NewEvent("s", "t", "k", {"a": 1})])
        sides = [Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")]
        assert all(p.exists() for p in sides)
        assert {p.name: oct(mode(p)) for p in (path, *sides)} == {
            p.name: "0o600" for p in (path, *sides)
        }


async def test_new_log_directory_is_0700(tmp_path: Path, lax_umask: None) -> None:
    path = tmp_path / "state" / "events.db"
    async with SQLiteEventLog.open(path):
        pass
    assert mode(path.parent) == 0o700


async def test_existing_loose_modes_are_warned_one_line_each(
    tmp_path: Path, lax_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        await log.append([NewEvent("s", "t", "k", {"a": 1})])
    path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="engine.log")
    async with SQLiteEventLog.open(path, readonly=True) as log:
        assert await log.head() == 1
    warned = [r.getMessage() for r in caplog.records if r.name == "engine.log"]
    assert len(warned) == 1, warned
    assert str(path) in warned[0] and "0644" in warned[0] and "\n" not in warned[0]
    # The warning leaves the file alone (an operator may have shared it on purpose).
    assert mode(path) == 0o644


async def test_private_files_open_without_warnings(
    tmp_path: Path, lax_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.db"
    caplog.set_level(logging.WARNING, logger="engine.log")
    for _ in range(2):
        async with SQLiteEventLog.open(path) as log:
            await log.append([NewEvent("s", "t", "k", {"a": 1})])
    assert [r for r in caplog.records if r.name == "engine.log"] == []


def test_secure_umask_makes_later_files_private(tmp_path: Path, lax_umask: None) -> None:
    from engine.log import secure_umask

    previous = secure_umask()
    try:
        assert previous == 0o022
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw" / "doc.json").write_text("{}")
        assert mode(tmp_path / "raw") == 0o700
        assert mode(tmp_path / "raw" / "doc.json") == 0o600
    finally:
        os.umask(previous)
