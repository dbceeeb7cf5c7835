"""Settlement reports from the simulator: every locale to the cent, dedupe, quarantine."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from engine.log.sqlite import SQLiteEventLog
from engine.pollers.inventory import FbaInventoryPoller, MfnInventoryPoller
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.sim.amazon import AmazonSimulator

from .conftest import make_client

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


@pytest.fixture
async def sim30():
    async with AmazonSimulator(seed=2, time_scale=60.0, history_days=32, orders_per_day=20) as s:
        yield s


async def test_each_locale_parsed_to_the_cent_and_deduped(sim30, tmp_path):
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        locales = set()
        for region in ("NA", "EU", "FE"):
            c = make_client(sim30, session, region)
            p = SettlementsPoller(c, log, SettlementsPollConfig(raw_dir=tmp_path / "raw"))
            res = await p.poll_once()
            assert res.quarantined == 0
            again = await p.poll_once()
            assert again.appended == 0 and again.fetched == 0
            truth = {s.settlement_id: s for s in sim30.truth.settlements(region=region)}
            evs = [e async for e in log.read(streams=["amazon.settlements"])]
            got = {e.key: e.payload for e in evs if e.payload["region"] == region}
            assert got.keys() == truth.keys() and got
            for sid, pl in got.items():
                t = truth[sid]
                assert Decimal(pl["total_amount"]) == t.total
                assert pl["currency"] == t.currency and pl["row_count"] == len(t.rows)
                assert sum(Decimal(r["amount"]) for r in pl["rows"]) == t.total
                assert [Decimal(r["amount"]) for r in pl["rows"]] == [r.amount for r in t.rows]
                locales.add(pl["locale"])
        assert {"US", "DE", "UK", "JP"} <= locales


async def test_wrong_layout_is_quarantined_never_half_applied(sim30, tmp_path):
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        c = make_client(sim30, session, "EU")
        cfg = SettlementsPollConfig(raw_dir=tmp_path / "raw", locale="US")  # DE files as US
        res = await SettlementsPoller(c, log, cfg).poll_once()
        evs = [e async for e in log.read(streams=["amazon.settlements"])]
        bad = [e for e in evs if e.type == "SettlementQuarantined"]
        assert res.quarantined == len(bad) > 0
        assert all(e.payload["reason_code"] in ("unreconciled", "parse_error") for e in bad)
        applied = {e.payload["settlement_id"] for e in evs if e.type == "SettlementFetched"}
        assert not applied & {e.payload["settlement_id"] for e in bad}


async def test_inventory_snapshots_match_truth(sim30, tmp_path):
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        c = make_client(sim30, session, "NA")
        mp = "ATVPDKIKX0DER"
        fba = FbaInventoryPoller(c, log, [mp])
        await fba.poll_once()
        await fba.poll_once()
        snaps = [e async for e in log.read(streams=["amazon.inventory.fba"])]
        assert [e.payload["snapshot"] for e in snaps] == [1, 2]
        assert snaps[-1].payload["items"] == sim30.truth.fba_inventory(None, mp)
        mfn = MfnInventoryPoller(c, log, [mp], raw_dir=tmp_path / "raw")
        await mfn.poll_once()
        m = [e async for e in log.read(streams=["amazon.inventory.mfn"])]
        want = sim30.truth.mfn_inventory(None, mp)
        assert m[-1].payload["items"] == {k: v for k, v in want.items() if k.endswith("-M")}


async def test_report_id_repeated_across_pages_is_fetched_and_appended_once(sim30, tmp_path):
    """Amazon's report listing can repeat a report id on the next page (reference gotcha)."""
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        c = make_client(sim30, session, "EU")
        calls: list[str] = []
        real_call = c.call

        async def counting_call(operation, *a, **kw):  # type: ignore[no-untyped-def]
            calls.append(operation)
            return await real_call(operation, *a, **kw)

        c.call = counting_call  # type: ignore[method-assign]
        rule = sim30.faults.add("duplicate_page_item", operation="getReports", count=50)
        cfg = SettlementsPollConfig(raw_dir=tmp_path / "raw", page_size=1)
        res = await SettlementsPoller(c, log, cfg).poll_once()
        left = next(r.count for r in sim30.faults.rules if r.id == rule)
        assert left is not None and left < 50  # the listing really repeated ids
        truth = {s.settlement_id for s in sim30.truth.settlements(region="EU")}
        assert len(truth) >= 2  # several pages at pageSize=1
        assert res.fetched == len(truth) and res.quarantined == 0
        assert calls.count("getReportDocument") == len(truth)  # each document fetched once
        evs = [e async for e in log.read(streams=["amazon.settlements"])]
        assert sorted(e.key for e in evs) == sorted(truth)  # each settlement appended once
