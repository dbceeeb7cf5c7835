"""A QAD item master change reaches the mapped Amazon listing once, keeps everything else on
it, and is confirmed by a later read-back (all over HTTP against both simulators)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from engine.adapters.amazon.listings import get_listing
from engine.config import Config
from engine.log import SQLiteEventLog
from engine.ops.audit import collect_audit
from engine.ops.demo import await_listing_checks
from engine.ops.status import collect_status
from engine.sim.business import catalog

US = "ATVPDKIKX0DER"
PATCH, VERIFY = "amazon.listing.patch", "amazon.listing.verify"


async def _attempts(db: str, sku: str, kind: str = PATCH) -> list[tuple[str, str, str]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        rows = await log.query(
            "SELECT c.command_id, a.outcome, a.response FROM commands c LEFT JOIN attempts a "
            "USING (command_id) WHERE c.kind = ? AND c.record_key = ? ORDER BY a.id",
            (kind, sku),
        )
    return [(r[0], r[1], r[2]) for r in rows]


def _listings_cfg(cfg: Config, **kw: Any) -> Config:
    # Read back 0.3 s after acceptance (the sim applies after 5 simulated min = 0.5 s at x600).
    kw = {"fields": ("price", "title"), "verify_first_s": 0.3, "verify_window_s": 20.0, **kw}
    return dataclasses.replace(cfg, listings=dataclasses.replace(cfg.listings, **kw))


def _offers(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["audience"]: o for o in listing["attributes"]["purchasable_offer"]}


def _price(offer: dict[str, Any]) -> Decimal:
    return Decimal(str(offer["our_price"][0]["schedule"][0]["value_with_tax"]))


async def test_item_change_patches_the_listing_once_and_keeps_every_other_attribute(make_world):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        cfg = _listings_cfg(w.config())
        item = catalog()[3]
        async with w.engine(cfg) as eng:
            await eng.sync_once()  # baseline: the first item version patches nothing
            assert await _attempts(cfg.engine.db, item.sku) == []
            before = await get_listing(eng.amazon["NA"], item.sku, [US])

            new_price = (_price(_offers(before)["ALL"]) + Decimal("2.50")).quantize(Decimal("0.01"))
            new_desc = f"{item.description} (2027 edition)"
            # Stands in for a user editing the item master in QAD.
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ?, pt_desc1 = ? WHERE pt_part = ?",
                (str(new_price), new_desc, item.item_code),
            )
            report = await eng.sync_once()  # returns without waiting for Amazon to apply
            assert report.dispatched.get("verifying") == 1, report.dispatched
            [(cid, outcome, response)] = await _attempts(cfg.engine.db, item.sku)
            assert outcome == "ok" and "ACCEPTED" in response and "price" in response

            assert await await_listing_checks(eng, timeout_s=30.0)
            verify = await _attempts(cfg.engine.db, item.sku, VERIFY)
            assert verify[-1][1] == "ok" and "applied" in verify[-1][2], verify
            assert {o for _, o, _ in verify} <= {"verifying", "ok"}

            after = await get_listing(eng.amazon["NA"], item.sku, [US])
            b, a = before["attributes"], after["attributes"]
            assert set(a) == set(b)
            for name in sorted(b):  # attribute by attribute
                if name == "item_name":
                    assert a[name] == [{**e, "value": new_desc} for e in b[name]]
                elif name == "purchasable_offer":
                    ob, oa = _offers(before), _offers(after)
                    assert oa["B2B"] == ob["B2B"] and _price(oa["ALL"]) == new_price
                    rest = {k: v for k, v in oa["ALL"].items() if k != "our_price"}
                    assert rest == {k: v for k, v in ob["ALL"].items() if k != "our_price"}
                    assert "discounted_price" in rest and "minimum_seller_allowed_price" in rest
                else:
                    assert a[name] == b[name], name
            assert after["summaries"][0]["productType"] == before["summaries"][0]["productType"]

            # Other SKUs were not touched.
            assert await _attempts(cfg.engine.db, catalog()[4].sku) == []
            # Once: polling the unchanged item again derives and posts nothing more.
            await eng.sync_once()
            assert await _attempts(cfg.engine.db, item.sku) == [(cid, outcome, response)]
            status = await collect_status(eng.log)
            flow = next(f for f in status["flows"] if f["flow"] == "amazon.listings")
            assert flow["listing_checks"]["applied"] == 1
            assert flow["listing_checks"]["not_applied"] == 0 and flow["commands"]["sent"] == 1


async def test_accepted_but_never_applied_is_flagged_after_the_window_not_resent(make_world):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        cfg = _listings_cfg(w.config(), verify_first_s=0.2, verify_window_s=1.5)
        item = catalog()[5]
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?",
                (str(item.list_price + 1), item.item_code),
            )
            w.amazon.faults.add("listing_not_applied", count=None)  # ACCEPTED, never applied
            await eng.sync_once()
            assert await await_listing_checks(eng, timeout_s=30.0)

            [(_, outcome, _)] = await _attempts(cfg.engine.db, item.sku)
            assert outcome == "ok"  # sent once, never re-sent
            verify = await _attempts(cfg.engine.db, item.sku, VERIFY)
            outcomes = [o for _, o, _ in verify]
            # Read back more than once (backoff), then given up on at the end of the window.
            assert outcomes[-1] == "skipped" and outcomes.count("verifying") >= 2, outcomes
            reason = verify[-1][2]
            assert reason.startswith("not applied") and "price" in reason and "1.5s" in reason

            status = await collect_status(eng.log)
            flow = next(f for f in status["flows"] if f["flow"] == "amazon.listings")
            checks = flow["listing_checks"]
            assert checks["not_applied"] == 1 and checks["waiting"] == 0
            assert checks["flagged"][0]["record_key"] == item.sku
            audit = await collect_audit(eng.log, item.sku)
            flags = {c["kind"]: c["flag"] for c in audit["commands"] if "listing" in c["kind"]}
            assert flags == {PATCH: None, VERIFY: "not applied"}
            # A later sync neither re-sends the patch nor reads again.
            await eng.sync_once()
            assert len(await _attempts(cfg.engine.db, item.sku, VERIFY)) == len(verify)
            assert len(await _attempts(cfg.engine.db, item.sku)) == 1


async def test_error_issue_parks_with_amazons_text_and_holds_the_read_back(make_world):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        base = _listings_cfg(w.config())
        # The listing marketplace maps no currency: the listing's own offer currency is used.
        us = dataclasses.replace(base.mapping.marketplaces[US], currency="")
        mapping = dataclasses.replace(
            base.mapping, marketplaces={**base.mapping.marketplaces, US: us}
        )
        cfg = dataclasses.replace(base, mapping=mapping)
        item = catalog()[7]
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            # The listing's offers were edited elsewhere into a currency the US store refuses.
            for entry in w.amazon.truth.listings()[item.sku]["attributes"]["purchasable_offer"]:
                if entry["marketplace_id"] == US:
                    entry["currency"] = "CAD"
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?",
                (str(item.list_price + 1), item.item_code),
            )
            await eng.sync_once()
            [(cid, outcome, response)] = await _attempts(cfg.engine.db, item.sku)
            assert outcome == "parked"
            assert (
                "INVALID" in response and "currency 'CAD' is not valid for marketplace" in response
            )
            # Its read-back waits behind the parked patch (nothing was accepted to verify).
            assert [o for _, o, _ in await _attempts(cfg.engine.db, item.sku, VERIFY)] == [None]
            parked = [p for p in await eng.outbox.parked() if p.command_id == cid]
            assert parked and "currency 'CAD'" in parked[0].reason
