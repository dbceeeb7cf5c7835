"""``GET api/qracore/browses``: the browses the connector reads, and the browse endpoint.

Answer [C] (public browse clients): ``{"data": [flat rows, dotted keys], "auxillaryData":
{"HasMoreParams": "true"|"false"}}`` (QAD's spelling, a string). Browse ids and tables [C]
(a public export of a tenant's browse catalog): gp242 Sales Order by PO (so_mstr), gp340 Item
Master (pt_mstr), gp164 Item Location Qty on Hand (ld_det), ic763 Inventory Transaction
(tr_hist), an001 Customer Invoices (DInvoice), cm007 Customers (cm_mstr); their column keys
are [I] (the ``table.field`` filter form is [C]). The journal-entry bebrowse and its columns
are [G]. An unknown browse id answers 200 with no rows (a made-up browse code "returned
nothing" [C]; that it is a 200 is [I]) unless the simulator runs with ``unknown_browse="404"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.sim.qad.filters import BrowseError, apply_filters, narrowing
from engine.sim.qad.store import Store
from engine.sim.qad.wire import Call, HttpError, Reply

__all__ = ["BROWSES", "Browse", "browse", "total_count"]

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Browse:
    """A browse over SQL: each column key is ``(SQL expression, classic dbField)``."""

    browse_id: str
    description: str
    table: str
    source: str  # a table or a parenthesised sub-select
    columns: dict[str, tuple[str, str]]
    order: str
    decimals: frozenset[str] = frozenset()

    def rows(self, store: Store, filters: Sequence[str]) -> list[Row]:
        """Every row, or a superset of those ``filters`` select (``apply_filters`` decides)."""
        select = ", ".join(f'{expr} AS "{key}"' for key, (expr, _) in self.columns.items())
        where, params = [], []
        for column, value in narrowing(filters).items():
            if column in self.columns:
                where.append(f"lower({self.columns[column][0]}) = ?")
                params.append(value)
        sql = f"SELECT {select} FROM {self.source} AS src"
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = [dict(r) for r in store.db.execute(f"{sql} ORDER BY {self.order}", params)]
        for r in out:
            for k in self.decimals:
                if r[k] is not None:
                    r[k] = Decimal(r[k])
        return out


def _mfg(table: str, *fields: str) -> dict[str, tuple[str, str]]:
    return {f"{table}.{f}": (f, f"{table}.{f}") for f in fields}


_INVOICE_TYPES = "CASE ar_type WHEN 'I' THEN 'INVOICE' ELSE 'CREDITNOTE' END"

_JOURNAL_DEBIT = "journalEntry.debitTC"
_LINE_DEBIT, _LINE_CREDIT = "postingLine.debitTC", "postingLine.creditTC"

BROWSES: dict[str, Browse] = {
    b.browse_id: b
    for b in (
        Browse(
            "urn:browse:mfg:gp242",
            "Sales Order by PO",
            "so_mstr",
            "so_mstr",
            _mfg("so_mstr", "so_nbr", "so_po", "so_cust", "so_ord_date", "so_curr", "so_site"),
            "so_nbr",
        ),
        Browse(
            "urn:browse:mfg:gp340",
            "Item Master",
            "pt_mstr",
            "pt_mstr",
            _mfg(
                "pt_mstr",
                "pt_part",
                "pt_desc1",
                "pt_desc2",
                "pt_um",
                "pt_prod_line",
                "pt_price",
                "pt_status",
                "pt_part_type",
            ),
            "pt_part",
            frozenset({"pt_mstr.pt_price"}),
        ),
        Browse(
            "urn:browse:mfg:gp164",
            "Item Location Quantity on Hand",
            "ld_det",
            "ld_det",
            _mfg(
                "ld_det",
                "ld_part",
                "ld_site",
                "ld_loc",
                "ld_lot",
                "ld_ref",
                "ld_status",
                "ld_qty_oh",
            ),
            "ld_part, ld_site, ld_loc, ld_lot, ld_ref",
            frozenset({"ld_det.ld_qty_oh"}),
        ),
        Browse(
            "urn:browse:mfg:ic763",
            "Inventory Transaction",
            "tr_hist",
            "tr_hist",
            {
                **_mfg("tr_hist", "tr_trnbr", "tr_type", "tr_part", "tr_site", "tr_loc"),
                "tr_hist.tr_serial": ("tr_lot", "tr_hist.tr_serial"),
                **_mfg("tr_hist", "tr_qty_loc", "tr_effdate", "tr_nbr", "tr_rmks"),
            },
            "tr_trnbr",
            frozenset({"tr_hist.tr_qty_loc"}),
        ),
        Browse(
            "urn:browse:mfg:an001",
            "Customer Invoices",
            "DInvoice",
            "ar_mstr",
            {
                "DInvoice.DInvoiceVoucher": ("ar_voucher", "DInvoice.DInvoiceVoucher"),
                "DInvoice.DInvoiceReference": ("ar_po", "DInvoice.DInvoiceReference"),
                "Debtor.DebtorCode": ("ar_cust", "Debtor.DebtorCode"),
                "DInvoice.DInvoiceDate": ("ar_date", "DInvoice.DInvoiceDate"),
                "DInvoice.DInvoicePostingDate": ("ar_effdate", "DInvoice.DInvoicePostingDate"),
                "DInvoice.DInvoiceOriginalDebitTC": (
                    "ar_amt",
                    "DInvoice.DInvoiceOriginalDebitTC",
                ),
                "Currency.CurrencyCode": ("ar_curr", "Currency.CurrencyCode"),
                "DInvoice.DInvoiceType": (_INVOICE_TYPES, "DInvoice.DInvoiceType"),
            },
            "ar_voucher",
            frozenset({"DInvoice.DInvoiceOriginalDebitTC"}),
        ),
        Browse(
            "urn:browse:bebrowse:com.qad.financials.generalledger.journalEntries",
            "Journal Entries",
            "Posting",
            # One row per voucher; debitTC = the sum of the entry's debit lines.
            "(SELECT gltr_voucher, gltr_doc, gltr_eff_dt, gltr_dy_code, "
            "group_concat(CASE WHEN CAST(gltr_amt AS REAL) > 0 THEN gltr_amt END, ' ') AS debits "
            "FROM gltr_hist WHERE gltr_doc_typ = 'JL' GROUP BY gltr_voucher)",
            {
                "journalEntry.voucher": ("gltr_voucher", "Posting.PostingVoucher"),
                "journalEntry.reference": ("gltr_doc", "Posting.PostingInvoiceReferenceTxt"),
                "journalEntry.postingDate": ("gltr_eff_dt", "Posting.PostingDate"),
                "journalEntry.daybookCode": ("gltr_dy_code", "Journal.JournalCode"),
                "journalEntry.debitTC": ("debits", "PostingLine.PostingLineDebitTC"),
            },
            "gltr_voucher",
        ),
        Browse(
            "urn:browse:bebrowse:com.qad.financials.generalledger.postingLines",
            "Journal Entry Lines",
            "PostingLine",
            # One row per journal line; gltr_amt (debit positive) is split into debitTC and
            # creditTC by ``_rows`` (exactly, never through a float).
            "(SELECT gltr_voucher, gltr_line, gltr_doc, gltr_acc, gltr_amt, gltr_desc "
            "FROM gltr_hist WHERE gltr_doc_typ = 'JL')",
            {
                "postingLine.voucher": ("gltr_voucher", "Posting.PostingVoucher"),
                "postingLine.line": ("gltr_line", "PostingLine.PostingLineSequence"),
                "postingLine.reference": ("gltr_doc", "Posting.PostingInvoiceReferenceTxt"),
                "postingLine.glCode": ("gltr_acc", "GL.GLCode"),
                _LINE_DEBIT: ("gltr_amt", "PostingLine.PostingLineDebitTC"),
                _LINE_CREDIT: ("gltr_amt", "PostingLine.PostingLineCreditTC"),
                "postingLine.description": ("gltr_desc", "PostingLine.PostingLineText"),
            },
            "gltr_voucher, gltr_line",
        ),
        Browse(
            "urn:browse:mfg:cm007",
            "Customers",
            "cm_mstr",
            "cm_mstr",
            {
                **_mfg("cm_mstr", "cm_addr", "cm_sort", "cm_curr", "cm_cr_terms"),
                "ad_mstr.ad_name": ("cm_sort", "ad_mstr.ad_name"),
            },
            "cm_addr",
        ),
    )
}


def _rows(call: Call, browse_id: str) -> list[Row] | None:
    """The filtered rows of a browse; None for an unknown browse id."""
    bid = browse_id if browse_id.startswith("urn:") else f"urn:browse:{browse_id}"
    found = BROWSES.get(bid)
    if found is None:
        return None
    try:
        rows = found.rows(call.store, call.filters)
        if _JOURNAL_DEBIT in found.columns:
            for r in rows:  # the debit lines' amounts, summed exactly (never through a float)
                r[_JOURNAL_DEBIT] = sum(
                    (Decimal(x) for x in (r[_JOURNAL_DEBIT] or "").split()), Decimal(0)
                )
        if _LINE_DEBIT in found.columns:
            for r in rows:
                amount = Decimal(r[_LINE_DEBIT] or 0)
                r[_LINE_DEBIT], r[_LINE_CREDIT] = max(amount, Decimal(0)), max(-amount, Decimal(0))
        return apply_filters(rows, call.filters)
    except BrowseError as exc:
        raise HttpError(400, str(exc)) from None


def _need_rows(call: Call) -> list[Row]:
    (browse_id,) = call.need("browseId")
    rows = _rows(call, browse_id)
    if rows is None:
        if call.options.get("unknown_browse") == "404":
            raise HttpError(404, "Not found")
        return []
    return rows


def browse(call: Call) -> Reply:
    """One page of rows: ``page`` (from 1) of ``pageSize`` rows (at most 1000)."""
    rows = _need_rows(call)
    try:
        page = max(1, int(call.query.get("page", "1")))
        size = min(1000, max(1, int(call.query.get("pageSize", "50"))))
    except ValueError:
        raise HttpError(400, "page and pageSize must be integers") from None
    chunk = rows[(page - 1) * size : page * size]
    more = "true" if page * size < len(rows) else "false"
    return Reply({"data": chunk, "auxillaryData": {"HasMoreParams": more}})


def total_count(call: Call) -> Reply:
    """``GET api/qracore/browses/totalCount/?browseId=`` [C]: ``{"data": {"totalCount": n}}``."""
    return Reply({"data": {"totalCount": len(_need_rows(call))}}, translate=False)
