"""The ``run`` scheduler polls at a fixed rate (issue 17, freshness).

A poll starts ``every`` after the previous *start*, so a slow poll does not stretch the period;
a poll overrunning ticks skips them (never a burst to catch up); a flow that keeps failing is
recorded as failed (in the event log's flow_health, as ``status`` reads it) and retried on
``[poll] failing_retry_s`` until it works, then returns to its cadence. The engine here is a
stand-in whose "poll" sleeps and reports what the test scripts; health and its table are real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Config
from engine.log import SQLiteEventLog
from engine.ops.engine import SyncReport
from engine.ops.flow_health import FlowHealth, read_health
from engine.ops.scheduler import FAILING_AFTER, next_start, run_flows


class _Dispatcher:
    async def drain(self, deadline: float) -> None:
        return None


class _Engine:
    """Just what ``run_flows`` touches; ``plan(n)`` -> (seconds the poll takes, error or "")."""

    def __init__(self, cfg: Config, health: FlowHealth, plan: Any) -> None:
        self.cfg = cfg
        self.pollers = {"orders:NA": object()}
        self.health = health
        self.dispatcher = _Dispatcher()
        self._stop = asyncio.Event()
        self.plan = plan
        self.starts: list[float] = []

    @property
    def stop_event(self) -> asyncio.Event:
        return self._stop

    async def poll(self, names: list[str] | None = None) -> SyncReport:
        loop = asyncio.get_running_loop()
        self.starts.append(loop.time())
        took, error = self.plan(len(self.starts))
        await asyncio.sleep(took)
        report = SyncReport()
        if error:
            report.poll_errors["orders:NA"] = error
        else:
            await self.health.ok("orders:NA")
        return report

    async def project_and_dispatch(self) -> None:
        return None

    async def guarded(self, aw: Awaitable[Any], what: str) -> None:
        await aw


def _cfg(every: float, failing: float = 600.0) -> Config:
    cfg = Config()
    return dataclasses.replace(
        cfg, poll=dataclasses.replace(cfg.poll, orders_every_s=every, failing_retry_s=failing)
    )


async def _run(eng: _Engine, until: int) -> None:
    task = asyncio.create_task(run_flows(eng, drain_s=0.1))
    while len(eng.starts) < until:
        await asyncio.sleep(0.01)
    eng.stop_event.set()
    await asyncio.wait_for(task, 5)


def test_next_start_skips_missed_ticks() -> None:
    assert next_start(0.0, 10.0, 3.0) == 10.0  # on time: one period after the start
    assert next_start(0.0, 10.0, 10.0) == 10.0
    assert next_start(0.0, 10.0, 25.0) == 30.0  # overran 2 ticks: the next one ahead, no burst


@pytest.mark.asyncio
async def test_period_is_measured_from_the_previous_start(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        eng = _Engine(_cfg(every=0.4), FlowHealth(log, 3600), lambda n: (0.25, ""))
        await _run(eng, until=5)
    gaps = [b - a for a, b in zip(eng.starts, eng.starts[1:], strict=False)]
    # cadence + cycle time would give 0.65 s; a fixed rate keeps 0.4 s
    assert all(0.35 <= g <= 0.55 for g in gaps), gaps


@pytest.mark.asyncio
async def test_an_overrunning_poll_skips_ticks_instead_of_bursting(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        # the second poll takes 0.9 s (over two 0.4 s ticks); the others are quick
        eng = _Engine(_cfg(every=0.4), FlowHealth(log, 3600), lambda n: (0.9 if n == 2 else 0, ""))
        await _run(eng, until=5)
    s = eng.starts
    assert 1.1 <= s[2] - s[1] <= 1.35, s  # next tick ahead is 3 periods after its start
    gaps = [b - a for a, b in itertools.pairwise(s)]
    assert min(gaps) >= 0.35, gaps  # never two polls back to back


@pytest.mark.asyncio
async def test_a_failing_flow_slows_down_is_shown_and_recovers(tmp_path: Path) -> None:
    fail_until = FAILING_AFTER + 2  # polls 1..5 fail, then it works again

    def plan(n: int) -> tuple[float, str]:
        return (0.0, "RemoteUnavailable: 503" if n <= fail_until else "")

    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        eng = _Engine(_cfg(every=0.1, failing=0.6), FlowHealth(log, 3600), plan)
        task = asyncio.create_task(run_flows(eng, drain_s=0.1))
        while len(eng.starts) < fail_until:
            await asyncio.sleep(0.01)
        failed = {h["flow"]: h for h in await read_health(log)}["orders:NA"]
        assert failed["state"] == "failed" and "503" in failed["reason"]
        while len(eng.starts) < fail_until + 4:
            await asyncio.sleep(0.01)
        eng.stop_event.set()
        await asyncio.wait_for(task, 5)
        healed = {h["flow"]: h for h in await read_health(log)}["orders:NA"]
    assert healed["state"] == "ok"
    gaps = [b - a for a, b in zip(eng.starts, eng.starts[1:], strict=False)]
    fast, slow = gaps[: FAILING_AFTER - 1], gaps[FAILING_AFTER - 1 : fail_until]
    assert all(g < 0.3 for g in fast), gaps  # the first failures keep the cadence
    assert all(0.55 <= g <= 0.9 for g in slow), gaps  # then failing_retry_s, never stopping
    assert all(g < 0.3 for g in gaps[fail_until:]), gaps  # back on the cadence once it works
