"""Check, back up and restore an event log file (``ml-connector log check|backup|restore``).

The log's invariants and their wording are shared with the PostgreSQL check
(engine.log.postgres_check): gap-free positions, every digest recomputed from its payload, the
append-only guards, the trigger-kept counts. Plain ``sqlite3`` (no event loop): these run from
the CLI, beside or instead of the engine.
Backups use SQLite's online backup API in a single step, which copies every page inside one read
transaction: a consistent snapshot even while the engine appends (WAL readers never block the
writer). A copy of the files with ``cp`` is not: it can pair a db with a WAL from another moment.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import engine.log.files as files
import engine.log.schema as schema
from engine.errors import StoreError
from engine.log.sqlite import payload_digest

__all__ = [
    "STATS_DIFFER",
    "BackupResult",
    "CheckReport",
    "DigestCheck",
    "backup",
    "check",
    "count_trigger_missing",
    "gap_problem",
    "guard_missing",
    "restore",
]

STATS_DIFFER = "stream_stats (status's event counts) differ from the events table"


def gap_problem(count: int, low: int | None, high: int | None) -> str | None:
    if count and (low != 1 or high != count):
        return f"positions are not gap-free: {count} events span {low}..{high}"
    return None


def guard_missing(trigger: str) -> str:
    return f"append-only guard trigger {trigger} is missing (a writing open restores it)"


def count_trigger_missing(trigger: str) -> str:
    return f"stream count trigger {trigger} is missing"


class DigestCheck:
    """Every event's digest recomputed from its stored type and payload bytes, as an append
    computed it: a payload changed behind the guards no longer matches."""

    def __init__(self) -> None:
        self.bad = 0
        self.first: int | None = None

    def feed(self, position: int, etype: str, digest: str, payload: bytes) -> None:
        if payload_digest(etype, bytes(payload)) != digest:
            self.bad += 1
            self.first = position if self.first is None else self.first

    def problem(self) -> str | None:
        if not self.bad:
            return None
        return (
            f"{self.bad} event(s) do not match their digest (recomputed from the payload), "
            f"first at position {self.first}"
        )


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``check`` found; ``problems`` holds at most ``limit`` lines from the database and
    us. ``path``: the file, or a PostgreSQL log's label (never a password)."""

    path: Path | str
    full: bool
    problems: list[str] = field(default_factory=list)
    version: int | None = None
    events: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup or restore: the file written and what it holds."""

    source: Path | str  # a file, or a PostgreSQL log's label
    target: Path
    events: int
    head: int
    seconds: float
    tool: str = ""  # what made the copy when it is not SQLite's backup API (pg_dump's version)


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(files.sqlite_uri(path), uri=True, isolation_level=None, timeout=10)


def check(path: Path, *, full: bool = False, limit: int = 10) -> CheckReport:
    """Integrity of one log file: ``PRAGMA quick_check`` (O(n) page walk) or, with ``full``,
    ``integrity_check`` (also every index against its table), then the log's own invariants.

    Never raises for a bad file: every finding is a line in ``problems``.
    """
    started = time.perf_counter()
    problems: list[str] = []
    version: int | None = None
    events = 0
    try:
        files.check_db_path(path, readonly=True)
        with closing(_connect_ro(path)) as con:
            version = schema.inspect_sync(con, path)
            if version is None:
                problems.append(f"{path} is an empty database, not an event log")
            pragma = "integrity_check" if full else "quick_check"
            rows = con.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
            problems += [str(r[0]) for r in rows if r[0] != "ok"]
            if version is not None and not problems:
                events = _invariants(con, problems)
    except StoreError as exc:
        problems.append(str(exc))
    except sqlite3.Error as exc:
        problems.append(f"SQLite: {exc}")
    seconds = time.perf_counter() - started
    return CheckReport(path, full, problems[:limit], version, events, seconds)


def _invariants(con: sqlite3.Connection, problems: list[str]) -> int:
    """Checks SQLite cannot do for us: gap-free positions, digests and the append-only guards."""
    count, low, high = con.execute(
        "SELECT count(*), min(position), max(position) FROM events"
    ).fetchone()
    if (gap := gap_problem(int(count), low, high)) is not None:
        problems.append(gap)
    digests = DigestCheck()
    for row in con.execute("SELECT position, type, digest, payload FROM events"):
        digests.feed(*row)
    if (mismatch := digests.problem()) is not None:
        problems.append(mismatch)
    present = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    problems += [guard_missing(t) for t in schema.GUARD_TRIGGERS if t not in present]
    if "stream_stats" in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}:
        if schema.COUNT_TRIGGER not in present:
            problems.append(count_trigger_missing(schema.COUNT_TRIGGER))
        counted = con.execute(
            f"SELECT stream, {schema.region_of_source_sql('source')}, count(*), max(position) "
            "FROM events GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        kept = con.execute(
            "SELECT stream, region, events, last_position FROM stream_stats WHERE events > 0 "
            "ORDER BY 1, 2"
        ).fetchall()
        if counted != kept:
            problems.append(STATS_DIFFER)
    return int(count)


def backup(db: Path, dest: Path, *, force: bool = False) -> BackupResult:
    """Copy the live log ``db`` to ``dest`` (0600, one self-contained file, verified)."""
    started = time.perf_counter()
    files.check_db_path(db, readonly=True)
    if dest.exists() and dest.resolve() == db.resolve():
        raise StoreError(f"backup target {dest} is the event log itself")
    if dest.exists() and not force:
        raise StoreError(f"backup target {dest} exists (pass --force to replace it)")
    if dest.is_dir():
        raise StoreError(f"backup target {dest} is a directory")
    files.ensure_private_dir(dest.parent)
    tmp = _copy_to_temp(db, dest)
    events, head = _verify_copy(tmp, db)
    _install(tmp, dest, lock=dest.exists())
    return BackupResult(db, dest, events, head, time.perf_counter() - started)


def restore(source: Path, db: Path, *, force: bool = False) -> BackupResult:
    """Make ``db`` a copy of the backup ``source`` after a full integrity check of it.

    Refuses an existing ``db`` unless ``force``, and takes the writer lock so no engine can run
    on ``db`` meanwhile (StoreBusy while one does).
    """
    started = time.perf_counter()
    report = check(source, full=True)
    if not report.ok:
        raise StoreError(
            f"backup {source} failed its integrity check, nothing restored: {report.problems[0]}"
        )
    if db.exists() and db.resolve() == source.resolve():
        raise StoreError(f"cannot restore {source} onto itself")
    lock = files.take_writer_lock(db)
    try:
        if not force and (db.exists() or Path(f"{db}-wal").exists()):
            raise StoreError(f"event log {db} exists (pass --force to replace it)")
        tmp = _copy_to_temp(source, db)
        events, head = _verify_copy(tmp, source)
        _install(tmp, db, lock=False)  # already held
    finally:
        files.release_lock(lock)
    return BackupResult(source, db, events, head, time.perf_counter() - started)


def _copy_to_temp(source: Path, target: Path) -> Path:
    """An online-backup copy of ``source`` in a private temp file next to ``target``."""
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    for stale in (tmp, Path(f"{tmp}-journal")):
        with suppress(FileNotFoundError):
            stale.unlink()
    files.create_private(tmp)
    try:
        with closing(_connect_ro(source)) as src, closing(sqlite3.connect(tmp)) as dst:
            schema.inspect_sync(src, source)  # refuses a newer or foreign file
            src.backup(dst)  # pages=-1: one step, one read transaction, one snapshot
            # The copy inherits WAL mode; as a rollback-journal file it is complete on its own.
            dst.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        _discard(tmp)
        raise StoreError(f"copying {source} to {target} failed: {exc}") from exc
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _verify_copy(tmp: Path, source: Path) -> tuple[int, int]:
    """quick_check the fresh copy and count its events; the temp file is removed on failure."""
    try:
        with closing(_connect_ro(tmp)) as con:
            result = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
            if result != ["ok"]:
                raise StoreError(f"the copy of {source} failed its check: {result[0]}")
            count, head = con.execute("SELECT count(*), max(position) FROM events").fetchone()
    except sqlite3.Error as exc:
        _discard(tmp)
        raise StoreError(f"the copy of {source} cannot be read back: {exc}") from exc
    except BaseException:
        _discard(tmp)
        raise
    return int(count), int(head or 0)


def _install(tmp: Path, target: Path, *, lock: bool) -> None:
    """Durably move ``tmp`` over ``target``, dropping any ``-wal``/``-shm`` of the old file.

    A stale WAL beside the new file would be replayed into it by SQLite: corruption. With
    ``lock``, take ``target``'s writer lock first so a running engine is never cut off.
    """
    fd = files.take_writer_lock(target) if lock else None
    try:
        _fsync(tmp)
        for suffix in files.SIDE_SUFFIXES:
            with suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
        os.replace(tmp, target)
        _fsync(target.parent)
    except OSError as exc:
        _discard(tmp)
        raise StoreError(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        files.release_lock(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(tmp: Path) -> None:
    for leftover in (tmp, Path(f"{tmp}-journal")):
        with suppress(FileNotFoundError):
            leftover.unlink()
