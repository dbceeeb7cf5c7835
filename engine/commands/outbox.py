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
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from engine.commands.attempt_groups import (
    DONE_OUTCOMES,
    INTENT_FILL,
    INTENT_SCHEMA,
    OPEN_INSERT,
    REQUEUED,
    VERIFYING,
    AfterAttempts,
    AttemptGroups,
)
from engine.commands.postgres_ddl import PG_GUARDS, PG_STATE_COUNTS
from engine.commands.queries import OutboxQueries
from engine.commands.records import (
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
from engine.commands.state_counts import STATE_COUNTS_CREATE, STATE_COUNTS_TRIGGERS
from engine.commands.vocabulary import OUTBOX_SCHEMA, Command, Park
from engine.log.ports import EventLog, Transaction
from engine.log.sqlite import encode_payload

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

_COMMAND_COLUMNS = (
    "INTO commands (command_id, seq, kind, target, record_key, reference, idempotency_key, "
    "body, positions, projector, created_at) "
    "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM commands"
)
_INSERT_COMMAND = f"INSERT OR IGNORE {_COMMAND_COLUMNS}"
_INSERT_COMMAND_PG = f"INSERT {_COMMAND_COLUMNS} ON CONFLICT (command_id) DO NOTHING"
_COMMANDS_LOCK = 0x6D6C_6333  # PostgreSQL advisory lock: one command-adding transaction at once

_GUARDS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only: {op} refused'); END;"""
    for table in ("commands", "attempts", "parked_records")
    for op in ("UPDATE", "DELETE")
)


class Outbox(AttemptGroups, OutboxQueries):
    """Commands and attempts beside the log (see module doc; writes of attempts and send
    intents: engine.commands.attempt_groups)."""

    def __init__(self, log: EventLog, clock: Callable[[], datetime] = utc_now) -> None:
        self.log = log
        self.clock = clock
        # Attempts waiting for the next group commit, and the task writing them.
        self._queued: list[tuple[AttemptRecord, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Called with each group of attempts inside the transaction that records them (the
        # engine sets engine.dispatch.freshness.FreshnessRecorder: a sample exactly when the
        # done state).
        self.after_attempts: AfterAttempts | None = None

    async def ensure(self) -> None:
        """Create the outbox tables and their append-only guards (idempotent); an outbox
        written before ``open_commands`` existed gets it filled from its history once."""
        had = await self.log.tables()
        if self.log.capabilities.backend == "postgresql":
            await self.log.ensure_schema(OUTBOX_SCHEMA + _OPEN_SCHEMA + INTENT_SCHEMA)
            await self.log.ensure_schema(PG_GUARDS + PG_STATE_COUNTS, native=True)
        else:
            await self.log.ensure_schema(OUTBOX_SCHEMA + _GUARDS + _OPEN_SCHEMA + INTENT_SCHEMA)
            if "command_state_counts" in had:
                await self.log.ensure_schema(STATE_COUNTS_TRIGGERS)
            else:
                await self.log.ensure_schema(STATE_COUNTS_CREATE)
        if "sent_references" not in had:
            async with self.log.transaction() as tx:
                await tx.execute(INTENT_FILL, (iso(self.clock()),))
        if "open_commands" not in had:
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
        insert = _INSERT_COMMAND
        if commands and self.log.capabilities.backend == "postgresql":
            # Several writers: seq = max + 1 must be taken one transaction at a time (held to
            # COMMIT, so seq is also commit order), and only a repeated command_id may be
            # ignored; a clash on seq would otherwise drop a command without a word.
            # Per schema (two-key form): partitions sharing the database never wait on each
            # other's outbox.
            await tx.execute(
                "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", (_COMMANDS_LOCK,)
            )
            insert = _INSERT_COMMAND_PG
        for cmd in commands:
            new = await tx.execute(
                insert,
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
                await tx.execute(OPEN_INSERT, (cmd.command_id,))
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
        self,
        limit: int | None = None,
        *,
        now: datetime | None = None,
        after_seq: int = 0,
        among: Sequence[str] = (),
    ) -> list[PendingCommand]:
        """Due commands in seq order: the oldest unfinished command of each record, if due.

        A command is unfinished when its newest attempt is not ok/exists/skipped ('unknown',
        'retry', 'requeued' and no attempt at all are pending; 'parked' holds its record back
        but is itself not due). 'retry'/'unknown' are due once ``retry_at`` has passed.

        ``after_seq`` and ``limit`` page through them (keyset on seq) so a dispatcher never
        holds the whole backlog in memory; the ordering rule is evaluated in SQL, so a page
        starting past an unfinished older command of a record still respects it. ``among``
        (non-empty): only those of these command ids that are still due (a worker's check
        after claiming them, engine.dispatch.claims).
        """
        due_before = iso(now or self.clock())
        only = f"AND oc.command_id IN ({_q(among)}) " if among else ""
        rows = await self.log.query(
            f"SELECT {CMD_COLS}, a.outcome, a.retry_at, "
            "(SELECT count(*) FROM attempts x WHERE x.command_id = c.command_id "
            " AND x.outcome != 'requeued' AND x.id > coalesce((SELECT max(id) FROM attempts y "
            "  WHERE y.command_id = c.command_id AND y.outcome = 'requeued'), 0)), "
            "EXISTS (SELECT 1 FROM attempts u WHERE u.command_id = c.command_id "
            " AND u.outcome = 'unknown'), "
            # never sent: no attempt at all and no intent recorded for its (kind, reference)
            "a.id IS NULL AND NOT EXISTS (SELECT 1 FROM sent_references s "
            " WHERE s.kind = c.kind AND s.reference = c.reference) "
            # CROSS JOIN: SQLite keeps open_commands as the outer loop (it would otherwise scan
            # every command ever stored and probe the small table).
            "FROM open_commands oc CROSS JOIN commands c "
            f"LEFT JOIN attempts a ON {NEWEST} "
            f"WHERE c.command_id = oc.command_id AND oc.seq > ? {only}"
            "AND (a.id IS NULL OR (a.outcome != 'parked' "
            " AND (a.retry_at IS NULL OR a.retry_at <= ?))) "
            # An older unfinished command of the same record keeps this one back.
            "AND NOT EXISTS (SELECT 1 FROM open_commands o WHERE o.record_key = oc.record_key "
            " AND o.seq < oc.seq) "
            "ORDER BY oc.seq" + ("" if limit is None else " LIMIT ?"),
            (after_seq, *among, due_before) + (() if limit is None else (limit,)),
        )
        return [
            PendingCommand(
                command=command_from_row(row),
                seq=row[1],
                tries=int(row[13]),
                last_outcome=row[11],
                uncertain=bool(row[14]),
                never_sent=bool(row[15]),
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
