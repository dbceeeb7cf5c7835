"""``log backup`` of a PostgreSQL log: PostgreSQL's own ``pg_dump``, never a dumper of ours.

``pg_dump --format=custom`` (restored with ``pg_restore``) runs on the snapshot this module
exports from a REPEATABLE READ transaction (``--snapshot``), so the event count and head we
report are exactly what the file holds, even while engines append [D: pg_dump --snapshot,
pg_export_snapshot]. A log in its own schema (a partition, a replay outbox) is dumped alone
(``--schema``); a log in the role's default schema is dumped with its whole database.

The file is written as SQLite backups are: a private (0600) temp file beside ``--to``, listed back
by ``pg_restore --list`` (it must hold the events table's data), then renamed over the target.
The password (if the DSN carries one) goes to pg_dump in ``PGPASSWORD``, never on its command
line (``ps`` shows that) or in a message. Without pg_dump the backup is refused in one line that
names the command to run where it is installed.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import psycopg.conninfo

import engine.log.files as files
from engine.errors import ConfigError, StoreError
from engine.log.backup import BackupResult, _discard, _install
from engine.log.postgres_check import log_label, open_snapshot, schema_version

__all__ = ["backup_postgres", "find_pg_tool"]

# Debian's postgresql packages install their binaries here, not always on PATH (one directory
# per major version); tests/pg_fixture.py finds the server binaries the same way.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_EVENTS_DATA = re.compile(r"\bTABLE DATA \S+ events\b")


def _major(directory: str) -> int:
    name = Path(directory).parent.name
    return int(name) if name.isdigit() else 0


def find_pg_tool(name: str) -> Path | None:
    """``name`` (pg_dump, pg_restore) on PATH, else the newest Debian install of it."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in sorted(glob.glob(PG_BIN_GLOB), key=_major, reverse=True):
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _command_line(dsn: str, dest: Path, namespace: str | None) -> str:
    """The pg_dump to run by hand, for the refusal (the label: no user, no password)."""
    schema = f" --schema={namespace}" if namespace is not None else ""
    return (
        f"pg_dump --format=custom --file={dest}{schema} "
        f"--dbname={log_label(dsn, None)} (add your user, e.g. postgresql://user@host/db)"
    )


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Our own argument list (no shell): the tool's resolved path and options we built.
    return subprocess.run(  # noqa: S603
        argv, capture_output=True, text=True, check=False, env=env, stdin=subprocess.DEVNULL
    )


def _first_line(text: str, password: str | None) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "no message")
    return line.replace(password, "***") if password else line


def backup_postgres(
    dsn: str, dest: Path, *, namespace: str | None = None, force: bool = False
) -> BackupResult:
    """``pg_dump`` the log at ``dsn`` (in schema ``namespace``) into ``dest`` (module doc)."""
    started = time.perf_counter()
    label = log_label(dsn, namespace)
    pg_dump = find_pg_tool("pg_dump")
    if pg_dump is None:
        raise ConfigError(
            f"pg_dump is not installed (Debian: apt-get install postgresql-client), nothing "
            f"written; back {label} up with: {_command_line(dsn, dest, namespace)}"
        )
    if dest.exists() and not force:
        raise StoreError(f"backup target {dest} exists (pass --force to replace it)")
    if dest.is_dir():
        raise StoreError(f"backup target {dest} is a directory")
    version = _first_line(_run([str(pg_dump), "--version"]).stdout, None)
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    password = str(params.pop("password", "") or "") or None
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    conninfo = psycopg.conninfo.make_conninfo("", **params)
    files.ensure_private_dir(dest.parent)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    _discard(tmp)
    with open_snapshot(dsn, namespace) as conn:
        if schema_version(conn, label) is None:
            raise StoreError(f"{label} is an empty database, not an event log: nothing to back up")
        [(snapshot, events, head)] = conn.execute(
            "SELECT pg_export_snapshot(), (SELECT count(*) FROM events), "
            "(SELECT position FROM log_head WHERE id = 1)"
        ).fetchall()
        files.create_private(tmp)  # pg_dump truncates it, keeping the mode
        argv = [
            str(pg_dump),
            "--format=custom",
            f"--file={tmp}",
            f"--snapshot={snapshot}",
            "--no-password",
            f"--dbname={conninfo}",
        ]
        if namespace is not None:
            argv.append(f"--schema={namespace}")
        dumped = _run(argv, env)
    if dumped.returncode != 0:
        _discard(tmp)
        raise StoreError(
            f"{pg_dump} failed ({dumped.returncode}) on {label}, nothing written: "
            f"{_first_line(dumped.stderr, password)}"
        )
    _verify(tmp, pg_dump, label)
    _install(tmp, dest, lock=False)
    return BackupResult(
        label, dest, int(events), int(head or 0), time.perf_counter() - started,
        tool=f"{pg_dump} ({version})",
    )  # fmt: skip


def _verify(tmp: Path, pg_dump: Path, label: str) -> None:
    """``pg_restore --list`` reads the archive back; it must carry the events' data."""
    beside = pg_dump.with_name("pg_restore")
    pg_restore = beside if os.access(beside, os.X_OK) else find_pg_tool("pg_restore")
    if pg_restore is None:  # shipped with pg_dump; without it the file stays unchecked
        return
    listed = _run([str(pg_restore), "--list", str(tmp)])
    if listed.returncode != 0 or not _EVENTS_DATA.search(listed.stdout):
        _discard(tmp)
        reason = _first_line(listed.stderr, None) if listed.returncode else "no events data"
        raise StoreError(f"the pg_dump archive of {label} does not read back: {reason}")
