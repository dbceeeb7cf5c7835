"""FBA inventory summaries and the quantities behind them (FBA and merchant-fulfilled)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from engine.sim.amazon.common import CALLER_KEY, BadInput, csv_param, iso, json_response
from engine.sim.amazon.data import DAY
from engine.sim.amazon.paging_rules import request_filters
from engine.sim.amazon.world import WORLD_KEY, World

__all__ = ["INBOUND_EVERY", "INVENTORY_ROUTES", "fba_quantities", "mfn_quantity"]

FBA_TOKEN_TTL = 30.0
INBOUND_EVERY = 7 * DAY
INBOUND_QTY = 200


def _initial(world: World, seller: int, mp: str, sku: str) -> int:
    h = hashlib.sha256(f"{world.seed}:{seller}:{mp}:{sku}".encode()).digest()
    return 300 + int.from_bytes(h[:2], "big") % 500


def fba_quantities(world: World, seller: int, mp: str, at: float) -> dict[str, dict[str, int]]:
    """Per AFN SKU: fulfillable, reserved, inbound_shipped, received, shipped at time ``at``."""
    name = world.configs[seller].name
    arrivals = int((at - world.book.origin) // INBOUND_EVERY)
    next_arrival = world.book.origin + (arrivals + 1) * INBOUND_EVERY
    out: dict[str, dict[str, int]] = {}
    for item in world.book.catalog:
        if item.fulfillment == "AFN":
            out[item.sku] = {
                "initial": _initial(world, seller, mp, item.sku),
                "received": arrivals * INBOUND_QTY,
                "shipped": 0,
                "reserved": 0,
                "inbound_shipped": INBOUND_QTY if next_arrival - at < 3 * DAY else 0,
            }
    for o in world.book.purchased_between(world.book.origin, at):
        if o.seller != name or o.channel != "AFN" or o.marketplace.marketplace_id != mp:
            continue
        status = o.status(at)
        for ln in o.lines:
            q = out[ln.item.sku]
            if status == "Shipped":
                q["shipped"] += ln.quantity
            elif status in ("Pending", "Unshipped"):
                q["reserved"] += ln.quantity
    for q in out.values():
        q["fulfillable"] = max(0, q["initial"] + q["received"] - q["shipped"] - q["reserved"])
    return out


def mfn_quantity(world: World, seller: int, mp: str, sku: str, at: float) -> int:
    key = (seller, mp, sku)
    since, qty = world.mfn_base.get(key, (world.book.origin, _initial(world, seller, mp, sku)))
    name = world.configs[seller].name
    for o in world.book.purchased_between(since, at):
        if o.seller != name or o.marketplace.marketplace_id != mp or o.status(at) == "Canceled":
            continue
        qty -= sum(ln.quantity for ln in o.lines if ln.item.sku == sku)
    return max(0, qty)


async def get_inventory_summaries(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    q = request.query
    now = world.now()
    token = q.get("nextToken")
    filters = request_filters(request, "nextToken")
    if token:
        skus, offset, mp, details, filters = world.paging.resolve(
            token, now, "The nextToken has expired. Please restart the request."
        )
        # nextToken plus the (required) params, unchanged [D fbaInventory.json; paging_rules.py]
        required = ("granularityType", "granularityId", "marketplaceIds")
        world.paging_rules.check(request, "nextToken", filters, required=required)
    else:
        if q.get("granularityType") != "Marketplace" or not q.get("granularityId"):
            raise BadInput(details="granularityType=Marketplace and granularityId are required.")
        mps = csv_param(request, "marketplaceIds")
        mp = q["granularityId"]
        if len(mps) != 1 or mps[0] != mp:
            raise BadInput(details="Exactly one marketplaceIds equal to granularityId.")
        if mp not in world.configs[caller.seller].marketplace_ids(caller.region):
            raise BadInput(f"Invalid marketplaceId: {mp}")
        wanted = set(csv_param(request, "sellerSkus")) | set(csv_param(request, "sellerSku"))
        skus = [
            c.sku
            for c in world.book.catalog
            if c.fulfillment == "AFN" and (not wanted or c.sku in wanted)
        ]
        offset, details = 0, q.get("details") == "true"
    quantities = fba_quantities(world, caller.seller, mp, now)
    by_sku = {c.sku: c for c in world.book.catalog}
    page_size = 5  # small pages so the 30 s token lifetime matters
    summaries = []
    for sku in skus[offset : offset + page_size]:
        item, qq = by_sku[sku], quantities[sku]
        s: dict[str, Any] = {
            "asin": item.asin,
            "fnSku": "X00" + item.asin[3:],
            "sellerSku": sku,
            "condition": "NewItem",
            "productName": item.description,
            "lastUpdatedTime": iso(now),
            "totalQuantity": qq["fulfillable"] + qq["reserved"] + qq["inbound_shipped"],
        }
        if details:
            s["inventoryDetails"] = {
                "fulfillableQuantity": qq["fulfillable"],
                "inboundWorkingQuantity": 0,
                "inboundShippedQuantity": qq["inbound_shipped"],
                "inboundReceivingQuantity": 0,
                "reservedQuantity": {
                    "totalReservedQuantity": qq["reserved"],
                    "pendingCustomerOrderQuantity": qq["reserved"],
                    "pendingTransshipmentQuantity": 0,
                    "fcProcessingQuantity": 0,
                },
                "researchingQuantity": {
                    "totalResearchingQuantity": 0,
                    "researchingQuantityBreakdown": [],
                },
                "unfulfillableQuantity": {
                    "totalUnfulfillableQuantity": 0,
                    "customerDamagedQuantity": 0,
                    "warehouseDamagedQuantity": 0,
                    "distributorDamagedQuantity": 0,
                    "carrierDamagedQuantity": 0,
                    "defectiveQuantity": 0,
                    "expiredQuantity": 0,
                },
            }
        summaries.append(s)
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": mp},
            "inventorySummaries": summaries,
        }
    }
    if offset + page_size < len(skus):
        state = (skus, offset + page_size, mp, details, filters)
        body["pagination"] = {"nextToken": world.paging.issue(state, now + FBA_TOKEN_TTL)}
    return json_response(body)


INVENTORY_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/fba/inventory/v1/summaries", get_inventory_summaries, "getInventorySummaries"),
]
