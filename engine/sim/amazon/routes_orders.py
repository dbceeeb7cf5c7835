"""Orders API v0 (deprecated but served) and Orders API v2026-01-01: the request handlers."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from engine.sim.amazon.common import (
    CALLER_KEY,
    Caller,
    csv_param,
    error,
    iso,
    json_response,
    parse_time,
)
from engine.sim.amazon.data import SimOrder
from engine.sim.amazon.order_bodies import (
    FROM_V2026_STATUS,
    address,
    buyer_info,
    order_items_v0,
    order_v0,
    order_v2026,
)
from engine.sim.amazon.order_search import checked_marketplaces, find_order_ids, page_size
from engine.sim.amazon.paging_rules import request_filters
from engine.sim.amazon.world import WORLD_KEY, World

__all__ = ["ORDER_ROUTES", "path_matches"]

PAGE_TOKEN_TTL = 24 * 3600.0


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
    size = page_size(q.get("MaxResultsPerPage"), "MaxResultsPerPage")
    now = world.now()
    token = q.get("NextToken")
    filters = request_filters(request, "NextToken")
    if token:
        ids, offset, echo_name, echo, filters = world.paging.resolve(token, now)
        # v0: the filters come with every page [D]; MarketplaceIds is required (paging_rules.py)
        world.paging_rules.check(request, "NextToken", filters, required=("MarketplaceIds",))
    else:
        mps = checked_marketplaces(world, caller, csv_param(request, "MarketplaceIds"), True)
        ids, echo_name, echo = find_order_ids(
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
        state = (ids, offset + size, echo_name, echo, filters)
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
    return json_response({"payload": {"AmazonOrderId": oid} | buyer_info(o)})


async def search_orders(request: web.Request) -> web.Response:
    world, caller = _world(request)
    q = request.query
    size = page_size(q.get("maxResultsPerPage"), "maxResultsPerPage")
    included = set(csv_param(request, "includedData"))
    now = world.now()
    token = q.get("paginationToken")
    filters = request_filters(request, "paginationToken")
    if token:
        ids, offset, echo_name, echo, filters = world.paging.resolve(token, now)
        # v2026: repeating the filters is [U] (paging_rules.py): a token alone is accepted
        alone = world.paging_rules.v2026_token_alone
        world.paging_rules.check(request, "paginationToken", filters, alone_ok=alone)
    else:
        mps = checked_marketplaces(world, caller, csv_param(request, "marketplaceIds"), False)
        statuses = {FROM_V2026_STATUS.get(s, s) for s in csv_param(request, "fulfillmentStatuses")}
        by = {"AMAZON": "AFN", "MERCHANT": "MFN"}
        ids, echo_name, echo = find_order_ids(
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
    pii = world.roles.pii(caller.seller)  # Direct-to-Consumer Shipping role (roles.py)
    page = [world.book.by_id[i] for i in ids[offset : offset + size]]
    body: dict[str, Any] = {
        "orders": [order_v2026(o, now, included, pii) for o in page],
        echo_name: iso(echo),
    }
    if offset + size < len(ids):
        state = (ids, offset + size, echo_name, echo, filters)
        body["pagination"] = {"nextToken": world.paging.issue(state, now + PAGE_TOKEN_TTL)}
    return json_response(body)


async def get_order_2026(request: web.Request) -> web.Response:
    world, caller = _world(request)
    oid = request.match_info["orderId"]
    o = _owned(world, caller, oid)
    if o is None:
        return _not_found(oid)
    included = set(csv_param(request, "includedData"))
    pii = world.roles.pii(caller.seller)  # Direct-to-Consumer Shipping role (roles.py)
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
