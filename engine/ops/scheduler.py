"""The scheduler of ``ml-connector run``: one task per poller (flow and region) on a fixed rate,
projection and dispatch after every poll, a graceful drain on stop.

Fixed rate, not cadence plus cycle time: a poll starts ``every`` after the previous poll
*started* (the time a poll and its dispatch take no longer stretches the period, which cost
orders a cycle's worth of freshness). A poll that overran one or more ticks starts at the next
tick still ahead: missed ticks are skipped, never made up in a burst (Amazon's usage plans would
answer a burst with 429s). A flow Amazon refused waits ``[poll] refused_retry_s``; a flow whose
polls keep failing (``FAILING_AFTER`` in a row: Amazon down, the network gone) is recorded as
failed for ``status`` and retried every ``[poll] failing_retry_s`` (or its own cadence if that
is longer) until it works again: it never stops on its own.

Cadences are seconds of the engine's Amazon clock: with ``[amazon] clock = "simulator"`` a
simulator living N times faster is polled N times as often in real time, as Amazon would be.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any, Protocol

from engine.config import Config
from engine.dispatch.dispatcher import Dispatcher
from engine.ops.flow_health import FlowHealth

__all__ = ["FAILING_AFTER", "Schedulable", "next_start", "run_flows"]

log = logging.getLogger(__name__)

FAILING_AFTER = 3  # failed polls in a row before a flow drops to failing_retry_s


class Schedulable(Protocol):
    """What the scheduler needs of the engine (``engine.ops.engine.Engine``)."""

    cfg: Config
    pollers: dict[str, Any]
    health: FlowHealth
    dispatcher: Dispatcher

    @property
    def stop_event(self) -> asyncio.Event: ...

    def poll(self, names: list[str] | None = None) -> Awaitable[Any]: ...

    def project_and_dispatch(self) -> Awaitable[None]: ...

    async def guarded(self, aw: Awaitable[Any], what: str) -> None: ...


def next_start(started: float, every: float, now: float) -> float:
    """The first tick ``started + k * every`` (k >= 1) that is not in the past at ``now``."""
    if now < started + every:
        return started + every
    return started + every * math.ceil((now - started) / every)


class PollFailed(RuntimeError):
    """Recorded in flow health when a flow's polls keep failing (status shows it)."""


async def run_flows(engine: Schedulable, drain_s: float | None = 30.0) -> None:
    """Run every flow until ``engine.stop()``; then drain the dispatcher for ``drain_s``
    (None: leave the dispatcher running, a worker's flows stop when its lease ends)."""
    poll = engine.cfg.poll
    cadence = {
        "orders": poll.orders_every_s,
        "settlements": poll.settlements_every_s,
        "fba": poll.inventory_every_s,
        "mfn": poll.inventory_every_s,
        "qad.items": poll.catalog_every_s,
        "notifications": 0.1,  # N1: its poll_once long-polls SQS ([notifications] wait_s)
    }
    followed = getattr(engine, "followed_clock", None)
    scale = float(getattr(followed, "time_scale", 1.0) or 1.0)
    work = asyncio.Lock()
    stop = engine.stop_event
    loop = asyncio.get_running_loop()

    async def polled(name: str, out: list[Any]) -> None:
        out.append(await engine.poll([name]))

    async def flow(name: str) -> None:
        # One task per poller (flow and region): a refused region waits refused_retry_s,
        # the same flow in another region keeps its own rate.
        every = cadence[name.split(":")[0]] / scale
        failures = 0
        while not stop.is_set():
            started = loop.time()
            result: list[Any] = []
            await engine.guarded(polled(name, result), name)
            report = result[0] if result else None
            error = (getattr(report, "poll_errors", {}) or {}).get(name) if report else "crashed"
            async with work:
                await engine.guarded(engine.project_and_dispatch(), "dispatch")
            state = engine.health.states.get(name)
            if state and state.state == "refused":
                failures, wait = 0, poll.refused_retry_s / scale
            elif error:
                failures += 1
                wait = next_start(started, every, loop.time()) - loop.time()
                if failures >= FAILING_AFTER:
                    # Once per streak of retriable errors: status shows it as failed. A crash
                    # (no report) is already recorded by ``guarded`` with its own reason.
                    if failures == FAILING_AFTER and report is not None:
                        await engine.health.failed(name, PollFailed(f"{failures} polls: {error}"))
                    wait = max(every, poll.failing_retry_s / scale)  # slower, never faster
            else:
                failures = 0
                wait = next_start(started, every, loop.time()) - loop.time()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, wait))

    tasks = [asyncio.create_task(flow(n)) for n in sorted(engine.pollers)]
    await stop.wait()
    if drain_s is not None:
        await engine.dispatcher.drain(drain_s)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
