"""Notifications API v1 setup: an SQS destination and the seller's ORDER_CHANGE subscription.

Destinations belong to the application and are managed with a *grantless* token (LWA
``grant_type=client_credentials``, ``scope=sellingpartnerapi::notifications``); the
subscription belongs to the seller and uses the seller's token [D notifications.json,
wave2-anchors 2.1]. ``ensure_order_change`` is idempotent: it reuses a destination with the
queue's ARN and an existing subscription, so running setup twice changes nothing. The 409s
Amazon answers for duplicates (``Conflict`` for a destination ARN, ``StateConflict`` for a
second subscription of a type [C selling-partner-api-models#2737, docs#1800]) are resolved by
reading the existing resource, never by deleting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.http import map_http_errors, read_capped
from engine.errors import AuthError, Conflict, Rejected, RemoteError

__all__ = ["GRANTLESS_SCOPE", "Setup", "ensure_order_change", "grantless_token", "queue_arn"]

GRANTLESS_SCOPE = "sellingpartnerapi::notifications"
_BASE = "/notifications/v1"


@dataclass(frozen=True, slots=True)
class Setup:
    """What ``ensure_order_change`` found or created (ids only, no secrets)."""

    destination_id: str
    subscription_id: str
    created_destination: bool
    created_subscription: bool


def queue_arn(queue_url: str, attributes: dict[str, str]) -> str:
    """The queue's ARN: SQS's ``QueueArn`` attribute (a local stand-in may not say it)."""
    arn = attributes.get("QueueArn", "")
    if not arn.startswith("arn:aws:sqs:"):
        raise Rejected(f"notifications: the queue {queue_url} did not report its QueueArn")
    return arn


async def grantless_token(client: AmazonClient, lwa_url: str, scope: str = GRANTLESS_SCOPE) -> str:
    """An application access token for grantless operations [D LWA grantless operations]."""
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": client.account.client_id,
        "client_secret": client.account.client_secret,
    }
    async with (
        map_http_errors("lwa"),
        client.session.post(lwa_url, data=form, allow_redirects=False) as resp,
    ):
        raw = await read_capped(resp, 64 * 1024, what="token", system="lwa", drop=False)
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {}
    token = body.get("access_token") if isinstance(body, dict) else None
    if resp.status != 200 or not isinstance(token, str) or not token:
        code = body.get("error", resp.status) if isinstance(body, dict) else resp.status
        raise AuthError(f"lwa: grantless token refused ({code})", system="lwa")
    return token


def _payload(body: Any) -> Any:
    return body.get("payload") if isinstance(body, dict) else None


async def _destination(
    client: AmazonClient, grantless: str, arn: str, name: str
) -> tuple[str, bool]:
    resp = await client.call("getDestinations", "GET", f"{_BASE}/destinations", rdt=grantless)
    for dest in _payload(resp.body) or []:
        sqs = ((dest or {}).get("resource") or {}).get("sqs") or {}
        if sqs.get("arn") == arn:
            return str(dest["destinationId"]), False
    spec = {"name": name, "resourceSpecification": {"sqs": {"arn": arn}}}
    resp = await client.call(
        "createDestination", "POST", f"{_BASE}/destinations", json=spec, rdt=grantless
    )
    return str(_payload(resp.body)["destinationId"]), True


async def _subscription(client: AmazonClient) -> dict[str, Any] | None:
    try:
        resp = await client.call("getSubscription", "GET", f"{_BASE}/subscriptions/ORDER_CHANGE")
    except RemoteError as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise
    found = _payload(resp.body)
    return dict(found) if isinstance(found, dict) else None


async def ensure_order_change(
    client: AmazonClient,
    arn: str,
    *,
    lwa_url: str,
    name: str = "ml-connector",
    marketplace_ids: tuple[str, ...] = (),
) -> Setup:
    """The destination for ``arn`` and this seller's ORDER_CHANGE subscription to it.

    A subscription to another destination is an operator decision (Amazon allows one per
    type): it is reported as ``Rejected`` naming both ids, not replaced.
    """
    grantless = await grantless_token(client, lwa_url)
    dest_id, new_dest = await _destination(client, grantless, arn, name)
    existing = await _subscription(client)
    if existing is None:
        body: dict[str, Any] = {"payloadVersion": "1.0", "destinationId": dest_id}  # [D]
        if marketplace_ids:
            body["processingDirective"] = {
                "eventFilter": {
                    "eventFilterType": "ORDER_CHANGE",
                    "marketplaceIds": list(marketplace_ids),
                    "orderChangeTypes": ["OrderStatusChange", "BuyerRequestedChange"],
                }
            }
        try:
            resp = await client.call(
                "createSubscription", "POST", f"{_BASE}/subscriptions/ORDER_CHANGE", json=body
            )
            return Setup(dest_id, str(_payload(resp.body)["subscriptionId"]), new_dest, True)
        except Conflict:
            existing = await _subscription(client)  # created meanwhile: read it
            if existing is None:
                raise
    if existing.get("destinationId") != dest_id:
        raise Rejected(
            f"notifications: the seller's ORDER_CHANGE subscription "
            f"{existing.get('subscriptionId')} delivers to destination "
            f"{existing.get('destinationId')}, not {dest_id} ({arn}); delete it "
            "(deleteSubscriptionById) or point [notifications] sqs_queue_url at that queue"
        )
    return Setup(dest_id, str(existing.get("subscriptionId")), new_dest, False)
