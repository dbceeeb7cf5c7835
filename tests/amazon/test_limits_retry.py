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
