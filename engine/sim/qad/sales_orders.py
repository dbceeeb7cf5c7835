"""Sales orders over REST: the header, then the line grid (initialise, field-change, commit).

Paths and flow [C] (a public loader against a QAD-hosted Adaptive tenant):
- ``GET|POST api/erp/salesOrderHeaders`` (viewUri ISalesOrderHeader): the header only. A header
  record carrying anything outside ``fields.HEADER`` (inline ``salesOrderLines``,
  ``customerPurchaseOrder``, ``channel``, ``status``...) is rejected as an unknown field.
  Duplicate number: code "2041" "Sales order <nbr> already exists" [C]. ``dataOperation`` "C"
  creates, "U" changes the ship-to address and the other mutable fields [C for "U", G for which
  fields QAD lets change].
- ``GET api/erp/salesOrderLinesGrid?initialize=true&salesOrderNumber=N``: one blank line with
  the next free line number [C]; without ``initialize``: the order's lines (the read-back; [I]).
- ``POST api/erp/salesOrderLines/fieldChange?fieldName=F&dataOperation=CREATE|UPDATE``: the
  line with QAD's defaults for F (item: unit of measure and prices) [C for the step, I for
  which defaults].
- ``POST api/erp/salesOrderLinesGrid?salesOrderNumber=N``: commit CREATE/UPDATE/DELETE lines,
  all or nothing [C for CREATE; UPDATE/DELETE and ``lineStatus`` "C" are G].
The response shapes (``{"data": {"salesOrderLines": [...]}}``) are [C] for initialise and [I]
for the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import engine.sim.qad.fields as fields
from engine.sim.qad.store import order_lines
from engine.sim.qad.store import sales_orders as orders
from engine.sim.qad.store.core import BusinessError, text, unknown_field
from engine.sim.qad.wire import Call, Reply, qdate, written

__all__ = ["SO_VIEW", "commit_lines", "field_change", "get_header", "get_lines", "post_header"]

SO_VIEW = "urn:be:com.qad.sales.salesorder.ISalesOrderHeader"
HEADERS, LINES = "salesOrderHeaders", "salesOrderLines"


def header_json(head: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uri": f"{SO_VIEW}:{head['so_domain']}.{head['so_nbr']}",
        "salesOrderNumber": head["so_nbr"],
        "domainCode": head["so_domain"],
        "soldToCustomerCode": head["so_cust"],
        "billToCustomerCode": head["so_bill"],
        "shipToCustomerCode": head["so_ship"],
        "siteCode": head["so_site"],
        "currencyCode": head["so_curr"],
        "orderDate": qdate(head["so_ord_date"]),
        "dueDate": qdate(head["so_due_date"]),
        "purchaseOrder": head["so_po"] or "",
        "creditTermsCode": head["so_cr_terms"],
        "shipVia": head["so_shipvia"] or "",
        "daybookSetCode": head["so_daybookset"] or "",
        "languageCode": head["so_lang"] or "",
        "isConfirmed": head["so_conf"] == "1",
        "concurrencyHash": head["so_hash"],
        "disallowedActions": "",
        "disallowedActionsMessage": "",
    }
    for field, column in (("exchangeRate", "so_ex_rate"), ("exchangeRate2", "so_ex_rate2")):
        out[field] = Decimal(head[column]) if head[column] else Decimal(1)
    if head["so_ship_addr"]:
        out["shipToAddress"] = json.loads(head["so_ship_addr"])
    if head["so_rmks"]:
        out["remarks"] = head["so_rmks"]
    return out


def line_json(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "salesOrderNumber": line["sod_nbr"],
        "salesOrderLine": line["sod_line"],
        "itemCode": line["sod_part"],
        "quantityOrdered": line["sod_qty_ord"],
        "siteCode": line["sod_site"],
        "unitOfMeasure": line["sod_um"],
        "listPrice": line["sod_list_pr"],
        "netPrice": line["sod_price"],
        "discountFormatted": line["sod_disc"] if line["sod_disc"] is not None else Decimal(0),
        "dueDate": qdate(line["sod_due_date"]),
        "lineStatus": line["sod_status"] or "",
    }


def _stored_header(call: Call, nbr: str) -> dict[str, Any]:
    head = orders.header(call.store, nbr)
    assert head is not None
    return header_json(head)


def get_header(call: Call) -> Reply:
    """Keyed GET: the header only (400 without ``salesOrderNumber``; [] when unknown)."""
    (nbr,) = call.need("salesOrderNumber")
    head = orders.header(call.store, nbr)
    return Reply({"data": {HEADERS: [header_json(head)] if head else []}})


def post_header(call: Call) -> Reply:
    fields.check_body(call.body, HEADERS)
    out = []
    for rec in fields.records_of(call.body, HEADERS):
        fields.check_fields(rec, fields.HEADER, "sales order header")
        _same_domain(call, rec)
        op = text(rec.get("dataOperation")).upper()
        if op == "C":
            nbr = orders.create_header(call.store, rec)
        elif op == "U":
            nbr = orders.update_header(call.store, rec)
        else:
            raise BusinessError("dataOperation", 'dataOperation must be "C" or "U"')
        out.append(_stored_header(call, nbr))
    return written(HEADERS, out)


def _same_domain(call: Call, rec: Mapping[str, Any]) -> None:
    if "domainCode" in rec and text(rec["domainCode"]) != call.domain:
        raise BusinessError(
            "domainCode", f"Record domain {rec['domainCode']!r} is not {call.domain}"
        )


def get_lines(call: Call) -> Reply:
    """The line grid: a blank line with ``initialize=true``, else the order's lines."""
    (nbr,) = call.need("salesOrderNumber")
    if call.query.get("initialize", "").lower() == "true":
        number, head = order_lines.initialize_line(call.store, nbr)
        blank = {
            "salesOrderNumber": nbr,
            "salesOrderLine": number,
            "itemCode": "",
            "quantityOrdered": Decimal(0),
            "siteCode": head["so_site"],
            "unitOfMeasure": "",
            "listPrice": Decimal(0),
            "netPrice": Decimal(0),
            "discountFormatted": Decimal(0),
            "dueDate": qdate(head["so_due_date"]),
            "lineStatus": "",
            "dataOperation": order_lines.CREATE,
        }
        return Reply({"data": {LINES: [blank]}})
    return Reply({"data": {LINES: [line_json(ln) for ln in orders.lines(call.store, nbr)]}})


def _one_line(call: Call) -> Mapping[str, Any]:
    fields.check_fields(call.body, ("supplementaryMessages", LINES), "request body")
    records = fields.records_of(call.body, LINES)
    if len(records) != 1:
        raise BusinessError(LINES, "fieldChange takes exactly one line")
    return fields.check_fields(records[0], fields.LINE, "sales order line")


def field_change(call: Call) -> Reply:
    """One field of one line: the line back with QAD's defaults for that field."""
    field, op = call.need("fieldName", "dataOperation")
    line = _one_line(call)
    if field not in fields.LINE or field == "dataOperation":
        raise unknown_field(field)
    defaults = order_lines.field_change(call.store, line, field, op.upper())
    return Reply({"data": {LINES: [{**line, **defaults}]}})


def commit_lines(call: Call) -> Reply:
    """Commit the grid; the answer lists every line of the order as it now stands."""
    (nbr,) = call.need("salesOrderNumber")
    fields.check_body(call.body, LINES)
    records = fields.records_of(call.body, LINES)
    for rec in records:
        fields.check_fields(rec, fields.LINE, "sales order line")
    order_lines.commit_lines(call.store, nbr, records)
    return written(LINES, [line_json(ln) for ln in orders.lines(call.store, nbr)])
