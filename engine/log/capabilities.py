"""What an event-log backend can do beyond the port's common semantics.

The contract tests read these flags instead of asking "is this SQLite?": a test needing a
capability skips on a backend that declares it absent, so one suite runs over every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POSTGRESQL", "SQLITE", "LogCapabilities"]


@dataclass(frozen=True, slots=True)
class LogCapabilities:
    """Declared, not probed: a backend states what it guarantees."""

    backend: str  # "sqlite" or "postgresql"
    # Several processes may append to the same log at once (SQLite: one writer, StoreBusy).
    concurrent_writer_processes: bool
    # The raw SQL of execute/executemany/fetchall/query/ensure_schema: "sqlite" (native) or
    # "sqlite-subset" (placeholders, INSERT OR IGNORE and column types translated; see
    # engine/log/postgres_sql.py for what is refused).
    sql_dialect: str
    # ``add_commit_hook`` (writes staged to commit with the next transaction: PII data keys).
    commit_hooks: bool
    # The log is one local file (backup/restore/check, file modes, the writer flock).
    single_file: bool


SQLITE = LogCapabilities(
    backend="sqlite",
    concurrent_writer_processes=False,
    sql_dialect="sqlite",
    commit_hooks=True,
    single_file=True,
)
POSTGRESQL = LogCapabilities(
    backend="postgresql",
    concurrent_writer_processes=True,
    sql_dialect="sqlite-subset",
    commit_hooks=False,
    single_file=False,
)
