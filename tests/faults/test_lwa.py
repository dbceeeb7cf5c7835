"""Login with Amazon (the token endpoint) failing: outages, throttling, drops, slowness.

A token exchange that fails transiently is retried like any SP-API call; beyond the retry
budget the flows fail for one cycle and the next pass catches up. The books always equal the
fault-free run. Rules name operation "lwa" so they hit only the token endpoint.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import faulted_run


@pytest.mark.parametrize(("status", "count"), [(500, 2), (503, 3), (429, 2)])
async def test_lwa_transient_errors_within_one_pass(make_world, ref_books, status, count):
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("status", operation="lwa", status=status, count=count)
        await faulted_run(w, ref)


async def test_lwa_dropped_connection(make_world, ref_books):
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("drop", operation="lwa", count=2)
        await faulted_run(w, ref)


async def test_lwa_outage_beyond_retry_budget_recovers_next_pass(make_world, ref_books):
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("status", operation="lwa", status=503, count=40)
        reports = await faulted_run(w, ref, passes=None)
        assert reports[0].poll_errors, "an LWA outage must show as poll errors, not vanish"
        assert not reports[-1].poll_errors


async def test_every_operation_rule_does_not_hit_lwa(make_world):
    async with make_world() as w:
        w.amazon.faults.add("status", status=503, count=1)  # no operation: SP-API calls only
        async with w.engine(w.config()) as eng:
            client = next(iter(eng.amazon.values()))
            await client.auth.token()
            assert client.auth.refreshes == 1
        assert [r.count for r in w.amazon.faults.rules] == [1]
