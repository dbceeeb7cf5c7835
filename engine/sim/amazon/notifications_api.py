"""Notifications API v1 in the simulator: destinations, subscriptions and the grantless token.

What Amazon documents [D notifications.json model; wave2-anchors 2.1]:
- Destinations belong to the *application*: ``createDestination`` / ``getDestinations`` /
  ``getDestination`` / ``deleteDestination`` and ``getSubscriptionById`` /
  ``deleteSubscriptionById`` are **grantless**: called with an LWA ``client_credentials`` token
  of scope ``sellingpartnerapi::notifications``, not a seller's token.
- ``createSubscription`` / ``getSubscription`` act for one seller: the seller's token.
- Every operation: 1 rps, burst 5 (ratelimit.DEFAULT_PLANS).
- SQS destination body ``{"name", "resourceSpecification": {"sqs": {"arn"}}}``, arn at most
  1000 chars matching ``^arn:aws:sqs:\\S+:\\S+:\\S+``; one resource type per destination.
- ``createSubscription`` body ``{"payloadVersion", "destinationId", "processingDirective"?}``;
  ORDER_CHANGE uses payloadVersion "1.0"; processingDirective.eventFilter (ORDER_CHANGE and
  ANY_OFFER_CHANGED only) carries eventFilterType, marketplaceIds, orderChangeTypes.

What the real API answers when it refuses (public threads, [C]):
- a second subscription of a type: 409 ``StateConflict`` "The resource specified conflicts
  with the current state." details "Subscription already exist for notification type X"
  [C selling-partner-api-models#2737, #1960];
- a second destination with the same ARN: 409 ``Conflict`` "The requested resource conflict
  with a resource in the server." [C selling-partner-api-docs#1800];
- an unknown destinationId: "No destination with id '...' for applicationId '...'"
  [C selling-partner-api-docs#1988]; its status is not shown there: 400 InvalidInput [G];
- a token of the wrong kind: 403 Unauthorized "Access to requested resource is denied." [I:
  the envelope of every refused token; no thread quotes this case].

State is per region endpoint (destinations per region: [C jlevers/selling-partner-api#425,
one destination created for each region]); subscriptions per (seller, region, type) [I].
``NotificationPublisher(..., arn=...)`` (notifications.py) reads ``subscribers`` to publish
ORDER_CHANGE only to sellers subscribed with a destination of that ARN.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from aiohttp import web

from engine.sim.amazon.common import CALLER_KEY, BadInput, error, json_response
from engine.sim.amazon.world import TOKEN_TTL, WORLD_KEY, AccessGrant, World

__all__ = [
    "GRANTLESS_SCOPES",
    "NOTIFICATION_ROUTES",
    "Destination",
    "Subscription",
    "grantless_token",
    "state_of",
    "subscribers",
]

# [D LWA grantless: "sellingpartnerapi::notifications"; the migration scope is for MWS keys]
GRANTLESS_SCOPES = frozenset({"sellingpartnerapi::notifications"})
# [D notifications.json NotificationType enum, the part this simulator knows; I: others exist]
KNOWN_TYPES = frozenset(
    {
        "ORDER_CHANGE",
        "ANY_OFFER_CHANGED",
        "REPORT_PROCESSING_FINISHED",
        "FBA_INVENTORY_AVAILABILITY_CHANGES",
        "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
        "TRANSACTION_UPDATE",
    }
)
_FILTERABLE = {"ORDER_CHANGE", "ANY_OFFER_CHANGED"}  # [D eventFilter: only these types]
_ORDER_CHANGE_TYPES = {"OrderStatusChange", "BuyerRequestedChange", "DeliveryTipChange"}  # [D]
_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")  # [D SqsResource.pattern]
_DENIED = "Access to requested resource is denied."


@dataclass(slots=True)
class Destination:
    destination_id: str
    name: str
    arn: str
    region: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "destinationId": self.destination_id,
            "resource": {"sqs": {"arn": self.arn}},
        }


@dataclass(slots=True)
class Subscription:
    subscription_id: str
    seller: int
    region: str
    notification_type: str
    destination_id: str
    payload_version: str
    created: float  # sim seconds: changes before this moment are not notified
    marketplace_ids: tuple[str, ...] = ()  # empty: every marketplace
    order_change_types: tuple[str, ...] = ()  # empty: every change type
    directive: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subscriptionId": self.subscription_id,
            "payloadVersion": self.payload_version,
            "destinationId": self.destination_id,
        }
        if self.directive:
            body["processingDirective"] = self.directive
        return body


@dataclass(slots=True)
class _State:
    destinations: dict[str, Destination] = field(default_factory=dict)
    subscriptions: dict[tuple[int, str, str], Subscription] = field(default_factory=dict)


_STATES: WeakKeyDictionary[World, _State] = WeakKeyDictionary()


def state_of(world: World) -> _State:
    state = _STATES.get(world)
    if state is None:
        state = _STATES[world] = _State()
    return state


def subscribers(
    world: World, arn: str, notification_type: str = "ORDER_CHANGE"
) -> list[Subscription]:
    """The subscriptions of ``notification_type`` whose destination is the queue ``arn``."""
    state = state_of(world)
    out = []
    for sub in state.subscriptions.values():
        dest = state.destinations.get(sub.destination_id)
        if sub.notification_type == notification_type and dest is not None and dest.arn == arn:
            out.append(sub)
    return out


def grantless_token(world: World, form: dict[str, str]) -> web.Response:
    """LWA ``grant_type=client_credentials``: an application token for grantless operations
    [D LWA "Grantless operations": client_id, client_secret, scope; no refresh token]."""
    app = world.creds[0]
    if form.get("client_id") != app.client_id or form.get("client_secret") != app.client_secret:
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    scope = form.get("scope", "")
    if scope not in GRANTLESS_SCOPES:
        # RFC 6749 5.2 error code [D]; the description is [G]
        return _lwa_error(400, "invalid_scope", "The requested scope is invalid")
    grant = AccessGrant(0, "*", world.now() + TOKEN_TTL, scope=scope)
    token = world.mint("Atc|", grant)
    body = {"access_token": token, "scope": scope, "token_type": "bearer", "expires_in": 3600}
    return web.Response(
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _lwa_error(status: int, code: str, text: str) -> web.Response:
    body = {"error": code, "error_description": text}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _grant(request: web.Request) -> AccessGrant:
    world: World = request.config_dict[WORLD_KEY]
    return world.grants[request.headers["x-amz-access-token"]]  # the middleware checked it


def _wrong_token(request: web.Request, grantless: bool) -> web.Response | None:
    """403 unless the token kind fits: grantless operations want the notifications scope."""
    scope = _grant(request).scope
    if grantless and scope != "sellingpartnerapi::notifications":
        return error(403, "Unauthorized", _DENIED, "This operation requires a grantless token.")
    if not grantless and scope is not None:
        return error(403, "Unauthorized", _DENIED, "This operation requires a seller's token.")
    return None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadInput(details="The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadInput(details="The request body must be a JSON object.")
    return body


def _region(request: web.Request) -> str:
    from engine.sim.amazon.world import REGION_KEY

    return request.app[REGION_KEY]


async def create_destination(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=True)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    body = await _body(request)
    name = body.get("name")
    spec = body.get("resourceSpecification")
    if not isinstance(name, str) or not 1 <= len(name) <= 256 or not isinstance(spec, dict):
        raise BadInput(details="name (1-256 chars) and resourceSpecification are required.")
    if set(spec) != {"sqs"}:
        # EventBridge is documented too, but this simulator delivers to SQS only [I]
        raise BadInput(details="resourceSpecification must hold exactly one resource: sqs.")
    sqs = spec["sqs"]
    arn = sqs.get("arn") if isinstance(sqs, dict) else None
    if not isinstance(arn, str) or len(arn) > 1000 or not _ARN.match(arn):
        raise BadInput(details="sqs.arn must match ^arn:aws:sqs:\\S+:\\S+:\\S+ (<= 1000 chars).")
    region = _region(request)
    state = state_of(world)
    if any(d.arn == arn and d.region == region for d in state.destinations.values()):
        app = world.creds[0].client_id
        return error(
            409,
            "Conflict",
            "The requested resource conflict with a resource in the server.",
            f"A destination with arn {arn} already exists for the application {app}",
        )
    dest = Destination(str(uuid.uuid4()), name, arn, region)
    state.destinations[dest.destination_id] = dest
    return json_response({"payload": dest.as_json()})


async def get_destinations(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=True)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    region = _region(request)
    dests = [d.as_json() for d in state_of(world).destinations.values() if d.region == region]
    return json_response({"payload": dests})


async def get_destination(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=True)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    dest = state_of(world).destinations.get(request.match_info["destinationId"])
    if dest is None or dest.region != _region(request):
        return error(404, "NotFound", "The resource specified does not exist.")
    return json_response({"payload": dest.as_json()})


def _notification_type(request: web.Request) -> str:
    ntype = request.match_info["notificationType"]
    if ntype not in KNOWN_TYPES:
        raise BadInput(details=f"Unknown notificationType {ntype}.")
    return ntype


def _filter(ntype: str, directive: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(marketplaceIds, orderChangeTypes) of a processingDirective; BadInput if malformed."""
    if directive is None:
        return (), ()
    if not isinstance(directive, dict) or ntype not in _FILTERABLE:
        raise BadInput(details=f"processingDirective is not supported for {ntype}.")
    flt = directive.get("eventFilter")
    if flt is None:
        return (), ()
    if not isinstance(flt, dict) or flt.get("eventFilterType") != ntype:
        raise BadInput(details=f"eventFilter.eventFilterType must be {ntype}.")
    mps = flt.get("marketplaceIds") or []
    kinds = flt.get("orderChangeTypes") or []
    if not isinstance(mps, list) or not all(isinstance(m, str) for m in mps):
        raise BadInput(details="eventFilter.marketplaceIds must be a list of strings.")
    if not isinstance(kinds, list) or not set(kinds) <= _ORDER_CHANGE_TYPES:
        raise BadInput(details=f"orderChangeTypes must be among {sorted(_ORDER_CHANGE_TYPES)}.")
    return tuple(mps), tuple(kinds)


async def create_subscription(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=False)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    ntype = _notification_type(request)
    body = await _body(request)
    version = body.get("payloadVersion")
    dest_id = body.get("destinationId")
    if not isinstance(version, str) or not isinstance(dest_id, str):
        raise BadInput(details="payloadVersion and destinationId are required.")
    if ntype == "ORDER_CHANGE" and version != "1.0":  # [D ORDER_CHANGE payload version 1.0]
        raise BadInput(details=f"payloadVersion {version} is not supported for {ntype}.")
    mps, kinds = _filter(ntype, body.get("processingDirective"))
    region = _region(request)
    state = state_of(world)
    dest = state.destinations.get(dest_id)
    if dest is None or dest.region != region:
        app = world.creds[0].client_id
        raise BadInput(f"No destination with id '{dest_id}' for applicationId '{app}'")
    key = (caller.seller, region, ntype)
    if key in state.subscriptions:
        return error(
            409,
            "StateConflict",
            "The resource specified conflicts with the current state.",
            f"Subscription already exist for notification type {ntype}",
        )
    directive = body.get("processingDirective")
    sub = Subscription(
        str(uuid.uuid4()),
        caller.seller,
        region,
        ntype,
        dest_id,
        version,
        world.now(),
        mps,
        kinds,
        directive if isinstance(directive, dict) else {},
    )
    state.subscriptions[key] = sub
    return json_response({"payload": sub.as_json()})


async def get_subscription(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=False)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    ntype = _notification_type(request)
    sub = state_of(world).subscriptions.get((caller.seller, _region(request), ntype))
    if sub is None:
        return error(404, "NotFound", "The resource specified does not exist.")
    return json_response({"payload": sub.as_json()})


async def get_subscription_by_id(request: web.Request) -> web.Response:
    if (refused := _wrong_token(request, grantless=True)) is not None:
        return refused
    world: World = request.config_dict[WORLD_KEY]
    ntype = _notification_type(request)
    wanted = request.match_info["subscriptionId"]
    for sub in state_of(world).subscriptions.values():
        if sub.subscription_id == wanted and sub.notification_type == ntype:
            return json_response({"payload": sub.as_json()})
    return error(404, "NotFound", "The resource specified does not exist.")


_BASE = "/notifications/v1"
NOTIFICATION_ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", f"{_BASE}/destinations", create_destination, "createDestination"),
    ("GET", f"{_BASE}/destinations", get_destinations, "getDestinations"),
    ("GET", f"{_BASE}/destinations/{{destinationId}}", get_destination, "getDestination"),
    (
        "POST",
        f"{_BASE}/subscriptions/{{notificationType}}",
        create_subscription,
        "createSubscription",
    ),
    ("GET", f"{_BASE}/subscriptions/{{notificationType}}", get_subscription, "getSubscription"),
    (
        "GET",
        f"{_BASE}/subscriptions/{{notificationType}}/{{subscriptionId}}",
        get_subscription_by_id,
        "getSubscriptionById",
    ),
]
