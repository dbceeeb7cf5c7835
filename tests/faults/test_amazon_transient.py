"""Transient SP-API faults: 429 storms, 5xx bursts, latency past the timeout, drops, truncation.

Within the client's retry budget (6 tries) a fault is absorbed inside one sync pass; beyond it the
flow fails for this cycle and the next pass catches up. Either way the books equal the
fault-free run.
"""

from __future__ import annotations

import pytest

from engine.sim.amazon import SellerConfig
from tests.faults.conftest import assert_same_books, faulted_run

# The operations one sync pass makes (orders 2026-01-01, settlement reports, FBA summaries, the
# MFN listings report). The MFN ship-to call (getOrder2026) is made only for unshipped merchant
# orders, and this world has none: its faults are tested in tests/security/test_hard_pii_ship_to.
OPS = [
    "searchOrders",
    "getReports",
    "getReportDocument",
    "getInventorySummaries",
    "createReport",
    "getReport",
]


@pytest.mark.parametrize("op", ["searchOrders", "getInventorySummaries", "createReport"])
async def test_429_storm_within_retry_budget(make_world, ref_books, op) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("throttle", operation=op, count=4)
        await faulted_run(w, ref)
        assert not [r for r in w.amazon.faults.rules if r.operation == op], "fault never fired"


async def test_429_storm_beyond_retry_budget_recovers_next_pass(make_world, ref_books) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("throttle", operation="searchOrders", region="NA", count=8)
        reports = await faulted_run(w, ref, passes=2)
        assert "orders:NA" in reports[0].poll_errors


async def test_seller_real_limit_below_documented(make_world, ref_books) -> None:
    """The usage plan Amazon really applies is 40x below the documented one: the engine gets
    429s, adapts its buckets (header / throttle feedback) and finishes within one pass."""
    ref = await ref_books()
    slow = {"getInventorySummaries": (0.05, 1), "searchOrders": (0.05, 1)}
    async with make_world(rate_limits=True, sellers=[SellerConfig(rate_overrides=slow)]) as w:
        async with w.engine(w.config(), rate_limits=True) as eng:
            report = await eng.sync_once(dispatch_timeout_s=30.0)
            throttled = sum(c.stats["throttled"] for c in eng.amazon.values())
        assert not report.poll_errors, report.poll_errors
        assert throttled > 0  # the limit really bit
        assert_same_books(ref, w.books())


@pytest.mark.parametrize(
    ("op", "status"),
    [
        ("searchOrders", 500),
        ("getReports", 503),
        ("getInventorySummaries", 503),
        ("getReport", 500),
    ],
)
async def test_5xx_burst(make_world, ref_books, op, status) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("status", operation=op, status=status, count=3)
        await faulted_run(w, ref)


@pytest.mark.parametrize("op", ["searchOrders", "getInventorySummaries", "getReportDocument"])
async def test_latency_past_timeout(make_world, ref_books, op) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("latency", operation=op, delay=1.2, count=2)
        await faulted_run(w, ref, amazon_timeout_s=0.8)


@pytest.mark.parametrize("op", ["searchOrders", "getReports", "getReport"])
async def test_dropped_connection(make_world, ref_books, op) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("drop", operation=op, count=2)
        await faulted_run(w, ref)


@pytest.mark.parametrize(
    "op",
    ["searchOrders", "getReports", "getReportDocument", "getInventorySummaries"],
)
async def test_truncated_body(make_world, ref_books, op) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("truncate", operation=op, count=2)
        await faulted_run(w, ref)


@pytest.mark.parametrize("kind", ["throttle", "status", "drop"])
async def test_storm_across_every_operation(make_world, ref_books, kind) -> None:
    """A seeded storm: every SP-API call has a 25% chance of failing, for the whole run."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add(kind, status=503, count=None, probability=0.25)
        await faulted_run(w, ref, passes=None)
