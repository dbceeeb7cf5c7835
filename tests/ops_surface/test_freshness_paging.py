"""The /metrics scrape's paging over ``order_freshness`` (engine/ops/metrics.py ``SamplePager``):
each sample observed exactly once, on PostgreSQL even when two writers commit out of id order,
and on an SQLite file whose table predates the ``sample_id`` column (paged by its rowid).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord
from engine.commands.vocabulary import make_command
from engine.dispatch.freshness import SCHEMA, FreshnessRecorder
from engine.log import NewEvent
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.metrics import Metrics, SamplePager

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
INSERT = (
    "INSERT OR IGNORE INTO order_freshness (order_id, last_update, flow, region, kind, "
    "posted_at, seconds, command_id) VALUES (?, ?, 'amazon.orders', ?, 'create', ?, ?, ?)"
)
# The table as files written before the sample_id column hold it (keyed by order version).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS order_freshness (
    order_id TEXT NOT NULL, last_update TEXT NOT NULL, flow TEXT NOT NULL, region TEXT NOT NULL,
    kind TEXT NOT NULL, posted_at TEXT NOT NULL, seconds REAL NOT NULL, command_id TEXT NOT NULL,
    PRIMARY KEY (order_id, last_update)
);
"""


def sample(order_id: str, region: str = "NA", seconds: float = 60.0) -> tuple[Any, ...]:
    return (order_id, "2026-11-02T11:00:00Z", region, NOW.isoformat(), seconds, f"c:{order_id}")


def observed(m: Metrics, region: str = "NA") -> float:
    value = m.registry.get_sample_value("mlc_order_freshness_seconds_count", {"region": region})
    return value or 0.0


def test_pager_waits_for_a_gap_then_gives_it_up() -> None:
    t = [0.0]
    pager = SamplePager(settle_s=60.0, clock=lambda: t[0], lookback=2)
    # The first read: 3 and 4 may be in flight (within lookback), 1 and 2 are pruned history.
    assert [r[0] for r in pager.new([(5,), (6,), (8,)])] == [5, 6, 8]
    assert pager.floor == 2
    assert [r[0] for r in pager.new([(4,), (5,), (6,), (8,)])] == [4]
    assert pager.floor == 2  # 3 and 7 are still missing: held open
    t[0] = 10.0
    assert [r[0] for r in pager.new([(3,), (4,), (5,), (6,), (8,)])] == [3]
    assert pager.floor == 6  # 7 is missing below 8: held open
    t[0] = 30.0
    assert [r[0] for r in pager.new([(7,), (8,), (9,)])] == [7, 9]  # 8 not again
    assert pager.floor == 9
    assert [r[0] for r in pager.new([(11,)])] == [11]
    assert pager.floor == 9  # 10 is a gap now
    t[0] = 95.0  # longer than settle_s: a rolled-back or conflicting insert burnt it
    assert pager.new([(11,)]) == []
    assert pager.floor == 11
    assert [r[0] for r in pager.new([(12,)])] == [12] and pager.floor == 12
    # SQLite commits ids in order: nothing waited for, nothing read twice.
    ordered = SamplePager(settle_s=60.0, clock=lambda: t[0])
    assert [r[0] for r in ordered.new([(7,), (9,)], in_order=True)] == [7, 9]
    assert ordered.floor == 9
    assert ordered.new([], in_order=True) == [] and ordered.floor == 9


async def test_postgresql_sample_committed_late_is_still_counted(pg_dsn: str) -> None:
    """Two writers (as two worker processes): A takes the lower id, B commits first and is
    scraped; A's sample, committed after, must still be observed (once)."""
    async with open_event_log(pg_dsn) as a, open_event_log(pg_dsn) as b:
        await a.ensure_schema(SCHEMA)
        m = Metrics()
        async with a.transaction() as tx_a:
            await tx_a.execute(INSERT, sample("A"))
            async with b.transaction() as tx_b:
                await tx_b.execute(INSERT, sample("B"))
            await m.exposition(b)
            assert observed(m) == 1.0  # B only: A is not committed yet
        ids = dict(await b.query("SELECT order_id, sample_id FROM order_freshness"))
        assert ids["A"] < ids["B"]  # the case "id > last seen" would lose for good
        await m.exposition(b)
        assert observed(m) == 2.0
        await m.exposition(b)
        assert observed(m) == 2.0  # nothing counted twice
        # A re-post of a version already sampled adds no row (and burns an id: a gap).
        async with a.transaction() as tx:
            await tx.execute(INSERT, sample("A"))
            await tx.execute(INSERT, sample("C", "EU"))
        await m.exposition(b)
        assert (observed(m), observed(m, "EU")) == (2.0, 1.0)


async def test_sqlite_table_from_before_the_column_keeps_working(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with open_event_log(db) as log:
        await log.ensure_schema(OLD_SCHEMA)
        await log.ensure_schema(SCHEMA)  # the engine's DDL on top: leaves the table as it is
        columns = [r[1] for r in await log.query("PRAGMA table_info(order_freshness)")]
        assert "sample_id" not in columns
        m = Metrics()
        box = await _outbox_with_recorder(log)
        await _post(log, box, "ORD-1", minutes=10)
        await m.exposition(log)
        assert observed(m) == 1.0
        await _post(log, box, "ORD-2", minutes=4)
        await _post(log, box, "ORD-1", minutes=10, again=True)  # the same version: no sample
        await m.exposition(log)
        assert observed(m) == 2.0
        assert m.registry.get_sample_value("mlc_order_freshness_seconds_sum", {"region": "NA"}) == (
            600.0 + 240.0
        )
        [(rows,)] = await log.query("SELECT count(*) FROM order_freshness")
        assert rows == 2


async def test_new_table_numbers_samples_on_both_backends(tmp_path: Path, pg_dsn: str) -> None:
    for target in (str(tmp_path / "events.db"), pg_dsn):
        async with open_event_log(target) as log:
            await log.ensure_schema(SCHEMA)
            box = await _outbox_with_recorder(log)
            for n, minutes in enumerate((9, 7, 5)):
                await _post(log, box, f"ORD-{n}", minutes=minutes)
            rows = await log.query("SELECT sample_id, order_id FROM order_freshness")
            assert sorted(rows) == [(1, "ORD-0"), (2, "ORD-1"), (3, "ORD-2")], target
            m = Metrics()
            await m.exposition(log)
            assert observed(m) == 3.0, target


async def _outbox_with_recorder(log: EventLog) -> Outbox:
    box = Outbox(log)
    await box.ensure()
    box.after_attempts = FreshnessRecorder(lambda: NOW)
    return box


async def _post(
    log: EventLog, box: Outbox, order_id: str, *, minutes: int, again: bool = False
) -> None:
    """An order version (appended unless ``again``: then its newest stored one), a create
    command derived from it and that command's ``ok``: the recorder samples it."""
    if not again:
        last = (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        payload = {"order_id": order_id, "last_update": last, "region": "NA"}
        await log.append([NewEvent("amazon.orders", "OrderFetched", order_id, payload)])
    stored = await log.latest("amazon.orders", order_id)
    assert stored is not None
    body = {"again": again}  # a re-post is another command of the same order version
    cmd = make_command(
        "qad.sales_order.create", "qad", order_id, order_id, body, (stored.position,)
    )
    async with log.transaction() as tx:
        await box.add_commands(tx, [cmd], "orders")
    await box.record_attempt(AttemptRecord(cmd.command_id, NOW, "qad", "req", "ok", "ok"))
