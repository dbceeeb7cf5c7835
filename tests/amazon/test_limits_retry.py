"""Token buckets, adaptive rates, full-jitter backoff, circuit breaker (pure, fake clock)."""

from __future__ import annotations

import random

import pytest

from engine.adapters.amazon.ratelimit import DEFAULT_PLANS, BucketRegistry, TokenBucket
from engine.adapters.amazon.retry import Backoff, CircuitBreaker, CircuitOpen


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_burst_then_rate():
    c = FakeClock()
    b = TokenBucket(2.0, 3, clock=c)
    assert [b.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.reserve() == pytest.approx(0.5)  # 4th waits for the refill at 2/s
    assert b.reserve() == pytest.approx(1.0)  # queued behind it
    c.t += 1.0
    assert b.reserve() == pytest.approx(0.5)
    assert b.allowed() == pytest.approx(3 + 2.0)


def test_bucket_adapts_to_header_and_drains_on_429():
    c = FakeClock()
    reg = BucketRegistry(clock=c, headroom=1.0)
    b = reg.bucket("S", "NA", "searchOrders")
    assert (b.rate, b.burst) == (DEFAULT_PLANS["searchOrders"].rate, 20)
    reg.observe_limit("S", "NA", "searchOrders", "0.5")
    reg.observe_limit("S", "NA", "searchOrders", "garbage")
    reg.observe_limit("S", "NA", "searchOrders", None)
    assert b.rate == 0.5
    reg.throttled("S", "NA", "searchOrders")
    assert b.reserve() == pytest.approx(2.0)  # empty: next token in 1/rate
    # separate buckets per seller, region and operation
    assert reg.bucket("S", "EU", "searchOrders") is not b
    assert reg.bucket("T", "NA", "searchOrders") is not b
    assert reg.bucket("S", "NA", "getOrders") is not b


def test_full_jitter_bounds_and_retry_after():
    bo = Backoff(base=0.5, cap=4.0)
    rng = random.Random(3)
    ds = [bo.delay(a, None, rng) for a in range(10) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in ds)
    assert len({round(d, 6) for d in ds}) > 100  # jittered, not fixed steps
    assert all(bo.delay(0, 2.5, rng) >= 2.5 for _ in range(20))


def test_circuit_breaker_opens_half_opens_closes():
    c = FakeClock()
    br = CircuitBreaker(threshold=3, cooldown=10, clock=c)
    for _ in range(3):
        br.before_call("op")
        br.failure()
    assert br.state == "open"
    with pytest.raises(CircuitOpen) as ei:
        br.before_call("op")
    assert ei.value.retry_after == pytest.approx(10)
    c.t += 10
    br.before_call("op")  # the single trial
    with pytest.raises(CircuitOpen):
        br.before_call("op")
    br.failure()
    assert br.state == "open"
    c.t += 10
    br.before_call("op")
    br.success()
    assert br.state == "closed"
    br.before_call("op")


async def test_nothing_beyond_the_burst_before_the_first_response():
    """The server's refill starts when our first request arrives, not when our bucket was made:
    until a response anchors the bucket, requests beyond the burst wait (no early 429)."""
    import asyncio

    reg = BucketRegistry(headroom=1.0, first_response_grace_s=5.0)
    b = reg.bucket("S", "NA", "getOrderItems")
    b.rate = 200.0  # refill credited while waiting would otherwise free these at once
    sent: list[int] = []

    async def one(i: int) -> None:
        await reg.acquire("S", "NA", "getOrderItems")
        sent.append(i)

    tasks = [asyncio.create_task(one(i)) for i in range(b.burst + 3)]
    await asyncio.sleep(0.1)  # 20 tokens' worth of refill at 200/s, but no response yet
    assert sorted(sent) == list(range(b.burst))
    reg.observe_limit("S", "NA", "getOrderItems", None)  # first response: refill from now
    await asyncio.sleep(0.005)
    assert len(sent) == b.burst  # the 3 queued ones were pushed back, not released
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert len(sent) == b.burst + 3


async def test_unanchored_bucket_waits_at_most_the_grace():
    import asyncio

    reg = BucketRegistry(first_response_grace_s=0.05)
    b = reg.bucket("S", "NA", "getInventorySummaries")  # burst 2
    t = asyncio.get_running_loop().time()
    for _ in range(b.burst + 1):
        await reg.acquire("S", "NA", "getInventorySummaries")  # no response ever (5xx only)
    assert asyncio.get_running_loop().time() - t < 2.0
