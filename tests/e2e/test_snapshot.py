"""The tenant snapshot used by the reliability checks sees lost, duplicated and changed docs."""

from __future__ import annotations

import shutil
import sqlite3

from engine.sim.qad.snapshot import diff_snapshots, snapshot


async def test_snapshot_matches_simulator_and_diff_detects_damage(make_world, tmp_path):
    async with make_world(history_days=4) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        state = w.qad.state_file()
        snap = snapshot(state)
        assert len(snap.sales_orders) == len(w.qad.sales_orders()) > 5
        assert len(snap.invoices) == len(w.qad.invoices())
        assert len(snap.journals) == len(w.qad.journal_entries())
        assert snap.duplicate_count == 0
        same = diff_snapshots(snap, snapshot(state))
        assert (same["lost"], same["duplicated"], same["mismatched"]) == (0, 0, 0)

    damaged = tmp_path / "damaged.db"
    shutil.copy(state, damaged)
    db = sqlite3.connect(damaged)
    victim, twin, repriced = sorted(snap.sales_orders)[:3]
    db.execute("DELETE FROM so_mstr WHERE so_po=?", (victim,))
    db.execute(
        "INSERT INTO so_mstr (so_nbr, so_po, so_cust) SELECT so_nbr || 'X', so_po, so_cust "
        "FROM so_mstr WHERE so_po=?",
        (twin,),
    )
    db.execute(
        "UPDATE sod_det SET sod_price = '999.99' WHERE sod_nbr = "
        "(SELECT so_nbr FROM so_mstr WHERE so_po=? LIMIT 1)",
        (repriced,),
    )
    db.commit()
    db.close()
    d = diff_snapshots(snap, snapshot(damaged))
    assert d["lost"] == 1
    assert d["duplicated"] == 1
    assert d["mismatched"] >= 1
    assert any(repriced in e for e in d["examples"])
