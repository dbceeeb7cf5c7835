"""``log backup`` of a PostgreSQL log: pg_dump on one exported snapshot, written 0600 and
atomically, restored with pg_restore into a fresh database that then passes ``log check``; a
log in its own schema is dumped alone; without pg_dump, one line naming the command to run."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

import engine.log.postgres_backup as pg_backup
from engine.cli import main
from engine.log import NewEvent
from engine.log.opening import open_event_log

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")


@pytest.fixture
def pg_tools() -> tuple[Path, Path]:
    dump, restore = pg_backup.find_pg_tool("pg_dump"), pg_backup.find_pg_tool("pg_restore")
    if dump is None or restore is None:
        pytest.skip("no pg_dump/pg_restore (Debian: apt-get install postgresql-client)")
    return dump, restore


def seed(dsn: str, n: int, namespace: str | None = None, stream: str = "amazon.orders") -> None:
    async def go() -> None:
        async with open_event_log(dsn, namespace=namespace) as log:
            for b in range(0, n, 50):
                await log.append(
                    [
                        NewEvent(stream, "OrderFetched", f"K{i}", {"i": i}, "t")
                        for i in range(b, min(n, b + 50))
                    ]
                )

    asyncio.run(go())


async def stats(dsn: str, namespace: str | None = None) -> dict[str, Any]:
    async with open_event_log(dsn, readonly=True, namespace=namespace) as log:
        return await log.stats()


def restore(pg_restore: Path, dsn: str, archive: Path) -> None:
    proc = subprocess.run(
        [str(pg_restore), "--no-owner", "--exit-on-error", f"--dbname={dsn}", str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["log", *argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out + out.err


def test_backup_restores_into_a_fresh_database_that_passes_check(
    pg_dsn: str,
    pg_cluster: Any,
    pg_tools: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(pg_dsn, 120)
    dest = tmp_path / "backups" / "log.pgdump"
    rc, out = cli(capsys, "backup", "--db", pg_dsn, "--to", str(dest))
    assert rc == 0, out
    assert "backed up 120 events (head 120)" in out
    assert f"with {pg_tools[0]} (pg_dump (PostgreSQL) " in out  # which pg_dump ran
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert [p.name for p in dest.parent.iterdir()] == ["log.pgdump"]  # no temp file left
    fresh = pg_cluster.new_database()
    restore(pg_tools[1], fresh, dest)
    rc, out = cli(capsys, "check", "--db", fresh)
    assert rc == 0 and "schema version 2, 120 events" in out, out
    assert asyncio.run(stats(fresh)) == asyncio.run(stats(pg_dsn))
    # A second backup over the first needs --force; the first stays as it was.
    before = dest.read_bytes()
    rc, out = cli(capsys, "backup", "--db", pg_dsn, "--to", str(dest))
    assert rc == 1 and "exists (pass --force" in out and dest.read_bytes() == before
    assert cli(capsys, "backup", "--db", pg_dsn, "--to", str(dest), "--force")[0] == 0


def test_a_log_in_its_own_schema_is_dumped_alone(
    pg_dsn: str,
    pg_cluster: Any,
    pg_tools: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(pg_dsn, 30, namespace="seller_a")
    seed(pg_dsn, 7, namespace="seller_b", stream="other")
    dest = tmp_path / "a.pgdump"
    rc, out = cli(capsys, "backup", "--db", pg_dsn, "--schema", "seller_a", "--to", str(dest))
    assert rc == 0 and "backed up 30 events" in out and "(schema seller_a)" in out, out
    listed = subprocess.run(
        [str(pg_tools[1]), "--list", str(dest)], capture_output=True, text=True, check=True
    ).stdout
    assert "seller_a events" in listed and "seller_b" not in listed
    fresh = pg_cluster.new_database()
    restore(pg_tools[1], fresh, dest)
    rc, out = cli(capsys, "check", "--db", fresh, "--schema", "seller_a")
    assert rc == 0 and "30 events" in out, out
    assert cli(capsys, "check", "--db", fresh, "--schema", "seller_b")[0] == 1  # not in it


def test_the_backup_holds_exactly_what_it_reports_beside_an_appender(
    pg_dsn: str, pg_cluster: Any, pg_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    seed(pg_dsn, 200)
    dest = tmp_path / "live.pgdump"

    async def go() -> Any:
        stop = asyncio.Event()

        async def appender() -> None:
            async with open_event_log(pg_dsn) as log:
                n = 0
                while not stop.is_set():
                    await log.append([NewEvent("s", "t", f"x{n}-{i}", {"n": n}) for i in range(25)])
                    n += 1

        task = asyncio.create_task(appender())
        await asyncio.sleep(0.2)
        result = await asyncio.to_thread(pg_backup.backup_postgres, pg_dsn, dest)
        await asyncio.sleep(0.2)
        stop.set()
        await task
        return result

    result = asyncio.run(go())
    fresh = pg_cluster.new_database()
    restore(pg_tools[1], fresh, dest)
    restored = asyncio.run(stats(fresh))
    assert (restored["events"], restored["head"]) == (result.events, result.head)
    assert asyncio.run(stats(pg_dsn))["head"] > result.head  # the appender went on past it


def test_the_password_goes_to_pg_dump_in_its_environment_only(
    pg_dsn: str,
    pg_tools: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(pg_dsn, 3)
    calls: list[tuple[list[str], dict[str, str] | None]] = []
    real = pg_backup._run

    def spy(argv: list[str], env: dict[str, str] | None = None) -> Any:
        calls.append((argv, env))
        return real(argv, env)

    monkeypatch.setattr(pg_backup, "_run", spy)
    with_password = pg_dsn.replace("postgresql://mlc@", "postgresql://mlc:s3cret-pw@")
    rc, out = cli(capsys, "backup", "--db", with_password, "--to", str(tmp_path / "b.pgdump"))
    assert rc == 0 and "s3cret-pw" not in out, out
    [dump] = [(argv, env) for argv, env in calls if "--format=custom" in argv]
    assert not any("s3cret-pw" in arg for arg in dump[0])
    assert dump[1] is not None and dump[1]["PGPASSWORD"] == "s3cret-pw"


def test_without_pg_dump_the_backup_is_refused_naming_the_command(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(pg_dsn, 3)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(pg_backup, "PG_BIN_GLOB", str(tmp_path / "no-postgresql" / "*" / "bin"))
    dest = tmp_path / "b.pgdump"
    rc, out = cli(capsys, "backup", "--db", pg_dsn, "--schema", "mlc", "--to", str(dest))
    assert rc == 2 and len(out.strip().splitlines()) == 1, out
    assert "pg_dump is not installed" in out and "nothing written" in out
    assert f"pg_dump --format=custom --file={dest} --schema=mlc --dbname=postgresql://" in out
    assert not dest.exists() and list(tmp_path.glob(".b.pgdump*")) == []


def test_restore_onto_a_url_points_at_pg_restore(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = cli(capsys, "restore", "--from", str(tmp_path / "x"), "--db", pg_dsn)
    assert rc == 2 and "pg_restore --dbname=" in out
