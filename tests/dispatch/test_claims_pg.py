"""Several dispatchers on one PostgreSQL outbox (``run --worker``): every command is posted once,
a record's commands in their order, over real HTTP to the QAD simulator; and QAD's rate holds
across them (one shared bucket, not one per worker)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from engine.adapters.qad import QadClient
from engine.commands.outbox import Outbox
from engine.dispatch.claims import RowLockClaims, SingleProcess
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry, Rate
from engine.dispatch.shared_limits import SharedBuckets
from engine.log.opening import open_event_log

from .conftest import FAST, ITEMS, add, qad_settings, so_create, so_update

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")

ORDERS = 24


async def _seed(dsn: str) -> None:
    async with open_event_log(dsn) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        for n in range(ORDERS):
            ref = f"ORD-W{n:03d}"
            await add(
                outbox,
                so_create(ref, (ITEMS[n % len(ITEMS)], "1", "9.99")),
                so_update(ref, 1, "2", "9.99"),
                so_update(ref, 1, "3", "9.99"),
            )


async def _workers(dsn: str, qad: Any, claims_kind: str, workers: int = 3) -> list[int]:
    """Run ``workers`` dispatchers, each on its own log connection pool and HTTP session,
    until none finds anything due; returns how many commands each posted."""

    async def one() -> int:
        async with (
            open_event_log(dsn) as log,
            aiohttp.ClientSession() as session,
            QadClient(session, qad_settings(qad)) as client,
        ):
            outbox = Outbox(log)
            claims = RowLockClaims(log, outbox) if claims_kind == "rows" else SingleProcess()
            dispatcher = Dispatcher(
                log, outbox, qad_handlers(client), LimiterRegistry({"qad": Rate(0)}), FAST,
                claims=claims,
            )  # fmt: skip
            posted = 0
            for _ in range(60):
                counts = await dispatcher.run_once()
                posted += counts.attempted
                if not await outbox.pending(limit=1):
                    break
                await asyncio.sleep(0.01)
            return posted

    return list(await asyncio.gather(*(one() for _ in range(workers))))


async def test_three_workers_post_every_command_once_in_record_order(qad, pg_dsn) -> None:
    await _seed(pg_dsn)
    posted = await _workers(pg_dsn, qad, "rows")
    async with open_event_log(pg_dsn, readonly=True) as log:
        rows = await log.query(
            "SELECT c.record_key, c.seq, a.outcome, a.id FROM attempts a "
            "JOIN commands c USING (command_id) ORDER BY a.id"
        )
    assert sum(posted) == len(rows) == 3 * ORDERS  # one attempt per command, no repost
    assert all(outcome == "ok" for _, _, outcome, _ in rows)
    assert sum(1 for n in posted if n) >= 2, posted  # the work was shared
    by_record: dict[str, list[int]] = {}
    for key, seq, _, _ in rows:
        by_record.setdefault(key, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_record.values())  # in the record's order
    for n in range(ORDERS):
        (so,) = [s for s in qad.sales_orders() if s["so_po"] == f"ORD-W{n:03d}"]
        assert so["lines"][0]["sod_qty_ord"] == 3  # the last update applied last


async def test_negative_control_without_claims_workers_post_commands_twice(qad, pg_dsn) -> None:
    """The check can fail: the same workers without row claims post some command twice."""
    await _seed(pg_dsn)
    posted = await _workers(pg_dsn, qad, "none")
    assert sum(posted) > 3 * ORDERS


async def test_workers_share_one_rate_bucket(pg_dsn) -> None:
    """Three workers taking 20 tokens each from a 40/s bucket (burst 4) need about
    (60 - 4) / 40 s together: three in-process buckets would take a third of that."""
    rate = Rate(40.0, 4)
    stamps: list[float] = []

    async def worker() -> None:
        async with open_event_log(pg_dsn) as log:
            buckets = SharedBuckets(log)
            await buckets.ensure()
            limits = LimiterRegistry({"qad": rate}, shared=buckets, shared_names={"qad": "qad t"})
            for _ in range(20):
                await limits.acquire("qad")
                stamps.append(time.monotonic())

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(3)))
    elapsed = time.monotonic() - start
    assert elapsed >= (60 - 4) / 40 * 0.9, elapsed
    stamps.sort()
    # Over every window the workers together stayed within burst + rate * window (+1 slack).
    for i, t0 in enumerate(stamps):
        for j in range(i, len(stamps)):
            window = stamps[j] - t0
            assert j - i + 1 <= rate.burst + rate.per_s * window + 1, (i, j, window)
