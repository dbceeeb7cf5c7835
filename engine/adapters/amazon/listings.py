"""Listings Items 2021-08-01: get, put, patch with read-after-write verification.

``ACCEPTED`` only means Amazon queued the submission; the change is applied asynchronously (and
sometimes not at all), so writes are confirmed by reading the listing back until the attributes
show the new values or the deadline passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from engine.adapters.amazon.client import AmazonClient
from engine.errors import ConfigError, Rejected, RetriableRemoteError

__all__ = [
    "NO_SELLER_ID",
    "ListingResult",
    "ListingsAdapter",
    "get_listing",
    "patch_listing",
    "put_listing",
]


@dataclass(frozen=True, slots=True)
class ListingResult:
    """Outcome of a write: Amazon's status plus whether a read-back confirmed it."""

    sku: str
    status: str  # ACCEPTED | INVALID | VALID
    submission_id: str
    applied: bool
    issues: list[dict[str, Any]] = field(default_factory=list)


NO_SELLER_ID = "no seller id: set [amazon] seller_id or `creds set amazon --seller-id`"


def _path(client: AmazonClient, sku: str) -> str:
    if not client.account.seller_id:
        # An empty seller would post to .../items//<sku>: Amazon answers a bare 404.
        raise ConfigError(NO_SELLER_ID)
    seller = quote(client.account.seller_id, safe="")
    return f"/listings/2021-08-01/items/{seller}/{quote(sku, safe='')}"


async def get_listing(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    included: Sequence[str] = ("summaries", "attributes", "fulfillmentAvailability", "issues"),
) -> dict[str, Any]:
    """getListingsItem."""
    resp = await client.call(
        "getListingsItem",
        "GET",
        _path(client, sku),
        params=[
            ("marketplaceIds", ",".join(marketplace_ids)),
            ("includedData", ",".join(included)),
        ],
    )
    return dict(resp.body or {})


def _applied(item: dict[str, Any], expected: dict[str, Any]) -> bool:
    attrs = item.get("attributes") or {}
    return all(attrs.get(name) == value for name, value in expected.items())


async def _verify(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    expected: dict[str, Any],
    deadline_s: float,
    interval_s: float,
) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        item = await get_listing(client, sku, marketplace_ids, ("attributes",))
        if _applied(item, expected):
            return True
        if loop.time() + interval_s > end:
            return False
        await asyncio.sleep(interval_s)


def _result(sku: str, body: Any, applied: bool) -> ListingResult:
    b = body if isinstance(body, dict) else {}
    return ListingResult(
        sku=sku,
        status=str(b.get("status", "")),
        submission_id=str(b.get("submissionId", "")),
        applied=applied,
        issues=list(b.get("issues") or []),
    )


async def patch_listing(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    product_type: str,
    patches: Sequence[dict[str, Any]],
    *,
    verify_s: float = 30.0,
    interval_s: float = 1.0,
) -> ListingResult:
    """patchListingsItem, then read back until every replaced/added attribute shows its value."""
    resp = await client.call(
        "patchListingsItem",
        "PATCH",
        _path(client, sku),
        params=[("marketplaceIds", ",".join(marketplace_ids))],
        json={"productType": product_type, "patches": list(patches)},
    )
    if resp.body.get("status") != "ACCEPTED":
        return _result(sku, resp.body, False)
    expected = {
        p["path"].removeprefix("/attributes/"): p.get("value")
        for p in patches
        if p.get("op") in ("add", "replace")
    }
    ok = await _verify(client, sku, marketplace_ids, expected, verify_s, interval_s)
    return _result(sku, resp.body, ok)


async def put_listing(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    product_type: str,
    attributes: dict[str, Any],
    *,
    requirements: str = "LISTING",
    verify_s: float = 30.0,
    interval_s: float = 1.0,
) -> ListingResult:
    """putListingsItem (full replace), verified by reading the attributes back."""
    resp = await client.call(
        "putListingsItem",
        "PUT",
        _path(client, sku),
        params=[("marketplaceIds", ",".join(marketplace_ids))],
        json={"productType": product_type, "requirements": requirements, "attributes": attributes},
    )
    if resp.body.get("status") != "ACCEPTED":
        return _result(sku, resp.body, False)
    ok = await _verify(client, sku, marketplace_ids, attributes, verify_s, interval_s)
    return _result(sku, resp.body, ok)


class ListingsAdapter:
    """The dispatcher's ListingsPort over the SP-API clients (one per region)."""

    def __init__(self, clients: Mapping[str, AmazonClient], verify_s: float = 30.0) -> None:
        self.clients = clients
        self.verify_s = verify_s

    async def patch_listing(
        self, region: str, marketplace_id: str, sku: str, changes: Mapping[str, Any]
    ) -> str:
        client = self.clients.get(region)
        if client is None:
            raise ConfigError(f"no Amazon client for region {region!r} (check amazon.marketplaces)")
        if not client.account.seller_id:
            # Never post blind: park with the fix rather than Amazon's empty 404.
            raise Rejected(f"listing {sku}: {NO_SELLER_ID}", system="amazon")
        patches: list[dict[str, Any]] = []
        if changes.get("description") is not None:
            patches.append(
                {
                    "op": "replace",
                    "path": "/attributes/item_name",
                    "value": [{"value": changes["description"], "marketplace_id": marketplace_id}],
                }
            )
        if changes.get("list_price") is not None:
            # Listings takes a JSON number; cents-exact decimals survive the float round trip.
            price = Decimal(str(changes["list_price"]))
            offer = {
                "marketplace_id": marketplace_id,
                "currency": changes.get("currency") or "USD",
                "our_price": [{"schedule": [{"value_with_tax": float(price)}]}],
            }
            patches.append(
                {"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer]}
            )
        if changes.get("status") is not None and str(changes["status"]).upper() not in (
            "AC",
            "ACTIVE",
        ):
            # An item made inactive in QAD stops selling: merchant quantity 0.
            patches.append(
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}],
                }
            )
        if not patches:
            return "nothing to patch"
        result = await patch_listing(
            client, sku, [marketplace_id], "PRODUCT", patches, verify_s=self.verify_s
        )
        if result.status != "ACCEPTED":
            raise Rejected(f"listing {sku}: {result.status}", system="amazon")
        if not result.applied:
            raise RetriableRemoteError(
                f"listing {sku}: accepted ({result.submission_id}) but not visible yet",
                system="amazon",
            )
        return f"ACCEPTED {result.submission_id} verified"
