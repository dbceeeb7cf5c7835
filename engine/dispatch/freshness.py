"""Freshness samples: how old Amazon's order version was when QAD got it.

One row per order *version* posted to QAD (a sales order create or update that reached ``ok``
or ``exists``): the order's Amazon ``LastUpdateDate`` (from the event the command was derived
from) and the moment of the post on the engine's Amazon clock (the simulator's clock when
``[amazon] clock = "simulator"``, so time-scaled runs measure in simulated time). The row is
written by ``Outbox``'s ``after_attempts`` hook, inside the transaction that records the attempt,
so a sample exists exactly when the done state does. Keyed by (order, last_update): a re-post,
a replay or an ``exists`` after an unknown outcome never counts twice. Rows older than
``RETENTION`` are pruned on write (the table stays small: about one row per order change).
``engine.ops.freshness`` reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from engine.commands.records import AttemptRecord, iso
from engine.log.ports import Transaction

__all__ = ["KINDS", "RETENTION", "SCHEMA", "FreshnessRecorder"]

log = logging.getLogger(__name__)

# ``sample_id`` numbers the samples for the metrics scrape (engine/ops/metrics.py reads the new
# ones each time). On SQLite ``INTEGER PRIMARY KEY`` is the rowid itself, so a table created
# before the column existed (keyed by order and version alone) reads the same by its rowid; on
# PostgreSQL the translated DDL makes it an identity column. The (order, version) key that makes
# a re-post count once is the UNIQUE constraint, which INSERT OR IGNORE honours on both.
SCHEMA = """
CREATE TABLE IF NOT EXISTS order_freshness (
    sample_id   INTEGER PRIMARY KEY,
    order_id    TEXT NOT NULL,
    last_update TEXT NOT NULL,   -- Amazon LastUpdateDate of the posted version (ISO Z)
    flow        TEXT NOT NULL,   -- status flow name, e.g. amazon.orders
    region      TEXT NOT NULL,   -- NA / EU / FE
    kind        TEXT NOT NULL,   -- create | update
    posted_at   TEXT NOT NULL,   -- on the engine's Amazon clock (ISO Z)
    seconds     REAL NOT NULL,   -- posted_at - last_update
    command_id  TEXT NOT NULL,
    UNIQUE (order_id, last_update)
);
CREATE INDEX IF NOT EXISTS order_freshness_by_posted ON order_freshness (posted_at);
"""

# command kind -> sample kind; only sales orders carry an Amazon order version.
KINDS = {"qad.sales_order.create": "create", "qad.sales_order.update": "update"}
RETENTION = timedelta(days=8)  # "last day" windows need one; a week of margin for audits
_DONE = ("ok", "exists")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FreshnessRecorder:
    """``Outbox.after_attempts`` hook; ``clock`` is the engine's Amazon clock.

    Called with a whole group of attempts (the outbox's group commit): one read of their
    commands, one of their events and one ``executemany``, whatever the group's size."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock
        self._pruned_at: datetime | None = None

    async def __call__(self, tx: Transaction, attempts: Sequence[AttemptRecord]) -> None:
        done = [
            a for a in attempts if a.outcome in _DONE and a.command_id.split(":", 1)[0] in KINDS
        ]
        if not done:
            return
        # A savepoint: on PostgreSQL a failed statement aborts the whole transaction (the
        # attempt rows with it), and on both backends half a sample is never kept.
        await tx.execute("SAVEPOINT freshness")
        try:
            await self._record(tx, done)
        except Exception as exc:  # advisory: a sample must never cost the attempt rows
            await tx.execute("ROLLBACK TO SAVEPOINT freshness")
            log.warning("freshness of %d attempt(s) not recorded: %s", len(done), exc)
        await tx.execute("RELEASE SAVEPOINT freshness")

    async def _record(self, tx: Transaction, attempts: Sequence[AttemptRecord]) -> None:
        ids = list(dict.fromkeys(a.command_id for a in attempts))
        rows = await tx.fetchall(
            "SELECT command_id, record_key, positions FROM commands WHERE command_id IN "
            f"({_marks(ids)})",
            ids,
        )
        source: dict[str, tuple[str, int]] = {}  # command -> (order id, newest position)
        for command_id, order_id, raw in rows:
            positions = _positions(raw)
            if positions:
                source[str(command_id)] = (str(order_id), max(positions))
        if not source:
            return
        wanted = sorted({pos for _order, pos in source.values()})
        payloads = await _payloads(tx, wanted)
        posted = self.clock()
        samples = []
        for a in attempts:
            if a.command_id not in source:
                continue
            order_id, position = source[a.command_id]
            payload = payloads.get(position, {})
            last_update = _aware(payload.get("last_update"))
            if last_update is None:
                continue  # an event without Amazon's LastUpdateDate: nothing to measure from
            samples.append(
                (
                    order_id,
                    iso(last_update),
                    "amazon.orders",
                    str(payload.get("region") or ""),
                    KINDS[a.command_id.split(":", 1)[0]],
                    iso(posted),
                    max(0.0, (posted - last_update).total_seconds()),
                    a.command_id,
                )
            )
        if samples:
            await tx.executemany(
                "INSERT OR IGNORE INTO order_freshness (order_id, last_update, flow, region, "
                "kind, posted_at, seconds, command_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                samples,
            )
        if self._pruned_at is None or posted - self._pruned_at > timedelta(hours=1):
            self._pruned_at = posted
            await tx.execute(
                "DELETE FROM order_freshness WHERE posted_at < ?", (iso(posted - RETENTION),)
            )


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _positions(raw: Any) -> list[int]:
    try:
        values = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return []
    return [int(v) for v in values if isinstance(v, int)] if isinstance(values, list) else []


async def _payloads(tx: Transaction, positions: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Decoded payloads of the events at ``positions`` (unreadable ones left out)."""
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(positions), 500):  # far below SQLite's variable limit
        chunk = positions[i : i + 500]
        rows = await tx.fetchall(
            f"SELECT position, payload FROM events WHERE position IN ({_marks(chunk)})", chunk
        )
        for position, raw in rows:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                out[int(position)] = data
    return out


def _aware(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts.astimezone(UTC) if ts.tzinfo is not None else None
