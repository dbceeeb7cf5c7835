"""Each flow's operator state (Healthy / Late / Failing / Paused / Disabled-missing-role /
Pending), one rule shared by the status page, ``status --check`` and the metrics.

The rule follows Airbyte's per-stream vocabulary [D wave2-anchors §4.1: Late = no data within
1x the replication frequency, Error = more than 2x] applied to our pollers' cadences (``[poll]``):

- refused by Amazon for a probably missing role (flow_health "refused" + role):
  Disabled-missing-role
- refused otherwise (revoked grant, another refusal; retried at ``next_try``): Paused
- never succeeded (no ``flow_success`` row): Pending
- its last attempt failed (flow_health "failed"), or no successful poll within 2x cadence: Failing
- no successful poll within 1x cadence: Late
- else: Healthy

The inputs are the ``flow_health`` and ``flow_success`` tables (engine/ops/flow_health.py), so a
process beside the engine (``serve --db``, ``status``) sees the same states as ``run``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.config.model import PollConfig
from engine.log import EventLog
from engine.ops.flow_health import read_health, status_flow

__all__ = [
    "LABELS",
    "RULE",
    "STATES",
    "FlowStateRow",
    "cadence_for",
    "classify_flow",
    "flow_states",
    "read_successes",
]

HEALTHY, LATE, FAILING, PAUSED, DISABLED, PENDING = (
    "healthy",
    "late",
    "failing",
    "paused",
    "disabled-missing-role",
    "pending",
)
STATES = (HEALTHY, LATE, FAILING, PAUSED, DISABLED, PENDING)
LABELS = {
    HEALTHY: "Healthy",
    LATE: "Late",
    FAILING: "Failing",
    PAUSED: "Paused",
    DISABLED: "Disabled-missing-role",
    PENDING: "Pending",
}
RULE = (
    "Healthy: a successful poll within 1x the flow's cadence. Late: no successful poll within "
    "1x cadence. Failing: no successful poll within 2x cadence, or the last attempt failed. "
    "Paused: Amazon refused the flow (e.g. a revoked grant); it is tried again at the next try "
    "time. Disabled-missing-role: Amazon refused it for a missing SP-API role (add the role; "
    "it heals without a restart). Pending: never polled successfully yet."
)


def cadence_for(flow: str, poll: PollConfig) -> float:
    """Seconds between polls of a poller (the scheduler's map, engine/ops/scheduler.py);
    ``dispatch`` runs after every poll, so its cadence is the shortest one."""
    cadence = {
        "orders": poll.orders_every_s,
        "settlements": poll.settlements_every_s,
        "fba": poll.inventory_every_s,
        "mfn": poll.inventory_every_s,
        "qad.items": poll.catalog_every_s,
    }
    return cadence.get(flow.split(":")[0], min(cadence.values()))


@dataclass(frozen=True, slots=True)
class FlowStateRow:
    flow: str  # poller name: orders:NA, settlements:EU, fba:EU, mfn:NA, qad.items, dispatch
    group: str  # engine.ops.status FLOWS name (amazon.orders, ...) or "dispatch"
    region: str  # "" for flows without one (qad.items, dispatch)
    state: str  # one of STATES
    cadence_s: float
    last_success: datetime | None
    age_s: float | None  # seconds since last_success
    reason: str = ""
    role: str = ""
    fix: str = ""
    next_try: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.state]


def classify_flow(
    *,
    health_state: str,
    role: str,
    last_success: datetime | None,
    cadence_s: float,
    now: datetime,
) -> tuple[str, float | None]:
    """(state, age in seconds) by the module's rule."""
    age = None if last_success is None else max(0.0, (now - last_success).total_seconds())
    if health_state == "refused":
        return (DISABLED if role else PAUSED), age
    if age is None:
        return (FAILING if health_state == "failed" else PENDING), age
    if health_state == "failed" or age > 2 * cadence_s:
        return FAILING, age
    if age > cadence_s:
        return LATE, age
    return HEALTHY, age


async def read_successes(log: EventLog) -> dict[str, datetime]:
    """flow -> last successful poll (empty for a log no engine has run on yet)."""
    if "flow_success" not in await log.tables():
        return {}
    out = {}
    # Sorted in Python: a PostgreSQL collation may order names unlike SQLite.
    for flow, at in sorted(await log.query("SELECT flow, at FROM flow_success")):
        t = datetime.fromisoformat(at)
        out[flow] = t if t.tzinfo else t.replace(tzinfo=UTC)
    return out


async def flow_states(
    log: EventLog,
    poll: PollConfig,
    now: datetime | None = None,
    expected: Iterable[str] = (),
) -> list[FlowStateRow]:
    """Every flow with a recorded state or success (plus ``expected`` names, e.g. the running
    engine's pollers, as Pending until they first succeed), sorted by flow name."""
    t = now or datetime.now(UTC)
    health = {h["flow"]: h for h in await read_health(log)}
    success = await read_successes(log)
    rows = []
    for flow in sorted({*health, *success, *expected}):
        h = health.get(flow, {})
        cadence = cadence_for(flow, poll)
        state, age = classify_flow(
            health_state=str(h.get("state", "ok")),
            role=str(h.get("role", "")),
            last_success=success.get(flow),
            cadence_s=cadence,
            now=t,
        )
        rows.append(
            FlowStateRow(
                flow=flow,
                group=status_flow(flow),
                region=flow.partition(":")[2],
                state=state,
                cadence_s=cadence,
                last_success=success.get(flow),
                age_s=age,
                reason=str(h.get("reason", "")) if h.get("state") != "ok" else "",
                role=str(h.get("role", "")),
                fix=str(h.get("fix", "")) if h.get("state") != "ok" else "",
                next_try=str(h.get("next_try", "")),
            )
        )
    return rows
