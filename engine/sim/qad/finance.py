"""Customer invoices and journal entries over REST: one POST each, no keyed GET.

Paths, views and payloads are [G] (QAD publishes no Adaptive Financials REST surface; the
concepts DInvoice and Posting are [D], the IJournalEntry component [C]). Both are write-only
here (a GET answers 405): the connector finds them again through the an001 and journal
browses, never through an invented keyed read.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import engine.sim.qad.fields as fields
from engine.sim.qad.store import finance as books
from engine.sim.qad.store.core import DOMAIN, BusinessError, text
from engine.sim.qad.wire import Call, Reply, written

__all__ = ["INVOICE_VIEW", "JOURNAL_VIEW", "post_invoices", "post_journals"]

INVOICE_VIEW = "urn:be:com.qad.financials.customerinvoice.ICustomerInvoice"
JOURNAL_VIEW = "urn:be:com.qad.financials.generalledger.journalentry.IJournalEntry"
INVOICES, JOURNALS = "customerInvoices", "journalEntries"


def _checked(
    call: Call, plural: str, head: dict[str, str], line: dict[str, str]
) -> list[Mapping[str, Any]]:
    fields.check_body(call.body, plural)
    records = fields.records_of(call.body, plural)
    for rec in records:
        fields.check_fields(rec, head, plural)
        for ln in rec.get("lines") or []:
            fields.check_fields(ln, line, f"{plural} line")
        if text(rec.get("dataOperation") or "C").upper() != "C":
            raise BusinessError("dataOperation", 'dataOperation must be "C"')
        if "domainCode" in rec and text(rec["domainCode"]) != call.domain:
            raise BusinessError("domainCode", f"Record domain is not {call.domain}")
    return records


def invoice_json(inv: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "invoiceNumber": inv["ar_nbr"],
        "domainCode": inv["ar_domain"],
        "entityCode": inv["ar_entity"],
        "customerCode": inv["ar_cust"],
        "reference": inv["ar_po"],
        "invoiceDate": inv["ar_date"],
        "postingDate": inv["ar_effdate"],
        "dueDate": inv["ar_due_date"],
        "daybookCode": inv["ar_dy_code"],
        "currencyCode": inv["ar_curr"],
        "description": inv["ar_desc"],
        "amountTC": inv["ar_amt"],
        "invoiceType": "INVOICE" if inv["ar_type"] == "I" else "CREDITNOTE",
        "voucher": inv["ar_voucher"],
        "lines": [
            {
                "glAccount": ln["ard_acct"],
                "subAccount": ln["ard_sub"],
                "costCenter": ln["ard_cc"],
                "amountTC": ln["ard_amt"],
                "description": ln["ard_desc"],
            }
            for ln in inv["lines"]
        ],
    }


def journal_json(je: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "voucher": je["gltr_voucher"],
        "domainCode": DOMAIN,
        "entityCode": je["gltr_entity"],
        "daybookCode": je["gltr_dy_code"],
        "postingDate": je["gltr_eff_dt"],
        "reference": je["gltr_doc"],
        "lines": [
            {
                "glAccount": ln["gltr_acc"],
                "subAccount": ln["gltr_sub"],
                "costCenter": ln["gltr_ctr"],
                "currencyCode": ln["gltr_curr"],
                "debitTC": max(ln["gltr_amt"], Decimal(0)),
                "creditTC": max(-ln["gltr_amt"], Decimal(0)),
                "description": ln["gltr_desc"],
            }
            for ln in je["lines"]
        ],
    }


def post_invoices(call: Call) -> Reply:
    out = []
    for rec in _checked(call, INVOICES, fields.INVOICE, fields.INVOICE_LINE):
        inv = books.invoice(call.store, books.create_invoice(call.store, rec))
        assert inv is not None
        out.append(invoice_json(inv))
    return written(INVOICES, out)


def post_journals(call: Call) -> Reply:
    out = []
    for rec in _checked(call, JOURNALS, fields.JOURNAL, fields.JOURNAL_LINE):
        je = books.journal(call.store, str(books.create_journal(call.store, rec)))
        assert je is not None
        out.append(journal_json(je))
    return written(JOURNALS, out)
