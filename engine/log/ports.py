"""The event log's interface (a Protocol), so a second backend can pass the same contract tests.

Semantics every backend keeps:
- Positions are global, gap-free and monotonic; an appended batch occupies consecutive positions
  and is one transaction (never interleaved with another batch).
- Idempotent append: an event whose (stream, key, digest) is already stored adds nothing and is
  counted in ``AppendResult.duplicates``; a changed record (same key, new payload) is a new event.
- Stored events are never updated or deleted.
- ``transaction()`` lets a consumer commit its derived output, its tracking position and any
  poller bookmark atomically with the events it appends: all or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from engine.log.capabilities import LogCapabilities
from engine.log.records import AppendResult, NewEvent, StoredEvent

__all__ = ["EventLog", "Transaction"]


class Transaction(Protocol):
    """One write transaction on the log (SQLite: BEGIN IMMEDIATE ... COMMIT)."""

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """Append events inside this transaction."""
        ...

    async def set_tracking(self, consumer: str, position: int) -> None:
        """Record that ``consumer`` has processed every event up to ``position``."""
        ...

    async def set_bookmark(self, name: str, state: dict[str, Any]) -> None:
        """Store a poller's watermark (JSON state) with the events it covers."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Write derived output (tables created with ``ensure_schema``); returns rowcount."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Write many rows of derived output."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read inside the transaction (sees its own uncommitted writes)."""
        ...


class EventLog(Protocol):
    """The append-only event log: single source of truth."""

    # What the backend offers beyond these semantics (engine.log.capabilities).
    capabilities: LogCapabilities

    @property
    def label(self) -> str:
        """Where the log is, for messages: a file path or ``postgresql://host:port/db``."""
        ...

    async def append(
        self, events: Sequence[NewEvent], *, bookmark: tuple[str, dict[str, Any]] | None = None
    ) -> AppendResult:
        """Append a batch in one transaction, optionally with a poller bookmark."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction; commits on normal exit, rolls back on exception."""
        ...

    def read(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[StoredEvent]:
        """Events with position > ``after`` in order, streamed in batches (constant memory)."""
        ...

    async def history(self, stream: str | None, key: str) -> list[StoredEvent]:
        """Every version of one record (all streams when ``stream`` is None), oldest first."""
        ...

    async def head(self) -> int:
        """The last position (0 for an empty log)."""
        ...

    async def latest(self, stream: str, key: str) -> StoredEvent | None:
        """The newest version of one record, or None."""
        ...

    async def tables(self) -> set[str]:
        """The names of the tables the log's database holds (derived rooms check for theirs)."""
        ...

    async def tracking(self, consumer: str) -> int:
        """The last position ``consumer`` committed (0 if none)."""
        ...

    async def bookmark(self, name: str) -> dict[str, Any] | None:
        """A poller's stored watermark, or None."""
        ...

    async def stats(self) -> dict[str, Any]:
        """Counts per stream and type, and the head position."""
        ...

    async def ensure_schema(self, ddl: str, *, native: bool = False) -> None:
        """Create derived tables/indexes (idempotent DDL, e.g. CREATE TABLE IF NOT EXISTS).

        ``ddl`` is SQLite's dialect (translated where the backend differs); ``native`` says it
        is already written for this backend (``capabilities.backend``), run as it is."""
        ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read derived tables on a reader connection."""
        ...
