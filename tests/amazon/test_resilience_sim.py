"""Over HTTP against the simulator: expired FBA nextToken, per-operation circuit breaker."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import aiohttp
import pytest

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.retry import Backoff, CircuitOpen
from engine.errors import RemoteUnavailable
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.inventory import FbaInventoryPoller
from engine.sim.amazon import AmazonSimulator

from .conftest import account_of, make_client

MP = "ATVPDKIKX0DER"


def _count_calls(c: AmazonClient, after=None) -> list[str]:  # type: ignore[no-untyped-def]
    """Record the operation of every ``call``; ``after(op, n)`` runs after each response."""
    calls: list[str] = []
    real_call = c.call

    async def call(operation, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(operation)
        resp = await real_call(operation, *a, **kw)
        if after is not None:
            after(operation, calls.count(operation))
        return resp

    c.call = call  # type: ignore[method-assign]
    return calls


async def test_expired_fba_next_token_restarts_the_snapshot_not_the_job(
    sim: AmazonSimulator, session: aiohttp.ClientSession, tmp_path
) -> None:
    def after(op: str, n: int) -> None:
        if op == "getInventorySummaries" and n == 1:
            sim.advance(timedelta(seconds=31))  # page 1's nextToken (30 s) is now stale

    async with SQLiteEventLog.open(tmp_path / "e.db") as log:
        c = make_client(sim, session, "NA")
        calls = _count_calls(c, after)
        res = await FbaInventoryPoller(c, log, [MP]).poll_once()
        snaps = [e async for e in log.read(streams=["amazon.inventory.fba"])]
        truth = sim.truth.fba_inventory(None, MP)
    assert len(snaps) == 1 and snaps[0].payload["snapshot"] == 1  # one snapshot, job went on
    assert snaps[0].payload["items"] == truth and len(truth) > 5  # complete: several pages
    pages = math.ceil(len(truth) / 5)  # the simulator serves 5 summaries a page
    # page 1, page 2 refused (expired token), then pages 1..n again back to back
    assert calls.count("getInventorySummaries") == pages + 2
    assert res.appended == 1


async def test_circuit_breaker_opens_stops_sending_then_closes(
    sim: AmazonSimulator, session: aiohttp.ClientSession
) -> None:
    c = AmazonClient(
        session, account_of(sim), "NA", endpoint=sim.endpoint("NA"), lwa_url=sim.lwa_url,
        clock=sim.clock.now, limits=BucketRegistry(time_scale=sim.clock.time_scale),
        backoff=Backoff(base=0.01, cap=0.05, max_tries=6),
        breaker_threshold=3, breaker_cooldown_s=0.4,
    )  # fmt: skip
    since = (sim.clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = [("MarketplaceIds", MP), ("LastUpdatedAfter", since)]

    async def get_orders() -> None:
        await c.call("getOrders", "GET", "/orders/v0/orders", params=params)

    budget = 100
    rule = sim.faults.add("status", operation="getOrders", status=503, count=budget)

    def sent() -> int:  # requests that reached the simulator's getOrders
        left = next((r.count for r in sim.faults.rules if r.id == rule), 0)
        return budget - (left or 0)

    with pytest.raises(CircuitOpen):
        await get_orders()  # 3 failures open the circuit before the 6 tries are used up
    assert sent() == 3 and c.breaker("getOrders").state == "open"
    for _ in range(5):
        with pytest.raises(RemoteUnavailable):  # CircuitOpen is one: retry on the next cycle
            await get_orders()
    assert sent() == 3  # open: nothing sent
    await asyncio.sleep(0.45)  # cool-down over: half-open lets one trial through
    with pytest.raises(CircuitOpen):
        await get_orders()  # the trial fails (fault persists) -> open again
    assert sent() == 4 and c.breaker("getOrders").state == "open"
    sim.faults.remove(rule)
    await asyncio.sleep(0.45)
    await get_orders()  # trial succeeds -> closed
    assert c.breaker("getOrders").state == "closed"
    await get_orders()
