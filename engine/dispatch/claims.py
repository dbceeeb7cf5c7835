"""Which due commands this process may post: all of them (one process), or those it claimed.

Several ``run --worker`` processes dispatch one PostgreSQL outbox. Each page of due commands is
claimed with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` on the commands' rows (the job-queue
pattern of procrastinate and graphile-worker, issue 20's reference §3.4 [C]) in a transaction
held until the page's attempts are recorded; a row another worker holds is skipped, never
waited for. Why this shape [I]:

- per-record order across workers: only the oldest unfinished command of a record is ever due
  (Outbox.pending), and its row is held by at most one worker, so a record's commands go one
  after another whichever workers post them;
- after the rows are locked the page is read again (``pending(among=...)``): a command another
  worker finished between our read and our lock is dropped, so a finished command is never
  posted twice;
- a crashed worker's claims end with its connection (PostgreSQL releases a dead backend's row
  locks); its commands' send intents are already durable, so the next worker looks each one up
  in QAD before creating it (the existing unknown-outcome path), no lease timeout to wait for;
- ``NO KEY UPDATE``, not ``UPDATE``: recording an attempt inserts a row referencing the command
  (a foreign key, which takes ``KEY SHARE`` on it); ``FOR UPDATE`` would block our own attempt
  rows behind our own claim. The claims still exclude each other (NO KEY UPDATE conflicts with
  itself) [D: PostgreSQL "Row-Level Locks"].

The commands table is append-only (triggers refuse UPDATE); a row lock writes nothing, so the
guards do not fire and the audit trail is untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from engine.commands.outbox import Outbox, PendingCommand
from engine.log.ports import EventLog

__all__ = ["CommandClaims", "RowLockClaims", "SingleProcess", "claims_for"]

_CLAIM = (
    "SELECT command_id FROM commands WHERE command_id = ANY(?) "
    "ORDER BY seq FOR NO KEY UPDATE SKIP LOCKED"
)


class CommandClaims(Protocol):
    """Holds the commands of one page for this process while it posts them."""

    def hold(
        self, due: Sequence[PendingCommand]
    ) -> AbstractAsyncContextManager[list[PendingCommand]]:
        """The part of ``due`` this process may post now, held until the block exits."""
        ...


class SingleProcess:
    """One dispatching process (SQLite's single writer, ``sync``): every due command is ours."""

    @asynccontextmanager
    async def hold(self, due: Sequence[PendingCommand]) -> AsyncIterator[list[PendingCommand]]:
        yield list(due)


class RowLockClaims:
    """Commands claimed by row locks on a PostgreSQL outbox (see the module doc)."""

    def __init__(self, log: EventLog, outbox: Outbox) -> None:
        self.log = log
        self.outbox = outbox
        self.skipped = 0  # commands another worker held when we came to them (for tests, bench)

    @asynccontextmanager
    async def hold(self, due: Sequence[PendingCommand]) -> AsyncIterator[list[PendingCommand]]:
        if not due:
            yield []
            return
        ids = [item.command.command_id for item in due]
        async with self.log.transaction() as tx:
            locked = [str(row[0]) for row in await tx.fetchall(_CLAIM, (ids,))]
            self.skipped += len(ids) - len(locked)
            # Read again now that nobody else can post them: some may have finished meanwhile.
            still = await self.outbox.pending(among=locked) if locked else []
            fresh = {item.command.command_id: item for item in still}
            # In the page's order (seq); tries and outcomes as they are now.
            yield [fresh[i] for i in ids if i in fresh]


def claims_for(log: EventLog, outbox: Outbox) -> CommandClaims:
    """Row-lock claims on PostgreSQL (several workers may share it), else one process's."""
    if log.capabilities.backend == "postgresql":
        return RowLockClaims(log, outbox)
    return SingleProcess()
