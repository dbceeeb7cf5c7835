"""The outbox: commands, their attempts and projector parks, in the event log's SQLite file.

Nothing here is updated in place. A command's state is the outcome of its newest attempt row
(no row = new); re-queueing a parked command adds a ``requeued`` row; resolving a park adds a row
pointing at it (``resolved_by``). Triggers refuse UPDATE/DELETE on the three tables, so the audit
trail cannot be rewritten by accident.

Dispatch order: ``seq`` (insertion order). Per ``record_key`` only the oldest unfinished command is
ever due, so an update never overtakes its create (a parked command holds back the later ones of
its record until it is replayed).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from engine.commands.queries import OutboxQueries
from engine.commands.records import (
    ATTEMPT_COLS,
    CMD_COLS,
    NEWEST,
    AttemptRecord,
    CommandHistory,
    OutboxCounts,
    ParkedItem,
    PendingCommand,
    command_from_row,
    iso,
    utc_now,
)
from engine.commands.vocabulary import OUTBOX_SCHEMA, TERMINAL_OUTCOMES, Command, Park
from engine.log.ports import Transaction
from engine.log.sqlite import SQLiteEventLog, encode_payload

__all__ = [
    "DONE_OUTCOMES",
    "VERIFYING",
    "AttemptRecord",
    "CommandHistory",
    "Outbox",
    "OutboxCounts",
    "ParkedItem",
    "PendingCommand",
    "iso",
    "utc_now",
]

# Terminal and finished: later commands of the same record may go.
DONE_OUTCOMES = ("ok", "exists", "skipped")
# Added by replay: makes a parked/finished command pending again (non-terminal).
REQUEUED = "requeued"
# A follow-up check (a listing read-back) that is due again at retry_at: pending like 'retry',
# but not a failure, and ``next_retry_at`` leaves it out so ``sync --once`` does not wait for it.
VERIFYING = "verifying"

# The unfinished commands (no attempt yet, or a newest attempt that is not done), kept beside the
# append-only tables so the dispatcher's idle cycle and ``pending`` cost what is open, not what
# was ever stored (issue 18: 4.7 s per cycle at 1M commands). Derived: ``ensure`` fills it from
# commands + attempts when it is new, and every write keeps it in the same transaction.
_OPEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS open_commands (
    command_id  TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    record_key  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS open_commands_by_record ON open_commands (record_key, seq);
"""
_OPEN_INSERT = (
    "INSERT OR IGNORE INTO open_commands (command_id, seq, record_key) "
    "SELECT command_id, seq, record_key FROM commands WHERE command_id = ?"
)

_GUARDS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only: {op} refused'); END;"""
    for table in ("commands", "attempts", "parked_records")
    for op in ("UPDATE", "DELETE")
)


class Outbox(OutboxQueries):
    """Commands and attempts beside the log (see module doc)."""

    def __init__(self, log: SQLiteEventLog, clock: Callable[[], datetime] = utc_now) -> None:
        self.log = log
        self.clock = clock
        # Attempts waiting for the next group commit, and the task writing them.
        self._queued: list[tuple[AttemptRecord, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Called with each attempt inside the transaction that records it (the engine sets
        # engine.dispatch.freshness.FreshnessRecorder: a sample exactly when the done state).
        self.after_attempt: Callable[[Transaction, AttemptRecord], Awaitable[None]] | None = None

    async def ensure(self) -> None:
        """Create the outbox tables and their append-only guards (idempotent); an outbox
        written before ``open_commands`` existed gets it filled from its history once."""
        had_open = await self.log.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'open_commands'"
        )
        await self.log.ensure_schema(OUTBOX_SCHEMA + _GUARDS + _OPEN_SCHEMA)
        if not had_open:
            async with self.log.transaction() as tx:
                await tx.execute(
                    "INSERT OR IGNORE INTO open_commands (command_id, seq, record_key) "
                    f"SELECT c.command_id, c.seq, c.record_key FROM commands c "
                    f"LEFT JOIN attempts a ON {NEWEST} "
                    f"WHERE a.id IS NULL OR a.outcome NOT IN ({_q(DONE_OUTCOMES)})",
                    DONE_OUTCOMES,
                )

    # -- written by projectors, inside their own transaction ------------------------------------

    async def add_commands(
        self, tx: Transaction, commands: Sequence[Command], projector: str
    ) -> int:
        """Insert commands not stored yet (by command_id); returns how many were new."""
        now = iso(self.clock())
        added = 0
        for cmd in commands:
            new = await tx.execute(
                "INSERT OR IGNORE INTO commands (command_id, seq, kind, target, record_key, "
                "reference, idempotency_key, body, positions, projector, created_at) "
                "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM commands",
                (
                    cmd.command_id,
                    cmd.kind,
                    cmd.target,
                    cmd.record_key,
                    cmd.reference,
                    cmd.idempotency_key,
                    encode_payload(cmd.body),
                    orjson.dumps(list(cmd.positions)).decode(),
                    projector,
                    now,
                ),
            )
            if new:
                await tx.execute(_OPEN_INSERT, (cmd.command_id,))
            added += new
        return added

    async def add_park(self, tx: Transaction, park: Park, projector: str) -> bool:
        """Park a record (e.g. unmapped SKU) unless the same park is already open."""
        open_rows = await tx.fetchall(
            "SELECT 1 FROM parked_records p WHERE p.projector = ? AND p.record_key = ? "
            "AND p.reason = ? AND p.resolved_by IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM parked_records r WHERE r.resolved_by = p.id)",
            (projector, park.record_key, park.reason),
        )
        if open_rows:
            return False
        await tx.execute(
            "INSERT INTO parked_records (projector, record_key, position, reason, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (projector, park.record_key, park.position, park.reason, iso(self.clock())),
        )
        return True

    async def resolve_parks(
        self,
        tx: Transaction,
        record_key: str,
        position: int,
        projector: str | None = None,
        reason: str = "resolved",
    ) -> int:
        """Close every open park of ``record_key`` by adding a row that points at it
        (``reason``: "resolved" by a projection, or an operator's dismissal note)."""
        sql = (
            "SELECT p.id, p.projector FROM parked_records p WHERE p.record_key = ? "
            "AND p.resolved_by IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM parked_records r WHERE r.resolved_by = p.id)"
        )
        params: tuple[Any, ...] = (record_key,)
        if projector is not None:
            sql += " AND p.projector = ?"
            params += (projector,)
        rows = await tx.fetchall(sql, params)
        now = iso(self.clock())
        for park_id, park_projector in rows:
            await tx.execute(
                "INSERT INTO parked_records (projector, record_key, position, reason, at, "
                "resolved_by) VALUES (?, ?, ?, ?, ?, ?)",
                (park_projector, record_key, position, reason, now, park_id),
            )
        return len(rows)

    # -- dispatcher ------------------------------------------------------------------------------

    async def pending(
        self, limit: int | None = None, *, now: datetime | None = None, after_seq: int = 0
    ) -> list[PendingCommand]:
        """Due commands in seq order: the oldest unfinished command of each record, if due.

        A command is unfinished when its newest attempt is not ok/exists/skipped ('unknown',
        'retry', 'requeued' and no attempt at all are pending; 'parked' holds its record back
        but is itself not due). 'retry'/'unknown' are due once ``retry_at`` has passed.

        ``after_seq`` and ``limit`` page through them (keyset on seq) so a dispatcher never
        holds the whole backlog in memory; the ordering rule is evaluated in SQL, so a page
        starting past an unfinished older command of a record still respects it.
        """
        due_before = iso(now or self.clock())
        rows = await self.log.query(
            f"SELECT {CMD_COLS}, a.outcome, a.retry_at, "
            "(SELECT count(*) FROM attempts x WHERE x.command_id = c.command_id "
            " AND x.outcome != 'requeued' AND x.id > coalesce((SELECT max(id) FROM attempts y "
            "  WHERE y.command_id = c.command_id AND y.outcome = 'requeued'), 0)), "
            "EXISTS (SELECT 1 FROM attempts u WHERE u.command_id = c.command_id "
            " AND u.outcome = 'unknown') "
            # CROSS JOIN: SQLite keeps open_commands as the outer loop (it would otherwise scan
            # every command ever stored and probe the small table).
            "FROM open_commands oc CROSS JOIN commands c "
            f"LEFT JOIN attempts a ON {NEWEST} "
            "WHERE c.command_id = oc.command_id AND oc.seq > ? "
            "AND (a.id IS NULL OR (a.outcome != 'parked' "
            " AND (a.retry_at IS NULL OR a.retry_at <= ?))) "
            # An older unfinished command of the same record keeps this one back.
            "AND NOT EXISTS (SELECT 1 FROM open_commands o WHERE o.record_key = oc.record_key "
            " AND o.seq < oc.seq) "
            "ORDER BY oc.seq LIMIT ?",
            (after_seq, due_before, -1 if limit is None else limit),
        )
        return [
            PendingCommand(
                command=command_from_row(row),
                seq=row[1],
                tries=int(row[13]),
                last_outcome=row[11],
                uncertain=bool(row[14]),
            )
            for row in rows
        ]

    async def next_retry_at(self) -> datetime | None:
        """The earliest ``retry_at`` of a waiting command (for sleeping until it is due)."""
        rows = await self.log.query(
            "SELECT min(a.retry_at) FROM open_commands oc CROSS JOIN commands c "
            f"JOIN attempts a ON {NEWEST} "
            "WHERE c.command_id = oc.command_id AND a.outcome IN ('retry', 'unknown')"
        )
        value = rows[0][0] if rows else None
        return datetime.fromisoformat(value) if value else None

    async def record_attempt(self, attempt: AttemptRecord) -> AttemptRecord:
        """Insert one attempt row; returns it with its number once it is committed.

        Group commit: attempts recorded while a write is in flight go together in the next
        transaction (one commit, one fsync, for all the posts that finished meanwhile). Each
        caller still returns only after its own row is durable, so "recorded after posting"
        holds exactly as with one transaction per attempt.
        """
        if attempt.outcome not in (*TERMINAL_OUTCOMES, "retry", "unknown", REQUEUED, VERIFYING):
            raise ValueError(f"unknown attempt outcome {attempt.outcome!r}")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append((attempt, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_attempts())
        number = await fut
        return dataclasses.replace(attempt, attempt=number)

    async def _flush_attempts(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                numbers = await self._write_attempts([a for a, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.cancel()
                raise
            except Exception as exc:
                if len(batch) == 1:
                    if not batch[0][1].done():
                        batch[0][1].set_exception(exc)
                    continue
                # One bad row must fail only its own caller: retry them one by one.
                self._queued = [*batch[1:], *self._queued]
                numbers_or_exc: Any
                try:
                    numbers_or_exc = (await self._write_attempts([batch[0][0]]))[0]
                except Exception as one_exc:
                    numbers_or_exc = one_exc
                fut0 = batch[0][1]
                if not fut0.done():
                    if isinstance(numbers_or_exc, Exception):
                        fut0.set_exception(numbers_or_exc)
                    else:
                        fut0.set_result(numbers_or_exc)
                continue
            for (_, fut), number in zip(batch, numbers, strict=True):
                if not fut.done():
                    fut.set_result(number)

    async def _write_attempts(self, attempts: Sequence[AttemptRecord]) -> list[int]:
        numbers = []
        async with self.log.transaction() as tx:
            for attempt in attempts:
                rows = await tx.fetchall(
                    f"INSERT INTO attempts ({ATTEMPT_COLS}) SELECT ?, "
                    "coalesce(max(attempt), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM attempts "
                    "WHERE command_id = ? RETURNING attempt",
                    (
                        attempt.command_id,
                        iso(attempt.at),
                        attempt.endpoint,
                        attempt.request,
                        attempt.response,
                        attempt.document,
                        attempt.outcome,
                        iso(attempt.retry_at) if attempt.retry_at else None,
                        attempt.command_id,
                    ),
                )
                numbers.append(int(rows[0][0]))
                if attempt.outcome in DONE_OUTCOMES:
                    await tx.execute(
                        "DELETE FROM open_commands WHERE command_id = ?", (attempt.command_id,)
                    )
                else:  # parked/retry/unknown/verifying stay open; a requeue reopens
                    await tx.execute(_OPEN_INSERT, (attempt.command_id,))
                if self.after_attempt is not None:
                    await self.after_attempt(tx, attempt)
        return numbers

    # -- replay ---------------------------------------------------------------------------------

    async def requeue(self, command_id: str, reason: str = "replay --command") -> bool:
        """Make one command pending again (adds a 'requeued' attempt); False if unknown id."""
        rows = await self.log.query(
            f"SELECT a.outcome FROM commands c LEFT JOIN attempts a ON {NEWEST} "
            "WHERE c.command_id = ?",
            (command_id,),
        )
        if not rows:
            return False
        await self._add_requeue(command_id, reason)
        return True

    async def requeue_parked(self, reason: str = "replay --parked") -> list[str]:
        """Re-queue every parked command; returns their ids in seq order."""
        ids = [row[0] for row in await self._newest_with_outcome("parked")]
        for command_id in ids:
            await self._add_requeue(command_id, reason)
        return ids

    async def _add_requeue(self, command_id: str, reason: str) -> None:
        await self.record_attempt(
            AttemptRecord(
                command_id=command_id,
                at=self.clock(),
                endpoint="-",
                request=reason,
                response="re-queued by operator",
                outcome=REQUEUED,
            )
        )


def _q(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))
