"""Rows of the outbox as values: pending commands, attempts, parks, histories, counts.

Shared by the write side (``outbox``) and the read side (``queries``); no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.commands.vocabulary import Command

__all__ = [
    "ATTEMPT_COLS",
    "CMD_COLS",
    "NEWEST",
    "AttemptRecord",
    "CommandHistory",
    "OutboxCounts",
    "ParkedItem",
    "PendingCommand",
    "attempt_from_row",
    "command_from_row",
    "iso",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """One fixed text form so stored timestamps compare correctly as strings."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command that is due, with what the dispatcher needs to know about its past."""

    command: Command
    seq: int
    tries: int  # attempts since it was created or last re-queued
    last_outcome: str | None  # None = never tried
    uncertain: bool  # an earlier attempt ended 'unknown': look up before posting again
    # No attempt and no send intent for its (kind, reference): provably never reached the
    # remote, so a create may skip its look-up (engine.commands.attempt_groups).
    never_sent: bool = False


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt row (insert-only)."""

    command_id: str
    at: datetime
    endpoint: str
    request: str
    response: str
    outcome: str
    document: str | None = None
    retry_at: datetime | None = None
    attempt: int = 0  # assigned on insert (previous max + 1)


@dataclass(frozen=True, slots=True)
class ParkedItem:
    """Something that needs a human: a parked command or a parked record."""

    kind: str  # "command" | "record"
    record_key: str
    reason: str
    at: str
    command_id: str = ""
    projector: str = ""
    position: int = 0


@dataclass(frozen=True, slots=True)
class CommandHistory:
    """A command with every attempt, oldest first (for audit)."""

    command: Command
    seq: int
    projector: str
    created_at: str
    attempts: list[AttemptRecord] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.attempts[-1].outcome if self.attempts else "new"


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Command counts per target and state (state = newest outcome, "new" = never tried)."""

    by_target: dict[str, dict[str, int]]
    by_kind: dict[str, dict[str, int]]
    parked_reasons: dict[str, list[tuple[str, str]]]  # target -> [(command_id, reason)]
    parked_records: dict[str, list[tuple[str, str]]]  # projector -> [(record_key, reason)]
    # kind -> {"skipped:drift" | "skipped:not-applied": n}, part of by_kind's "skipped"
    # (engine.commands.state_counts.FLAGGED_SKIPS)
    flagged_skips: dict[str, dict[str, int]] = field(default_factory=dict)
    # (kind, region) -> {state: n}; region of the command's first event, '' if none
    by_kind_region: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


CMD_COLS = (
    "c.command_id, c.seq, c.kind, c.target, c.record_key, c.reference, c.idempotency_key, "
    "c.body, c.positions, c.projector, c.created_at"
)
# Newest attempt per command (attempt ids grow with time).
NEWEST = "a.id = (SELECT max(id) FROM attempts WHERE command_id = c.command_id)"


def command_from_row(row: Sequence[Any]) -> Command:
    return Command(
        command_id=row[0],
        kind=row[2],
        target=row[3],
        record_key=row[4],
        reference=row[5],
        idempotency_key=row[6],
        body=orjson.loads(row[7]),
        positions=tuple(orjson.loads(row[8])),
    )


def attempt_from_row(row: Sequence[Any]) -> AttemptRecord:
    # columns: command_id, attempt, at, endpoint, request, response, document, outcome, retry_at
    return AttemptRecord(
        command_id=row[0],
        attempt=row[1],
        at=datetime.fromisoformat(row[2]),
        endpoint=row[3],
        request=row[4],
        response=row[5],
        document=row[6],
        outcome=row[7],
        retry_at=datetime.fromisoformat(row[8]) if row[8] else None,
    )


ATTEMPT_COLS = "command_id, attempt, at, endpoint, request, response, document, outcome, retry_at"
