"""The outbox's write path for attempts (group commit) and send intents.

Attempts: the rows of the posts that finished while a write was in flight go together in the
next transaction, with ``executemany`` for the rows and their ``open_commands`` changes and the
``after_attempts`` hook (freshness samples) in that same transaction, so a done state and its
sample are committed together. Each caller returns only once its own row is durable. A crash
that loses an 'ok' row loses it before anything else depends on it: the command is still open,
its intent (below) is recorded, so the next run looks it up (``exists``), never posts it again.

Intents (``sent_references``): before a page of commands is sent, one transaction records
each command's (kind, reference) as "may have reached the remote". It is written BEFORE the send
because attempt rows are written after it: a kill -9 between the send and its attempt row leaves
no attempt, so "no attempt row" alone proves nothing. Keyed by (kind, reference), not command id:
two command ids can name one QAD reference (the id hashes the body), and a look-up protects the
reference. ``Outbox.pending`` reports ``never_sent`` only when neither an intent for the pair nor
any attempt of the command exists; the dispatcher may then create without the look-up before.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from engine.commands.records import ATTEMPT_COLS, AttemptRecord, iso
from engine.commands.vocabulary import TERMINAL_OUTCOMES, Command
from engine.log.ports import EventLog, Transaction

__all__ = [
    "DONE_OUTCOMES",
    "INTENT_FILL",
    "INTENT_SCHEMA",
    "OPEN_INSERT",
    "REQUEUED",
    "VERIFYING",
    "AfterAttempts",
    "AttemptGroups",
]

# Terminal and finished: later commands of the same record may go.
DONE_OUTCOMES = ("ok", "exists", "skipped")
# Added by replay: makes a parked/finished command pending again (non-terminal).
REQUEUED = "requeued"
# A follow-up check (a listing read-back) that is due again at retry_at: pending like 'retry',
# but not a failure, and ``next_retry_at`` leaves it out so ``sync --once`` does not wait for it.
VERIFYING = "verifying"

OPEN_INSERT = (
    "INSERT OR IGNORE INTO open_commands (command_id, seq, record_key) "
    "SELECT command_id, seq, record_key FROM commands WHERE command_id = ?"
)
INTENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_references (
    kind       TEXT NOT NULL,
    reference  TEXT NOT NULL,
    at         TEXT NOT NULL,   -- first intent recorded (before the first send)
    PRIMARY KEY (kind, reference)
) WITHOUT ROWID;
"""
# An outbox written before intents existed: any stored command may have been sent (a kill
# between send and attempt row left no trace), so every pair counts as sent once.
INTENT_FILL = (
    "INSERT OR IGNORE INTO sent_references (kind, reference, at) "
    "SELECT DISTINCT kind, reference, ? FROM commands"
)
_INTENT_INSERT = "INSERT OR IGNORE INTO sent_references (kind, reference, at) VALUES (?, ?, ?)"
_ATTEMPT_INSERT = f"INSERT INTO attempts ({ATTEMPT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNK = 500  # ids per IN (...) list: far below SQLite's variable limit

# Called with the attempts of a group inside the transaction that records them.
AfterAttempts = Callable[[Transaction, Sequence[AttemptRecord]], Awaitable[None]]


class AttemptGroups:
    """Mixin of ``Outbox``: the attempt group commit and the send intents."""

    log: EventLog
    clock: Callable[[], datetime]
    after_attempts: AfterAttempts | None
    _queued: list[tuple[AttemptRecord, asyncio.Future[int]]]
    _flusher: asyncio.Task[None] | None

    async def record_intents(self, commands: Sequence[Command]) -> None:
        """Durably note, before they are sent, that these commands may reach the remote."""
        if not commands:
            return
        now = iso(self.clock())
        rows = list(dict.fromkeys((c.kind, c.reference, now) for c in commands))
        async with self.log.transaction() as tx:
            await tx.executemany(_INTENT_INSERT, rows)

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
        """One transaction: the rows (numbered per command), open_commands, the hook."""
        ids = list(dict.fromkeys(a.command_id for a in attempts))
        async with self.log.transaction() as tx:
            last: dict[str, int] = {}
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                rows = await tx.fetchall(
                    "SELECT command_id, max(attempt) FROM attempts WHERE command_id IN "
                    f"({','.join('?' * len(chunk))}) GROUP BY command_id",
                    chunk,
                )
                last.update((str(cid), int(n)) for cid, n in rows)
            numbers, params = [], []
            final: dict[str, str] = {}  # command -> outcome of its newest row in this group
            for a in attempts:
                number = last.get(a.command_id, 0) + 1
                last[a.command_id] = number
                numbers.append(number)
                final[a.command_id] = a.outcome
                params.append(
                    (
                        a.command_id,
                        number,
                        iso(a.at),
                        a.endpoint,
                        a.request,
                        a.response,
                        a.document,
                        a.outcome,
                        iso(a.retry_at) if a.retry_at else None,
                    )
                )
            await tx.executemany(_ATTEMPT_INSERT, params)
            done = [(cid,) for cid, outcome in final.items() if outcome in DONE_OUTCOMES]
            still = [(cid,) for cid, outcome in final.items() if outcome not in DONE_OUTCOMES]
            if done:
                await tx.executemany("DELETE FROM open_commands WHERE command_id = ?", done)
            if still:  # parked/retry/unknown/verifying stay open; a requeue reopens
                await tx.executemany(OPEN_INSERT, still)
            if self.after_attempts is not None:
                await self.after_attempts(tx, attempts)
        return numbers
