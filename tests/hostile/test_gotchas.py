"""Real-world oddities from the SP-API reference's gotcha table (section 11), as concrete cases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.adapters.amazon.settlement import parse_settlement
from engine.config import MappingConfig, MarketplaceMap
from engine.log.records import StoredEvent
from engine.projectors.inventory import InventoryProjector
from engine.projectors.mapping import Mapper
from engine.projectors.orders import OrdersProjector
from engine.projectors.settlements import SettlementsProjector
from engine.sim.amazon.documents import SETTLEMENT_COLUMNS

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
MAPPING = MappingConfig(
    sku={"SKU-A": "10-1000"},
    marketplaces={
        US: MarketplaceMap("AMZ-US", "USD", "Amazon.com", fba_site="10-FBA"),
        DE: MarketplaceMap("AMZ-DE", "EUR", "Amazon.de", site="20-100", fba_site="20-FBA"),
    },
)


def ev(stream: str, key: str, payload: dict[str, Any], pos: int, etype: str = "X") -> StoredEvent:
    return StoredEvent(pos, stream, etype, key, "d", payload, "t", datetime(2026, 1, 1, tzinfo=UTC))


def doc(summary: dict[str, str], rows: list[dict[str, str]]) -> list[str]:
    out = ["\t".join(SETTLEMENT_COLUMNS)]
    for r in [summary, *rows]:
        out.append("\t".join(r.get(c, "") for c in SETTLEMENT_COLUMNS))
    return [ln + "\r\n" for ln in out]


DE_SUMMARY = {
    "settlement-id": "777",
    "settlement-start-date": "01.03.2026 00:00:00 UTC",
    "settlement-end-date": "15.03.2026 00:00:00 UTC",
    "deposit-date": "18.03.2026 00:00:00 UTC",
    "total-amount": "82,65",
    "currency": "EUR",
}
DE_ROWS = [
    # A normal order line.
    {"transaction-type": "Order", "order-id": "302-1111111-2222222", "amount-type": "ItemPrice",
     "amount-description": "Principal", "amount": "100,00", "sku": "SKU-A",
     "quantity-purchased": "1", "marketplace-name": "Amazon.de", "posted-date": "02.03.2026"},
    # An FBA fee without order id, SKU or marketplace-name (gotcha 11).
    {"transaction-type": "other-transaction", "amount-type": "other-transaction",
     "amount-description": "FBA Inbound Transportation Fee", "amount": "-2,35",
     "posted-date": "03.03.2026"},
    # A refund with a negative quantity.
    {"transaction-type": "Refund", "order-id": "302-1111111-2222222", "amount-type": "ItemPrice",
     "amount-description": "Principal", "amount": "-15,00", "sku": "SKU-A",
     "quantity-purchased": "-1", "marketplace-name": "Amazon.de", "posted-date": "04.03.2026"},
    # An FBA removal order surfacing with a 1995 posted date (two-digit year).
    {"transaction-type": "other-transaction", "amount-type": "other-transaction",
     "amount-description": "FBA Removal Order: Disposal Fee", "amount": "0,00",
     "posted-date": "05.06.95"},
]  # fmt: skip
for r in DE_ROWS:
    r["settlement-id"] = "777"


def fetched(pos: int, report_id: str) -> StoredEvent:
    p = parse_settlement(doc(DE_SUMMARY, DE_ROWS))
    payload = {
        "settlement_id": p.summary.settlement_id,
        "report_id": report_id,
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-15T00:00:00Z",
        "deposit_date": "2026-03-18T00:00:00Z",
        "total_amount": str(p.summary.total_amount),
        "currency": p.summary.currency,
        "rows": p.rows,
    }
    return ev("amazon.settlements", "777", payload, pos, "SettlementFetched")


def test_fee_without_order_or_sku_refund_with_negative_qty_and_1995_date_parse() -> None:
    p = parse_settlement(doc(DE_SUMMARY, DE_ROWS))
    assert p.locale == "DE" and p.summary.total_amount == Decimal("82.65") == p.detail_sum
    fee, refund, removal = p.rows[1], p.rows[2], p.rows[3]
    assert fee["order_id"] == "" and fee["sku"] == "" and fee["marketplace_name"] == ""
    assert fee["amount"] == "-2.35" and fee["quantity"] is None
    assert refund["quantity"] == -1 and refund["amount"] == "-15.00"
    assert removal["posted_date"] == "1995-06-05T00:00:00Z"


def test_settlement_with_odd_rows_posts_balanced_to_the_right_accounts_and_customer() -> None:
    out = SettlementsProjector(Mapper(MAPPING)).project(fetched(1, "R1"), {})
    assert not out.parks
    inv, je = out.commands
    assert inv.body["customer"] == "AMZ-DE" and inv.body["amount"] == "82.65"
    by_acct: dict[str, Decimal] = {}
    for ln in je.body["lines"]:
        d = Decimal(ln["credit"]) - Decimal(ln["debit"])
        by_acct[ln["account"]] = by_acct.get(ln["account"], Decimal(0)) + d
    assert by_acct == {
        "4000": Decimal("100.00"),
        "4100": Decimal("-15.00"),  # the refund
        "6110": Decimal("-2.35"),  # FBA fee without order/SKU
        "1250": Decimal("-82.65"),
    }
    assert not out.flags  # nothing went to suspense


def test_rows_without_marketplace_name_fall_back_to_the_currency() -> None:
    e = fetched(1, "R1")
    for r in e.payload["rows"]:
        r["marketplace_name"] = ""
    out = SettlementsProjector(Mapper(MAPPING)).project(e, {})
    assert out.commands[0].body["customer"] == "AMZ-DE"


def test_same_settlement_in_two_report_documents_posts_once() -> None:
    proj = SettlementsProjector(Mapper(MAPPING))
    state: dict[str, Any] = {}
    kinds = []
    for e in (fetched(1, "R1"), fetched(2, "R2-duplicate-listing")):
        p = proj.project(e, state)
        kinds += [c.kind for c in p.commands]
        state.update({k: v for k, v in p.state.items() if v is not None})
    assert kinds == ["qad.invoice.create", "qad.journal.create"]
    # A quarantined copy carries nothing to post either.
    q = ev("amazon.settlements", "R3", {"reason": "x", "reason_code": "parse_error"}, 3, "Q")
    q = StoredEvent(3, q.stream, "SettlementQuarantined", "R3", "d", q.payload, "t", q.recorded_at)
    assert not proj.project(q, {}).commands


def _order(status: str, qty: int = 2, price: str | None = "9.50") -> dict[str, Any]:
    return {
        "order_id": "111-0000009-0000009",
        "marketplace_id": US,
        "status": status,
        "currency": "USD",
        "purchase_date": "1995-07-16T12:00:00Z",  # Amazon's first order month; old dates pass
        "lines": [
            {"order_item_id": "1", "sku": "SKU-A", "quantity": qty, "unit_price": price},
        ],
    }


def test_orders_changing_after_import_status_back_and_forth() -> None:
    proj = OrdersProjector(Mapper(MAPPING))
    oid = "111-0000009-0000009"
    history = [
        _order("Pending", price=None),
        _order("Unshipped"),
        _order("Pending", price=None),  # Amazon flips back (payment re-authorisation)
        _order("Unshipped", qty=1),
        _order("Unshipped", qty=1),  # unchanged re-fetch
        _order("Canceled"),
        _order("Unshipped"),  # back from cancelled: QAD's order stays cancelled
        _order("Shipped"),
    ]
    state: dict[str, Any] = {}
    seen = []
    for pos, payload in enumerate(history, start=1):
        p = proj.project(ev("amazon.orders", oid, payload, pos), state)
        assert not p.parks
        seen.append([(c.kind.rsplit(".", 1)[-1], c.body.get("lines"), c.body.get("cancel"))
                     for c in p.commands])  # fmt: skip
        state.update({k: v for k, v in p.state.items() if v is not None})
    create = seen[0][0]
    assert create[0] == "create" and create[1][0]["price"] == "0"
    assert seen[1] == [("update", [{"line": 1, "quantity": "2", "price": "9.50"}], False)]
    # Back to Pending without prices: no create again and no change (the known price is kept).
    assert seen[2] == []
    assert seen[3] == [("update", [{"line": 1, "quantity": "1", "price": "9.50"}], False)]
    assert seen[4] == [] and seen[5] == [("update", [], True)]
    assert seen[6] == [] and seen[7] == []
    assert state[oid]["cancelled"] is True


def test_old_purchase_date_creates_with_that_date() -> None:
    p = OrdersProjector(Mapper(MAPPING)).project(
        ev("amazon.orders", "111-0000009-0000009", _order("Unshipped"), 1), {}
    )
    assert p.commands[0].body["order_date"] == "1995-07-16"


def test_empty_inventory_snapshot_zeroes_nothing_until_a_second_confirms() -> None:
    proj = InventoryProjector(Mapper(MAPPING))
    state: dict[str, Any] = {}
    targets = []
    for pos, items in enumerate([{"SKU-A": 5}, {}, {"SKU-A": 5}, {}, {}], start=1):
        e = ev("amazon.inventory.fba", US, {"marketplace_id": US, "items": items}, pos)
        p = proj.project(e, state)
        targets.append([c.body["target"] for c in p.commands])
        state.update({k: v for k, v in p.state.items() if v is not None})
    # One empty page/snapshot is a glitch until the next confirms it.
    assert targets == [["5"], [], [], [], ["0"]]


def test_inventory_snapshot_with_no_items_key_is_empty_not_an_error() -> None:
    p = InventoryProjector(Mapper(MAPPING)).project(
        ev("amazon.inventory.fba", US, {"marketplace_id": US, "items": None}, 1), {}
    )
    assert p.commands == [] and p.parks == []
