"""One small log with an outbox, written through the real APIs, for the operator read views on
both backends (an SQLite file, a fresh PostgreSQL database from ``pg_dsn``).

What it holds (times relative to ``NOW``, so the flow states are read at the real clock):

- events 1-3 in amazon.orders: ORD-1 (NA, Amazon LastUpdateDate NOW-10 min), ORD-2 (EU,
  NOW-20 min), ORD-1 again (NA, NOW-5 min); event 4: a settlement (NA); a poller bookmark;
- the orders projector tracked to position 2, so one orders event is not projected yet;
- commands: ORD-1 create (from event 1) and update (from 3) posted ``ok``, ORD-2 create (from
  2) parked by QAD; a parked record ORD-UNMAPPED;
- freshness samples from the real ``FreshnessRecorder`` (the outbox's after-attempts hook,
  posted at NOW): ORD-1's two versions, 600 s and 300 s old;
- flow health from the real ``FlowHealth``: orders:NA succeeded a minute ago, settlements:EU
  refused by Amazon for a missing role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord
from engine.commands.vocabulary import Command, Park, make_command
from engine.dispatch.freshness import SCHEMA as FRESHNESS_SCHEMA
from engine.dispatch.freshness import FreshnessRecorder
from engine.errors import FatalRemoteError
from engine.log import NewEvent
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.flow_health import FlowHealth

__all__ = ["NOW", "PARK_REASON", "QAD_REASON", "Seeded", "attempt", "seeded", "target"]

NOW = datetime.now(UTC).replace(microsecond=0)
QAD_REASON = "Item 10-1000 is on hold for customer AMZ-EU"
PARK_REASON = "unmapped SKU MLC-9999 (no QAD item)"
ENVELOPE = {"pii": 1, "kid": "p1.abc", "rk": "ORD-1", "nonce": "bm9uY2U=", "ct": "c2VjcmV0"}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An SQLite file or a fresh PostgreSQL database (skipped with the reason without one)."""
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return str(request.getfixturevalue("pg_dsn"))


def _z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")  # Amazon's LastUpdateDate form


def order(order_id: str, region: str, age: timedelta, status: str = "Unshipped") -> NewEvent:
    payload = {
        "order_id": order_id,
        "region": region,
        "status": status,
        "last_update": _z(NOW - age),
        "ship_to": ENVELOPE,
        "BuyerEmail": "jane@example.com",
    }
    return NewEvent("amazon.orders", "OrderFetched", order_id, payload, f"sp-api:{region}:o")


async def attempt(box: Outbox, cmd: Command, outcome: str, response: str, doc: str = "") -> None:
    await box.record_attempt(
        AttemptRecord(cmd.command_id, NOW, "qad", "req", response, outcome, document=doc or None)
    )


class Seeded:
    """The log and its outbox, with the commands the seed made."""

    def __init__(self, log: EventLog, box: Outbox, commands: dict[str, Command]) -> None:
        self.log = log
        self.box = box
        self.commands = commands


async def seed(log: EventLog) -> Seeded:
    box = Outbox(log)
    await box.ensure()
    await log.ensure_schema(FRESHNESS_SCHEMA)  # as the engine does before dispatching
    box.after_attempts = FreshnessRecorder(lambda: NOW)
    await log.append(
        [order("ORD-1", "NA", timedelta(minutes=10))],
        bookmark=("amazon.orders.NA", {"last_update": _z(NOW - timedelta(minutes=5))}),
    )
    await log.append([order("ORD-2", "EU", timedelta(minutes=20))])
    await log.append([order("ORD-1", "NA", timedelta(minutes=5), status="Shipped")])
    await log.append(
        [
            NewEvent(
                "amazon.settlements",
                "SettlementFetched",
                "S-1",
                {"settlement_id": "S-1", "currency": "USD", "total_amount": "12.50"},
                "sp-api:NA:settlements",
            )
        ]
    )
    cmds = {
        "create1": make_command("qad.sales_order.create", "qad", "ORD-1", "ORD-1", {}, (1,)),
        "update1": make_command("qad.sales_order.update", "qad", "ORD-1", "ORD-1", {"v": 2}, (3,)),
        "create2": make_command("qad.sales_order.create", "qad", "ORD-2", "ORD-2", {}, (2,)),
    }
    async with log.transaction() as tx:
        await box.add_commands(tx, list(cmds.values()), "orders")
        await box.add_park(tx, Park("ORD-UNMAPPED", 2, PARK_REASON), "orders")
        await tx.set_tracking("projector:orders", 2)
    await attempt(box, cmds["create1"], "ok", "created", "SO-1")
    await attempt(box, cmds["update1"], "ok", "updated")
    await attempt(box, cmds["create2"], "parked", QAD_REASON)
    health = FlowHealth(log, retry_s=3600.0)
    await health.ok("orders:NA", now=NOW - timedelta(minutes=1))
    refused = FatalRemoteError(
        "getSettlementReports: 403 Access to requested resource is denied",
        status=403,
        system="amazon",
    )
    await health.refused("settlements:EU", refused, now=NOW)
    return Seeded(log, box, cmds)


@asynccontextmanager
async def seeded(target: str) -> AsyncIterator[Seeded]:
    # The times are relative to the moment of seeding, not of import: a long suite runs this
    # minutes after collection, and the flow states are read at the real clock.
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)
    async with open_event_log(target) as log:
        yield await seed(log)
