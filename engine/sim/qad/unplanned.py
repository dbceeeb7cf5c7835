"""Unplanned receipts and issues over REST: init, validate-and-assign-defaults, commit.

Flow [C] for receipts (a public unplanned-receipt loader; its author marks the bodies as
unconfirmed), [I] for issues (``unplannedIssues`` / IUnplannedIssueV2, the receipt's twin):
1. ``GET <path>?siteCode=S``: a tree ``{"unplannedProcessorHeaderV2s": [{header id, domainCode,
   siteCode, "unplannedProcessorDetailV2s": [{detail id, blank fields}]}]}``; the ids are opaque.
2. ``POST <path>/validateAndAssignDefaultsLine?unplannedProcessorHeaderID&
   unplannedProcessorDetailID&fieldName=itemCode|transactionQuantity`` with the tree: the tree
   back with QAD's defaults (location, inventory status, GL account; which ones is [I]).
3. ``POST <path>?viewUri=...`` with the tree: the commit, answered with the tree (no transaction
   numbers: the client finds tr_trnbr through the history browse).
The strict simulator rejects a commit of an unknown or already committed header id, of a tree
with more than one detail or tree, and of an item or quantity that was not validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import engine.sim.qad.fields as fields
from engine.sim.qad.store import inventory
from engine.sim.qad.store.core import BusinessError, text
from engine.sim.qad.wire import Call, Reply, written

__all__ = ["ISSUE_VIEW", "RECEIVE_VIEW", "commit", "init", "validate"]

TREES, DETAILS = "unplannedProcessorHeaderV2s", "unplannedProcessorDetailV2s"
HEADER_ID, DETAIL_ID = "unplannedProcessorHeaderID", "unplannedProcessorDetailID"
RECEIVE_VIEW = "urn:be:com.qad.logistics.unplanned.IUnplannedReceiveV2"
ISSUE_VIEW = "urn:be:com.qad.logistics.unplanned.IUnplannedIssueV2"
KIND = {"api/erp/unplannedReceives": inventory.RECEIPT, "api/erp/unplannedIssues": inventory.ISSUE}


def _kind(call: Call) -> str:
    return KIND[call.path.removesuffix("/validateAndAssignDefaultsLine")]


def init(call: Call) -> Reply:
    (site,) = call.need("siteCode")
    header_id, detail_id = inventory.init(call.store, _kind(call), site)
    detail: dict[str, Any] = {
        DETAIL_ID: detail_id,
        "itemCode": "",
        "transactionQuantity": Decimal(0),
        "location": "",
        "lotSerial": "",
        "reference": "",
        "description": "",
        "inventoryStatus": "",
        "glAccount": "",
        "subAccount": "",
        "costCenter": "",
    }
    tree = {HEADER_ID: header_id, "domainCode": call.domain, "siteCode": site, DETAILS: [detail]}
    return Reply({"data": {TREES: [tree]}})


def _tree(call: Call) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The one tree of the body and its one detail, shapes checked."""
    fields.check_body(call.body, TREES)
    trees = fields.records_of(call.body, TREES)
    if len(trees) != 1:
        raise BusinessError(TREES, "Exactly one unplanned header per request")
    tree = fields.check_fields(trees[0], fields.UNPLANNED_HEADER, "unplanned header")
    if "domainCode" in tree and text(tree["domainCode"]) != call.domain:
        raise BusinessError("domainCode", f"Record domain is not {call.domain}")
    details = tree.get(DETAILS)
    if not isinstance(details, list) or len(details) != 1:
        raise BusinessError(DETAILS, "Exactly one unplanned detail per header")
    detail = fields.check_fields(details[0], fields.UNPLANNED_DETAIL, "unplanned detail")
    return tree, detail


def _ids(tree: Mapping[str, Any], detail: Mapping[str, Any]) -> tuple[str, str]:
    return text(tree.get(HEADER_ID)), text(detail.get(DETAIL_ID))


def validate(call: Call) -> Reply:
    """One field of the detail: the tree back with the defaults QAD assigns for it."""
    header_id, detail_id, field = call.need(HEADER_ID, DETAIL_ID, "fieldName")
    tree, detail = _tree(call)
    if _ids(tree, detail) != (header_id, detail_id):
        raise BusinessError(HEADER_ID, "The tree's ids differ from the request's")
    site = text(tree.get("siteCode"))
    defaults = inventory.validate(
        call.store, _kind(call), (header_id, detail_id), site, detail, field
    )
    return Reply({"data": {TREES: [{**tree, DETAILS: [{**detail, **defaults}]}]}})


def commit(call: Call) -> Reply:
    tree, detail = _tree(call)
    site = text(tree.get("siteCode"))
    inventory.commit(call.store, _kind(call), _ids(tree, detail), site, detail)
    return written(TREES, [dict(tree)])
