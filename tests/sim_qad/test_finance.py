"""Customer invoices and journal entries: strict records, found again through the browses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.sim_qad.conftest import Caller, error_of, ok

INVOICES, JOURNALS = "api/erp/customerInvoices", "api/erp/journalEntries"
INVOICE_VIEW = "urn:be:com.qad.financials.customerinvoice.ICustomerInvoice"
JOURNAL_VIEW = "urn:be:com.qad.financials.generalledger.journalentry.IJournalEntry"
TODAY = date.today().isoformat()


def invoice(ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "domainCode": "10USA",
        "entityCode": "10USACO",
        "customerCode": "AMZ-US",
        "reference": ref,
        "invoiceDate": TODAY,
        "postingDate": TODAY,
        "dueDate": TODAY,
        "daybookCode": "SALES",
        "currencyCode": "USD",
        "description": "settlement",
        "amountTC": "80.00",
        "lines": [
            {
                "glAccount": "1250",
                "subAccount": "",
                "costCenter": "",
                "project": "",
                "amountTC": "80.00",
                "description": "deposit",
            }
        ],
        "dataOperation": "C",
        **extra,
    }


def journal(ref: str, **extra: Any) -> dict[str, Any]:
    def line(account: str, debit: str, credit: str) -> dict[str, Any]:
        return {
            "glAccount": account,
            "subAccount": "",
            "costCenter": "",
            "project": "",
            "currencyCode": "USD",
            "debitTC": debit,
            "creditTC": credit,
            "description": "x",
        }

    return {
        "domainCode": "10USA",
        "entityCode": "10USACO",
        "daybookCode": "JE",
        "postingDate": TODAY,
        "voucher": 0,
        "description": "settlement",
        "reference": ref,
        "currencyCode": "USD",
        "lines": [
            line("1250", "30.00", "0"),
            line("1250", "12.50", "0"),
            line("4000", "0", "42.50"),
        ],
        "dataOperation": "C",
        **extra,
    }


async def test_invoice_posted_and_found_through_an001(api: Caller) -> None:
    status, doc = await api.post(
        INVOICES,
        {"supplementaryMessages": [], "customerInvoices": [invoice("S-1")]},
        {"viewUri": INVOICE_VIEW},
    )
    assert status == 200 and ok(doc), doc
    status, doc = await api.browse(
        "urn:browse:mfg:an001", "DInvoice.DInvoiceReference,eq,S-1,literal"
    )
    (row,) = doc["data"]
    (stored,) = api.sim.invoices()
    assert row == {
        "DInvoice.DInvoiceVoucher": stored["ar_voucher"],
        "DInvoice.DInvoiceReference": "S-1",
        "Debtor.DebtorCode": "AMZ-US",
        "DInvoice.DInvoiceDate": TODAY,
        "DInvoice.DInvoicePostingDate": TODAY,
        "DInvoice.DInvoiceOriginalDebitTC": 80.0,
        "Currency.CurrencyCode": "USD",
        "DInvoice.DInvoiceType": "INVOICE",
    }
    status, doc = await api.post(INVOICES, {"customerInvoices": [invoice("S-1")]})
    assert error_of(doc)["fieldName"] == "reference"


async def test_journal_posted_and_found_through_its_browse(api: Caller) -> None:
    _, doc = await api.post(
        JOURNALS,
        {"supplementaryMessages": [], "journalEntries": [journal("S-2")]},
        {"viewUri": JOURNAL_VIEW},
    )
    assert ok(doc), doc
    voucher = doc["data"]["journalEntries"][0]["voucher"]
    _status, doc = await api.browse(
        "urn:browse:bebrowse:com.qad.financials.generalledger.journalEntries",
        "journalEntry.reference,eq,S-2,literal",
    )
    (row,) = doc["data"]
    assert row == {
        "journalEntry.voucher": voucher,
        "journalEntry.reference": "S-2",
        "journalEntry.postingDate": TODAY,
        "journalEntry.daybookCode": "JE",
        "journalEntry.debitTC": 42.5,
    }
    assert sum(ln["gltr_amt"] for ln in api.sim.gl_lines()) == Decimal(0)


@pytest.mark.parametrize(
    ("path", "plural", "record", "field"),
    [
        (INVOICES, "customerInvoices", invoice("S-3", channel="AMAZON"), "channel"),
        (
            INVOICES,
            "customerInvoices",
            invoice("S-3", lines=[{"glAccount": "1250", "amount": 1}]),
            "amount",
        ),
        (JOURNALS, "journalEntries", journal("S-3", effectiveDate=TODAY), "effectiveDate"),
        (JOURNALS, "journalEntries", journal("S-3", voucher=12), "voucher"),
    ],
    ids=["invoice-field", "invoice-line-field", "journal-field", "journal-voucher-not-0"],
)
async def test_financial_records_are_strict(
    api: Caller, path: str, plural: str, record: dict[str, Any], field: str
) -> None:
    status, doc = await api.post(path, {plural: [record]})
    assert status == 200 and error_of(doc)["fieldName"] == field
    assert api.sim.gl_lines() == []


async def test_closed_period_rejects_the_posting(api: Caller) -> None:
    t = date.today()
    api.sim.close_period(t.year, t.month)
    _status, doc = await api.post(JOURNALS, {"journalEntries": [journal("S-4")]})
    assert error_of(doc)["fieldName"] == "postingDate"
