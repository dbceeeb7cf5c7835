"""Orders API v0 (deprecated but served) and Orders API v2026-01-01."""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Any

from aiohttp import web

from engine.sim.amazon.common import (
    CALLER_KEY,
    BadInput,
    Caller,
    csv_param,
    error,
    iso,
    json_response,
    parse_time,
    two_minute_rule,
)
from engine.sim.amazon.data import OrderBook, SimOrder
from engine.sim.amazon.world import WORLD_KEY, World

__all__ = ["ORDER_ROUTES", "order_v0", "order_v2026"]

PAGE_TOKEN_TTL = 24 * 3600.0
_V2026_STATUS = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
}
_FROM_V2026 = {v: k for k, v in _V2026_STATUS.items()}


def _m(amount: Decimal, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": str(amount)}


def _m26(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currencyCode": currency}


def address(o: SimOrder, full: bool) -> dict[str, Any]:
    """A deterministic synthetic address; without PII rights only the non-PII fields."""
    rng = random.Random(o.order_id)
    country = o.marketplace.country
    city = rng.choice(
        {
            "US": ("Seattle", "Austin"),
            "CA": ("Toronto", "Calgary"),
            "DE": ("Köln", "München"),
            "GB": ("London", "Leeds"),
            "JP": ("東京都", "大阪府"),
        }.get(country, ("City",))
    )
    addr: dict[str, Any] = {
        "City": city,
        "PostalCode": f"{rng.randrange(10000, 99999)}",
        "CountryCode": country,
        "StateOrRegion": {"US": "WA", "CA": "ON"}.get(country, ""),
    }
    if full:
        addr |= {
            "Name": f"Buyer {o.order_id[-4:]}",
            "AddressLine1": f"{rng.randrange(1, 999)} Sample Street",
            "Phone": f"+1 555 {rng.randrange(1000000, 9999999)}",
            "AddressType": "Residential",
        }
    return addr


def _buyer(o: SimOrder) -> dict[str, str]:
    return {
        "BuyerEmail": f"{o.order_id.replace('-', '')}@marketplace.amazon.com",
        "BuyerName": f"Buyer {o.order_id[-4:]}",
    }


def order_v0(o: SimOrder, now: float, elements: set[str]) -> dict[str, Any]:
    status = o.status(now)
    shipped = sum(ln.quantity for ln in o.lines) if status == "Shipped" else 0
    body: dict[str, Any] = {
        "AmazonOrderId": o.order_id,
        "PurchaseDate": iso(o.purchased),
        "LastUpdateDate": iso(o.last_update(now)),
        "OrderStatus": status,
        "FulfillmentChannel": o.channel,
        "SalesChannel": o.marketplace.name,
        "ShipServiceLevel": "Std Cont US Street Addr" if o.channel == "MFN" else "Standard",
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": 0
        if status in ("Shipped", "Canceled")
        else sum(ln.quantity for ln in o.lines),
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": o.marketplace.marketplace_id,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "EarliestShipDate": iso(o.purchased + 3600),
        "LatestShipDate": iso(o.purchased + 2 * 86400),
        "IsBusinessOrder": False,
        "IsPrime": o.channel == "AFN",
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
    }
    if status != "Pending":  # no prices before payment authorisation
        body["OrderTotal"] = _m(o.total(), o.currency)
        body["ShippingAddress"] = address(o, "shippingAddress" in elements)
    if "buyerInfo" in elements:
        body["BuyerInfo"] = _buyer(o)
    return body


def order_items_v0(o: SimOrder, now: float) -> list[dict[str, Any]]:
    status = o.status(now)
    out = []
    for ln in o.lines:
        item: dict[str, Any] = {
            "ASIN": ln.item.asin,
            "SellerSKU": ln.item.sku,
            "OrderItemId": ln.order_item_id,
            "Title": ln.item.description,
            "QuantityOrdered": ln.quantity,
            "QuantityShipped": ln.quantity if status == "Shipped" else 0,
            "ConditionId": "New",
            "ConditionSubtypeId": "New",
            "ProductInfo": {"NumberOfItems": "1"},
        }
        if status != "Pending":
            cur = o.currency
            item |= {
                "ItemPrice": _m(ln.item_price, cur),
                "ItemTax": _m(ln.item_tax, cur),
                "ShippingPrice": _m(ln.shipping, cur),
                "ShippingTax": _m(Decimal("0.00") if cur != "JPY" else Decimal(0), cur),
                "PromotionDiscount": _m(ln.promotion, cur),
                "PromotionDiscountTax": _m(Decimal("0.00") if cur != "JPY" else Decimal(0), cur),
                "PromotionIds": [ln.promotion_id] if ln.promotion_id else [],
                "IsGift": "false",
            }
        out.append(item)
    return out


def order_v2026(o: SimOrder, now: float, included: set[str], pii: bool) -> dict[str, Any]:
    status = o.status(now)
    cur = o.currency
    items = []
    for ln in o.lines:
        it: dict[str, Any] = {
            "orderItemId": ln.order_item_id,
            "quantityOrdered": ln.quantity,
            "product": {
                "asin": ln.item.asin,
                "title": ln.item.description,
                "sellerSku": ln.item.sku,
                "condition": {"conditionType": "New"},
            },
        }
        if status != "Pending":
            it["product"]["price"] = {"unitPrice": _m26(ln.item_price / ln.quantity, cur)}
            if "PROCEEDS" in included:
                total = ln.item_price + ln.item_tax + ln.shipping - ln.promotion
                it["proceeds"] = {
                    "proceedsTotal": _m26(total, cur),
                    "breakdowns": [
                        {"type": "ITEM", "subtotal": _m26(ln.item_price, cur)},
                        {"type": "SHIPPING", "subtotal": _m26(ln.shipping, cur)},
                        {"type": "TAX", "subtotal": _m26(ln.item_tax, cur)},
                        {"type": "DISCOUNT", "subtotal": _m26(-ln.promotion, cur)},
                    ],
                }
            if "PROMOTION" in included and ln.promotion_id:
                it["promotion"] = {"breakdowns": [{"promotionId": ln.promotion_id}]}
        if "FULFILLMENT" in included:
            done = ln.quantity if status == "Shipped" else 0
            it["fulfillment"] = {
                "quantityFulfilled": done,
                "quantityUnfulfilled": ln.quantity - done,
            }
        items.append(it)
    body: dict[str, Any] = {
        "orderId": o.order_id,
        "createdTime": iso(o.purchased),
        "lastUpdatedTime": iso(o.last_update(now)),
        "salesChannel": {
            "channelName": "Amazon",
            "marketplaceId": o.marketplace.marketplace_id,
            "marketplaceName": o.marketplace.name,
        },
        "orderItems": items,
    }
    if "FULFILLMENT" in included:
        body["fulfillment"] = {
            "fulfillmentStatus": _V2026_STATUS[status],
            "fulfilledBy": "AMAZON" if o.channel == "AFN" else "MERCHANT",
        }
    if "PROCEEDS" in included and status != "Pending":
        body["proceeds"] = {"grandTotal": _m26(o.total(), cur)}
    if pii and "BUYER" in included:
        b = _buyer(o)
        body["buyer"] = {"buyerName": b["BuyerName"], "buyerEmail": b["BuyerEmail"]}
    if pii and "RECIPIENT" in included and status != "Pending":
        a = address(o, True)
        body["recipient"] = {
            "deliveryAddress": {
                "name": a["Name"],
                "addressLine1": a["AddressLine1"],
                "city": a["City"],
                "stateOrRegion": a["StateOrRegion"],
                "postalCode": a["PostalCode"],
                "countryCode": a["CountryCode"],
                "phone": a["Phone"],
                "addressType": "RESIDENTIAL",
            }
        }
    return body


# -- searching ----------------------------------------------------------------------------------


def _search(
    world: World,
    caller: Caller,
    *,
    created: tuple[float | None, float | None],
    updated: tuple[float | None, float | None],
    marketplaces: list[str],
    statuses: set[str],
    channels: set[str],
    names: tuple[str, str, str, str],
) -> tuple[list[str], str, float]:
    """Validate the window rules and return (order ids, echo field, echo value)."""
    now = world.now()
    (ca, cb), (ua, ub) = created, updated
    n_ca, n_cb, n_ua, n_ub = names
    if (ca is None) == (ua is None):
        raise BadInput(details=f"Exactly one of {n_ca} and {n_ua} must be specified.")
    if (cb is not None and ca is None) or (ub is not None and ua is None):
        raise BadInput(details=f"{n_cb} requires {n_ca}; {n_ub} requires {n_ua}.")
    two_minute_rule(cb, now, n_cb)
    two_minute_rule(ub, now, n_ub)
    after = ca if ca is not None else ua
    assert after is not None
    if after > now - 120:
        raise BadInput(
            details=f"{n_ca if ca is not None else n_ua} must be no later than 2 "
            "minutes before the request time."
        )
    before = (cb if ca is not None else ub) or now - 120
    if before <= after:
        raise BadInput(details="The Before time must be later than the After time.")
    seller = world.configs[caller.seller].name
    lo = after if ca is not None else after - OrderBook.MAX_LAG
    hits: list[tuple[float, str]] = []
    for o in world.book.purchased_between(lo, before):
        if o.seller != seller or o.marketplace.marketplace_id not in marketplaces:
            continue
        if channels and o.channel not in channels:
            continue
        if statuses and o.status(now) not in statuses:
            continue
        if ca is not None:
            hits.append((o.purchased, o.order_id))
        else:
            lu = o.last_update(before)
            if after <= lu < before:
                hits.append((lu, o.order_id))
    hits.sort()
    return (
        [h[1] for h in hits],
        ("CreatedBefore" if ca is not None else "LastUpdatedBefore"),
        before,
    )


def _marketplaces(world: World, caller: Caller, ids: list[str], required: bool) -> list[str]:
    allowed = world.configs[caller.seller].marketplace_ids(caller.region)
    if not ids:
        if required:
            raise BadInput(details="MarketplaceIds is required.")
        return list(allowed)
    if len(ids) > 50:
        raise BadInput(details="At most 50 marketplace IDs.")
    for mid in ids:
        if mid not in allowed:
            raise BadInput(f"Invalid MarketplaceId: {mid} is not valid for this region or seller.")
    return ids


def _page_size(raw: str | None, name: str) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise BadInput(details=f"{name} must be between 1 and 100.")
    return int(raw)


def _world(request: web.Request) -> tuple[World, Caller]:
    return request.config_dict[WORLD_KEY], request[CALLER_KEY]


def _rdt_elements(caller: Caller, path: str) -> set[str]:
    out: set[str] = set()
    for method, pattern, elements in caller.rdt or ():
        if method == "GET" and path_matches(pattern, path):
            out.update(elements)
    return out


def path_matches(pattern: str, path: str) -> bool:
    regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(pattern)) + "$"
    return re.match(regex, path) is not None


def _owned(world: World, caller: Caller, order_id: str) -> SimOrder | None:
    o = world.book.by_id.get(order_id)
    if o is None or o.purchased > world.now() or o.seller != world.configs[caller.seller].name:
        return None
    if o.marketplace.region != caller.region:
        return None
    return o


def _not_found(order_id: str) -> web.Response:
    return error(404, "NotFound", "Invalid AmazonOrderId", f"{order_id} was not found.")


async def get_orders(request: web.Request) -> web.Response:
    world, caller = _world(request)
    q = request.query
    size = _page_size(q.get("MaxResultsPerPage"), "MaxResultsPerPage")
    now = world.now()
    token = q.get("NextToken")
    if token:
        ids, offset, echo_name, echo = world.paging.resolve(token, now)
    else:
        mps = _marketplaces(world, caller, csv_param(request, "MarketplaceIds"), True)
        ids, echo_name, echo = _search(
            world,
            caller,
            created=(
                parse_time(q.get("CreatedAfter"), "createdAfter"),
                parse_time(q.get("CreatedBefore"), "createdBefore"),
            ),
            updated=(
                parse_time(q.get("LastUpdatedAfter"), "lastUpdatedAfter"),
                parse_time(q.get("LastUpdatedBefore"), "lastUpdatedBefore"),
            ),
            marketplaces=mps,
            statuses=set(csv_param(request, "OrderStatuses")),
            channels=set(csv_param(request, "FulfillmentChannels")),
            names=("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore"),
        )
        offset = 0
    elements = _rdt_elements(caller, "/orders/v0/orders")
    page = [world.book.by_id[i] for i in ids[offset : offset + size]]
    payload: dict[str, Any] = {
        "Orders": [order_v0(o, now, elements) for o in page],
        echo_name: iso(echo),
    }
    if offset + size < len(ids):
        state = (ids, offset + size, echo_name, echo)
        payload["NextToken"] = world.paging.issue(state, now + PAGE_TOKEN_TTL)
    return json_response({"payload": payload})


async def get_order(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    elements = _rdt_elements(caller, f"/orders/v0/orders/{oid}")
    return json_response({"payload": order_v0(o, world.now(), elements)})


async def get_order_items(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    return json_response(
        {"payload": {"AmazonOrderId": oid, "OrderItems": order_items_v0(o, world.now())}}
    )


def _restricted(caller: Caller, path: str) -> web.Response | None:
    if caller.rdt is None or not any(
        m == "GET" and path_matches(p, path) for m, p, _ in caller.rdt
    ):
        return error(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            "A Restricted Data Token is required for this operation.",
        )
    return None


async def get_order_address(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    if (denied := _restricted(caller, f"/orders/v0/orders/{oid}/address")) is not None:
        return denied
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    payload: dict[str, Any] = {"AmazonOrderId": oid}
    if o.status(world.now()) not in ("Pending", "Canceled"):
        payload["ShippingAddress"] = address(o, True)
    return json_response({"payload": payload})


async def get_order_buyer_info(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    if (denied := _restricted(caller, f"/orders/v0/orders/{oid}/buyerInfo")) is not None:
        return denied
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    return json_response({"payload": {"AmazonOrderId": oid} | _buyer(o)})


async def search_orders(request: web.Request) -> web.Response:
    world, caller = _world(request)
    q = request.query
    size = _page_size(q.get("maxResultsPerPage"), "maxResultsPerPage")
    included = set(csv_param(request, "includedData"))
    now = world.now()
    token = q.get("paginationToken")
    if token:
        ids, offset, echo_name, echo = world.paging.resolve(token, now)
    else:
        mps = _marketplaces(world, caller, csv_param(request, "marketplaceIds"), False)
        statuses = {_FROM_V2026.get(s, s) for s in csv_param(request, "fulfillmentStatuses")}
        by = {"AMAZON": "AFN", "MERCHANT": "MFN"}
        ids, echo_name, echo = _search(
            world,
            caller,
            created=(
                parse_time(q.get("createdAfter"), "createdAfter"),
                parse_time(q.get("createdBefore"), "createdBefore"),
            ),
            updated=(
                parse_time(q.get("lastUpdatedAfter"), "lastUpdatedAfter"),
                parse_time(q.get("lastUpdatedBefore"), "lastUpdatedBefore"),
            ),
            marketplaces=mps,
            statuses=statuses,
            channels={by.get(f, f) for f in csv_param(request, "fulfilledBy")},
            names=("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore"),
        )
        echo_name = echo_name[0].lower() + echo_name[1:]
        offset = 0
    pii = world.configs[caller.seller].has_pii_role
    page = [world.book.by_id[i] for i in ids[offset : offset + size]]
    body: dict[str, Any] = {
        "orders": [order_v2026(o, now, included, pii) for o in page],
        echo_name: iso(echo),
    }
    if offset + size < len(ids):
        state = (ids, offset + size, echo_name, echo)
        body["pagination"] = {"nextToken": world.paging.issue(state, now + PAGE_TOKEN_TTL)}
    return json_response(body)


async def get_order_2026(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    included = set(csv_param(request, "includedData"))
    pii = world.configs[caller.seller].has_pii_role
    return json_response({"order": order_v2026(o, world.now(), included, pii)})


ORDER_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/orders/v0/orders", get_orders, "getOrders"),
    ("GET", "/orders/v0/orders/{orderId}", get_order, "getOrder"),
    ("GET", "/orders/v0/orders/{orderId}/orderItems", get_order_items, "getOrderItems"),
    ("GET", "/orders/v0/orders/{orderId}/address", get_order_address, "getOrderAddress"),
    ("GET", "/orders/v0/orders/{orderId}/buyerInfo", get_order_buyer_info, "getOrderBuyerInfo"),
    ("GET", "/orders/2026-01-01/orders", search_orders, "searchOrders"),
    ("GET", "/orders/2026-01-01/orders/{orderId}", get_order_2026, "getOrder2026"),
]
