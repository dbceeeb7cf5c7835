"""Big settlements arrive as row chunks + a header and post exactly what one event would."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import engine.pollers.settlement_events as settlements_poller
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.commands.outbox import Outbox
from engine.config import Config
from engine.log.records import StoredEvent
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.projectors.mapping import Mapper
from engine.projectors.runner import ProjectionRunner
from engine.projectors.settlements import SettlementsProjector
from engine.sim.amazon import AmazonSimulator
from tests.amazon.conftest import account_of

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


def _mapper() -> Mapper:
    from engine.ops.demo import simulator_config

    cfg: Config = simulator_config(Path("x.db"), amazon_base="http://x", lwa_url="", qad_url="")
    return Mapper(cfg.mapping)


async def _poll_all(sim: AmazonSimulator, db: Path, raw: Path) -> None:
    account = account_of(sim)
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(db) as log:
        for region in ("NA", "EU", "FE"):
            client = AmazonClient(
                session, account, region, endpoint=sim.endpoint(region), lwa_url=sim.lwa_url,
                clock=sim.clock.now, limits=BucketRegistry(enabled=False),
            )  # fmt: skip
            res = await SettlementsPoller(
                client, log, SettlementsPollConfig(raw_dir=raw)
            ).poll_once()
            assert res.quarantined == 0


async def _derive(db: Path) -> list[tuple[str, str, Any]]:
    async with SQLiteEventLog.open(db) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        runner = ProjectionRunner(log, outbox, [SettlementsProjector(_mapper())])
        diff = await runner.rebuild(dry_run=True)
        assert not diff.new_parks
        return sorted((c.command_id, c.kind, c.body) for c in diff.new)


async def test_chunked_settlements_derive_the_same_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AmazonSimulator(seed=2, time_scale=60.0, history_days=32, orders_per_day=20) as sim:
        await _poll_all(sim, tmp_path / "inline.db", tmp_path / "raw1")
        monkeypatch.setattr(settlements_poller, "INLINE_MAX_ROWS", 10)
        monkeypatch.setattr(settlements_poller, "CHUNK_ROWS", 7)
        await _poll_all(sim, tmp_path / "chunked.db", tmp_path / "raw2")
        truth = {s.settlement_id: s for s in sim.truth.settlements()}

    async with SQLiteEventLog.open(tmp_path / "chunked.db", readonly=True) as log:
        events = [e async for e in log.read(streams=["amazon.settlements"])]
    headers = [e for e in events if e.type == "SettlementFetched"]
    assert {e.key for e in headers} == set(truth) and headers
    for h in headers:
        assert "rows" not in h.payload and h.payload["chunks"] >= 2
        chunks = [e for e in events if e.type == "SettlementRows" and e.key == h.key]
        assert all(c.position < h.position for c in chunks)  # rows always before the header
        assert [c.payload["chunk"] for c in chunks] == list(range(h.payload["chunks"]))
        rows = [r for c in chunks for r in c.payload["rows"]]
        assert all(len(c.payload["rows"]) <= 7 for c in chunks)
        assert [Decimal(r["amount"]) for r in rows] == [r.amount for r in truth[h.key].rows]

    inline, chunked = await _derive(tmp_path / "inline.db"), await _derive(tmp_path / "chunked.db")
    # Invoice or credit note + journal each; a zero settlement posts its journal only.
    zero = sum(1 for s in truth.values() if s.total == 0)
    assert chunked == inline and len(inline) == 2 * len(truth) - zero


def _ev(pos: int, etype: str, payload: dict[str, Any]) -> StoredEvent:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return StoredEvent(pos, "amazon.settlements", etype, "S1", f"d{pos}", payload, "t", at)


def _row(amount: str) -> dict[str, Any]:
    return {"transaction_type": "Order", "amount_type": "ItemPrice",
            "amount_description": "Principal", "amount": amount,
            "marketplace_name": "Amazon.com"}  # fmt: skip


HEADER = {"settlement_id": "S1", "report_id": "R1", "total_amount": "30.00", "currency": "USD",
          "start": "2026-02-01T00:00:00Z", "end": "2026-02-15T00:00:00Z",
          "deposit_date": "2026-02-17T00:00:00Z", "row_count": 3, "chunks": 2}  # fmt: skip


def _run(events: list[StoredEvent]) -> tuple[Any, dict[str, Any]]:
    p = SettlementsProjector(_mapper())
    state: dict[str, Any] = {}
    last = None
    for e in events:
        last = p.project(e, state)
        last.apply_to(state)
    return last, state


def test_header_without_all_chunks_parks_and_posts_nothing() -> None:
    chunk0 = _ev(1, "SettlementRows", {"report_id": "R1", "chunk": 0, "rows": [_row("10.00")]})
    out, _ = _run([chunk0, _ev(3, "SettlementFetched", HEADER)])
    assert not out.commands and "incomplete" in out.parks[0].reason


def test_replayed_chunk_counts_once_and_a_bad_chunk_parks() -> None:
    c0 = {"report_id": "R1", "chunk": 0, "rows": [_row("10.00"), _row("15.00")]}
    c1 = {"report_id": "R1", "chunk": 1, "rows": [_row("5.00")]}
    good = [_ev(1, "SettlementRows", c0), _ev(2, "SettlementRows", c0)]
    good += [_ev(3, "SettlementRows", c1), _ev(4, "SettlementFetched", HEADER)]
    out, state = _run(good)
    assert [c.kind for c in out.commands] == ["qad.invoice.create", "qad.journal.create"]
    assert state["S1"]["posted"]
    bad = {**c1, "rows": [{**_row("5.00"), "amount": "NaN"}]}
    out, _ = _run([_ev(1, "SettlementRows", c0), _ev(2, "SettlementRows", bad), good[-1]])
    assert not out.commands and "not readable" in out.parks[0].reason
