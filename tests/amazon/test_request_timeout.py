"""`[amazon] request_timeout_s` bounds SP-API calls and LWA token exchanges alike."""

from __future__ import annotations

import pytest

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.retry import Backoff
from engine.errors import RemoteTimeout
from tests.amazon.conftest import account_of


def client(sim, session, timeout_s):
    return AmazonClient(
        session,
        account_of(sim),
        "NA",
        endpoint=sim.endpoint("NA"),
        lwa_url=sim.lwa_url,
        clock=sim.clock.now,
        limits=BucketRegistry(enabled=False),
        backoff=Backoff(base=0.01, cap=0.05, max_tries=1),
        timeout_s=timeout_s,
    )


@pytest.mark.parametrize("operation", ["lwa", "getMarketplaceParticipations"])
async def test_slow_answer_times_out_at_the_configured_bound(sim, session, operation):
    sim.faults.add("latency", operation=operation, delay=1.0, count=1)
    c = client(sim, session, timeout_s=0.3)
    with pytest.raises(RemoteTimeout):
        await c.call("getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations")
    # The same slowness is fine under a larger bound (the fault rule was consumed above).
    sim.faults.add("latency", operation=operation, delay=0.5, count=1)
    roomy = client(sim, session, timeout_s=5.0)
    resp = await roomy.call(
        "getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations"
    )
    assert resp.status == 200
