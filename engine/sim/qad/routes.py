"""Every API path the simulated tenant serves, in canonical names (the profile defaults).

Each route lists its methods, its view (a ``viewUri`` other than it is refused), and what
``api/qracore/entitymetadatas`` says about it: the classic table hint (the ``db`` metadata of
the matching engine/config/qad_profile.QadPaths key, mirrored here) and the record shapes.
A path not listed answers 404; a listed path with another method 405 (so a start-up probe can
tell "exists, write-only" from "missing").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import engine.sim.qad.browses as browses
import engine.sim.qad.fields as fields
import engine.sim.qad.finance as finance
import engine.sim.qad.items as items
import engine.sim.qad.sales_orders as sales_orders
import engine.sim.qad.unplanned as unplanned
from engine.sim.qad.wire import Handler

__all__ = ["ROUTES", "VALIDATE_STEP", "Route"]

VALIDATE_STEP = "validateAndAssignDefaultsLine"


@dataclass(frozen=True, slots=True)
class Route:
    methods: Mapping[str, Handler]
    view: str = ""
    table: str = ""  # metadata only: listed in entitymetadatas when set
    shapes: tuple[Mapping[str, str], ...] = ()


_RECEIVES, _ISSUES = "api/erp/unplannedReceives", "api/erp/unplannedIssues"
_TREE = (fields.UNPLANNED_HEADER, fields.UNPLANNED_DETAIL)

ROUTES: dict[str, Route] = {
    "api/qracore/browses": Route({"GET": browses.browse}),
    "api/qracore/browses/totalCount": Route({"GET": browses.total_count}),
    "api/erp/salesOrderHeaders": Route(
        {"GET": sales_orders.get_header, "POST": sales_orders.post_header},
        sales_orders.SO_VIEW,
        "so_mstr",
        (fields.HEADER, fields.ADDRESS),
    ),
    "api/erp/salesOrderLinesGrid": Route(
        {"GET": sales_orders.get_lines, "POST": sales_orders.commit_lines},
        table="sod_det",
        shapes=(fields.LINE,),
    ),
    "api/erp/salesOrderLines/fieldChange": Route(
        {"POST": sales_orders.field_change}, table="sod_det:fieldChange", shapes=(fields.LINE,)
    ),
    "api/erp/items": Route({"GET": items.get_item}, table="pt_mstr", shapes=(fields.ITEM,)),
    _RECEIVES: Route(
        {"GET": unplanned.init, "POST": unplanned.commit},
        unplanned.RECEIVE_VIEW,
        "tr_hist:RCT-UNP",
        _TREE,
    ),
    # Listed once in the metadata (the step's QadPaths key is its last segment).
    f"{_RECEIVES}/{VALIDATE_STEP}": Route(
        {"POST": unplanned.validate}, table="tr_hist:validate", shapes=_TREE
    ),
    _ISSUES: Route(
        {"GET": unplanned.init, "POST": unplanned.commit},
        unplanned.ISSUE_VIEW,
        "tr_hist:ISS-UNP",
        _TREE,
    ),
    f"{_ISSUES}/{VALIDATE_STEP}": Route({"POST": unplanned.validate}),
    "api/erp/customerInvoices": Route(
        {"POST": finance.post_invoices},
        finance.INVOICE_VIEW,
        "DInvoice",
        (fields.INVOICE, fields.INVOICE_LINE),
    ),
    "api/erp/journalEntries": Route(
        {"POST": finance.post_journals},
        finance.JOURNAL_VIEW,
        "Posting",
        (fields.JOURNAL, fields.JOURNAL_LINE),
    ),
}
