"""A restart between a listing patch and its read-back loses neither and re-sends nothing."""

from __future__ import annotations

from decimal import Decimal

from engine.ops.demo import await_listing_checks
from engine.ops.status import collect_status
from engine.sim.business import catalog
from tests.e2e.test_catalog_listing import VERIFY, _attempts, _listings_cfg


async def test_verification_survives_a_restart_and_the_patch_is_not_resent(make_world):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        # First read-back 2 s after acceptance: the engine is gone before it is due.
        cfg = _listings_cfg(w.config(), verify_first_s=2.0)
        item = catalog()[9]
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            new_price = (item.list_price + Decimal("0.75")).quantize(Decimal("0.01"))
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?",
                (str(new_price), item.item_code),
            )
            await eng.sync_once()
            status = await collect_status(eng.log)
        assert [o for _, o, _ in await _attempts(cfg.engine.db, item.sku)] == ["ok"]
        assert [o for _, o, _ in await _attempts(cfg.engine.db, item.sku, VERIFY)] == ["verifying"]
        flow = next(f for f in status["flows"] if f["flow"] == "amazon.listings")
        assert flow["listing_checks"]["waiting"] == 1 and flow["commands"]["pending"] == 0

        async with w.engine(cfg) as eng:  # a new process on the same event log
            assert await await_listing_checks(eng, timeout_s=30.0)
            await eng.sync_once()
        assert [o for _, o, _ in await _attempts(cfg.engine.db, item.sku)] == ["ok"]
        verify = [o for _, o, _ in await _attempts(cfg.engine.db, item.sku, VERIFY)]
        assert verify[0] == "verifying" and verify[-1] == "ok", verify
