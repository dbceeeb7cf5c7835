"""Issue 21.4: stock moved in QAD at the FBA site is aligned again although Amazon's number did
not change, and with `fba_mode = "report"` the same drift is only reported (status counts it)."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import aiohttp

from engine.adapters.qad import InventoryAdjustment, QadClient
from engine.log import SQLiteEventLog
from engine.ops.status import collect_status
from engine.sim.business import sku_to_item

ITEM = sku_to_item()
US = "ATVPDKIKX0DER"


async def _issue_in_qad(w, cfg, item: str, qty: int) -> None:
    async with aiohttp.ClientSession() as session, QadClient(session, w.qad_settings(cfg)) as qad:
        await qad.post_inventory_adjustment(
            InventoryAdjustment(
                reference=f"SHOP-FLOOR-{item}",
                item=item,
                site="10-FBA",
                quantity=Decimal(-qty),
                effective_date=date.today(),
                remarks="issued to production",
            )
        )


async def _synced_with(w, **inventory):
    base = w.config()
    cfg = dataclasses.replace(base, inventory=dataclasses.replace(base.inventory, **inventory))
    async with w.engine(cfg) as eng:
        await eng.sync_once()
    return cfg


async def test_fba_stock_issued_in_qad_is_realigned_on_the_next_snapshot(make_world):
    async with make_world() as w:
        cfg = await _synced_with(w, realign_every_s=0)
        sku, qty = next(iter(sorted(w.amazon.truth.fba_inventory(None, US).items())))
        item = ITEM[sku]
        assert w.qad.on_hand(item, "10-FBA") == qty
        await _issue_in_qad(w, cfg, item, 5)
        assert w.qad.on_hand(item, "10-FBA") == qty - 5
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        now = w.amazon.truth.fba_inventory(None, US)[sku]
        assert w.qad.on_hand(item, "10-FBA") == now


async def test_fba_report_mode_reports_the_drift_and_moves_no_stock(make_world):
    async with make_world() as w:
        cfg = await _synced_with(w, fba_mode="report", realign_every_s=0)
        fba = w.amazon.truth.fba_inventory(None, US)
        drifting = [s for s in fba if w.qad.on_hand(ITEM[s], "10-FBA") != fba[s]]
        assert drifting, "the seeded QAD stock should differ from Amazon's"
        assert all(w.qad.on_hand(ITEM[s], "10-FBA") == Decimal(100) for s in drifting)
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            report = await collect_status(log)
        (inventory,) = [f for f in report["flows"] if f["flow"] == "amazon.inventory"]
        assert inventory["commands"]["drift_reported"] >= len(drifting)
