"""The event logs a ``creds rotate-key`` covers: named, checked and opened, per backend.

An SQLite log is opened as its writer (the ``<db>.lock`` flock every engine takes), which keeps
engines out for the whole rotation. A PostgreSQL log takes no such lock (engines on several
machines share it): it is opened as an ordinary writer and the rotation fences engines out
instead (engine/security/pii_keys_postgres.py). Either is checked first, so a wrong ``--db`` is
refused with nothing created: an SQLite file must be an event log; a PostgreSQL database must
hold one (a read-only open says so) and its URL must not carry a password, which the rotation
journal and every "run this command again" message would repeat.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from engine.config.database import is_postgresql_url
from engine.errors import ConfigError, StoreBusy, StoreError
from engine.log.files import check_db_path
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.log.sqlite import SQLiteEventLog
from engine.ops.status import existing_db

__all__ = ["Target", "check_target", "has_pii_keys", "open_target", "targets"]

# An SQLite file, or a PostgreSQL URL (a str, never a Path: Path folds its "//").
Target = Path | str

# A URL that went through Path ("postgresql:/host/db"): the scheme, then the rest.
_FOLDED = re.compile(r"(?i)(postgres(?:ql)?):/+(.*)")


def targets(first: Sequence[str | Path], second: Sequence[str | Path]) -> list[Target]:
    """Both lists as one, in order, without repeats: URLs as text, files as absolute paths."""
    out: list[Target] = []
    for db in [*first, *second]:
        target = _target(db)
        if target not in out:
            out.append(target)
    return out


def _target(db: str | Path) -> Target:
    text = str(db)
    folded = _FOLDED.fullmatch(text)
    if folded is not None:
        return f"{folded[1]}://{folded[2]}"
    if is_postgresql_url(text):
        return text
    return Path(db).expanduser().absolute()


def check_target(db: Target) -> None:
    """Refuse what is no event log (or a URL with a password) before anything is opened."""
    if isinstance(db, str):
        _check_url(db)
    else:
        _check_file(db)


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError as exc:
        raise ConfigError(f"--db is not a usable PostgreSQL URL ({exc}); nothing changed") from None
    if parts.password or "password" in query:
        shown = f"{parts.scheme}://{parts.hostname or 'localhost'}"
        raise ConfigError(
            f"--db {shown}... must not carry a password (the rotation journal and its advice "
            "repeat the URL): use ~/.pgpass, PGPASSFILE or PGPASSWORD; nothing changed"
        )


def _check_file(db: Path) -> None:
    """Refuse a missing or foreign file before opening it as a writer (which would create it)."""
    try:
        existing_db(db)  # missing / directory: exit 2; empty: exit 1, as for every other command
    except ConfigError as exc:
        raise ConfigError(f"{exc}; nothing changed") from None
    check_db_path(db, readonly=True)  # not SQLite, truncated: one StoreError line
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{db} is not an ml-connector event log ({exc}); nothing changed"
        ) from None
    if ("events",) not in rows:  # a wrong --db (e.g. the vault or another tool's file)
        raise ConfigError(
            f"{db} is not an ml-connector event log (no events table); nothing changed"
        )


async def open_target(stack: AsyncExitStack, db: Target) -> EventLog:
    """The log at ``db``, open for writing until ``stack`` closes (see the module doc)."""
    if isinstance(db, str):
        return await _open_postgres(stack, db)
    try:
        return await stack.enter_async_context(SQLiteEventLog.open(db))
    except StoreBusy:
        raise StoreBusy(
            f"cannot rotate the master key: event log {db} is in use by another ml-connector "
            "process (stop `run`/`sync` first); nothing changed"
        ) from None


async def _open_postgres(stack: AsyncExitStack, url: str) -> EventLog:
    try:
        async with open_event_log(url, readonly=True):  # a writable open would create a log
            pass
    except StoreError as exc:
        kind = ConfigError if _no_event_log(exc) else type(exc)
        raise kind(f"{exc}; nothing changed") from None
    return await stack.enter_async_context(open_event_log(url, pool_size=2))


def _no_event_log(exc: StoreError) -> bool:
    """An empty database (a wrong --db, like a missing file): exit 2, as for SQLite."""
    try:
        from engine.log.postgres_schema import NoEventLog  # psycopg: the optional extra
    except ImportError:  # not installed: the open's own error says so
        return False
    return isinstance(exc, NoEventLog)


async def has_pii_keys(log: EventLog) -> bool:
    """Whether the rotation must cover ``log``'s PII keys.

    SQLite: only if it has the table (else it never sealed any PII). PostgreSQL: always, since
    the rotation also moves the fence, which must name the new key before any engine stores its
    first key there (an engine with the old key would otherwise claim the log for it)."""
    if log.capabilities.backend == "postgresql":
        return True
    return "pii_keys" in await log.tables()
