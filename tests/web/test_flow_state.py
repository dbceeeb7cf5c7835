"""The shared state rule (engine/ops/flow_state.py): every state from what the engine recorded
in a real event log file, at chosen times, and on the page the same labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.config.model import PollConfig
from engine.errors import AuthError, FatalRemoteError
from engine.log import SQLiteEventLog
from engine.ops.flow_health import FlowHealth
from engine.ops.flow_state import STATES, cadence_for, classify_flow, flow_states

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
POLL = PollConfig(orders_every_s=300.0, settlements_every_s=3600.0)


@pytest.mark.parametrize(
    ("health", "role", "age_s", "want"),
    [
        ("ok", "", 0.0, "healthy"),
        ("ok", "", 300.0, "healthy"),  # exactly 1x: still on time
        ("ok", "", 301.0, "late"),
        ("ok", "", 600.0, "late"),
        ("ok", "", 601.0, "failing"),
        ("failed", "", 10.0, "failing"),  # the last attempt failed: failing at once
        ("refused", "Inventory and Order Tracking", 10.0, "disabled-missing-role"),
        ("refused", "", 10.0, "paused"),
        ("ok", "", None, "pending"),
        ("failed", "", None, "failing"),
    ],
)
def test_rule(health: str, role: str, age_s: float | None, want: str) -> None:
    last = None if age_s is None else T0 - timedelta(seconds=age_s)
    state, age = classify_flow(
        health_state=health, role=role, last_success=last, cadence_s=300.0, now=T0
    )
    assert state == want and state in STATES
    assert age == age_s


async def test_states_from_a_real_log(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        health = FlowHealth(log, retry_s=3600.0)
        await health.ok("orders:NA", now=T0 - timedelta(seconds=100))
        await health.ok("orders:NA", now=T0 - timedelta(seconds=30))  # every success counts
        await health.ok("orders:EU", now=T0 - timedelta(seconds=400))
        await health.ok("settlements:NA", now=T0 - timedelta(hours=3))
        await health.ok("fba:NA", now=T0 - timedelta(seconds=5))
        await health.failed("fba:NA", RuntimeError("disk full"), now=T0)
        refused = FatalRemoteError("getOrders: 403 Unauthorized", status=403, system="amazon")
        await health.refused("orders:FE", refused, now=T0)
        await health.refused("settlements:EU", AuthError("invalid_grant", system="lwa"), now=T0)
        rows = {r.flow: r for r in await flow_states(log, POLL, now=T0, expected=["mfn:NA"])}

    assert {f: r.state for f, r in rows.items()} == {
        "orders:NA": "healthy",
        "orders:EU": "late",
        "settlements:NA": "failing",
        "fba:NA": "failing",
        "orders:FE": "disabled-missing-role",
        "settlements:EU": "paused",
        "mfn:NA": "pending",
    }
    assert rows["orders:NA"].last_success == T0 - timedelta(seconds=30)
    assert rows["orders:NA"].age_s == 30.0 and rows["orders:NA"].region == "NA"
    assert rows["orders:NA"].group == "amazon.orders" and rows["orders:NA"].label == "Healthy"
    assert rows["orders:FE"].role and "role" in rows["orders:FE"].fix
    assert "disk full" in rows["fba:NA"].reason
    assert rows["settlements:EU"].next_try  # paused until then
    assert cadence_for("fba:EU", POLL) == POLL.inventory_every_s
    assert cadence_for("dispatch", POLL) == 300.0  # runs after every poll: the shortest
