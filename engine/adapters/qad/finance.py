"""Customer invoices and journal entries: one committing POST each, looked up by reference.

The paths and payloads are guesses on public evidence (the Financials concepts DInvoice and
Posting are documented; their Adaptive REST names are not), so every name is profile
configuration. A negative settlement posts a credit note (same endpoint, type CREDITNOTE,
positive amount), never a negative invoice. Look-ups: the invoice browse (an001, one row per
invoice or credit note, with its type) and the journal
browse (one row per entry, debit = the sum of its lines' debits) filtered on the reference.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from .browsing import Browser
from .idempotent import Creation, LookupProof, create_once
from .models import INVOICE_TYPES, CustomerInvoice, JournalEntry, PostResult
from .settings import QadSettings
from .wire import CUSTOMER_INVOICES, DATA_OPERATION, JOURNAL_ENTRIES, Doc, Wire, dec

__all__ = ["Finance"]

log = logging.getLogger(__name__)


class Finance:
    def __init__(
        self,
        wire: Wire,
        browser: Browser,
        settings: QadSettings,
        invoices: LookupProof,
        journals: LookupProof,
    ) -> None:
        self.wire = wire
        self.browser = browser
        self.settings = settings
        self.f = settings.fields
        self.b = settings.browses
        self.invoices = invoices
        self.journals = journals

    async def _one(self, key: str, column_key: str, reference: str) -> Doc | None:
        rows = await self.browser.matching(key, column_key, reference)
        if len(rows) > 1:
            log.warning("qad holds more than one %s for one reference", key.replace("_", " "))
        return rows[0] if rows else None

    # -- customer invoices ----------------------------------------------------------------------

    async def find_invoice(self, reference: str) -> Doc | None:
        """The invoice with ``reference``: document (voucher), customer, currency, amount, row."""
        row = await self._one("customer_invoice", "invoice_reference_column", reference)
        if row is None:
            return None
        b = self.b
        amount = dec(row.get(b.invoice_amount_column))
        kind = str(row.get(b.invoice_type_column) or INVOICE_TYPES["invoice"]).upper()
        return {
            "document": str(row.get(b.invoice_number_column) or ""),
            "customer": str(row.get(b.invoice_customer_column) or ""),
            "currency": str(row.get(b.invoice_currency_column) or ""),
            "amount": amount,
            # INVOICE or CREDITNOTE; a credit note's amount is positive, signed_amount not.
            "type": kind,
            "signed_amount": -amount if kind == INVOICE_TYPES["credit_note"] else amount,
            "row": row,
        }

    def _invoice_record(self, inv: CustomerInvoice) -> Doc:
        f = self.f
        return {
            f.domain: self.settings.domain,
            f.entity: self.settings.entity,
            f.invoice_customer: inv.customer,
            f.invoice_reference: inv.reference,
            f.invoice_date: inv.invoice_date.isoformat(),
            f.invoice_posting_date: (inv.posting_date or inv.invoice_date).isoformat(),
            f.invoice_due_date: (inv.due_date or inv.invoice_date).isoformat(),
            f.daybook: inv.daybook,
            f.currency: inv.currency,
            f.description: inv.description,
            f.invoice_amount: inv.amount,
            f.invoice_type: INVOICE_TYPES[inv.kind],
            f.lines: [
                {
                    f.gl_account: ln.account,
                    f.sub_account: ln.sub_account,
                    f.cost_center: ln.cost_center,
                    f.project: "",
                    f.line_amount: ln.amount,
                    f.description: ln.description,
                }
                for ln in inv.lines
            ],
            DATA_OPERATION: "C",
        }

    async def post_invoice(self, inv: CustomerInvoice) -> PostResult:
        def diffs(found: Doc) -> list[str]:
            out = []
            if found["customer"] != inv.customer:
                out.append("customer")
            if found["currency"] != inv.currency:
                out.append("currency")
            if found["amount"] != inv.amount:
                out.append("amount")
            if found["type"] != INVOICE_TYPES[inv.kind]:
                out.append("type")
            return out

        p = self.settings.paths
        return await create_once(
            Creation(
                "customer invoice",
                inv.reference,
                self.invoices,
                lambda: self.find_invoice(inv.reference),
                diffs,
                lambda: self.wire.commit(
                    p.customer_invoices,
                    CUSTOMER_INVOICES,
                    {"viewUri": p.customer_invoice_view, **self.wire.domain()},
                    [self._invoice_record(inv)],
                ),
                inv.after_unknown_outcome,
                known_unsent=inv.known_unsent,
            )
        )

    # -- journal entries ------------------------------------------------------------------------

    async def find_journal(self, reference: str) -> Doc | None:
        """The entry with ``reference``: document (voucher), posting_date, debit (total), row."""
        row = await self._one("journal_entry", "journal_reference_column", reference)
        if row is None:
            return None
        b = self.b
        return {
            "document": str(row.get(b.journal_voucher_column) or ""),
            "posting_date": str(row.get(b.journal_date_column) or "")[:10],
            "debit": dec(row.get(b.journal_debit_column)),
            "row": row,
        }

    async def find_journal_lines(self, reference: str) -> list[Doc]:
        """The lines of the entry with ``reference`` (the posting-line browse, read by reports
        only): account, debit, credit, description, row; [] when QAD shows none."""
        b = self.b
        key, column = "posting_line", "posting_line_reference_column"
        rows = await self.browser.matching(key, column, reference)
        return [
            {
                "account": str(row.get(b.posting_line_account_column) or ""),
                "debit": dec(row.get(b.posting_line_debit_column)),
                "credit": dec(row.get(b.posting_line_credit_column)),
                "description": str(row.get(b.posting_line_description_column) or ""),
                "row": row,
            }
            for row in rows
        ]

    def _journal_record(self, je: JournalEntry) -> Doc:
        f = self.f
        return {
            f.domain: self.settings.domain,
            f.entity: self.settings.entity,
            f.daybook: je.daybook,
            f.journal_posting_date: je.posting_date.isoformat(),
            f.journal_voucher: 0,  # QAD assigns the voucher
            f.description: je.description,
            f.journal_reference: je.reference,
            f.currency: je.currency,
            f.lines: [
                {
                    f.gl_account: ln.account,
                    f.sub_account: ln.sub_account,
                    f.cost_center: ln.cost_center,
                    f.project: "",
                    f.currency: ln.currency or je.currency,
                    f.debit: ln.debit,
                    f.credit: ln.credit,
                    f.description: ln.description,
                }
                for ln in je.lines
            ],
            DATA_OPERATION: "C",
        }

    async def post_journal(self, je: JournalEntry) -> PostResult:
        debit = sum((ln.debit for ln in je.lines), Decimal(0))

        def diffs(found: Doc) -> list[str]:
            out = []
            if found["posting_date"] != je.posting_date.isoformat():
                out.append("postingDate")
            if found["debit"] != debit:
                out.append("debit")
            return out

        p = self.settings.paths
        return await create_once(
            Creation(
                "journal entry",
                je.reference,
                self.journals,
                lambda: self.find_journal(je.reference),
                diffs,
                lambda: self.wire.commit(
                    p.journal_entries,
                    JOURNAL_ENTRIES,
                    {"viewUri": p.journal_entry_view, **self.wire.domain()},
                    [self._journal_record(je)],
                ),
                je.after_unknown_outcome,
                known_unsent=je.known_unsent,
            )
        )
