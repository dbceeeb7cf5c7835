"""Retry policy, limiters, and the dispatcher's concurrency/drain/poison handling.

These use in-process handlers (coroutines with controlled timing) over a real SQLite outbox;
the HTTP paths are covered in test_dispatch_qad.py.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import make_command
from engine.dispatch.handlers import Handler, Outcome
from engine.dispatch.limits import LimiterRegistry, Rate
from engine.dispatch.retry import RetryPolicy
from engine.errors import ConfigError, RateLimited, Rejected, RemoteUnavailable, UnknownOutcome

from .conftest import add, make_dispatcher


def cmd(key: str, n: int = 0, kind: str = "test.op"):
    return make_command(kind, "qad", key, key, {"n": n})


def test_backoff_is_full_jitter_bounded_and_deterministic_with_a_seed():
    a = RetryPolicy(base_s=1.0, cap_s=8.0, max_attempts=10, rng=random.Random(5))
    b = RetryPolicy(base_s=1.0, cap_s=8.0, max_attempts=10, rng=random.Random(5))
    delays = [a.backoff(n) for n in range(1, 8)]
    assert delays == [b.backoff(n) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        assert 0 <= d <= min(8.0, 2 ** (n - 1))
    many = [a.backoff(6) for _ in range(200)]
    assert max(many) > 6 and min(many) < 2  # full jitter spreads over [0, cap]


def test_decisions_by_error_class():
    p = RetryPolicy(base_s=0.1, cap_s=1.0, max_attempts=3, rng=random.Random(1))
    assert p.decide(1, RemoteUnavailable("qad HTTP 503")).outcome == "retry"
    assert p.decide(1, UnknownOutcome("dropped")).outcome == "unknown"
    assert p.decide(1, TimeoutError()).outcome == "unknown"
    throttled = p.decide(1, RateLimited("429", retry_after=7.5))
    assert throttled.outcome == "retry" and throttled.delay_s == 7.5
    rejected = p.decide(1, Rejected("qad rejected: item: Item 10-9 does not exist"))
    assert rejected.outcome == "parked" and "Item 10-9 does not exist" in rejected.reason
    last = p.decide(3, RemoteUnavailable("qad HTTP 503: busy"))
    assert last.outcome == "parked" and "after 3 attempts" in last.reason and "busy" in last.reason
    assert p.decide(1, KeyError("lines")).outcome == "parked"


async def test_limiter_token_bucket_rate_and_unlimited():
    reg = LimiterRegistry({"qad": Rate(20.0, 2), "free": Rate(0)})
    start = time.monotonic()
    for _ in range(6):
        await reg.acquire("qad")
    took = time.monotonic() - start
    assert took >= 0.15  # burst 2 immediately, then 4 more at 20/s
    start = time.monotonic()
    for _ in range(100):
        await reg.acquire("free")
        await reg.acquire("unconfigured")
    assert time.monotonic() - start < 0.1
    with pytest.raises(ConfigError):
        Rate(-1)


def handler_map(perform, kind: str = "test.op"):
    return {kind: Handler("TEST /op", lambda c: f"op {c.reference}", perform)}


async def test_concurrency_is_bounded_and_one_poison_command_does_not_stop_others(
    outbox: Outbox,
):
    running = 0
    peak = 0

    async def perform(c, uncertain):
        nonlocal running, peak
        if c.reference == "poison":
            raise ValueError("bad body")
        if c.reference == "rejected":
            raise Rejected("qad rejected: customer: Customer AMZ-XX does not exist")
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return Outcome("ok", "done", f"D-{c.reference}")

    await add(outbox, *[cmd(f"K{i}") for i in range(10)], cmd("poison"), cmd("rejected"))
    await add(outbox, make_command("nobody.handles", "qad", "K-x", "K-x", {}))
    counts = await make_dispatcher(outbox, handler_map(perform)).run_once()
    assert counts.ok == 10 and counts.parked == 3
    assert peak == 4  # config.concurrency
    reasons = {p.record_key: p.reason for p in await outbox.parked()}
    assert reasons["poison"].startswith("internal error: ValueError: bad body")
    assert "Customer AMZ-XX does not exist" in reasons["rejected"]
    assert "no handler" in reasons["K-x"]


async def test_drain_lets_in_flight_finish_and_records_cancelled_as_unknown(outbox: Outbox):
    started = asyncio.Event()

    async def perform(c, uncertain):
        started.set()
        await asyncio.sleep(0.05 if c.reference.startswith("fast") else 30)
        return Outcome("ok", "done", "D")

    await add(outbox, cmd("fast-1"), cmd("slow-1"), *[cmd(f"fast-{i}") for i in range(2, 8)])
    dispatcher = make_dispatcher(outbox, handler_map(perform))
    run = asyncio.create_task(dispatcher.run_once())
    await started.wait()
    await dispatcher.drain(0.3)
    counts = await asyncio.wait_for(run, 2)
    assert counts.ok == 3 and counts.unknown == 1  # 4 claimed at once; the rest never started
    (slow,) = await outbox.history("slow-1")
    assert [a.outcome for a in slow.attempts] == ["unknown"]
    assert "cancelled in flight" in slow.attempts[0].response
    assert [len((await outbox.history(f"fast-{i}"))[0].attempts) for i in range(5, 8)] == [0] * 3

    # The next run looks the uncertain one up first (uncertain=True reaches the handler).
    seen = []

    async def lookup(c, uncertain):
        seen.append((c.reference, uncertain))
        return Outcome("exists", "found", "D")

    counts = await make_dispatcher(outbox, handler_map(lookup)).run_once()
    assert ("slow-1", True) in seen and ("fast-5", False) in seen
    assert counts.exists == 5


async def test_outer_cancellation_records_unknown_then_reraises(outbox: Outbox):
    async def perform(c, uncertain):
        await asyncio.sleep(30)
        return Outcome("ok", "done")

    await add(outbox, cmd("A"))
    run = asyncio.create_task(make_dispatcher(outbox, handler_map(perform)).run_once())
    await asyncio.sleep(0.1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    (hist,) = await outbox.history("A")
    assert [a.outcome for a in hist.attempts] == ["unknown"]


async def test_pending_order_parks_and_requeue(outbox: Outbox):
    await add(outbox, cmd("R", 1), cmd("R", 2), cmd("S", 1))
    await add(outbox, cmd("R", 1))  # re-derived: ignored, not duplicated
    pend = await outbox.pending()
    assert [(p.command.record_key, p.command.body["n"]) for p in pend] == [("R", 1), ("S", 1)]
    assert [p.seq for p in pend] == [1, 3]

    async def reject(c, uncertain):
        raise Rejected("qad rejected: nope")

    await make_dispatcher(outbox, handler_map(reject)).run_once()
    assert await outbox.pending() == []  # R#2 waits behind the parked R#1
    assert sorted(await outbox.requeue_parked()) == sorted(
        [cmd("R", 1).command_id, cmd("S", 1).command_id]
    )
    assert [p.command.body["n"] for p in await outbox.pending()] == [1, 1]
    assert all(p.tries == 0 for p in await outbox.pending())
    assert await outbox.requeue("nope") is False
