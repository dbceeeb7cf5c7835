"""The Listings Items API (get, put, patch with delayed apply) and the merchant listings report.

Validation lives in ``listing_rules`` and listing state in ``listing_state``; both carry the
evidence tags of the rules they enforce.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from engine.sim.amazon.common import CALLER_KEY, BadInput, csv_param, error, json_response
from engine.sim.amazon.data import FX, money
from engine.sim.amazon.inventory import mfn_quantity
from engine.sim.amazon.listing_rules import check_shape, content_issues
from engine.sim.amazon.listing_state import (
    currency_map,
    fulfillment_view,
    listing,
    listing_issues,
    offers_view,
    seed_listing,
    summaries_view,
    view_attributes,
)
from engine.sim.amazon.sellers import marketplace
from engine.sim.amazon.world import WORLD_KEY, Report, World

__all__ = ["LISTINGS_ROUTES", "listing", "listings_report"]

_GET_INCLUDED = (
    "summaries",
    "attributes",
    "issues",
    "offers",
    "fulfillmentAvailability",
    "procurement",
    "relationships",
    "productTypes",
)
_SUBMIT_INCLUDED = ("identifiers", "issues")


def _included(request: web.Request, allowed: tuple[str, ...], default: str) -> set[str]:
    """includedData as the model's enum allows it (anything else: 400 InvalidInput [D])."""
    wanted = set(csv_param(request, "includedData")) or {default}
    unknown = sorted(wanted - set(allowed))
    if unknown:
        raise BadInput(details=f"Invalid includedData value(s): {', '.join(unknown)}.")
    return wanted


def _listing_target(request: web.Request) -> tuple[World, Any, str, list[str]] | web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    if request.match_info["sellerId"] != world.creds[caller.seller].seller_id:
        return error(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            "The sellerId does not match the access token.",
        )
    mps = csv_param(request, "marketplaceIds")
    allowed = world.configs[caller.seller].marketplace_ids(caller.region)
    if not mps or any(m not in allowed for m in mps):
        raise BadInput(details="marketplaceIds must name marketplaces of this region.")
    # aiohttp matches the raw path and decodes each segment once, so a SKU sent as
    # quote(sku, safe="") (%2F, %20, %23, UTF-8 %C3%B6) arrives whole; one sent unencoded
    # splits at '/' (404) or loses everything after '#' (never sent), as on Amazon.
    return world, caller, request.match_info["sku"], mps


async def get_listings_item(request: web.Request) -> web.Response:
    target = _listing_target(request)
    if isinstance(target, web.Response):
        return target
    world, caller, sku, mps = target
    included = _included(request, _GET_INCLUDED, "summaries")
    state = listing(world, caller.seller, sku)
    if state is None:
        return error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {mps[0]}")
    body: dict[str, Any] = {"sku": sku}
    if "summaries" in included:
        body["summaries"] = summaries_view(sku, state, mps)
    if "attributes" in included:
        body["attributes"] = view_attributes(world, caller.seller, sku, state, mps)
    if "issues" in included:
        body["issues"] = listing_issues(state, mps)
    if "offers" in included:
        body["offers"] = offers_view(state, mps)
    if "fulfillmentAvailability" in included:
        body["fulfillmentAvailability"] = fulfillment_view(world, caller.seller, sku, state, mps)
    if "procurement" in included:
        body["procurement"] = []  # vendor listings only [D]
    if "relationships" in included:
        body["relationships"] = [{"marketplaceId": mp, "relationships": []} for mp in mps]
    if "productTypes" in included:
        body["productTypes"] = [
            {"marketplaceId": mp, "productType": state["productType"]} for mp in mps
        ]
    return json_response(body)


async def _submit(request: web.Request, kind: str) -> web.Response:
    target = _listing_target(request)
    if isinstance(target, web.Response):
        return target
    world, caller, sku, mps = target
    rules = world.listing_rules
    preview = request.query.get("mode") == "VALIDATION_PREVIEW"
    if "mode" in request.query and not preview:
        raise BadInput(details="mode must be VALIDATION_PREVIEW.")  # the only enum value [D]
    included = _included(request, _SUBMIT_INCLUDED, "issues")
    if "identifiers" in included and not preview:
        # "Can only be requested when mode is VALIDATION_PREVIEW" [D]; answered 400 [I].
        raise BadInput(details="includedData=identifiers requires mode=VALIDATION_PREVIEW.")
    if kind == "patch" and rules.slash_sku_patch_403 and any(c in sku for c in "/#"):
        return error(403, "Unauthorized", "Access to requested resource is denied.")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadInput(details="The request body is not valid JSON.") from None
    check_shape(kind, body)
    state = listing(world, caller.seller, sku)
    issues = content_issues(
        rules,
        kind,
        body,
        None if state is None else str(state["productType"]),
        mps,
        currency_map(world, caller.seller),
    )
    invalid = any(i["severity"] == "ERROR" for i in issues)  # an ERROR means INVALID [D]
    sid = hashlib.sha256(f"{sku}:{world.now()}:{len(world.pending_listing_changes)}".encode())
    if preview:
        status = "INVALID" if invalid else "VALID"
    else:
        status = "INVALID" if invalid else "ACCEPTED"
        op = "putListingsItem" if kind == "put" else "patchListingsItem"
        # listing_not_applied: ACCEPTED yet never applied [C models#2201].
        if not invalid and world.faults.take(("listing_not_applied",), op, caller.region) is None:
            change = {"kind": kind, "marketplaces": mps} | body
            world.pending_listing_changes.append(
                (world.now() + rules.delay_s, caller.seller, sku, change)
            )
    out: dict[str, Any] = {"sku": sku, "status": status, "submissionId": sid.hexdigest()[:32]}
    if "issues" in included:
        out["issues"] = issues
    if "identifiers" in included:
        seed = seed_listing(world, sku)
        asin = state["asin"] if state is not None else (seed.asin if seed else "")
        out["identifiers"] = [{"marketplaceId": mp, "asin": asin} for mp in mps] if asin else []
    return json_response(out)


async def put_listings_item(request: web.Request) -> web.Response:
    return await _submit(request, "put")


async def patch_listings_item(request: web.Request) -> web.Response:
    return await _submit(request, "patch")


def listings_report(world: World, r: Report) -> list[list[str]]:
    cols = [
        "item-name",
        "item-description",
        "listing-id",
        "seller-sku",
        "price",
        "quantity",
        "open-date",
        "product-id-type",
        "item-condition",
        "asin1",
        "product-id",
        "fulfillment-channel",
        "status",
    ]
    rows = [cols]
    mp = marketplace(r.marketplace_ids[0])
    assert mp is not None
    names = {"JP": "精密部品 ", "DE": "Präzisionsteil "}
    for item in world.book.catalog:
        price = money(item.list_price * FX[mp.currency], mp.currency)
        mfn = item.fulfillment == "MFN"
        qty = (
            str(mfn_quantity(world, r.seller, mp.marketplace_id, item.sku, r.created))
            if mfn
            else ""
        )
        rows.append(
            [
                names.get(mp.country, "") + item.description,
                "",
                item.asin[2:] + "LST",
                item.sku,
                str(price),
                qty,
                "2025-01-15 09:00:00 UTC",
                "1",
                "11",
                item.asin,
                item.asin,
                "DEFAULT" if mfn else f"AMAZON_{mp.region}",
                "Active",
            ]
        )
    return rows


LISTINGS_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/listings/2021-08-01/items/{sellerId}/{sku}", get_listings_item, "getListingsItem"),
    ("PUT", "/listings/2021-08-01/items/{sellerId}/{sku}", put_listings_item, "putListingsItem"),
    (
        "PATCH",
        "/listings/2021-08-01/items/{sellerId}/{sku}",
        patch_listings_item,
        "patchListingsItem",
    ),
]
