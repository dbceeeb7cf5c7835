"""Settlement accounting (pure): line type -> default account, credit notes, zero and unknown-
marketplace settlements, the month split."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.config import MappingConfig, MarketplaceMap, SettlementRule
from engine.config.settlement_accounts import DEFAULT_CLASS_ACCOUNTS
from engine.log.records import StoredEvent
from engine.projectors.mapping import Mapper
from engine.projectors.settlements import SettlementsProjector

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
MAPPING = MappingConfig(
    marketplaces={
        US: MarketplaceMap(customer="AMZ-US", currency="USD", name="Amazon.com"),
        CA: MarketplaceMap(customer="AMZ-CA", currency="CAD", name="Amazon.ca"),
    }
)

# Every line type of wave-2 anchors §5.2 (as the simulator writes it) -> its default account.
LINE_TYPES: list[tuple[str, str, str, str]] = [
    ("Order", "ItemPrice", "Principal", "4000"),
    ("Order", "ItemPrice", "Shipping", "4010"),
    ("Order", "ItemPrice", "Tax", "2300"),
    ("Order", "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", "2300"),
    ("Order", "Promotion", "Principal", "4900"),
    ("Order", "ItemFees", "Commission", "6100"),
    ("Order", "ItemFees", "FBAPerUnitFulfillmentFee", "6110"),
    ("Refund", "ItemPrice", "Principal", "4100"),
    ("Refund", "ItemFees", "RefundCommission", "6100"),
    ("Chargeback Refund", "ItemPrice", "Principal", "4110"),
    ("Chargeback Refund", "ItemPrice", "Tax", "2300"),
    ("A-to-z Guarantee Refund", "ItemPrice", "Principal", "4120"),
    ("A-to-z Guarantee Refund", "ItemFees", "Commission", "6100"),
    ("other-transaction", "other-transaction", "Current Reserve Amount", "1290"),
    ("other-transaction", "other-transaction", "Previous Reserve Amount Balance", "1290"),
    ("other-transaction", "other-transaction", "Loan Advance", "2500"),
    ("other-transaction", "other-transaction", "Loan Repayment", "2500"),
    ("other-transaction", "other-transaction", "Loan Interest", "6900"),
    ("other-transaction", "other-transaction", "Payable to Amazon", "1260"),
    ("other-transaction", "other-transaction", "Successful charge", "1260"),
    ("other-transaction", "other-transaction", "Debt adjustment against another balance", "1260"),
    ("SAFE-T Reimbursement", "SAFE-T Reimbursement", "SAFE-T Reimbursement", "7100"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_DAMAGE", "7100"),
    ("other-transaction", "FBA Inventory Reimbursement", "WAREHOUSE_LOST", "7100"),
    ("other-transaction", "FBA Inventory Reimbursement", "REVERSAL_REIMBURSEMENT", "7100"),
    ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount", "6140"),
    ("other-transaction", "other-transaction", "Subscription Fee", "6120"),
    ("other-transaction", "other-transaction", "Storage Fee", "6120"),
    ("other-transaction", "other-transaction", "Removal Fee", "6150"),
    ("other-transaction", "other-transaction", "Disposal Fee", "6150"),
]


def ev(payload: dict[str, Any], position: int = 5) -> StoredEvent:
    return StoredEvent(
        position,
        "amazon.settlements",
        "SettlementFetched",
        str(payload["settlement_id"]),
        "d",
        payload,
        "test",
        datetime(2026, 11, 1, tzinfo=UTC),
    )


def settlement(
    rows: list[tuple[str, str, str, str]],
    *,
    name: str = "Amazon.com",
    currency: str = "USD",
    posted: list[str] | None = None,
    end: str = "2026-10-15T00:00:00Z",
) -> dict[str, Any]:
    total = sum((Decimal(r[3]) for r in rows), Decimal(0))
    return {
        "settlement_id": "S1",
        "total_amount": str(total),
        "currency": currency,
        "start": "2026-10-01T00:00:00Z",
        "end": end,
        "deposit_date": "2026-10-17T00:00:00Z",
        "rows": [
            {
                "transaction_type": t,
                "amount_type": a,
                "amount_description": d,
                "amount": x,
                "marketplace_name": name,
                "posted_date": (posted[i] if posted else "2026-10-10T00:00:00Z"),
            }
            for i, (t, a, d, x) in enumerate(rows)
        ],
    }


def net(lines: list[dict[str, str]]) -> dict[str, Decimal]:
    """Credit - debit per account over journal lines."""
    out: dict[str, Decimal] = {}
    for ln in lines:
        amt = Decimal(ln["credit"]) - Decimal(ln["debit"])
        out[ln["account"]] = out.get(ln["account"], Decimal(0)) + amt
    return out


@pytest.mark.parametrize(("tt", "at", "ad", "account"), LINE_TYPES)
def test_every_line_type_maps_to_its_default_account(tt: str, at: str, ad: str, account: str):
    assert Mapper(MAPPING).account_for(tt, at, ad) == account
    # ...and the journal books it there, not to suspense.
    out = SettlementsProjector(Mapper(MAPPING)).project(
        ev(settlement([(tt, at, ad, "-7.31"), ("Order", "ItemPrice", "Principal", "20.00")])), {}
    )
    je = next(c for c in out.commands if c.kind == "qad.journal.create")
    got = net(je.body["lines"])
    if account != "4000":
        assert got[account] == Decimal("-7.31")
    assert "9999" not in got
    assert not [f for f in out.flags if f.type == "SettlementLinesToSuspense"]


def test_accounts_of_a_class_can_be_overridden_and_literal_rules_replace_defaults():
    cfg = dataclasses.replace(MAPPING, accounts={"reserve": "1299", "loan": "2510"})
    m = Mapper(cfg)
    assert m.account_for("other-transaction", "other-transaction", "Current Reserve Amount") == (
        "1299"
    )
    assert m.account_for("other-transaction", "other-transaction", "Loan Repayment") == "2510"
    assert m.account_for("Order", "ItemPrice", "Principal") == DEFAULT_CLASS_ACCOUNTS["revenue"]
    rules = (SettlementRule("4001", "Order", "ItemPrice", "Principal"),)
    m2 = Mapper(dataclasses.replace(MAPPING, settlement=rules))
    assert m2.account_for("Order", "ItemPrice", "Principal") == "4001"
    assert m2.account_for("Order", "ItemFees", "Commission") is None  # -> suspense


def test_unmapped_line_still_goes_to_suspense_and_is_flagged():
    rows = [("Order", "ItemPrice", "Principal", "10.00"), ("Order", "Weird", "New Fee", "-0.12")]
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    je = next(c for c in out.commands if c.kind == "qad.journal.create")
    assert net(je.body["lines"])["9999"] == Decimal("-0.12")
    (flag,) = [f for f in out.flags if f.type == "SettlementLinesToSuspense"]
    assert flag.payload["lines"] == {"Order/Weird/New Fee": 1}


def test_lending_lines_are_booked_whole_to_the_loan_account_and_flagged():
    rows = [
        ("Order", "ItemPrice", "Principal", "200.00"),
        ("other-transaction", "other-transaction", "Loan Repayment", "-127.50"),
    ]
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    (flag,) = [f for f in out.flags if f.type == "SettlementLoanUnsplit"]
    assert flag.payload["loan_account"] == "2500"
    assert flag.payload["lines"] == ["other-transaction/Loan Repayment"]


def test_positive_settlement_is_an_invoice_with_the_total():
    rows = [
        ("Order", "ItemPrice", "Principal", "95.00"),
        ("Order", "ItemFees", "Commission", "-14.25"),
    ]
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    inv, je = out.commands
    assert inv.kind == "qad.invoice.create" and "kind" not in inv.body
    assert inv.body["amount"] == "80.75" and inv.body["lines"][0]["amount"] == "80.75"
    assert net(je.body["lines"])["1250"] == Decimal("-80.75")


def test_negative_settlement_is_a_credit_note_never_a_negative_invoice():
    rows = [
        ("Order", "ItemPrice", "Principal", "20.00"),
        ("ServiceFee", "Cost of Advertising", "TransactionTotalAmount", "-65.40"),
    ]
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    cn, je = out.commands
    assert cn.kind == "qad.invoice.create" and cn.body["kind"] == "credit_note"
    assert cn.body["amount"] == "45.40"  # positive: the kind carries the sign
    assert cn.body["lines"] == [
        {
            "account": "1250",
            "amount": "45.40",
            "description": "Amazon settlement S1 charged to the seller",
        }
    ]
    # The journal credits clearing with 45.40; the credit note debits it: nets to zero.
    assert net(je.body["lines"])["1250"] == Decimal("45.40")
    assert sum(net(je.body["lines"]).values()) == 0


def test_zero_settlement_posts_only_the_journal():
    rows = [
        ("Order", "ItemPrice", "Principal", "50.00"),
        ("other-transaction", "other-transaction", "Current Reserve Amount", "-50.00"),
    ]
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    (je,) = out.commands
    assert je.kind == "qad.journal.create" and je.reference == "AMZ-STL-S1"
    assert net(je.body["lines"]) == {"4000": Decimal("50.00"), "1290": Decimal("-50.00")}


@pytest.mark.parametrize("name", ["", "Unknown Marketplace"])
def test_unknown_marketplace_lands_on_the_default_and_is_flagged(name: str):
    rows = [("other-transaction", "other-transaction", "Subscription Fee", "-39.99")]
    rows += [("other-transaction", "other-transaction", "Previous Reserve Amount Balance", "80.00")]
    cfg = dataclasses.replace(MAPPING, default_settlement_marketplace=CA)
    pay = settlement(rows, name=name, currency="CAD")
    out = SettlementsProjector(Mapper(cfg)).project(ev(pay), {})
    inv = out.commands[0]
    assert inv.body["customer"] == "AMZ-CA"
    (flag,) = [f for f in out.flags if f.type == "SettlementMarketplaceUnknown"]
    assert flag.payload["customer"] == "AMZ-CA" and flag.payload["default_marketplace"] == CA
    # A named marketplace is neither redirected nor flagged.
    out = SettlementsProjector(Mapper(cfg)).project(ev(settlement(rows, name="Amazon.com")), {})
    assert out.commands[0].body["customer"] == "AMZ-US"
    assert not [f for f in out.flags if f.type == "SettlementMarketplaceUnknown"]


SPAN_ROWS = [
    ("Order", "ItemPrice", "Principal", "100.00"),
    ("Order", "ItemFees", "Commission", "-15.00"),
    ("Order", "ItemPrice", "Principal", "60.00"),
    ("other-transaction", "other-transaction", "Subscription Fee", "-39.99"),
    ("other-transaction", "other-transaction", "Current Reserve Amount", "-5.25"),
]
SPAN_POSTED = [
    "2026-09-25T10:00:00Z",
    "2026-09-25T10:00:00Z",
    "2026-10-03T10:00:00Z",
    "2026-10-07T23:00:00Z",
    "2026-10-07T23:00:00Z",
]


def test_month_split_is_off_by_default_one_journal_on_the_end_date():
    pay = settlement(SPAN_ROWS, posted=SPAN_POSTED, end="2026-10-08T00:00:00Z")
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(pay), {})
    (je,) = [c for c in out.commands if c.kind == "qad.journal.create"]
    assert je.body["posting_date"] == "2026-10-08"


def test_month_split_posts_one_journal_per_month_summing_to_the_deposit():
    cfg = dataclasses.replace(MAPPING, settlement_month_split=True)
    pay = settlement(SPAN_ROWS, posted=SPAN_POSTED, end="2026-10-08T00:00:00Z")
    out = SettlementsProjector(Mapper(cfg)).project(ev(pay), {})
    inv, sep, octo = out.commands
    assert (sep.reference, sep.body["posting_date"]) == ("AMZ-STL-S1-2026-09", "2026-09-30")
    assert (octo.reference, octo.body["posting_date"]) == ("AMZ-STL-S1", "2026-10-08")
    assert inv.body["posting_date"] == "2026-10-08" and inv.body["amount"] == "99.76"
    s, o = net(sep.body["lines"]), net(octo.body["lines"])
    assert sum(s.values()) == 0 and sum(o.values()) == 0  # each balances
    # The months' own lines sum to the deposit; carry-forward (1270) nets to zero across them.
    own = [v for a, v in [*s.items(), *o.items()] if a not in ("1250", "1270")]
    assert sum(own, Decimal(0)) == Decimal("99.76")
    assert s["1270"] == Decimal("-85.00") and o["1270"] == Decimal("85.00")
    assert o["1250"] == Decimal("-99.76") and "1250" not in s  # clearing only with the invoice


def test_month_split_of_a_chunked_settlement_matches_the_whole_one():
    cfg = dataclasses.replace(MAPPING, settlement_month_split=True)
    whole = settlement(SPAN_ROWS, posted=SPAN_POSTED, end="2026-10-08T00:00:00Z")
    proj = SettlementsProjector(Mapper(cfg))
    rows = whole["rows"]
    state: dict[str, Any] = {}
    for i, part in enumerate((rows[:2], rows[2:])):
        chunk = StoredEvent(
            i + 1, "amazon.settlements", "SettlementRows", "S1", "d",
            {"report_id": "R1", "chunk": i, "rows": part}, "test",
            datetime(2026, 11, 1, tzinfo=UTC),
        )  # fmt: skip
        state = {**state, **proj.project(chunk, state).state}
    head = {k: v for k, v in whole.items() if k != "rows"}
    head.update({"chunks": 2, "report_id": "R1", "row_count": len(rows)})
    chunked = proj.project(ev(head, 9), state).commands
    plain = proj.project(ev(whole, 9), {}).commands
    assert [(c.kind, c.reference, c.body) for c in chunked] == [
        (c.kind, c.reference, c.body) for c in plain
    ]
