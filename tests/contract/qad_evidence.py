"""What public evidence says QAD Adaptive ERP requests and answers look like (our own summary).

Written from ../shared/reference/qad (public loaders and clients that call real tenants); each
shape carries its evidence tag: C = seen in public code that calls a real tenant, I = inferred,
G = a guess the project had to make. The names are the literal ones of the evidence, NOT the
engine's profile, so neither the client nor the simulator can drift together into a guess:
the contract tests hold both to this file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SO_VIEW = "urn:be:com.qad.sales.salesorder.ISalesOrderHeader"
RECEIVE_VIEW = "urn:be:com.qad.logistics.unplanned.IUnplannedReceiveV2"

# The sales-order header fields of the public loader's payload [C], plus the two the project
# had to name without evidence (the customer-PO field and the delivery address) [G].
SO_HEADER_FIELDS_C = frozenset(
    {
        "uri",
        "salesOrderNumber",
        "domainCode",
        "soldToCustomerCode",
        "billToCustomerCode",
        "shipToCustomerCode",
        "siteCode",
        "currencyCode",
        "orderDate",
        "dueDate",
        "creditTermsCode",
        "shipVia",
        "daybookSetCode",
        "languageCode",
        "exchangeRate",
        "exchangeRate2",
        "isConfirmed",
        "dataOperation",
        "concurrencyHash",
        "disallowedActions",
        "disallowedActionsMessage",
    }
)
SO_HEADER_FIELDS_G = frozenset({"purchaseOrder", "shipToAddress"})
# Fields a line's fieldChange is seen with in the public loader [C].
LINE_FIELD_CHANGES_C = frozenset(
    {
        "itemCode",
        "siteCode",
        "quantityOrdered",
        "listPrice",
        "discountFormatted",
        "netPrice",
        "dueDate",
    }
)
# The unplanned receipt detail of the public loader [C]; the rest of a committed tree is what
# QAD returned from validateAndAssignDefaultsLine (carried back, never invented by a client).
UNPLANNED_DETAIL_C = frozenset(
    {"itemCode", "transactionQuantity", "location", "lotSerial", "reference", "description"}
)
# Names the first wave invented: never sent anywhere. Inline lines in a header are invented too
# (lines have their own grid endpoints), so a header must not carry salesOrderLines.
INVENTED_NEVER_SENT = frozenset({"customerPurchaseOrder", "channel", "transactionNumbers"})
INVENTED_IN_HEADER = frozenset({"salesOrderLines", "status"})
FILTER = re.compile(r"^[^,]+,(eq|cn|sw|ew|gt|ge|lt|le),[^,]*,literal$")
QDATE = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$")


@dataclass(frozen=True, slots=True)
class RequestShape:
    """One request kind: method, path (relative to the tenant URL) and required query keys."""

    name: str
    evidence: str
    method: str
    path: str
    query: frozenset[str] = frozenset()
    fixed: Mapping[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str, query: Mapping[str, list[str]]) -> bool:
        if method != self.method or path != self.path:
            return False
        return all(query.get(k, [None])[0] == v for k, v in self.fixed.items())


SHAPES = (
    RequestShape("token", "C", "POST", "oauth/token"),
    RequestShape("security control", "C", "GET", "api/qracore/securityControl"),
    RequestShape(
        "browse",
        "C",
        "GET",
        "api/qracore/browses",
        frozenset({"browseId", "page", "pageSize", "pageAction"}),
    ),
    RequestShape(
        "sales order header",
        "C",
        "POST",
        "api/erp/salesOrderHeaders",
        frozenset({"viewUri"}),
        {"viewUri": SO_VIEW},
    ),
    RequestShape(
        "sales order header read",
        "I",
        "GET",
        "api/erp/salesOrderHeaders",
        frozenset({"salesOrderNumber"}),
    ),
    RequestShape(
        "line grid initialize",
        "C",
        "GET",
        "api/erp/salesOrderLinesGrid",
        frozenset({"initialize", "salesOrderNumber", "domainCode"}),
        {"initialize": "true"},
    ),
    RequestShape(
        "line grid read", "I", "GET", "api/erp/salesOrderLinesGrid", frozenset({"salesOrderNumber"})
    ),
    RequestShape(
        "line field change",
        "C",
        "POST",
        "api/erp/salesOrderLines/fieldChange",
        frozenset({"fieldName", "dataOperation"}),
    ),
    RequestShape(
        "line grid commit",
        "C",
        "POST",
        "api/erp/salesOrderLinesGrid",
        frozenset({"salesOrderNumber"}),
    ),
    RequestShape(
        "unplanned receipt init", "C", "GET", "api/erp/unplannedReceives", frozenset({"siteCode"})
    ),
    RequestShape(
        "unplanned receipt validate",
        "C",
        "POST",
        "api/erp/unplannedReceives/validateAndAssignDefaultsLine",
        frozenset({"unplannedProcessorHeaderID", "unplannedProcessorDetailID", "fieldName"}),
    ),
    RequestShape(
        "unplanned receipt commit",
        "C",
        "POST",
        "api/erp/unplannedReceives",
        frozenset({"viewUri"}),
        {"viewUri": RECEIVE_VIEW},
    ),
    RequestShape(
        "unplanned issue init", "I", "GET", "api/erp/unplannedIssues", frozenset({"siteCode"})
    ),
    RequestShape(
        "unplanned issue validate",
        "I",
        "POST",
        "api/erp/unplannedIssues/validateAndAssignDefaultsLine",
        frozenset({"unplannedProcessorHeaderID", "unplannedProcessorDetailID", "fieldName"}),
    ),
    RequestShape(
        "unplanned issue commit", "I", "POST", "api/erp/unplannedIssues", frozenset({"viewUri"})
    ),
    RequestShape(
        "customer invoice", "G", "POST", "api/erp/customerInvoices", frozenset({"viewUri"})
    ),
    RequestShape("journal entry", "G", "POST", "api/erp/journalEntries", frozenset({"viewUri"})),
    RequestShape("item read", "C", "GET", "api/erp/items", frozenset({"itemCode"})),
)


ENTITY_PATHS = frozenset(sh.path for sh in SHAPES if sh.path.startswith("api/erp/"))
PROBE = RequestShape("probe", "I", "GET", "api/erp/*")


def shape_of(method: str, path: str, query: Mapping[str, list[str]]) -> RequestShape | None:
    """The most specific shape a request matches (fixed query values first), or None."""
    candidates = [s for s in SHAPES if s.matches(method, path, query)]
    candidates.sort(key=lambda s: -len(s.fixed) - len(s.query & set(query)))
    for s in candidates:
        if s.query <= set(query):
            return s
    if method == "GET" and set(query) <= {"domainCode"} and path in ENTITY_PATHS:
        return PROBE  # the start-up probe: a keyed GET without its key proves the path exists
    return None


def walk_keys(doc: Any) -> set[str]:
    """Every object key anywhere in a JSON document."""
    out: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.add(k)
            out |= walk_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            out |= walk_keys(v)
    return out


def assert_business_error(doc: Any) -> list[dict[str, Any]]:
    """A QAD business failure: HTTP 200 with submitResult.success false and error rows [C]."""
    assert isinstance(doc, dict) and isinstance(doc.get("submitResult"), dict), doc
    result = doc["submitResult"]
    assert result["success"] is False, doc
    errors = result["errors"]
    assert errors and all({"fieldName", "message", "code"} <= set(e) for e in errors), doc
    return list(errors)


def assert_write_ok(doc: Any, plural: str) -> list[dict[str, Any]]:
    """A QAD write success: submitResult.success true and the records under data.<plural>."""
    assert isinstance(doc, dict), doc
    assert doc.get("submitResult", {}).get("success") is True, doc
    records = doc["data"][plural]
    assert isinstance(records, list), doc
    return list(records)


def assert_browse_page(doc: Any) -> list[dict[str, Any]]:
    """A browse answer [C]: flat rows under data, HasMoreParams as the string true/false."""
    assert isinstance(doc, dict) and isinstance(doc.get("data"), list), doc
    assert doc["auxillaryData"]["HasMoreParams"] in ("true", "false"), doc
    for row in doc["data"]:
        assert all(not isinstance(v, dict | list) for v in row.values()), row
    return list(doc["data"])
