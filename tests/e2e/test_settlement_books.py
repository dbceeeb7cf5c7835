"""Settlement books over HTTP: a seeded business with every settlement line type posts to QAD so
that every settlement reconciles to the cent per account, the clearing account nets to zero in
every GL period, a negative settlement is a credit note and a zero one a journal only."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from engine.adapters.qad import CustomerInvoice, InvoiceLine, QadBusinessError, QadClient
from engine.config import Config, MappingConfig, PollConfig
from engine.ops.reconcile import reconcile_config
from engine.projectors.mapping import Mapper

# (transaction-type, amount-type, amount-description) patterns the seeded business must contain.
REQUIRED = {
    "Current Reserve Amount",
    "Previous Reserve Amount Balance",
    "Loan Advance",
    "Loan Repayment",
    "Payable to Amazon",
    "Successful charge",
    "Debt adjustment against another balance",
    "SAFE-T Reimbursement",
    "Subscription Fee",
    "Storage Fee",
    "Removal Fee",
    "Disposal Fee",
    "TransactionTotalAmount",  # Cost of Advertising
    # Order money components (every one the order side posts) and the facilitator's tax.
    "ShippingTax",
    "GiftWrap",
    "GiftWrapTax",
    "MarketplaceFacilitatorTax-Principal",
}
REQUIRED_TYPES = {"Order", "Refund", "Chargeback Refund", "A-to-z Guarantee Refund"}
CLEARING, CARRY = "1250", "1270"


def _d(v: Any) -> Decimal:
    return Decimal(str(v))


def check_books(w: Any, cfg: Config) -> list[Any]:
    """Every closed settlement reconciles in QAD; returns them."""
    mapper = Mapper(cfg.mapping)
    settled = w.amazon.truth.settlements()
    invoices = {inv["ar_po"]: inv for inv in w.qad.invoices()}
    for s in settled:
        ref = f"AMZ-STL-{s.settlement_id}"
        inv = invoices.get(ref)
        if s.total > 0:
            assert inv is not None and inv["ar_type"] == "I" and _d(inv["ar_amt"]) == s.total
        elif s.total < 0:  # a credit note for what Amazon charged, never a negative invoice
            assert inv is not None and inv["ar_type"] == "M" and _d(inv["ar_amt"]) == -s.total
        else:
            assert inv is None, f"zero settlement {ref} has a deposit document"
        gl = w.qad.query(
            "SELECT gltr_voucher, gltr_acc, gltr_amt, gltr_doc_typ FROM gltr_hist "
            "WHERE gltr_doc = ? OR (gltr_doc LIKE ? AND gltr_doc_typ = 'JL')",
            (ref, f"{ref}-%"),
        )
        per_voucher: dict[int, Decimal] = defaultdict(Decimal)
        per_account: dict[str, Decimal] = defaultdict(Decimal)
        for ln in gl:
            per_voucher[ln["gltr_voucher"]] += _d(ln["gltr_amt"])
            if ln["gltr_doc_typ"] == "JL":
                per_account[ln["gltr_acc"]] -= _d(ln["gltr_amt"])  # credit - debit
        assert all(v == 0 for v in per_voucher.values()), f"{ref} has an unbalanced document"
        # Per account, the journals carry exactly the settlement's lines.
        want: dict[str, Decimal] = defaultdict(Decimal)
        for r in s.rows:
            acct = mapper.account_for(r.transaction_type, r.amount_type, r.amount_description)
            assert acct is not None, f"{r.transaction_type}/{r.amount_type}/{r.amount_description}"
            want[acct] += r.amount
        got = {a: v for a, v in per_account.items() if a not in (CLEARING, CARRY) and v}
        assert got == {a: v for a, v in want.items() if v}, ref
        assert per_account.get(CARRY, Decimal(0)) == 0  # carried forward and back
        assert -per_account.get(CLEARING, Decimal(0)) == s.total  # the deposit
    # The clearing account nets to zero in every GL period.
    periods: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for ln in w.qad.query(
        "SELECT gltr_year, gltr_per, gltr_amt FROM gltr_hist WHERE gltr_acc = ?", (CLEARING,)
    ):
        periods[(ln["gltr_year"], ln["gltr_per"])] += _d(ln["gltr_amt"])
    assert periods and all(v == 0 for v in periods.values()), periods
    return settled


def check_coverage(settled: list[Any]) -> None:
    rows = [r for s in settled for r in s.rows]
    assert {r.amount_description for r in rows} >= REQUIRED
    assert {r.transaction_type for r in rows} >= REQUIRED_TYPES
    assert {r.amount_type for r in rows} >= {"FBA Inventory Reimbursement", "Cost of Advertising"}
    assert {(r.amount_type, r.amount_description) for r in rows} >= {
        ("Promotion", "Principal"),
        ("Promotion", "Shipping"),
        ("ItemWithheldTax", "MarketplaceFacilitatorTax-Giftwrap"),
    }
    assert any(s.total < 0 for s in settled), "no negative settlement"
    assert any(s.total == 0 for s in settled), "no zero settlement"
    assert any(not any(r.marketplace_name for r in s.rows) for s in settled), "no unknown mp"


@pytest.mark.parametrize("split", [False, True], ids=["one-journal", "month-split"])
async def test_every_settlement_reconciles_in_qad(make_world, split: bool):
    async with make_world(history_days=75, orders_per_day=4) as w:
        # Orders as far back as the settlements reach, so every settled order is in QAD (a
        # settled order placed before the look-back is reconcile's "no_invoice", by design).
        poll = PollConfig(orders_initial_lookback_days=90)
        base = Config(mapping=MappingConfig(settlement_month_split=split), poll=poll)
        cfg = w.config(base=base)
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        settled = check_books(w, cfg)
        check_coverage(settled)
        journals = w.qad.query(
            "SELECT DISTINCT gltr_doc FROM gltr_hist WHERE gltr_doc_typ = 'JL' "
            "AND gltr_doc LIKE 'AMZ-STL-%-____-__'"
        )
        # Split: the 14-day settlements crossing a month end post a journal per month.
        assert bool(journals) == split
        # `reconcile` reads the same books back and finds every settlement and order in order
        # (issue 16's done-when: every line type, a credit note, a zero and a split settlement).
        recon = await reconcile_config(cfg, demo=True)
        bad = [(c.settlement_id, c.status) for c in recon.settlements if c.status != "ok"]
        assert not bad, bad
        assert {c.settlement_id for c in recon.settlements} == {s.settlement_id for s in settled}
        assert recon.clean, recon.order_counts()


async def test_qad_refuses_a_negative_invoice_and_takes_the_credit_note(make_world):
    async with make_world(history_days=1) as w:
        cfg = w.config()
        settings = dataclasses.replace(w.qad_settings(cfg))
        async with aiohttp.ClientSession() as session, QadClient(session, settings) as qad:
            today = date.today()
            neg = CustomerInvoice(
                "AMZ-STL-NEG", "AMZ-US", today, Decimal("-45.40"),
                (InvoiceLine(CLEARING, Decimal("-45.40")),),
            )  # fmt: skip
            with pytest.raises(QadBusinessError, match="negative"):
                await qad.post_customer_invoice(neg)
            cn = dataclasses.replace(
                neg,
                amount=Decimal("45.40"),
                lines=(InvoiceLine(CLEARING, Decimal("45.40")),),
                kind="credit_note",
            )
            r = await qad.post_customer_invoice(cn)
            assert r.created
            found = await qad.find_customer_invoice_by_reference("AMZ-STL-NEG")
            assert found is not None and found["type"] == "CREDITNOTE"
            assert found["signed_amount"] == Decimal("-45.40")
            again = await qad.post_customer_invoice(cn)  # found by reference: posted once
            assert not again.created
        (row,) = w.qad.invoices()
        assert (row["ar_type"], _d(row["ar_amt"])) == ("M", Decimal("45.40"))
        ar = w.qad.query("SELECT gltr_acc, gltr_amt FROM gltr_hist WHERE gltr_doc='AMZ-STL-NEG'")
        assert {r["gltr_acc"]: _d(r["gltr_amt"]) for r in ar} == {
            "1200": Decimal("-45.40"),  # AR control credited
            CLEARING: Decimal("45.40"),
        }
