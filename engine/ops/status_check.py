"""``ml-connector status --check``: is anything wrong, as an exit code and one line per problem.

For cron, Nagios-style checks and systemd timers: exit 0 with one ``OK ...`` line when every
flow is healthy and nothing is parked beyond ``--max-parked``; exit 1 otherwise, one line per
problem (a late, failing, paused or disabled flow; the parked items of each flow). The flow
states are the shared rule of engine/ops/flow_state.py (the status page uses the same), with
the cadences of ``[poll]`` (``--config``; the defaults without one). Read-only; lines carry flow
names, counts and the recorded reason (already redacted), never payloads or buyer data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.commands.outbox import Outbox
from engine.config.model import PollConfig
from engine.log import EventLog
from engine.ops.flow_state import DISABLED, FAILING, LATE, PAUSED, PENDING, FlowStateRow
from engine.ops.flow_state import flow_states as read_flow_states
from engine.ops.status import FLOWS

__all__ = ["CheckResult", "check_status"]

_PROBLEM_STATES = (LATE, FAILING, PAUSED, DISABLED)


@dataclass(frozen=True, slots=True)
class CheckResult:
    problems: tuple[str, ...]
    summary: str  # the one line printed when there is no problem

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return list(self.problems) if self.problems else [self.summary]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def flow_problem(row: FlowStateRow) -> str | None:
    """The line for one flow in a problem state, else None."""
    if row.state not in _PROBLEM_STATES:
        return None
    ago = _duration(row.age_s)
    since = "never succeeded" if row.last_success is None else f"last successful poll {ago} ago"
    cadence = _duration(row.cadence_s)
    reason = f": {row.reason[:200]}" if row.reason else ""
    if row.state == LATE:
        return f"LATE {row.flow}: {since} (cadence {cadence}; late after 1x, failing after 2x)"
    if row.state == FAILING:
        return f"FAILING {row.flow}: {since} (cadence {cadence}){reason}"
    if row.state == DISABLED:
        return (
            f"DISABLED {row.flow}: refused by Amazon, probably missing SP-API role "
            f"'{row.role}'{reason}; fix: {row.fix}"
        )
    nxt = f"; next try {row.next_try}" if row.next_try else ""
    return f"PAUSED {row.flow}: refused{reason}{nxt}"


async def check_status(
    log: EventLog,
    poll: PollConfig | None = None,
    *,
    max_parked: int = 0,
    now: datetime | None = None,
) -> CheckResult:
    """Every problem of the log's flows (see module doc)."""
    rows = await read_flow_states(log, poll or PollConfig(), now)
    problems = [line for row in rows if (line := flow_problem(row)) is not None]
    pollers = [r for r in rows if r.flow != "dispatch"]
    if not pollers:
        problems.append(f"{PENDING.upper()} no flow has polled yet (is `ml-connector run` up?)")
    outbox = Outbox(log)
    items = await outbox.parked() if await outbox.has_tables() else []
    if len(items) > max_parked:
        for flow in FLOWS:
            mine = [
                i
                for i in items
                if (i.kind == "command" and i.command_id.startswith(flow.kinds))
                or (i.kind == "record" and i.projector == flow.projector)
            ]
            if mine:
                commands = sum(1 for i in mine if i.kind == "command")
                reasons = sorted({i.reason.split(":")[0][:60] for i in mine})
                problems.append(
                    f"PARKED {flow.name}: {len(mine)} item(s) ({commands} command(s), "
                    f"{len(mine) - commands} record(s)) need attention, {len(items)} in all > "
                    f"--max-parked {max_parked}; reasons: {'; '.join(reasons[:3])}"
                )
        other = len(items) - sum(
            1
            for i in items
            if any(
                (i.kind == "command" and i.command_id.startswith(f.kinds))
                or (i.kind == "record" and i.projector == f.projector)
                for f in FLOWS
            )
        )
        if other:
            problems.append(f"PARKED other: {other} item(s) > --max-parked {max_parked}")
    healthy = sum(1 for r in pollers if r.state not in _PROBLEM_STATES)
    summary = f"OK {healthy} flow(s) healthy, {len(items)} parked (max {max_parked})"
    return CheckResult(tuple(problems), summary)
