"""The health of each flow (poller, per region) and the dispatcher, persisted in the event log.

``Engine.poll`` and the ``run`` scheduler record here whether a flow last succeeded, was refused
(an SP-API 403 for a missing role, a revoked grant, another fatal answer: the flow is disabled
for that region and tried again every ``[poll] refused_retry_s``) or failed (anything else: a
bug, a store error). The row lives in the event log's database (table ``flow_health``, on
either backend: plain upserts valid in SQLite and PostgreSQL alike), so
``status --db`` from another process, or after a restart, shows the same. A state change is
logged once, at ERROR for a refusal or failure and at WARNING when a flow recovers; repeating the
same refusal is logged at INFO only (never every cycle at ERROR).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.adapters.amazon.roles import is_role_refusal, role_fix, role_hint
from engine.errors import StoreError
from engine.log import EventLog
from engine.security.redact import redact

__all__ = ["SCHEMA", "FlowHealth", "FlowState", "read_health", "status_flow"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS flow_health (
    flow TEXT PRIMARY KEY,        -- poller name (orders:NA, settlements:EU, qad.items) or dispatch
    state TEXT NOT NULL,          -- ok | refused | failed
    reason TEXT NOT NULL,         -- Amazon's message / the error, one line, redacted
    role TEXT NOT NULL,           -- refused by a 403: the role that is probably missing
    fix TEXT NOT NULL,
    since TEXT NOT NULL,          -- when this state began (UTC ISO)
    last_try TEXT NOT NULL,
    next_try TEXT NOT NULL        -- refused: when run tries again ("" = next cycle)
);
-- The last successful poll of each flow, written on every success (flow_health only changes
-- with the state): the status page's Late/Failing rule (engine/ops/flow_state.py) reads it.
CREATE TABLE IF NOT EXISTS flow_success (
    flow TEXT PRIMARY KEY,
    at TEXT NOT NULL              -- UTC ISO
);
"""

# status groups: poller prefix -> engine.ops.status FLOWS name
_STATUS_FLOW = {
    "orders": "amazon.orders",
    "settlements": "amazon.settlements",
    "fba": "amazon.inventory",
    "mfn": "amazon.inventory",
    "qad.items": "amazon.listings",
    "dispatch": "dispatch",
}


@dataclass(frozen=True, slots=True)
class FlowState:
    state: str
    reason: str = ""
    role: str = ""
    fix: str = ""


def status_flow(flow: str) -> str:
    return _STATUS_FLOW.get(flow.split(":")[0], flow)


def classify(flow: str, exc: BaseException, fatal: bool) -> FlowState:
    """``fatal``: a FatalRemoteError (refused) rather than an unexpected error (failed)."""
    reason = redact(" ".join(str(exc).split()) or type(exc).__name__)[:500]
    if not fatal:
        return FlowState("failed", f"{type(exc).__name__}: {reason}", "", "see the log")
    if is_role_refusal(exc) and (hint := role_hint(flow, exc)) is not None:
        return FlowState("refused", reason, hint.role, role_fix(hint))
    return FlowState(
        "refused", reason, "", "the remote refused the flow: see the reason (re-authorise?)"
    )


class FlowHealth:
    """Remembers each flow's state in memory (log once per change) and in the event log."""

    def __init__(self, log_: EventLog, retry_s: float) -> None:
        self._log = log_
        self.retry_s = retry_s
        self.states: dict[str, FlowState] = {}
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            await self._log.ensure_schema(SCHEMA)
            self._ready = True

    async def ok(self, flow: str, now: datetime | None = None) -> None:
        before = self.states.get(flow)
        await self._succeeded(flow, now)
        if before is not None and before.state == "ok":
            return
        if before is not None:
            log.warning("%s works again (was %s: %s)", flow, before.state, before.reason)
        await self._set(flow, FlowState("ok"), now, next_try="")

    async def refused(self, flow: str, exc: BaseException, now: datetime | None = None) -> None:
        await self._problem(flow, classify(flow, exc, fatal=True), now, exc)

    async def failed(self, flow: str, exc: BaseException, now: datetime | None = None) -> None:
        await self._problem(flow, classify(flow, exc, fatal=False), now, exc)

    async def _problem(
        self, flow: str, st: FlowState, now: datetime | None, exc: BaseException
    ) -> None:
        t = now or datetime.now(UTC)
        before = self.states.get(flow)
        again = before is not None and (before.state, before.reason) == (st.state, st.reason)
        role = f"; probably missing role '{st.role}'" if st.role else ""
        if again:
            log.info("%s still %s: %s", flow, st.state, st.reason)
        elif st.state == "refused":
            log.error(
                "%s refused, disabled for this region (other flows continue; tried again every "
                "%gs): %s%s",
                flow,
                self.retry_s,
                st.reason,
                role,
            )
        else:
            log.error("%s failed (other flows continue): %s", flow, st.reason, exc_info=exc)
        next_try = (
            (t + timedelta(seconds=self.retry_s)).isoformat() if st.state == "refused" else ""
        )
        await self._set(flow, st, t, next_try=next_try, keep_since=again)

    async def _succeeded(self, flow: str, now: datetime | None) -> None:
        t = (now or datetime.now(UTC)).isoformat()
        try:
            await self._ensure()
            async with self._log.transaction() as tx:
                await tx.execute(
                    "INSERT INTO flow_success (flow, at) VALUES (?, ?) "
                    "ON CONFLICT (flow) DO UPDATE SET at = excluded.at",
                    (flow, t),
                )
        except StoreError as exc:  # advisory, as _set
            log.warning("cannot record the last success of %s: %s", flow, exc)

    async def _set(
        self,
        flow: str,
        st: FlowState,
        now: datetime | None,
        *,
        next_try: str,
        keep_since: bool = False,
    ) -> None:
        self.states[flow] = st
        t = (now or datetime.now(UTC)).isoformat()
        try:
            await self._ensure()
            async with self._log.transaction() as tx:
                await tx.execute(
                    "INSERT INTO flow_health (flow, state, reason, role, fix, since, last_try, "
                    "next_try) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow) DO UPDATE SET "
                    "state = excluded.state, reason = excluded.reason, role = excluded.role, "
                    "fix = excluded.fix, last_try = excluded.last_try, "
                    "next_try = excluded.next_try, since = CASE WHEN ? THEN flow_health.since "
                    "ELSE excluded.since END",
                    (flow, st.state, st.reason, st.role, st.fix, t, t, next_try, keep_since),
                )
        except StoreError as exc:  # health is advisory: never let it stop a flow
            log.warning("cannot record the state of %s: %s", flow, exc)


async def read_health(log_: EventLog) -> list[dict[str, Any]]:
    """Every recorded flow state, by flow name (empty when no engine has written one yet)."""
    if "flow_health" not in await log_.tables():
        return []
    rows = await log_.query(
        "SELECT flow, state, reason, role, fix, since, last_try, next_try FROM flow_health"
    )
    rows.sort()  # in Python: a PostgreSQL collation may order names unlike SQLite's bytes
    keys = ("flow", "state", "reason", "role", "fix", "since", "last_try", "next_try")
    return [dict(zip(keys, row, strict=True)) | {"group": status_flow(row[0])} for row in rows]
