"""The scheduler of ``ml-connector run``: one task per poller (flow and region) on its cadence,
projection and dispatch after every poll, a graceful drain on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any, Protocol

from engine.config import Config
from engine.dispatch.dispatcher import Dispatcher
from engine.ops.flow_health import FlowHealth

__all__ = ["Schedulable", "run_flows"]


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


async def run_flows(engine: Schedulable, drain_s: float = 30.0) -> None:
    """Run every flow until ``engine.stop()``; then drain the dispatcher for ``drain_s``."""
    poll = engine.cfg.poll
    cadence = {
        "orders": poll.orders_every_s,
        "settlements": poll.settlements_every_s,
        "fba": poll.inventory_every_s,
        "mfn": poll.inventory_every_s,
        "qad.items": poll.catalog_every_s,
    }
    work = asyncio.Lock()
    stop = engine.stop_event

    async def flow(name: str) -> None:
        # One task per poller (flow and region): a refused region waits refused_retry_s,
        # the same flow in another region keeps its own cadence.
        every = cadence[name.split(":")[0]]
        while not stop.is_set():
            await engine.guarded(engine.poll([name]), name)
            async with work:
                await engine.guarded(engine.project_and_dispatch(), "dispatch")
            state = engine.health.states.get(name)
            wait = poll.refused_retry_s if state and state.state == "refused" else every
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    tasks = [asyncio.create_task(flow(n)) for n in sorted(engine.pollers)]
    await stop.wait()
    await engine.dispatcher.drain(drain_s)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
