"""The record shapes the strict simulator accepts, each field with its classic table.field.

One table serves two purposes: a write record with a key outside its shape is rejected ("Unknown
field <name>", the strict simulator's rule; QAD's own wording for it is not public [G]), and
``api/qracore/entitymetadatas`` lists the same fields with their ``dbField`` so ``qad discover``
can recognise a tenant's name for each. The dbField values mirror the ``db`` metadata of
engine/config/qad_profile.py (the simulator may not import it; tests/sim_qad checks they agree).
Evidence: header names [C] (public sales-order loader), line names [C] (same loader's line
grid), unplanned tree [C] (public unplanned-receipt loader), invoice and journal names [G].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.sim.qad.store.core import BusinessError, unknown_field

__all__ = [
    "ADDRESS",
    "HEADER",
    "INVOICE",
    "INVOICE_LINE",
    "ITEM",
    "JOURNAL",
    "JOURNAL_LINE",
    "LINE",
    "UNPLANNED_DETAIL",
    "UNPLANNED_HEADER",
    "check_body",
    "check_fields",
    "records_of",
]

# salesOrderHeaders record [C]; shipToAddress [G]; the last group is the public loader's [C].
HEADER: dict[str, str] = {
    "uri": "",
    "salesOrderNumber": "so_mstr.so_nbr",
    "domainCode": "so_mstr.so_domain",
    "soldToCustomerCode": "so_mstr.so_cust",
    "billToCustomerCode": "so_mstr.so_bill",
    "shipToCustomerCode": "so_mstr.so_ship",
    "siteCode": "so_mstr.so_site",
    "currencyCode": "so_mstr.so_curr",
    "orderDate": "so_mstr.so_ord_date",
    "dueDate": "so_mstr.so_due_date",
    "purchaseOrder": "so_mstr.so_po",
    "shipToAddress": "so_mstr.so_ship_addr",
    # so_rmks is a real so_mstr column [C]; its Adaptive JSON name is a guess [G].
    "remarks": "so_mstr.so_rmks",
    "dataOperation": "",
    "concurrencyHash": "",
    "creditTermsCode": "so_mstr.so_cr_terms",
    "shipVia": "so_mstr.so_shipvia",
    "daybookSetCode": "so_mstr.so_daybookset",
    "languageCode": "so_mstr.so_lang",
    "exchangeRate": "so_mstr.so_ex_rate",
    "exchangeRate2": "so_mstr.so_ex_rate2",
    "isConfirmed": "so_mstr.so_conf",
    "disallowedActions": "",
    "disallowedActionsMessage": "",
}
# The shipToAddress object [G] (the contract's shape, no public evidence).
ADDRESS: dict[str, str] = {
    "name": "ad_mstr.ad_name",
    "addressLines": "ad_mstr.ad_line1",
    "city": "ad_mstr.ad_city",
    "stateOrRegion": "ad_mstr.ad_state",
    "postalCode": "ad_mstr.ad_zip",
    "countryCode": "ad_mstr.ad_ctry",
}
# salesOrderLinesGrid / salesOrderLines/fieldChange record [C] (lineStatus [G]).
LINE: dict[str, str] = {
    "salesOrderNumber": "sod_det.sod_nbr",
    "salesOrderLine": "sod_det.sod_line",
    "itemCode": "sod_det.sod_part",
    "quantityOrdered": "sod_det.sod_qty_ord",
    "siteCode": "sod_det.sod_site",
    "unitOfMeasure": "sod_det.sod_um",
    "listPrice": "sod_det.sod_list_pr",
    "netPrice": "sod_det.sod_price",
    "discountFormatted": "sod_det.sod_disc",
    "dueDate": "sod_det.sod_due_date",
    "lineStatus": "sod_det.sod_status",
    "dataOperation": "",
}
# IUnplannedReceiveV2 tree [C] (the issue twin [I]).
UNPLANNED_HEADER: dict[str, str] = {
    "unplannedProcessorHeaderID": "",
    "domainCode": "tr_hist.tr_domain",
    "siteCode": "tr_hist.tr_site",
    "unplannedProcessorDetailV2s": "",
}
UNPLANNED_DETAIL: dict[str, str] = {
    "unplannedProcessorDetailID": "",
    "itemCode": "tr_hist.tr_part",
    "transactionQuantity": "tr_hist.tr_qty_loc",
    "location": "tr_hist.tr_loc",
    "lotSerial": "tr_hist.tr_serial",
    "reference": "tr_hist.tr_nbr",
    "description": "tr_hist.tr_rmks",
    "inventoryStatus": "ld_det.ld_status",
    "glAccount": "",
    "subAccount": "",
    "costCenter": "",
}
# customerInvoices record [G] (concept DInvoice [D]).
INVOICE: dict[str, str] = {
    "domainCode": "",
    "entityCode": "Posting.Company",
    "customerCode": "DInvoice.DebtorCode",
    "reference": "DInvoice.DInvoiceReference",
    "invoiceDate": "DInvoice.DInvoiceDate",
    "postingDate": "DInvoice.DInvoicePostingDate",
    "dueDate": "DInvoice.DInvoiceDueDate",
    "daybookCode": "Journal.JournalCode",
    "currencyCode": "Currency.CurrencyCode",
    "description": "Posting.PostingText",
    "amountTC": "DInvoice.DInvoiceOriginalDebitTC",
    "invoiceType": "DInvoice.DInvoiceType",  # INVOICE (default) or CREDITNOTE [I]
    "lines": "",
    "dataOperation": "",
}
INVOICE_LINE: dict[str, str] = {
    "glAccount": "PostingLine.GL",
    "subAccount": "PostingLine.Division",
    "costCenter": "PostingLine.CostCentre",
    "project": "PostingLine.Project",
    "amountTC": "PostingLine.PostingLineDebitTC",
    "description": "Posting.PostingText",
}
# journalEntries record [G] (component IJournalEntry [C], concept Posting [D]).
JOURNAL: dict[str, str] = {
    "domainCode": "",
    "entityCode": "Posting.Company",
    "daybookCode": "Journal.JournalCode",
    "postingDate": "Posting.PostingDate",
    "voucher": "Posting.PostingVoucher",
    "description": "Posting.PostingText",
    "reference": "Posting.PostingInvoiceReferenceTxt",
    "currencyCode": "Currency.CurrencyCode",
    "lines": "",
    "dataOperation": "",
}
JOURNAL_LINE: dict[str, str] = {
    "glAccount": "PostingLine.GL",
    "subAccount": "PostingLine.Division",
    "costCenter": "PostingLine.CostCentre",
    "project": "PostingLine.Project",
    "currencyCode": "Currency.CurrencyCode",
    "debitTC": "PostingLine.PostingLineDebitTC",
    "creditTC": "PostingLine.PostingLineCreditTC",
    "description": "Posting.PostingText",
}
# items record (keyed GET only) [C].
ITEM: dict[str, str] = {
    "uri": "",
    "itemCode": "pt_mstr.pt_part",
    "description": "pt_mstr.pt_desc1",
    "description2": "pt_mstr.pt_desc2",
    "unitOfMeasure": "pt_mstr.pt_um",
    "productLine": "pt_mstr.pt_prod_line",
    "itemType": "pt_mstr.pt_part_type",
    "itemStatus": "pt_mstr.pt_status",
    "listPrice": "pt_mstr.pt_price",
    "domainCode": "pt_mstr.pt_domain",
}


def check_fields(record: Any, allowed: Iterable[str], what: str) -> Mapping[str, Any]:
    """``record`` as a mapping whose keys are all in ``allowed``; BusinessError otherwise."""
    if not isinstance(record, Mapping):
        raise BusinessError("", f"A {what} must be an object")
    known = set(allowed)
    for key in record:
        if key not in known:
            raise unknown_field(str(key))
    return record


def check_body(body: Any, plural: str) -> None:
    """A write body: ``{"supplementaryMessages": [...], "<plural>": [...]}`` and nothing else."""
    check_fields(body, ("supplementaryMessages", plural), "request body")


def records_of(body: Mapping[str, Any], plural: str) -> list[Mapping[str, Any]]:
    """The non-empty list of record objects under ``plural``."""
    records = body.get(plural)
    if not isinstance(records, list) or not records:
        raise BusinessError(plural, f"{plural} must be a non-empty list")
    for r in records:
        if not isinstance(r, Mapping):
            raise BusinessError(plural, f"{plural} entries must be objects")
    return records
