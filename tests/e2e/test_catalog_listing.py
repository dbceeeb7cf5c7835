"""A QAD item master change reaches the mapped Amazon listing, once (read back over HTTP)."""

from __future__ import annotations

from decimal import Decimal

from engine.adapters.amazon.listings import get_listing
from engine.log import SQLiteEventLog
from engine.sim.business import catalog

US = "ATVPDKIKX0DER"


async def _patch_attempts(db: str, sku: str) -> list[tuple[str, str]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        rows = await log.query(
            "SELECT c.command_id, a.outcome FROM commands c LEFT JOIN attempts a USING "
            "(command_id) WHERE c.kind = 'amazon.listing.patch' AND c.record_key = ? "
            "ORDER BY a.id",
            (sku,),
        )
    return [(r[0], r[1]) for r in rows]


async def test_item_price_and_description_change_patches_the_listing_once(make_world):
    # x600: an accepted submission becomes visible after 120 simulated s = 0.2 s here.
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        cfg = w.config()
        item = catalog()[3]
        async with w.engine(cfg) as eng:
            await eng.sync_once()  # baseline: the first item version patches nothing
            assert await _patch_attempts(cfg.engine.db, item.sku) == []

            new_price = (item.list_price + Decimal("2.50")).quantize(Decimal("0.01"))
            new_desc = f"{item.description} (2027 edition)"
            # Stands in for a user editing the item master in QAD.
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ?, pt_desc1 = ? WHERE pt_part = ?",
                (str(new_price), new_desc, item.item_code),
            )
            await eng.sync_once()
            attempts = await _patch_attempts(cfg.engine.db, item.sku)
            assert len({cid for cid, _ in attempts}) == 1  # one listing marketplace, one patch
            assert [o for _, o in attempts].count("ok") == 1, attempts

            # Read the listing back from Amazon (getListingsItem over HTTP).
            listing = await get_listing(eng.amazon["NA"], item.sku, [US])
            attrs = listing["attributes"]
            assert attrs["item_name"][0]["value"] == new_desc
            price = attrs["purchasable_offer"][0]["our_price"][0]["schedule"][0]["value_with_tax"]
            assert Decimal(str(price)) == new_price

            # Other SKUs were not touched.
            other = catalog()[4]
            assert await _patch_attempts(cfg.engine.db, other.sku) == []

            # Once: polling the unchanged item again derives and posts nothing more.
            await eng.sync_once()
            assert await _patch_attempts(cfg.engine.db, item.sku) == attempts
