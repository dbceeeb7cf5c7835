"""The event log's files on disk: private modes, path sanity, the writer lock, SQLite URIs.

The log holds buyer PII (sealed, but with its wrapped keys beside it), tokens in outbox bodies and
the whole order history, so every file it creates is owner-only (0600, directories 0700). SQLite
creates ``-wal``/``-shm`` with the mode of the database file, so creating that file 0600 before
the first connection covers them too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from pathlib import Path

from engine.errors import StoreBusy, StoreError

__all__ = [
    "SIDE_SUFFIXES",
    "check_db_path",
    "create_private",
    "ensure_private_dir",
    "release_lock",
    "secure_umask",
    "sqlite_uri",
    "take_writer_lock",
    "warn_loose_modes",
]

log = logging.getLogger("engine.log")

SIDE_SUFFIXES = ("-wal", "-shm")
_MAGIC = b"SQLite format 3\x00"


def secure_umask() -> int:
    """Make every file this process creates owner-only (umask 0o077); returns the old umask.

    Called once by the CLI at start-up so files made outside the log (raw/ documents, exports,
    sqlite's own side files) are private too. Process-wide, so never called from library code.
    """
    return os.umask(0o077)


def sqlite_uri(path: Path, mode: str = "ro") -> str:
    """A ``file:`` URI for ``path``, percent-encoded.

    ``f"file:{path}?mode=ro"`` breaks on names containing ``?``, ``#`` or ``%``: SQLite then
    opens (and in default rwc mode creates) a different, truncated file name.
    """
    return f"{path.absolute().as_uri()}?mode={mode}"


def check_db_path(path: Path, *, readonly: bool) -> None:
    """Refuse, with one line, a path that cannot be an event log, before SQLite touches it.

    Cheap (a stat and a 100-byte read): it catches a directory, a missing file for a read,
    an empty or truncated file, and a file that is not SQLite at all.
    """
    if path.is_dir():
        raise StoreError(f"event log {path} is a directory, not an SQLite file")
    if not path.exists():
        if readonly:
            raise StoreError(f"event log {path} does not exist")
        return
    if not readonly and not os.access(path, os.R_OK | os.W_OK, effective_ids=True):
        # SQLite would quietly open it read-only and fail at the first write, long after the
        # command started talking to Amazon and QAD.
        raise _refused(path, "the file is read-only for this user (a writing command needs it)")
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise _refused(path, str(exc.strerror)) from exc
    if size == 0:
        # SQLite writes page 1 to the main file before any WAL exists, so an empty file with a
        # non-empty WAL is a truncated log, not a new one.
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise _refused(path, f"it is empty but its {wal.name} is not: damaged file")
        if readonly:
            raise _refused(path, "the file is empty (0 bytes), not an event log")
        return
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise _refused(path, "not an SQLite database (bad header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise _refused(path, f"corrupt header (page size {page_size})")
    # A running checkpoint may extend the file one OS page (4 KiB) at a time, so larger
    # database pages are only checked at that grain.
    if size % min(page_size, 4096):
        raise _refused(path, f"truncated or corrupt ({size} bytes is not whole pages)")


def _refused(path: Path, reason: str) -> StoreError:
    return StoreError(f"cannot open event log {path}: {reason}")


def ensure_private_dir(directory: Path) -> None:
    """Create the log's directory owner-only if missing (an existing one is left alone)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, so SQLite never creates it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create event log {path}: {exc.strerror}") from exc
    os.close(fd)


def warn_loose_modes(path: Path) -> None:
    """One warning line per log file (db, -wal, -shm) that group or others may access."""
    for candidate in (path, *(Path(f"{path}{s}") for s in SIDE_SUFFIXES)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            log.warning(
                "event log file %s has mode %04o (readable by other users); chmod 600 it",
                candidate,
                mode,
            )


def take_writer_lock(path: Path) -> int:
    """An exclusive ``flock`` on ``<db>.lock``; a second writer gets StoreBusy at once."""
    ensure_private_dir(path.parent)
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create lock file {path}.lock: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusy(
            f"event log {path} is in use by another ml-connector process "
            "(stop it first, or open read-only)"
        ) from None
    return fd


def release_lock(fd: int | None) -> None:
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def reader_mode(path: Path, *, readonly: bool) -> str:
    """URI mode of the reader connection: ``ro``, or ``ro&immutable=1`` where SQLite could not
    create its ``-shm`` beside the file (a read-only folder, e.g. a mounted backup).

    Immutable is only safe when no writer can exist: a writer would need to create ``-wal`` in
    that same folder, so a read-only folder without a ``-wal`` holds a quiescent log.
    """
    if (
        readonly
        and not os.access(path.parent, os.W_OK, effective_ids=True)
        and not Path(f"{path}-wal").exists()
    ):
        return "ro&immutable=1"
    return "ro"
