"""Stock: on-hand through a browse, unplanned receipts and issues through QAD's four steps.

On-hand of an item at a site is the sum of the quantity column over the rows of
``qad.browses.on_hand`` (gp164, ld_det: one row per location/lot) filtered on item and site.

An unplanned receipt (RCT-UNP) or issue (ISS-UNP), as QAD's public loader posts it:
1. ``GET unplannedReceives?siteCode=S``: QAD's blank tree, with its header and detail ids;
2. ``POST .../validateAndAssignDefaultsLine?...&fieldName=itemCode`` (QAD defaults location,
   status and GL accounts), then the same for ``transactionQuantity``;
3. ``POST unplannedReceives?viewUri=...``: the whole tree as QAD returned it.
The reference goes in the detail's reference, which lands in tr_hist.tr_nbr, where the
history browse finds it; the transaction number (tr_trnbr) is the document.
"""

from __future__ import annotations

from decimal import Decimal

from engine.errors import ConfigError, Rejected

from .browsing import Browser
from .idempotent import Creation, LookupProof, create_once
from .models import InventoryAdjustment, InventoryBalance, PostResult
from .settings import QadSettings
from .transport import SYSTEM
from .wire import Doc, Wire, dec, records

__all__ = ["Inventory"]

RECEIPT, ISSUE = "RCT-UNP", "ISS-UNP"  # tr_hist.tr_type of unplanned receipts / issues


class Inventory:
    def __init__(
        self, wire: Wire, browser: Browser, settings: QadSettings, proof: LookupProof
    ) -> None:
        self.wire = wire
        self.browser = browser
        self.settings = settings
        self.f = settings.fields
        self.b = settings.browses
        self.proof = proof

    def _column(self, row: Doc, browse_key: str, column_key: str) -> object:
        column = str(getattr(self.b, column_key))
        if column not in row:
            raise ConfigError(
                f"qad.browses.{column_key} = {column!r} is not a column of qad.browses."
                f"{browse_key} ({getattr(self.b, browse_key)}); its rows have: "
                f"{', '.join(sorted(row))}"
            )
        return row[column]

    async def balance(self, item: str, site: str) -> InventoryBalance | None:
        """On-hand of ``item`` at ``site`` (None: QAD holds no location record for it)."""
        rows = await self.browser.matching(
            "on_hand", "on_hand_item_column", item, also={"on_hand_site_column": site}
        )
        if not rows:
            return None
        total = sum(
            (dec(self._column(r, "on_hand", "on_hand_quantity_column")) for r in rows), Decimal(0)
        )
        return InventoryBalance(item=item, site=site, on_hand=total, locations=len(rows))

    async def find(self, reference: str) -> Doc | None:
        """The unplanned receipt/issue whose reference (tr_nbr) is ``reference``: document
        (tr_trnbr), type, item, site, quantity (negative for an issue), rows."""
        rows = [
            r
            for r in await self.browser.matching(
                "inventory_history", "history_reference_column", reference
            )
            if str(self._column(r, "inventory_history", "history_type_column")) in (RECEIPT, ISSUE)
        ]
        if not rows:
            return None
        first = rows[0]

        def col(key: str) -> str:
            return str(self._column(first, "inventory_history", key) or "")

        quantity = sum(
            (dec(self._column(r, "inventory_history", "history_quantity_column")) for r in rows),
            Decimal(0),
        )
        return {
            "document": col("history_number_column"),
            "type": col("history_type_column"),
            "item": col("history_item_column"),
            "site": col("history_site_column"),
            "quantity": quantity,
            "rows": rows,
        }

    async def _validate(self, path: str, tree: Doc, detail: Doc, field_name: str) -> Doc:
        f = self.f
        recs = await self.wire.step(
            f"{path}/{self.settings.paths.unplanned_validate_step}",
            f.unplanned_headers,
            {
                f.unplanned_header_id: str(tree.get(f.unplanned_header_id) or ""),
                f.unplanned_detail_id: str(detail.get(f.unplanned_detail_id) or ""),
                "fieldName": field_name,
                **self.wire.domain(),
            },
            {f.unplanned_headers: [tree]},
        )
        if not recs:
            raise Rejected(f"qad {field_name} validation answered no tree", system=SYSTEM)
        return recs[0]

    def _detail(self, tree: Doc) -> Doc:
        details = tree.get(self.f.unplanned_details)
        if not isinstance(details, list) or not details or not isinstance(details[0], dict):
            raise Rejected("qad unplanned transaction tree has no detail line", system=SYSTEM)
        return details[0]

    def _with_detail(self, tree: Doc, **values: object) -> Doc:
        f = self.f
        details = list(tree[f.unplanned_details])
        details[0] = {**details[0], **values}
        return {**tree, f.unplanned_details: details}

    async def _post(self, adj: InventoryAdjustment) -> None:
        f, p = self.f, self.settings.paths
        issue = adj.quantity < 0
        path = p.unplanned_issues if issue else p.unplanned_receives
        view = p.unplanned_issue_view if issue else p.unplanned_receive_view
        init = records(
            await self.wire.t.json("GET", path, params=self.wire.domain(**{f.site: adj.site})),
            f.unplanned_headers,
        )
        if not init:
            raise Rejected(f"qad {path} init answered no tree for site {adj.site}", system=SYSTEM)
        tree = init[0]
        self._detail(tree)
        tree = self._with_detail(
            tree,
            **{
                f.unplanned_item: adj.item,
                f.unplanned_location: adj.location,
                f.unplanned_reference: adj.reference,
                f.unplanned_remarks: adj.remarks,
            },
        )
        tree = await self._validate(path, tree, self._detail(tree), f.unplanned_item)
        tree = self._with_detail(tree, **{f.unplanned_quantity: abs(adj.quantity)})
        tree = await self._validate(path, tree, self._detail(tree), f.unplanned_quantity)
        await self.wire.commit(
            path, f.unplanned_headers, {"viewUri": view, **self.wire.domain()}, [tree]
        )

    async def post(self, adj: InventoryAdjustment) -> PostResult:
        def diffs(found: Doc) -> list[str]:
            out = []
            if found.get("item") != adj.item or found.get("site") != adj.site:
                out.append("item/site")
            if dec(found.get("quantity")) != adj.quantity:
                out.append("quantity")
            return out

        return await create_once(
            Creation(
                "inventory adjustment",
                adj.reference,
                self.proof,
                lambda: self.find(adj.reference),
                diffs,
                lambda: self._post(adj),
                adj.after_unknown_outcome,
                known_unsent=adj.known_unsent,
            )
        )
