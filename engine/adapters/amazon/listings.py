"""Listings Items 2021-08-01: get, put, patch with read-after-write verification.

``ACCEPTED`` only means Amazon queued the submission; the change is applied asynchronously (and
sometimes not at all), so writes are confirmed by reading the listing back until the attributes
show the new values or the deadline passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from engine.adapters.amazon.client import AmazonClient

__all__ = ["ListingResult", "get_listing", "patch_listing", "put_listing"]


@dataclass(frozen=True, slots=True)
class ListingResult:
    """Outcome of a write: Amazon's status plus whether a read-back confirmed it."""

    sku: str
    status: str  # ACCEPTED | INVALID | VALID
    submission_id: str
    applied: bool
    issues: list[dict[str, Any]] = field(default_factory=list)


def _path(client: AmazonClient, sku: str) -> str:
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
