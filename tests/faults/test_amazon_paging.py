"""Paging under faults: access token expiring mid-paging, next tokens expiring (orders, FBA 30 s,
finances at client level: the engine does not call the Finances API)."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from engine.adapters.amazon.client import AmazonClient
from tests.faults.conftest import faulted_run


@pytest.mark.parametrize(
    # getOrder2026 (MFN ship-to) is not called in this world: see test_hard_pii_ship_to.py
    "op",
    ["searchOrders", "getInventorySummaries", "getReports"],
)
async def test_access_token_expires_mid_run(make_world, ref_books, op) -> None:
    """403 'access token expired' on a later page/call: refresh once, carry on."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("expire_token", operation=op, skip=1, count=1)
        await faulted_run(w, ref)


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
async def test_orders_next_token_expires(make_world, ref_books, api) -> None:
    ref = await ref_books()
    async with make_world() as w:
        op = "searchOrders" if api != "v0" else "getOrders"
        w.amazon.faults.add("expire_next_token", operation=op, count=2)
        await faulted_run(w, ref, cfg={"orders_api": api})


async def test_fba_next_token_expires(make_world, ref_books) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("expire_next_token", operation="getInventorySummaries", count=2)
        await faulted_run(w, ref)


async def test_fba_next_token_outlives_its_30_seconds(make_world, ref_books) -> None:
    """No injected error: a slow page (40 sim s at 120x) lets the real 30 s token expire."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("latency", operation="getInventorySummaries", delay=0.34, skip=1)
        await faulted_run(w, ref)


async def test_next_token_keeps_expiring_is_a_retriable_poll_error(make_world, ref_books) -> None:
    """A token that can never be used (e.g. a limit too low for 30 s) fails the flow for this
    cycle without crashing the sync; the next cycle completes it."""
    ref = await ref_books()
    async with make_world() as w:
        rule = w.amazon.faults.add(
            "expire_next_token", operation="getInventorySummaries", count=None
        )
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once(dispatch_timeout_s=30.0)
        assert "fba:NA" in report.poll_errors, report.poll_errors
        assert "orders:NA" not in report.poll_errors
        w.amazon.faults.remove(rule)
        await faulted_run(w, ref)


async def test_finances_next_token_expiry_restarts_paging(make_world) -> None:
    """Client level (no engine flow uses Finances): injected and natural 25-minute expiry."""
    async with make_world() as w, aiohttp.ClientSession() as session:
        client = AmazonClient(
            session,
            w.account,
            "NA",
            endpoint=w.amazon.endpoint("NA"),
            lwa_url=w.amazon.lwa_url,
            clock=w.amazon.clock.now,
        )
        params = [("MaxResultsPerPage", "1")]
        path = "/finances/v0/financialEventGroups"

        async def groups() -> list[str]:
            ids = []
            async for body in client.paginate("listFinancialEventGroups", path, params, "finances"):
                ids += [
                    g["FinancialEventGroupId"] for g in body["payload"]["FinancialEventGroupList"]
                ]
            return ids

        clean = await groups()
        assert len(clean) >= 2
        w.amazon.faults.add("expire_next_token", operation="listFinancialEventGroups")
        assert sorted(set(await groups())) == sorted(clean)
        assert not w.amazon.faults.rules

        # Natural expiry: the consumer dawdles 26 sim minutes between pages.
        ids: list[str] = []
        async for body in client.paginate("listFinancialEventGroups", path, params, "finances"):
            ids += [g["FinancialEventGroupId"] for g in body["payload"]["FinancialEventGroupList"]]
            if len(ids) == 1:
                w.amazon.advance(timedelta(minutes=26))
        assert sorted(set(ids)) == sorted(clean)
