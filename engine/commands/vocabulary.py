"""Commands (what projectors derive) and the outbox tables that hold them beside the log.

A command is deterministic: its ``command_id`` and ``idempotency_key`` derive from its kind, its
document reference and the canonical bytes of its body, so deriving it again from the same
events (replay, rebuild) yields the same id and it is never stored or posted twice.

Outbox tables live in the event log's SQLite file and are append-only in spirit:
``commands`` rows are inserted once and never changed; ``attempts`` rows are added, never
rewritten; ``parked_records`` holds projector-side parking (e.g. unmapped SKU) as insert-only
rows with a ``resolved_position`` added by a later row. A command's state is derived from its
newest attempt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine.log.sqlite import encode_payload

__all__ = [
    "OUTBOX_SCHEMA",
    "TERMINAL_OUTCOMES",
    "Command",
    "Park",
    "make_command",
]

# Outcomes of an attempt. "ok": posted (document known); "exists": already there with the same
# content (idempotent success); "retry": retriable failure, try again at ``retry_at``;
# "unknown": outcome unknown, look up before retrying; "parked": non-retriable, needs a human
# (replay --parked); "skipped": superseded/not applicable (e.g. nothing to adjust).
# Not terminal: "verifying" (a follow-up check due again at ``retry_at``, engine.commands.outbox).
TERMINAL_OUTCOMES = ("ok", "exists", "parked", "skipped")

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    command_id      TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE,    -- dispatch order (insertion order)
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,              -- limiter/endpoint name, e.g. qad.salesOrders
    record_key      TEXT NOT NULL,              -- order id / settlement id / sku, for audit
    reference       TEXT NOT NULL,              -- deterministic document reference in QAD
    idempotency_key TEXT NOT NULL,
    body            BLOB NOT NULL,              -- canonical JSON
    positions       TEXT NOT NULL,              -- event positions it came from, JSON list
    projector       TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_by_record ON commands (record_key);
CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY,
    command_id  TEXT NOT NULL REFERENCES commands (command_id),
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    request     TEXT NOT NULL,                  -- summary, never secrets or PII
    response    TEXT NOT NULL,                  -- summary / QAD error text
    document    TEXT,                           -- QAD document number when known
    outcome     TEXT NOT NULL,                  -- ok|exists|retry|unknown|parked|skipped|verifying
    retry_at    TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_command ON attempts (command_id, attempt);
CREATE TABLE IF NOT EXISTS parked_records (
    id          INTEGER PRIMARY KEY,
    projector   TEXT NOT NULL,
    record_key  TEXT NOT NULL,
    position    INTEGER NOT NULL,               -- the event that could not be projected
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL,
    resolved_by INTEGER                         -- NULL = still parked (a later row resolves)
);
CREATE INDEX IF NOT EXISTS parked_by_record ON parked_records (record_key);
CREATE TABLE IF NOT EXISTS projection_state (
    projector TEXT NOT NULL,
    key       TEXT NOT NULL,
    state     BLOB NOT NULL,
    PRIMARY KEY (projector, key)
);
"""


@dataclass(frozen=True, slots=True)
class Command:
    """One side effect to perform downstream (QAD post or Amazon listings patch)."""

    command_id: str
    kind: str  # e.g. "qad.sales_order.create" (see engine/dispatch/handlers.py)
    target: str  # limiter name, e.g. "qad" or "amazon.listings"
    record_key: str
    reference: str
    idempotency_key: str
    body: dict[str, Any]
    positions: tuple[int, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Park:
    """A record a projector cannot turn into commands yet, with the reason (shown in status)."""

    record_key: str
    position: int
    reason: str


def make_command(
    kind: str,
    target: str,
    record_key: str,
    reference: str,
    body: dict[str, Any],
    positions: tuple[int, ...] = (),
) -> Command:
    """Build a command with ids derived from (kind, reference, canonical body)."""
    canonical = encode_payload({"kind": kind, "reference": reference, "body": body})
    digest = hashlib.blake2b(canonical, digest_size=12).hexdigest()
    return Command(
        command_id=f"{kind}:{reference}:{digest}",
        kind=kind,
        target=target,
        record_key=record_key,
        reference=reference,
        idempotency_key=digest,
        body=body,
        positions=positions,
    )
