"""A private scratch database for work that must not grow with the log in memory.

``rebuild`` and ``replay --to-tenant`` re-derive every command from position 0; holding those
commands, the projectors' state and the stored ids in Python (issue 18: 237 MB at 50k orders)
made their peak RSS grow with history. They keep them here instead: an SQLite database opened
with an empty file name, which SQLite keeps in a bounded page cache and spills to a private
temporary file deleted when the connection closes [D: sqlite.org "In-Memory Databases" /
"Temporary Databases": an empty filename is a private on-disk temporary database].

Plain ``sqlite3`` on the calling thread, not aiosqlite: every statement here is local and short
(a batch insert or one page of a query), so a worker-thread hop per statement would cost more
than the statement itself [I: measured in scripts/bench_rebuild.py]. Only the process that
created it ever reads it, so the values it stores are pickled objects of that same process.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Self

__all__ = ["Scratch"]

# Page cache of the scratch database (KiB): what stays in memory before SQLite spills to its
# temporary file. 16 MB keeps the b-tree interior pages of a million rows cached.
CACHE_KIB = 16 * 1024


class Scratch:
    """One private temporary SQLite database; ``close`` (or ``with``) deletes it."""

    def __init__(self, cache_kib: int = CACHE_KIB) -> None:
        self._db = sqlite3.connect("", isolation_level=None)
        # Nothing here must survive a crash: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(f"PRAGMA cache_size = {-int(cache_kib)}")
        self._db.execute("PRAGMA temp_store = FILE")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def script(self, ddl: str) -> None:
        self._db.executescript(ddl)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement; returns the rows it changed."""
        return self._db.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None when there is none)."""
        row = self._db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def stream(
        self, sql: str, params: Sequence[Any] = (), *, size: int = 1000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``sql`` in lists of at most ``size`` (a cursor, never all at once)."""
        cur = self._db.execute(sql, params)
        try:
            while chunk := cur.fetchmany(size):
                yield chunk
        finally:
            cur.close()

    def begin(self) -> None:
        """Group many small writes (one implicit transaction each otherwise)."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN")

    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")


def pack(obj: Any) -> bytes:
    """Bytes of a value this process wrote and will read back (see the module doc)."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: bytes) -> Any:
    # Safe here: the blob was written by ``pack`` into this process's own private temporary
    # database, never read from a file anyone else can write.
    return pickle.loads(blob)  # noqa: S301
