"""The QAD tenant profile: every path, viewUri, browse id, column key and body field name.

No two QAD tenants are known to agree on everything the connector needs, and QAD publishes no
OpenAPI, so each name is configuration (``[qad.paths]``, ``[qad.browses]``, ``[qad.fields]``)
whose default is the best public evidence. Every key carries its evidence level in its field
metadata, shown by ``ml-connector qad discover`` and in the README:

- ``D``: documented by QAD;
- ``C``: seen in public code that calls real QAD systems;
- ``I``: inferred from several C/D facts;
- ``G``: a guess; it must be checked against the tenant (``qad discover``).

``db`` names the classic QAD table.field a key stands for (``so_mstr.so_po``): it is how
``qad discover`` recognises a tenant's own name for a key in the tenant's metadata, because the
classic schema is the one thing every QAD generation shares.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from engine.config.checks import one_of
from engine.config.urls import validate_entity_path
from engine.errors import ConfigError

__all__ = [
    "CANCEL_POLICIES",
    "QadBrowses",
    "QadFields",
    "QadPaths",
    "evidence_of",
    "profile_keys",
]

EVIDENCE = ("D", "C", "I", "G")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_URN = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9.:_\-]*$")


def _path(value: Any, where: str) -> None:
    validate_entity_path(value, what=where)


def _urn(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _URN.match(value):
        raise ConfigError(
            f"{where} must be a QAD urn such as 'urn:browse:mfg:gp242', got {value!r}"
        )


def _name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(
            f"{where} must be a field name such as 'salesOrderNumber' or 'so_mstr.so_po', "
            f"got {value!r}"
        )


def _optional_name(value: Any, where: str) -> None:
    if value != "":
        _name(value, where)


def _key(default: str, evidence: str, check: Any, db: str = "", why: str = "") -> Any:
    assert evidence in EVIDENCE, evidence  # a programming error, caught at import
    check(default, "default")
    return field(
        default=default, metadata={"check": check, "evidence": evidence, "db": db, "why": why}
    )


def path(default: str, evidence: str, db: str = "", why: str = "") -> Any:
    return _key(default, evidence, _path, db, why)


def urn(default: str, evidence: str, db: str = "", why: str = "") -> Any:
    return _key(default, evidence, _urn, db, why)


def name(default: str, evidence: str, db: str = "", why: str = "") -> Any:
    return _key(default, evidence, _name, db, why)


def optional(default: str, evidence: str, db: str = "", why: str = "") -> Any:
    return _key(default, evidence, _optional_name, db, why)


@dataclass(frozen=True, slots=True)
class QadPaths:
    """``[qad.paths]``: paths relative to the tenant URL, and the viewUri of each entity."""

    token_endpoint: str = path("oauth/token", "C")
    security_control: str = path("api/qracore/securityControl", "C")
    browses: str = path("api/qracore/browses", "C")
    # Read by `qad discover` only; its answer's shape is a guess, so discover degrades to probes.
    entity_metadata: str = path("api/qracore/entitymetadatas", "C", why="response shape G")
    sales_order_headers: str = path("api/erp/salesOrderHeaders", "C", db="so_mstr")
    sales_order_lines_grid: str = path("api/erp/salesOrderLinesGrid", "C", db="sod_det")
    sales_order_line_field_change: str = path(
        "api/erp/salesOrderLines/fieldChange", "C", db="sod_det:fieldChange"
    )
    items: str = path("api/erp/items", "C", db="pt_mstr")
    unplanned_receives: str = path("api/erp/unplannedReceives", "C", db="tr_hist:RCT-UNP")
    unplanned_issues: str = path("api/erp/unplannedIssues", "I", db="tr_hist:ISS-UNP")
    # The per-field validation step of an unplanned receipt/issue, under its entity path.
    unplanned_validate_step: str = path("validateAndAssignDefaultsLine", "C", db="tr_hist:validate")
    customer_invoices: str = path("api/erp/customerInvoices", "G", db="DInvoice")
    journal_entries: str = path("api/erp/journalEntries", "G", db="Posting")
    sales_order_view: str = urn("urn:be:com.qad.sales.salesorder.ISalesOrderHeader", "C")
    unplanned_receive_view: str = urn("urn:be:com.qad.logistics.unplanned.IUnplannedReceiveV2", "C")
    unplanned_issue_view: str = urn("urn:be:com.qad.logistics.unplanned.IUnplannedIssueV2", "I")
    customer_invoice_view: str = urn(
        "urn:be:com.qad.financials.customerinvoice.ICustomerInvoice", "G"
    )
    journal_entry_view: str = urn(
        "urn:be:com.qad.financials.generalledger.journalentry.IJournalEntry", "I"
    )

    # The entity path each view belongs to (used by discover to pair them).
    VIEW_OF = {
        "sales_order_view": "sales_order_headers",
        "unplanned_receive_view": "unplanned_receives",
        "unplanned_issue_view": "unplanned_issues",
        "customer_invoice_view": "customer_invoices",
        "journal_entry_view": "journal_entries",
    }

    def entity_paths(self) -> dict[str, str]:
        """Config key -> path of every ``api/...`` entity the engine writes or reads."""
        skip = {"token_endpoint", "security_control", "browses", "entity_metadata"}
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in skip and getattr(self, f.name).startswith("api/")
        }


@dataclass(frozen=True, slots=True)
class QadBrowses:
    """``[qad.browses]``: the browses the engine reads and the column keys of their rows.

    Look-up browses (sales order, history, invoice, journal) decide whether a document already
    exists: each is proven at start-up with a row it returns, or on the first document the engine
    creates, before any retry may rely on it (an unknown browse answers "no rows", not an error).
    """

    sales_order: str = urn("urn:browse:mfg:gp242", "C", db="so_mstr", why="Sales Order by PO")
    sales_order_po_column: str = name("so_mstr.so_po", "C", db="so_mstr.so_po")
    sales_order_number_column: str = name("so_mstr.so_nbr", "I", db="so_mstr.so_nbr")
    item: str = urn("urn:browse:mfg:gp340", "C", db="pt_mstr", why="Item Master")
    item_code_column: str = name("pt_mstr.pt_part", "I", db="pt_mstr.pt_part")
    item_description_column: str = name("pt_mstr.pt_desc1", "I", db="pt_mstr.pt_desc1")
    item_unit_column: str = name("pt_mstr.pt_um", "I", db="pt_mstr.pt_um")
    item_price_column: str = name("pt_mstr.pt_price", "I", db="pt_mstr.pt_price")
    item_status_column: str = name("pt_mstr.pt_status", "I", db="pt_mstr.pt_status")
    on_hand: str = urn("urn:browse:mfg:gp164", "C", db="ld_det", why="Item Location Qty on Hand")
    on_hand_item_column: str = name("ld_det.ld_part", "I", db="ld_det.ld_part")
    on_hand_site_column: str = name("ld_det.ld_site", "I", db="ld_det.ld_site")
    on_hand_quantity_column: str = name("ld_det.ld_qty_oh", "I", db="ld_det.ld_qty_oh")
    inventory_history: str = urn("urn:browse:mfg:ic763", "C", db="tr_hist", why="Inventory Trans")
    history_reference_column: str = name("tr_hist.tr_nbr", "I", db="tr_hist.tr_nbr")
    history_number_column: str = name("tr_hist.tr_trnbr", "I", db="tr_hist.tr_trnbr")
    history_type_column: str = name("tr_hist.tr_type", "I", db="tr_hist.tr_type")
    history_item_column: str = name("tr_hist.tr_part", "I", db="tr_hist.tr_part")
    history_site_column: str = name("tr_hist.tr_site", "I", db="tr_hist.tr_site")
    history_quantity_column: str = name("tr_hist.tr_qty_loc", "I", db="tr_hist.tr_qty_loc")
    customer_invoice: str = urn("urn:browse:mfg:an001", "C", db="DInvoice", why="Customer Invoices")
    invoice_reference_column: str = name(
        "DInvoice.DInvoiceReference", "G", db="DInvoice.DInvoiceReference"
    )
    invoice_number_column: str = name(
        "DInvoice.DInvoiceVoucher", "G", db="DInvoice.DInvoiceVoucher"
    )
    invoice_customer_column: str = name("Debtor.DebtorCode", "I", db="Debtor.DebtorCode")
    invoice_amount_column: str = name(
        "DInvoice.DInvoiceOriginalDebitTC", "G", db="DInvoice.DInvoiceOriginalDebitTC"
    )
    invoice_currency_column: str = name("Currency.CurrencyCode", "G", db="Currency.CurrencyCode")
    invoice_type_column: str = name("DInvoice.DInvoiceType", "G", db="DInvoice.DInvoiceType")
    journal_entry: str = urn(
        "urn:browse:bebrowse:com.qad.financials.generalledger.journalEntries", "G", db="Posting"
    )
    journal_reference_column: str = name(
        "journalEntry.reference", "G", db="Posting.PostingInvoiceReferenceTxt"
    )
    journal_voucher_column: str = name("journalEntry.voucher", "G", db="Posting.PostingVoucher")
    journal_date_column: str = name("journalEntry.postingDate", "G", db="Posting.PostingDate")
    journal_debit_column: str = name(
        "journalEntry.debitTC", "G", db="PostingLine.PostingLineDebitTC"
    )
    # Journal lines, one row per posting line: read by ``reconcile`` only (never probed at
    # start: a new tenant has none). The Fin API selects posting lines by the posting's
    # reference (BPosting.SelectPostingLine on tPosting.PostingInvoiceReferenceTxt [D]); the
    # browse id and its column keys are [G].
    posting_line: str = urn(
        "urn:browse:bebrowse:com.qad.financials.generalledger.postingLines", "G", db="PostingLine"
    )
    posting_line_reference_column: str = name(
        "postingLine.reference", "G", db="Posting.PostingInvoiceReferenceTxt"
    )
    posting_line_account_column: str = name("postingLine.glCode", "G", db="GL.GLCode")
    posting_line_debit_column: str = name(
        "postingLine.debitTC", "G", db="PostingLine.PostingLineDebitTC"
    )
    posting_line_credit_column: str = name(
        "postingLine.creditTC", "G", db="PostingLine.PostingLineCreditTC"
    )
    posting_line_description_column: str = name(
        "postingLine.description", "G", db="PostingLine.PostingLineText"
    )

    # Browses only reports read (not probed at engine start, not look-ups).
    REPORT_BROWSES = frozenset({"posting_line"})

    # Look-up browse key -> the key of the column a look-up filters on (the reference).
    LOOKUP_COLUMNS = {
        "sales_order": "sales_order_po_column",
        "inventory_history": "history_reference_column",
        "customer_invoice": "invoice_reference_column",
        "journal_entry": "journal_reference_column",
    }

    def browse_ids(self, reports: bool = False) -> dict[str, str]:
        """Browse key -> id of the browses the engine needs (``reports``: also REPORT_BROWSES)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not f.name.endswith("_column") and (reports or f.name not in self.REPORT_BROWSES)
        }

    def columns_of(self, browse_key: str) -> dict[str, str]:
        """Column keys (config key -> column) the engine reads from one browse."""
        prefix = {
            "sales_order": "sales_order_",
            "item": "item_",
            "on_hand": "on_hand_",
            "inventory_history": "history_",
            "customer_invoice": "invoice_",
            "journal_entry": "journal_",
            "posting_line": "posting_line_",
        }[browse_key]
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.endswith("_column") and f.name.startswith(prefix)
        }


@dataclass(frozen=True, slots=True)
class QadFields:
    """``[qad.fields]``: JSON field names in the bodies the engine sends and reads."""

    # Sales order header (salesOrderHeaders): the public loader's payload.
    so_number: str = name("salesOrderNumber", "C", db="so_mstr.so_nbr")
    domain: str = name("domainCode", "C", db="so_mstr.so_domain")
    so_sold_to: str = name("soldToCustomerCode", "C", db="so_mstr.so_cust")
    so_bill_to: str = name("billToCustomerCode", "C", db="so_mstr.so_bill")
    so_ship_to: str = name("shipToCustomerCode", "C", db="so_mstr.so_ship")
    site: str = name("siteCode", "C", db="so_mstr.so_site")
    currency: str = name("currencyCode", "C", db="so_mstr.so_curr")
    so_order_date: str = name("orderDate", "C", db="so_mstr.so_ord_date")
    so_due_date: str = name("dueDate", "C", db="so_mstr.so_due_date")
    # The Amazon order id goes in the customer PO (so_po): its Adaptive name is not public.
    so_customer_po: str = name("purchaseOrder", "G", db="so_mstr.so_po")
    # A merchant-fulfilled order's delivery address; "" = never sent (QAD keeps the customer's).
    so_ship_to_address: str = optional("shipToAddress", "G", db="so_mstr.so_ship_addr")
    # An Amazon Business order's PO number and buyer VAT id, as "PO <po> VAT <id>" (x(40)).
    # "" = not sent (the default: the Adaptive name is not public; "remarks" is a guess).
    so_remarks: str = optional("", "G", db="so_mstr.so_rmks")
    # Sales order lines (salesOrderLinesGrid / fieldChange).
    line_number: str = name("salesOrderLine", "C", db="sod_det.sod_line")
    line_item: str = name("itemCode", "C", db="sod_det.sod_part")
    line_quantity: str = name("quantityOrdered", "C", db="sod_det.sod_qty_ord")
    line_list_price: str = name("listPrice", "C", db="sod_det.sod_list_pr")
    line_net_price: str = name("netPrice", "C", db="sod_det.sod_price")
    # The line's discount %: sent with the prices ([orders] discount_treatment = "list").
    line_discount: str = name("discountFormatted", "C", db="sod_det.sod_disc")
    line_status: str = name("lineStatus", "G", db="sod_det.sod_status")
    # Unplanned receipt/issue (IUnplannedReceiveV2): the public loader's tree.
    unplanned_headers: str = name("unplannedProcessorHeaderV2s", "C")
    unplanned_details: str = name("unplannedProcessorDetailV2s", "C")
    unplanned_header_id: str = name("unplannedProcessorHeaderID", "C")
    unplanned_detail_id: str = name("unplannedProcessorDetailID", "C")
    unplanned_item: str = name("itemCode", "C", db="tr_hist.tr_part")
    unplanned_quantity: str = name("transactionQuantity", "C", db="tr_hist.tr_qty_loc")
    unplanned_location: str = name("location", "C", db="tr_hist.tr_loc")
    unplanned_lot: str = name("lotSerial", "C", db="tr_hist.tr_serial")
    # Lands in tr_hist.tr_nbr, where the history browse finds it (which field lands there: I).
    unplanned_reference: str = name("reference", "C", db="tr_hist.tr_nbr")
    unplanned_remarks: str = name("description", "C", db="tr_hist.tr_rmks")
    # Customer invoice (DInvoice concept D; Adaptive REST names G).
    invoice_customer: str = name("customerCode", "G", db="DInvoice.DebtorCode")
    invoice_reference: str = name("reference", "G", db="DInvoice.DInvoiceReference")
    invoice_date: str = name("invoiceDate", "G", db="DInvoice.DInvoiceDate")
    invoice_posting_date: str = name("postingDate", "G", db="DInvoice.DInvoicePostingDate")
    invoice_due_date: str = name("dueDate", "G", db="DInvoice.DInvoiceDueDate")
    invoice_amount: str = name("amountTC", "G", db="DInvoice.DInvoiceOriginalDebitTC")
    # INVOICE or CREDITNOTE (a negative settlement): DInvoiceType [I], its REST name [G].
    invoice_type: str = name("invoiceType", "G", db="DInvoice.DInvoiceType")
    # Journal entry (Posting concept D; Adaptive REST names G).
    entity: str = name("entityCode", "G", db="Posting.Company")
    daybook: str = name("daybookCode", "G", db="Journal.JournalCode")
    description: str = name("description", "G", db="Posting.PostingText")
    journal_reference: str = name("reference", "G", db="Posting.PostingInvoiceReferenceTxt")
    journal_posting_date: str = name("postingDate", "G", db="Posting.PostingDate")
    journal_voucher: str = name("voucher", "G", db="Posting.PostingVoucher")
    lines: str = name("lines", "G")
    gl_account: str = name("glAccount", "G", db="PostingLine.GL")
    sub_account: str = name("subAccount", "G", db="PostingLine.Division")
    cost_center: str = name("costCenter", "G", db="PostingLine.CostCentre")
    project: str = name("project", "G", db="PostingLine.Project")
    line_amount: str = name("amountTC", "G", db="PostingLine.PostingLineDebitTC")
    debit: str = name("debitTC", "G", db="PostingLine.PostingLineDebitTC")
    credit: str = name("creditTC", "G", db="PostingLine.PostingLineCreditTC")


# What cancelling an Amazon order does to its QAD sales order (no public evidence: U).
CANCEL_POLICIES = ("zero_quantity", "close_lines", "delete_lines")
cancel_policy_check = one_of(*CANCEL_POLICIES)


def evidence_of(section: type, key: str) -> str:
    """The evidence letter of ``[qad.<section>] key``."""
    for f in dataclasses.fields(section):
        if f.name == key:
            return str(f.metadata.get("evidence", "G"))
    raise KeyError(key)


def profile_keys(section: Any) -> list[tuple[str, str, str, str]]:
    """(key, value, evidence, db) of every key of one profile section instance."""
    return [
        (
            f.name,
            getattr(section, f.name),
            f.metadata.get("evidence", "G"),
            f.metadata.get("db", ""),
        )
        for f in dataclasses.fields(section)
    ]
