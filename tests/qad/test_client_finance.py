"""Customer invoices and journal entries over real HTTP: one POST each, looked up by reference
through the invoice (an001) and journal browses; exact decimals, QAD's rules, unknown outcomes."""

from __future__ import annotations

from datetime import date

import pytest

from engine.adapters.qad import (
    CustomerInvoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    QadBusinessError,
)
from engine.errors import Conflict, UnknownOutcome
from tests.qad.conftest import TODAY, D, posts

INVOICES = "/api/erp/customerInvoices"
JOURNALS = "/api/erp/journalEntries"


def invoice(ref: str, amount: str = "30.00", **kw) -> CustomerInvoice:
    lines = kw.pop("lines", (InvoiceLine("4000", D(amount)),))
    return CustomerInvoice(ref, kw.pop("customer", "AMZ-US"), TODAY, D(amount), lines, **kw)


def journal(ref: str, amount: str = "12.50", **kw) -> JournalEntry:
    lines = (JournalLine("6100", debit=D(amount)), JournalLine("1250", credit=D(amount)))
    return JournalEntry(ref, kw.pop("posting_date", TODAY), kw.pop("lines", lines), **kw)


async def test_invoice_created_once_with_exact_decimals(client, sim):
    lines = (InvoiceLine("4000", D("1234567.89")), InvoiceLine("4010", D("0.01")))
    inv = invoice("SETTLE-2", "1234567.90", lines=lines, customer="AMZ-DE", currency="EUR")
    r = await client.post_customer_invoice(inv)
    assert r.created and r.document
    again = await client.post_customer_invoice(inv)
    assert (again.created, again.document) == (False, r.document)
    [stored] = sim.invoices()
    assert D(str(stored["ar_amt"])) == D("1234567.90") and stored["ar_curr"] == "EUR"
    found = await client.find_customer_invoice_by_reference("SETTLE-2")
    assert found is not None and found["document"] == r.document
    assert (found["customer"], found["currency"], found["amount"]) == (
        "AMZ-DE",
        "EUR",
        D("1234567.90"),
    )
    with pytest.raises(Conflict, match="amount"):
        await client.post_customer_invoice(invoice("SETTLE-2", "5"))
    assert posts(sim, INVOICES) == 1


@pytest.mark.parametrize(
    ("inv", "field"),
    [
        (invoice("I-1", "10", lines=(InvoiceLine("4000", D("9.99")),)), "amountTC"),
        (invoice("I-2", "1", customer="NOBODY"), "customerCode"),
        (invoice("I-3", "1", lines=(InvoiceLine("7777", D("1")),)), "glAccount"),
        (
            CustomerInvoice(
                "I-4", "AMZ-US", date(2001, 1, 1), D("1"), (InvoiceLine("4000", D("1")),)
            ),
            "postingDate",
        ),
    ],
)
async def test_invoice_rejections(client, sim, inv, field):
    with pytest.raises(QadBusinessError) as info:
        await client.post_customer_invoice(inv)
    assert info.value.errors[0]["fieldName"] == field
    assert sim.invoices() == []


async def test_invoice_unknown_outcome_is_settled_by_look_up(client, sim):
    sim.faults.add("commit_then_drop", path=INVOICES, method="POST")
    r = await client.post_customer_invoice(invoice("SETTLE-1"))
    assert r.created and r.details["recovered"] is True
    assert len(sim.invoices()) == 1


async def test_journal_entry_created_once_and_found(client, sim):
    r = await client.post_journal_entry(journal("FEES-1", currency="JPY", amount="1500"))
    assert r.created and r.document
    again = await client.post_journal_entry(journal("FEES-1", currency="JPY", amount="1500"))
    assert (again.created, again.document) == (False, r.document)
    found = await client.find_journal_entry_by_reference("FEES-1")
    assert found is not None and found["document"] == r.document
    assert found["debit"] == D("1500") and found["posting_date"] == TODAY.isoformat()
    with pytest.raises(Conflict, match="debit"):
        await client.post_journal_entry(journal("FEES-1", amount="1"))
    assert len(sim.journal_entries()) == 1


async def test_journal_500_before_commit_then_retry_creates_once(client, sim):
    await client.post_journal_entry(journal("FEES-0"))  # proves the journal look-up
    sim.faults.add("status", path=JOURNALS, method="POST", status=500)
    with pytest.raises(UnknownOutcome):  # 500 before commit: the follow-up look-up finds nothing
        await client.post_journal_entry(journal("FEES-2"))
    assert (await client.post_journal_entry(journal("FEES-2"))).created
    assert (await client.post_journal_entry(journal("FEES-2"))).created is False
    assert len(sim.journal_entries()) == 2


async def test_journal_rules(client, sim):
    unbalanced = journal(
        "JE-1", lines=(JournalLine("6100", debit=D("10.00")), JournalLine("1250", credit=D("9.99")))
    )
    with pytest.raises(QadBusinessError, match="not balanced"):
        await client.post_journal_entry(unbalanced)
    sim.close_period(TODAY.year, TODAY.month)
    with pytest.raises(QadBusinessError, match="open GL period"):
        await client.post_journal_entry(journal("JE-2", amount="0.30"))
    assert sim.journal_entries() == []
