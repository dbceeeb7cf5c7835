"""The Listings Items API (get, put, patch with delayed apply) and the merchant listings report."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from aiohttp import web

from engine.sim.amazon.common import CALLER_KEY, BadInput, csv_param, error, iso, json_response
from engine.sim.amazon.data import FX, money
from engine.sim.amazon.inventory import mfn_quantity
from engine.sim.amazon.sellers import marketplace
from engine.sim.amazon.world import WORLD_KEY, Report, World

__all__ = ["LISTINGS_ROUTES", "listing", "listings_report"]

LISTING_DELAY = 120.0  # sim seconds until an ACCEPTED submission is visible


def listing(world: World, seller: int, sku: str) -> dict[str, Any] | None:
    """The applied listing state (pending submissions applied when due)."""
    now = world.now()
    due = [c for c in world.pending_listing_changes if c[0] <= now]
    if due:
        world.pending_listing_changes = [c for c in world.pending_listing_changes if c[0] > now]
        for at, s, k, change in sorted(due, key=lambda c: c[0]):
            _apply(world, s, k, change, at)
    key = (seller, sku)
    if key not in world.listings:
        item = next((c for c in world.book.catalog if c.sku == sku), None)
        if item is None:
            return None
        world.listings[key] = {
            "productType": "PRODUCT",
            "attributes": {
                "item_name": [{"value": item.description}],
                "purchasable_offer": [
                    {
                        "currency": "USD",
                        "our_price": [{"schedule": [{"value_with_tax": float(item.list_price)}]}],
                    }
                ],
            },
            "created": world.book.origin,
            "updated": world.book.origin,
        }
    return world.listings[key]


def _apply(world: World, seller: int, sku: str, change: dict[str, Any], at: float) -> None:
    state = listing(world, seller, sku) if (seller, sku) in world.listings else None
    if change["kind"] == "put":
        state = {
            "productType": change["productType"],
            "attributes": dict(change["attributes"]),
            "created": at if state is None else state["created"],
        }
        world.listings[(seller, sku)] = state
    else:
        state = listing(world, seller, sku)
        assert state is not None
        state["productType"] = change["productType"]
        for p in change["patches"]:
            name = p["path"].split("/")[2]
            if p["op"] == "delete":
                state["attributes"].pop(name, None)
            else:
                state["attributes"][name] = p["value"]
    state["updated"] = at
    for entry in state["attributes"].get("fulfillment_availability", []):
        if entry.get("fulfillment_channel_code") == "DEFAULT" and "quantity" in entry:
            for mp in change["marketplaces"]:
                world.mfn_base[(seller, mp, sku)] = (at, int(entry["quantity"]))


def _issue(message: str, attribute: str = "") -> dict[str, Any]:
    return {
        "code": "90220",
        "message": message,
        "severity": "ERROR",
        "attributeNames": [attribute] if attribute else [],
        "categories": ["INVALID_ATTRIBUTE"],
    }


def _validate(kind: str, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("productType"), str):
        return [_issue("'productType' is required.")]
    if kind == "put":
        return [] if isinstance(body.get("attributes"), dict) else [_issue("'attributes' required")]
    patches = body.get("patches")
    if not isinstance(patches, list) or not patches:
        return [_issue("'patches' must be a non-empty list.")]
    issues = []
    for p in patches:
        if not isinstance(p, dict) or p.get("op") not in ("add", "replace", "merge", "delete"):
            issues.append(_issue("Invalid patch 'op'."))
            continue
        path = p.get("path", "")
        if not isinstance(path, str) or not re.fullmatch(r"/attributes/[a-z0-9_]+", path):
            issues.append(
                _issue(f"Invalid patch path {path!r}: a top-level attribute is required.")
            )
            continue
        name = path.split("/")[2]
        if p["op"] != "delete" and not isinstance(p.get("value"), list):
            issues.append(_issue("'value' must be an array.", name))
        elif name == "fulfillment_availability":
            for v in p.get("value") or []:
                qty = v.get("quantity") if isinstance(v, dict) else None
                if qty is not None and (not isinstance(qty, int) or qty < 0):
                    issues.append(_issue("quantity must be a non-negative integer.", name))
    return issues


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
    return world, caller, request.match_info["sku"], mps


async def get_listings_item(request: web.Request) -> web.Response:
    target = _listing_target(request)
    if isinstance(target, web.Response):
        return target
    world, caller, sku, mps = target
    state = listing(world, caller.seller, sku)
    if state is None:
        return error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {mps[0]}")
    item = next((c for c in world.book.catalog if c.sku == sku), None)
    included = set(csv_param(request, "includedData")) or {"summaries"}
    body: dict[str, Any] = {"sku": sku}
    if "summaries" in included:
        body["summaries"] = [
            {
                "marketplaceId": mp,
                "asin": item.asin if item else "",
                "productType": state["productType"],
                "conditionType": "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"],
                "itemName": str(state["attributes"].get("item_name", [{}])[0].get("value", sku)),
                "createdDate": iso(state["created"]),
                "lastUpdatedDate": iso(state["updated"]),
            }
            for mp in mps
        ]
    if "attributes" in included:
        body["attributes"] = state["attributes"]
    if "issues" in included:
        body["issues"] = []
    if "offers" in included and item is not None:
        body["offers"] = []
        for mp_id in mps:
            mp = marketplace(mp_id)
            if mp:
                price = money(item.list_price * FX[mp.currency], mp.currency)
                body["offers"].append(
                    {
                        "marketplaceId": mp_id,
                        "offerType": "B2C",
                        "price": {"currencyCode": mp.currency, "amount": str(price)},
                    }
                )
    if "fulfillmentAvailability" in included and item is not None:
        if item.fulfillment == "MFN":
            qty = mfn_quantity(world, caller.seller, mps[0], sku, world.now())
            body["fulfillmentAvailability"] = [
                {"fulfillmentChannelCode": "DEFAULT", "quantity": qty}
            ]
        else:
            body["fulfillmentAvailability"] = [
                {"fulfillmentChannelCode": f"AMAZON_{caller.region}"}
            ]
    return json_response(body)


async def _submit(request: web.Request, kind: str) -> web.Response:
    target = _listing_target(request)
    if isinstance(target, web.Response):
        return target
    world, caller, sku, mps = target
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadInput(details="The request body is not valid JSON.") from None
    issues = _validate(kind, body)
    if kind == "patch" and not issues and listing(world, caller.seller, sku) is None:
        issues = [_issue(f"SKU '{sku}' does not exist; use putListingsItem to create it.")]
    sid = hashlib.sha256(f"{sku}:{world.now()}:{len(world.pending_listing_changes)}".encode())
    status = "INVALID" if issues else "ACCEPTED"
    if request.query.get("mode") == "VALIDATION_PREVIEW":
        status = "INVALID" if issues else "VALID"
    elif not issues:
        op = "putListingsItem" if kind == "put" else "patchListingsItem"
        if world.faults.take(("listing_not_applied",), op, caller.region) is None:
            change = {"kind": kind, "marketplaces": mps} | body
            world.pending_listing_changes.append(
                (world.now() + LISTING_DELAY, caller.seller, sku, change)
            )
    return json_response(
        {"sku": sku, "status": status, "submissionId": sid.hexdigest()[:32], "issues": issues}
    )


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
