"""Pure projector rules: events in, commands/parks/state out (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.config import MappingConfig, MarketplaceMap
from engine.log.records import StoredEvent
from engine.projectors.catalog import CatalogProjector
from engine.projectors.inventory import InventoryProjector
from engine.projectors.mapping import Mapper
from engine.projectors.orders import OrdersProjector
from engine.projectors.settlements import SettlementsProjector

US = "ATVPDKIKX0DER"
MAPPING = MappingConfig(
    sku={"SKU-A": "10-1000", "SKU-B": "10-1010"},
    marketplaces={
        US: MarketplaceMap(
            customer="AMZ-US",
            currency="USD",
            name="Amazon.com",
            fba_site="10-FBA",
            warehouse_site="10-100",
        )
    },
)


def ev(
    stream: str, key: str, payload: dict[str, Any], position: int, etype: str = "X"
) -> StoredEvent:
    return StoredEvent(
        position, stream, etype, key, "d", payload, "test", datetime(2026, 11, 1, tzinfo=UTC)
    )


def order(
    status: str, lines: list[dict[str, Any]], oid: str = "111-0000001-0000001"
) -> dict[str, Any]:
    return {
        "order_id": oid,
        "marketplace_id": US,
        "status": status,
        "currency": "USD",
        "purchase_date": "2026-11-01T10:00:00Z",
        "lines": lines,
    }


def line(sku: str, qty: int, price: str | None, item_id: str = "1") -> dict[str, Any]:
    return {
        "order_item_id": item_id,
        "sku": sku,
        "quantity": qty,
        "item_price": None if price is None else str(Decimal(price) * qty),
        "unit_price": price,
    }


def run(projector: Any, events: list[StoredEvent]) -> tuple[list[Any], list[Any], dict[str, Any]]:
    state: dict[str, Any] = {}
    cmds, parks = [], []
    for e in events:
        p = projector.project(e, state)
        cmds += p.commands
        parks += p.parks
        state.update({k: v for k, v in p.state.items() if v is not None})
    return cmds, parks, state


def test_pending_creates_then_unshipped_updates_prices_then_cancel_is_not_after_ship():
    proj = OrdersProjector(Mapper(MAPPING))
    oid = "111-0000001-0000001"
    events = [
        ev("amazon.orders", oid, order("Pending", [line("SKU-A", 2, None)]), 1),
        ev("amazon.orders", oid, order("Unshipped", [line("SKU-A", 2, "19.99")]), 2),
        ev("amazon.orders", oid, order("Shipped", [line("SKU-A", 2, "19.99")]), 3),
        ev("amazon.orders", oid, order("Canceled", [line("SKU-A", 2, "19.99")]), 4),
    ]
    cmds, parks, _ = run(proj, events)
    assert [c.kind for c in cmds] == ["qad.sales_order.create", "qad.sales_order.update"]
    assert cmds[0].body["lines"][0] == {
        "line": 1,
        "item": "10-1000",
        "quantity": "2",
        "price": "0",
        "site": "10-100",
    }
    assert cmds[0].body["customer"] == "AMZ-US"
    assert cmds[1].body["lines"] == [{"line": 1, "quantity": "2", "price": "19.99"}]
    assert not parks


def test_cancel_before_shipping_becomes_cancel_update_once():
    proj = OrdersProjector(Mapper(MAPPING))
    oid = "111-0000001-0000001"
    cmds, _, _ = run(
        proj,
        [
            ev("amazon.orders", oid, order("Unshipped", [line("SKU-A", 1, "5.00")]), 1),
            ev("amazon.orders", oid, order("Canceled", [line("SKU-A", 1, "5.00")]), 2),
            ev("amazon.orders", oid, order("Canceled", [line("SKU-A", 0, "5.00")]), 3),
        ],
    )
    assert [c.kind for c in cmds] == ["qad.sales_order.create", "qad.sales_order.update"]
    assert cmds[1].body["cancel"] is True


def test_unmapped_sku_parks_whole_order_and_map_fix_derives_create():
    oid = "111-0000001-0000002"
    events = [
        ev(
            "amazon.orders",
            oid,
            order("Unshipped", [line("SKU-A", 1, "5.00", "1"), line("SKU-Z", 1, "3.00", "2")], oid),
            7,
        )
    ]
    cmds, parks, _state = run(OrdersProjector(Mapper(MAPPING)), events)
    assert cmds == [] and parks[0].record_key == oid and "SKU-Z" in parks[0].reason
    fixed = MappingConfig(
        sku={**MAPPING.sku, "SKU-Z": "10-1020"}, marketplaces=MAPPING.marketplaces
    )
    cmds2, parks2, _ = run(OrdersProjector(Mapper(fixed)), events)
    assert [c.kind for c in cmds2] == ["qad.sales_order.create"] and not parks2
    assert [ln["item"] for ln in cmds2[0].body["lines"]] == ["10-1000", "10-1020"]


def test_command_ids_are_deterministic():
    oid = "111-0000001-0000003"
    events = [ev("amazon.orders", oid, order("Unshipped", [line("SKU-B", 3, "7.25")], oid), 1)]
    a, _, _ = run(OrdersProjector(Mapper(MAPPING)), events)
    b, _, _ = run(OrdersProjector(Mapper(MAPPING)), events)
    assert a[0].command_id == b[0].command_id and a[0].idempotency_key == b[0].idempotency_key


def settlement(rows: list[tuple[str, str, str, str]], total: str) -> dict[str, Any]:
    return {
        "settlement_id": "S1",
        "total_amount": total,
        "currency": "USD",
        "start": "2026-10-01T00:00:00Z",
        "end": "2026-10-15T00:00:00Z",
        "deposit_date": "2026-10-17T00:00:00Z",
        "rows": [
            {
                "transaction_type": t,
                "amount_type": a,
                "amount_description": d,
                "amount": x,
                "marketplace_name": "Amazon.com",
            }
            for t, a, d, x in rows
        ],
    }


def test_settlement_invoice_and_balanced_journal_reconcile_to_the_cent():
    rows = [
        ("Order", "ItemPrice", "Principal", "95.00"),
        ("Order", "ItemPrice", "Tax", "7.60"),
        ("Order", "ItemFees", "Commission", "-14.25"),
        ("Order", "ItemFees", "FBAPerUnitFulfillmentFee", "-3.22"),
        ("Refund", "ItemPrice", "Principal", "-10.00"),
        ("other-transaction", "other-transaction", "Current Reserve Amount", "-20.01"),
        ("Order", "Weird", "Brand New Fee", "-0.12"),
    ]
    total = str(sum(Decimal(r[3]) for r in rows))
    out = SettlementsProjector(Mapper(MAPPING)).project(
        ev("amazon.settlements", "S1", settlement(rows, total), 5, "SettlementFetched"), {}
    )
    inv, je = out.commands
    assert inv.kind == "qad.invoice.create" and inv.body["amount"] == total == "55.00"
    assert inv.body["customer"] == "AMZ-US" and inv.body["due_date"] == "2026-10-17"
    debit = sum(Decimal(ln["debit"]) for ln in je.body["lines"])
    credit = sum(Decimal(ln["credit"]) for ln in je.body["lines"])
    assert debit == credit
    by_acct = {
        ln["account"]: Decimal(ln["credit"]) - Decimal(ln["debit"]) for ln in je.body["lines"]
    }
    assert by_acct["4000"] == Decimal("95.00") and by_acct["6100"] == Decimal("-14.25")
    assert by_acct["6110"] == Decimal("-3.22") and by_acct["4100"] == Decimal("-10.00")
    assert by_acct["1290"] == Decimal("-20.01") and by_acct["2300"] == Decimal("7.60")
    assert by_acct["9999"] == Decimal("-0.12")  # unmapped -> suspense, flagged
    assert by_acct["1250"] == -Decimal(total)
    assert out.flags and out.flags[0].payload["lines"] == {"Order/Weird/Brand New Fee": 1}


def test_unreconciled_settlement_is_parked_not_posted():
    out = SettlementsProjector(Mapper(MAPPING)).project(
        ev(
            "amazon.settlements",
            "S1",
            settlement([("Order", "ItemPrice", "Principal", "10.00")], "10.01"),
            5,
            "SettlementFetched",
        ),
        {},
    )
    assert out.commands == [] and "does not reconcile" in out.parks[0].reason


def test_fba_missing_sku_zeroed_only_after_confirmation():
    proj = InventoryProjector(Mapper(MAPPING))
    snaps = [
        {"marketplace_id": US, "snapshot": i, "items": items}
        for i, items in enumerate([{"SKU-A": 5, "SKU-B": 3}, {"SKU-A": 5}, {"SKU-A": 6}])
    ]
    cmds, _, _ = run(proj, [ev("amazon.inventory.fba", US, s, i + 1) for i, s in enumerate(snaps)])
    got = [(c.body["item"], c.body["target"], c.body["reference"].split("-")[3]) for c in cmds]
    assert got == [
        ("10-1000", "5", "0"),
        ("10-1010", "3", "0"),
        ("10-1000", "6", "2"),
        ("10-1010", "0", "2"),
    ]
    assert all(c.body["site"] == "10-FBA" and c.body["mode"] == "adjust" for c in cmds)


def test_mfn_default_mode_is_report():
    proj = InventoryProjector(Mapper(MAPPING))
    cmds, _, _ = run(
        proj,
        [
            ev(
                "amazon.inventory.mfn",
                US,
                {"marketplace_id": US, "snapshot": 1, "items": {"SKU-B": 9}},
                1,
            )
        ],
    )
    assert cmds[0].body["mode"] == "report" and cmds[0].body["site"] == "10-100"


def test_catalog_change_becomes_listing_patch_for_mapped_sku():
    proj = CatalogProjector(Mapper(MAPPING), (US,), {US: "NA"})
    item = {
        "item_code": "10-1000",
        "description": "Steel Bracket",
        "list_price": "10.00",
        "status": "AC",
    }
    cmds, _, _ = run(
        proj,
        [
            ev("qad.items", "10-1000", item, 1),
            ev("qad.items", "10-1000", item, 2),
            ev("qad.items", "10-1000", {**item, "list_price": "11.50"}, 3),
        ],
    )
    # The patch, and its read-back right behind it under the same record (the SKU).
    assert [c.kind for c in cmds] == ["amazon.listing.patch", "amazon.listing.verify"]
    assert cmds[0].body["sku"] == "SKU-A" and cmds[0].body["changes"] == {
        "list_price": "11.50",
        "currency": "USD",
    }
    assert cmds[1].record_key == cmds[0].record_key == "SKU-A"
    assert cmds[1].body == {**cmds[0].body, "patch": cmds[0].command_id}


def _snapshots_at(hours: list[float], items: dict[str, int]) -> list[StoredEvent]:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        ev(
            "amazon.inventory.fba", US, {"marketplace_id": US, "snapshot": i, "items": items}, i
        )._replace(recorded_at=base + timedelta(hours=h))
        for i, h in enumerate(hours, 1)
    ]


def test_unchanged_fba_stock_is_realigned_against_qad_at_the_configured_interval():
    # Issue 21.4: 5 units issued in QAD while Amazon's number stays put must not drift forever.
    items = {"SKU-A": 5, "SKU-B": 3}
    proj = InventoryProjector(Mapper(MAPPING), realign_every_s=3600)
    cmds, _, _ = run(proj, _snapshots_at([0, 0.5, 1.0, 1.25, 2.5], items))
    snaps = sorted({int(c.body["reference"].split("-")[3]) for c in cmds})
    assert snaps == [1, 3, 5]  # the first, then once an hour or more had passed
    assert all(c.body["target"] in ("5", "3") for c in cmds)


def test_realign_every_snapshot_and_fba_report_mode():
    proj = InventoryProjector(Mapper(MAPPING), fba_mode="report", realign_every_s=0)
    cmds, _, _ = run(proj, _snapshots_at([0, 0.1, 0.2], {"SKU-A": 5}))
    assert all(c.body["mode"] == "report" for c in cmds)
    # SKU-A every snapshot; SKU-B (mapped, absent from FBA) once confirmed, then each realign
    assert [c.body["sku"] for c in cmds] == ["SKU-A", "SKU-A", "SKU-B", "SKU-A", "SKU-B"]


def test_settlement_invoice_and_journal_post_in_one_gl_period_across_month_end():
    # Issue 21.5: the period ends Jan 31, the deposit arrives Feb 2; both documents must post
    # in January or the clearing account carries a balance over month-end.
    rows = [("Order", "ItemPrice", "Principal", "95.00")]
    s = {**settlement(rows, "95.00"), "end": "2027-01-31T00:00:00Z"}
    s["deposit_date"] = "2027-02-02T00:00:00Z"
    out = SettlementsProjector(Mapper(MAPPING)).project(
        ev("amazon.settlements", "S1", s, 5, "SettlementFetched"), {}
    )
    inv, je = out.commands
    assert inv.body["posting_date"] == je.body["posting_date"] == "2027-01-31"
    assert inv.body["invoice_date"] == inv.body["due_date"] == "2027-02-02"
