"""Per-flow isolation: a refused flow (403 role, revoked grant) stops only itself.

Other flows of the pass finish and report; only an error outside the remote systems (the log, a
bug) ends the pass, and then the sibling pollers are cancelled, never orphaned.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.errors import AuthError, RemoteUnavailable, StoreError
from engine.pollers.base import PollResult


class Refused:
    async def poll_once(self) -> PollResult:
        await asyncio.sleep(0.05)
        raise AuthError("refresh token revoked")


class Broken:
    async def poll_once(self) -> PollResult:
        await asyncio.sleep(0.05)
        raise StoreError("database or disk is full")


class Slow:
    def __init__(self, delay: float = 30.0) -> None:
        self.cancelled = False
        self.delay = delay

    async def poll_once(self) -> PollResult:
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return PollResult(fetched=1, appended=1)


class Flaky:
    async def poll_once(self) -> PollResult:
        raise RemoteUnavailable("503 from SP-API")


async def test_a_refused_flow_is_recorded_and_siblings_finish(make_world):
    async with make_world(history_days=2) as w, w.engine(w.config()) as eng:
        slow = Slow(delay=0.3)
        eng.pollers = {"orders:NA": Refused(), "inventory:NA": slow, "fba:EU": Flaky()}
        report = await eng.poll()
        assert not slow.cancelled and report.polled["inventory:NA"].appended == 1
        assert "AuthError" in report.poll_errors["orders:NA"]
        assert report.refused == {"orders:NA": "refresh token revoked"}
        assert "RemoteUnavailable" in report.poll_errors["fba:EU"]


async def test_an_engine_failure_cancels_siblings_and_propagates(make_world):
    async with make_world(history_days=2) as w, w.engine(w.config()) as eng:
        slow = Slow()
        eng.pollers = {"orders:NA": Broken(), "inventory:NA": slow}
        t0 = time.monotonic()
        with pytest.raises(StoreError):
            await eng.poll()
        assert slow.cancelled
        assert time.monotonic() - t0 < 5


async def test_missing_inventory_role_over_http_leaves_orders_and_settlements_flowing(make_world):
    """Amazon answers 403 to every FBA inventory call (no Inventory role): orders still post."""
    async with make_world(history_days=16, orders_per_day=3) as w:
        w.amazon.faults.add("status", operation="getInventorySummaries", status=403, count=None)
        async with w.engine(w.config()) as eng:
            report = await eng.sync_once()
        fba = [n for n in report.refused if n.startswith("fba:")]
        assert fba and all("403" in report.poll_errors[n] or "Auth" in report.poll_errors[n]
                           for n in fba), report.poll_errors  # fmt: skip
        assert not [n for n in report.refused if not n.startswith("fba:")], report.refused
        assert any(n.startswith("orders:") and r.appended for n, r in report.polled.items())
        assert w.qad.sales_orders(), "orders flowed although the inventory role is missing"
        assert w.qad.invoices(), "settlements flowed although the inventory role is missing"
