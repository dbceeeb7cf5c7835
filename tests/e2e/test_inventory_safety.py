"""Issue 15, inventory safety, end to end over real HTTP (both simulators, a real event log):

- two CANCELLED listings reports in a row never zero (nor report as 0) the QAD warehouse, in
  ``mfn_mode`` report and adjust; ``status --db`` in another process shows the flow DEGRADED
  with reason and since when, and the next complete report clears it;
- stock QAD holds at the FBA site for a mapped item Amazon does not hold in FBA at all is
  aligned to 0 after two complete snapshots (or only reported, by ``fba_mode``);
- the FBA quantity basis is configurable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from engine.log import SQLiteEventLog
from engine.ops.status import collect_status
from engine.sim.amazon.inventory import fba_quantities
from engine.sim.business import catalog, sku_to_item

US = "ATVPDKIKX0DER"
ITEM = sku_to_item()
MFN = sorted(c.sku for c in catalog() if c.fulfillment == "MFN")
AFN = sorted(c.sku for c in catalog() if c.fulfillment == "AFN")


def _cfg(w: Any, **inventory: Any) -> Any:
    base = w.config()
    return dataclasses.replace(base, inventory=dataclasses.replace(base.inventory, **inventory))


async def _sync(w: Any, cfg: Any) -> Any:
    async with w.engine(cfg) as eng:
        return await eng.sync_once(dispatch_timeout_s=60.0)


async def _align_commands(cfg: Any, site: str) -> list[dict[str, Any]]:
    async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
        rows = await log.query("SELECT body FROM commands WHERE kind = 'qad.inventory.align'")
    return [b for (raw,) in rows if (b := orjson.loads(raw))["site"] == site]


async def _snapshots(cfg: Any, stream: str) -> list[dict[str, int]]:
    """The items of every snapshot event of ``stream`` (what Amazon said, when it said it)."""
    async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
        rows = await log.query(
            "SELECT payload FROM events WHERE stream = ? ORDER BY position", (stream,)
        )
    return [dict(orjson.loads(raw)["items"]) for (raw,) in rows]


async def _status_cli(db: str) -> dict[str, Any]:
    """``ml-connector status --db ... --json`` in another process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "status", "--db", db, "--json",
        env=dict(os.environ), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    status: dict[str, Any] = json.loads(out)
    return status


@pytest.mark.parametrize("mfn_mode", ["report", "adjust"])
async def test_two_cancelled_listings_reports_never_zero_the_warehouse(
    make_world, mfn_mode
) -> None:
    async with make_world() as w:
        cfg = _cfg(w, mfn_mode=mfn_mode)
        rep = await _sync(w, cfg)
        assert not rep.poll_errors, rep.poll_errors
        before = {s: w.qad.on_hand(ITEM[s], "10-100") for s in MFN}
        if mfn_mode == "adjust":  # the first, complete report was aligned
            (report,) = await _snapshots(cfg, "amazon.inventory.mfn")
            assert before == {s: Decimal(report[s]) for s in MFN}
        assert any(q > 0 for q in before.values())
        commands = len(await _align_commands(cfg, "10-100"))
        w.amazon.faults.add(
            "report_outcome", operation="createReport", outcome="CANCELLED", count=2
        )
        for _ in range(2):
            w.amazon.advance(timedelta(minutes=12))  # past the client's reuse interval
            rep = await _sync(w, cfg)
            assert not rep.poll_errors, rep.poll_errors  # CANCELLED is an answer, not an error
        assert not w.amazon.faults.rules, "both reports were requested and cancelled"
        # Nothing came of the unknown snapshots: no event, no command, no stock moved.
        assert len(await _snapshots(cfg, "amazon.inventory.mfn")) == 1
        assert len(await _align_commands(cfg, "10-100")) == commands
        assert {s: w.qad.on_hand(ITEM[s], "10-100") for s in MFN} == before

        status = await _status_cli(cfg.engine.db)
        (inv,) = [f for f in status["flows"] if f["flow"] == "amazon.inventory"]
        (deg,) = inv["degraded"]
        assert deg["poller"] == "amazon.inventory.mfn.NA" and deg["marketplace"] == US
        assert deg["times"] == 2 and "CANCELLED" in deg["reason"]
        assert deg["since"] < deg["last"]  # since the first of the two, restart-safe

        w.amazon.advance(timedelta(minutes=12))
        rep = await _sync(w, cfg)
        assert not rep.poll_errors, rep.poll_errors
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            (inv,) = [f for f in (await collect_status(log))["flows"] if "inventory" in f["flow"]]
        assert inv["degraded"] == []
        first, last = await _snapshots(cfg, "amazon.inventory.mfn")
        assert set(last) == set(first) == set(MFN)
        # Zero targets only ever for SKUs Amazon itself reported at 0.
        zeros = [c["sku"] for c in await _align_commands(cfg, "10-100") if c["target"] == "0"]
        assert all(first[s] == 0 or last[s] == 0 for s in zeros)
        if mfn_mode == "adjust":
            assert {s: w.qad.on_hand(ITEM[s], "10-100") for s in MFN} == {
                s: Decimal(last[s]) for s in MFN
            }


@pytest.mark.parametrize("fba_mode", ["adjust", "report"])
async def test_fba_site_stock_of_items_amazon_does_not_hold_is_aligned_to_zero(
    make_world, fba_mode
) -> None:
    async with make_world() as w:
        cfg = _cfg(w, fba_mode=fba_mode)
        fba = w.amazon.truth.fba_inventory(None, US)
        absent = [s for s in MFN if s not in fba]
        assert absent and all(w.qad.on_hand(ITEM[s], "10-FBA") == 100 for s in absent)
        await _sync(w, cfg)
        # one complete snapshot is no confirmation yet
        assert all(w.qad.on_hand(ITEM[s], "10-FBA") == 100 for s in absent)
        await _sync(w, cfg)
        fba = (await _snapshots(cfg, "amazon.inventory.fba"))[-1]  # what Amazon said last
        held = {ITEM[s]: w.qad.on_hand(ITEM[s], "10-FBA") for s in MFN}
        if fba_mode == "adjust":
            # QAD's FBA site now equals what Amazon holds in FBA: nothing for these items ...
            assert held == {ITEM[s]: 0 for s in MFN}
            # ... and what Amazon holds for the others.
            assert {s: w.qad.on_hand(ITEM[s], "10-FBA") for s in AFN} == {
                s: Decimal(fba[s]) for s in AFN
            }
        else:
            assert held == {ITEM[s]: 100 for s in MFN}
            async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
                status = await collect_status(log)
            (inv,) = [f for f in status["flows"] if f["flow"] == "amazon.inventory"]
            assert inv["commands"]["drift_reported"] >= len(absent)
        zeroed = [c for c in await _align_commands(cfg, "10-FBA") if c["target"] == "0"]
        assert sorted(c["sku"] for c in zeroed) == absent  # once each, after confirmation


async def test_fba_quantity_basis_includes_reserved_units(make_world) -> None:
    async with make_world() as w:
        cfg = _cfg(w, fba_quantity="fulfillable_reserved")
        world = w.amazon.world
        q0 = fba_quantities(world, 0, US, world.now())
        rep = await _sync(w, cfg)
        assert not rep.poll_errors, rep.poll_errors
        q1 = fba_quantities(world, 0, US, world.now())
        (snap,) = await _snapshots(cfg, "amazon.inventory.fba")
        assert {s: w.qad.on_hand(ITEM[s], "10-FBA") for s in AFN} == {
            s: Decimal(snap[s]) for s in AFN
        }
        # SKUs whose numbers did not move while the sync ran: the snapshot counts reserved too
        steady = [s for s in AFN if q0[s] == q1[s]]
        assert any(q1[s]["reserved"] > 0 for s in steady), "no reserved units to tell apart"
        assert {s: snap[s] for s in steady} == {
            s: q1[s]["fulfillable"] + q1[s]["reserved"] for s in steady
        }
