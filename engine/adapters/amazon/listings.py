"""Listings Items 2021-08-01: read a listing, patch it read-modify-write, check a patch later.

``ACCEPTED`` only means Amazon queued the submission: the change shows on read-back minutes
later [C docs#2167], sometimes never [C models#2201]. So a patch returns as soon as Amazon
answers (its submissionId and issues are recorded), and ``check_listing`` is asked later, by the
verification command the dispatcher schedules (engine/dispatch/listing_handlers.py).

What is sent is planned against the listing as read just before (listing_plan.py): only the
sub-fields QAD owns change, with the listing's own product type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.listing_plan import plan_patch, summary
from engine.config.listings import ListingsConfig
from engine.errors import ConfigError, DataError, Rejected

__all__ = [
    "NO_SELLER_ID",
    "Check",
    "ListingsAdapter",
    "PatchReport",
    "Submission",
    "get_listing",
    "issue_text",
    "patch_listing",
]

NO_SELLER_ID = "no seller id: set [amazon] seller_id or `creds set amazon --seller-id`"
READ = ("summaries", "attributes", "fulfillmentAvailability", "issues")


@dataclass(frozen=True, slots=True)
class Submission:
    """Amazon's answer to one patchListingsItem."""

    sku: str
    status: str  # ACCEPTED | INVALID | VALID
    submission_id: str
    issues: list[dict[str, Any]] = field(default_factory=list)

    def of_severity(self, severity: str) -> list[dict[str, Any]]:
        return [i for i in self.issues if str(i.get("severity", "")).upper() == severity]


@dataclass(frozen=True, slots=True)
class PatchReport:
    """What one read-modify-write did (``submission_id`` "" = nothing needed sending)."""

    submission_id: str
    request: str  # ops sent, e.g. "merge /attributes/purchasable_offer"
    changed: list[str]
    notes: list[str]
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class Check:
    """A read-back: ``pending`` lists the owned sub-fields that do not show the change yet."""

    pending: list[str]
    listing_errors: list[str]

    @property
    def applied(self) -> bool:
        return not self.pending


def _path(client: AmazonClient, sku: str) -> str:
    if not client.account.seller_id:
        # An empty seller would post to .../items//<sku>: Amazon answers a bare 404.
        raise ConfigError(NO_SELLER_ID)
    seller = quote(client.account.seller_id, safe="")
    # Every reserved character of the SKU is escaped ('/', '#', '?', ' ', non-ASCII as UTF-8),
    # so the SKU stays one path segment. Amazon has been reported to answer 403 on PATCH for
    # SKUs with '/' [C models#4429]: that parks with Amazon's text like any refusal.
    return f"/listings/2021-08-01/items/{seller}/{quote(sku, safe='')}"


async def get_listing(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    included: Sequence[str] = READ,
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


async def patch_listing(
    client: AmazonClient,
    sku: str,
    marketplace_ids: Sequence[str],
    product_type: str,
    patches: Sequence[dict[str, Any]],
) -> Submission:
    """patchListingsItem, issues included in the answer (no waiting for it to apply)."""
    resp = await client.call(
        "patchListingsItem",
        "PATCH",
        _path(client, sku),
        params=[("marketplaceIds", ",".join(marketplace_ids)), ("includedData", "issues")],
        json={"productType": product_type, "patches": list(patches)},
    )
    body = resp.body if isinstance(resp.body, dict) else {}
    return Submission(
        sku=sku,
        status=str(body.get("status", "")),
        submission_id=str(body.get("submissionId", "")),
        issues=[i for i in body.get("issues") or () if isinstance(i, dict)],
    )


def issue_text(issue: Mapping[str, Any]) -> str:
    """Amazon's own words: "<severity> <code>: <message> [attributes]"."""
    names = ",".join(str(n) for n in issue.get("attributeNames") or ())
    where = f" [{names}]" if names else ""
    return (
        f"{issue.get('severity', '?')} {issue.get('code', '?')}: {issue.get('message', '')}{where}"
    )


class ListingsAdapter:
    """The listing handlers' port over the SP-API clients (one per region)."""

    def __init__(
        self, clients: Mapping[str, AmazonClient], cfg: ListingsConfig | None = None
    ) -> None:
        self.clients = clients
        self.cfg = cfg or ListingsConfig()

    def _client(self, region: str, sku: str) -> AmazonClient:
        client = self.clients.get(region)
        if client is None:
            raise ConfigError(f"no Amazon client for region {region!r} (check amazon.marketplaces)")
        if not client.account.seller_id:
            # Never post blind: park with the fix rather than Amazon's empty 404.
            raise Rejected(f"listing {sku}: {NO_SELLER_ID}", system="amazon")
        return client

    async def patch_listing(
        self, region: str, marketplace_id: str, sku: str, changes: Mapping[str, Any]
    ) -> PatchReport:
        """Read the listing, patch only what QAD owns and what differs; Rejected (parks) with
        Amazon's issue texts when the submission is INVALID or carries an ERROR."""
        client = self._client(region, sku)
        listing = await get_listing(client, sku, [marketplace_id])
        try:
            plan = plan_patch(listing, marketplace_id, changes, self.cfg)
        except DataError as exc:
            raise DataError(f"listing {marketplace_id}:{sku}: {exc}") from None
        if not plan.patches:
            return PatchReport("", "", [], plan.notes, [])
        sub = await patch_listing(client, sku, [marketplace_id], plan.product_type, plan.patches)
        errors = sub.of_severity("ERROR")
        if sub.status != "ACCEPTED" or errors:
            texts = "; ".join(issue_text(i) for i in errors or sub.issues) or "no issues given"
            raise Rejected(
                f"listing {marketplace_id}:{sku}: {sub.status or 'no status'} "
                f"(submission {sub.submission_id or '-'}): {texts}",
                system="amazon",
            )
        return PatchReport(
            sub.submission_id,
            f"{plan.product_type}: {summary(plan.patches)}",
            plan.changed,
            plan.notes,
            [issue_text(i) for i in sub.of_severity("WARNING")],
        )

    async def check_listing(
        self, region: str, marketplace_id: str, sku: str, changes: Mapping[str, Any]
    ) -> Check:
        """Read the listing back: which of QAD's changes it does not show yet."""
        client = self._client(region, sku)
        listing = await get_listing(client, sku, [marketplace_id])
        errors = [
            issue_text(i)
            for i in listing.get("issues") or ()
            if isinstance(i, dict) and str(i.get("severity", "")).upper() == "ERROR"
        ]
        try:
            pending = plan_patch(listing, marketplace_id, changes, self.cfg).changed
        except DataError as exc:
            pending = [str(exc)]
        return Check(pending, errors)
