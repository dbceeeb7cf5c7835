"""How strictly the simulated Listings Items API checks a submission, and with what evidence.

Evidence tags: [D] documented (listingsItems_2021-08-01.json, Amazon's guides), [C] observed in
public issue threads or code, [I] inferred. Where a rule is only inferred, ``ListingRules`` lets a
test switch it, so the simulator never agrees with a guess silently.

Two layers, as on Amazon:
- a body that does not fit the model's schema (op outside the enum, a nested or non-attribute
  path, a value that is not an array of objects, missing ``productType``/``patches``) is refused
  with HTTP 400 ``InvalidInput`` [D: the model's 400 "Request has missing or invalid parameters
  and cannot be parsed"; the enum and ``required`` in ``PatchOperation`` and
  ``ListingsItemPatchRequest``; message text "Invalid path provided in patch at index of 0."
  [C models#4228, #2531]];
- a well-formed submission whose content Amazon rejects answers 200 with ``status: INVALID`` and
  ``issues[]`` of severity ERROR [D: the 200 response "refer to the response to determine if the
  submission was accepted"; the sandbox INVALID example].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.sim.amazon.common import BadInput

__all__ = [
    "LOCALIZED",
    "MERGE_DOCUMENTED",
    "OFFER_ATTRIBUTES",
    "ListingRules",
    "attribute_name",
    "check_shape",
    "content_issues",
    "issue",
    "selector",
]

# Text attributes Amazon stores per language: every entry carries language_tag and marketplace_id
# [D: the model's searchListingsItems example (bullet_point, resolution); the guide's item_name
# example quoted in models#1876 / docs#1428].
LOCALIZED = frozenset(
    {
        "item_name",
        "product_description",
        "bullet_point",
        "brand",
        "manufacturer",
        "generic_keyword",
        "special_feature",
        "material",
        "color",
        "style",
    }
)
# Offer attributes: the ones docs#2167 / models#2061 patch with productType "PRODUCT" [C].
OFFER_ATTRIBUTES = frozenset({"purchasable_offer", "fulfillment_availability"})
# merge is documented for these two only [D changelog 2025-06-16, "Merge a listing"].
MERGE_DOCUMENTED = OFFER_ATTRIBUTES

_OPS = ("add", "replace", "merge", "delete")
_PATH = re.compile(r"/attributes/([a-z0-9_]+)")
_REPLACE_SCOPES = ("attribute", "selector")
_PRODUCT_TYPE_CHECKS = ("strict", "offer_lenient")


@dataclass(frozen=True, slots=True)
class ListingRules:
    """Per-simulator listing behaviour; the defaults are the strictest supported reading."""

    # Simulated seconds until an ACCEPTED submission shows on read-back: "after a few minutes"
    # [C docs#2167]; the exact time is not documented [I], hence configurable.
    delay_s: float = 300.0
    # "attribute": replace/add of /attributes/X drops every entry of X for the request's
    # marketplaces (RFC 6902 replace of the target [D]; the review's finding 3 [C]).
    # "selector": only entries whose selector matches a sent entry are replaced, others kept
    # [C models#5235, a third-party answer]. The client must be right under both.
    replace_scope: str = "attribute"
    # "strict": productType must equal the listing's product type. "offer_lenient": also accept
    # "PRODUCT" when every patch touches an offer attribute only [C models#2061, docs#2167].
    product_type_check: str = "strict"
    # Localized entries without language_tag / marketplace_id are an ERROR issue. The guide's
    # example always carries them [D]; that Amazon refuses them without is [I].
    require_localized_tags: bool = True
    # Amazon has been reported to answer 403 on PATCH for SKUs containing '/' or '#'
    # [C models#4429]; off by default because it is not confirmed to be general.
    slash_sku_patch_403: bool = False

    def __post_init__(self) -> None:
        if not self.delay_s >= 0:
            raise ValueError(f"listing delay_s must be >= 0 (got {self.delay_s!r})")
        if self.replace_scope not in _REPLACE_SCOPES:
            raise ValueError(f"listing replace_scope must be one of {_REPLACE_SCOPES}")
        if self.product_type_check not in _PRODUCT_TYPE_CHECKS:
            raise ValueError(f"listing product_type_check must be one of {_PRODUCT_TYPE_CHECKS}")


def issue(
    message: str,
    attribute: str = "",
    *,
    code: str = "90220",
    severity: str = "ERROR",
    category: str = "INVALID_ATTRIBUTE",
    marketplaces: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One Issue in the model's shape (code, message, severity, attributeNames, categories)."""
    out: dict[str, Any] = {
        "code": code,
        "message": message,
        "severity": severity,
        "attributeNames": [attribute] if attribute else [],
        "categories": [category] if category else [],
    }
    if marketplaces:
        out["marketplaceIds"] = list(marketplaces)
    return out


def selector(name: str, entry: dict[str, Any]) -> tuple[Any, ...]:
    """The fields that identify one entry (instance) of an attribute.

    purchasable_offer: marketplace_id, currency, audience (default ALL) [D "Manage purchasable
    offer"]; fulfillment_availability: fulfillment_channel_code [D "Merge a listing"] within a
    marketplace [I]; localized text: marketplace_id + language_tag [I]; others: marketplace_id [I].
    """
    mp = entry.get("marketplace_id")
    if name == "purchasable_offer":
        return (mp, entry.get("currency"), entry.get("audience") or "ALL")
    if name == "fulfillment_availability":
        return (mp, entry.get("fulfillment_channel_code"))
    if name in LOCALIZED:
        return (mp, entry.get("language_tag"))
    return (mp,)


def _bad_patch(what: str, index: int) -> BadInput:
    return BadInput(f"Invalid {what} provided in patch at index of {index}.")


def check_shape(kind: str, body: Any) -> None:
    """Raise BadInput (400) for a body that does not fit the model's request schema."""
    if not isinstance(body, dict) or not isinstance(body.get("productType"), str):
        raise BadInput(details="'productType' is required.")
    if not body["productType"]:
        raise BadInput(details="'productType' must not be empty.")
    if kind == "put":
        if not isinstance(body.get("attributes"), dict):
            raise BadInput(details="'attributes' is required.")
        for name, value in body["attributes"].items():
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise BadInput(details=f"Attribute '{name}' must be an array of objects.")
        return
    patches = body.get("patches")
    if not isinstance(patches, list) or not patches:
        raise BadInput(details="'patches' must be a non-empty array.")  # minItems 1 [D]
    for i, p in enumerate(patches):
        if not isinstance(p, dict) or p.get("op") not in _OPS:
            raise _bad_patch("op", i)  # enum add|replace|merge|delete [D]
        path = p.get("path")
        # "Only top-level listings item attributes can be patched" [D]; an index or sub-path
        # such as /attributes/purchasable_offer/0 is refused [C models#4228].
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise _bad_patch("path", i)
        value = p.get("value")
        if value is None and p["op"] != "delete":
            raise _bad_patch("path", i)  # Amazon names the path for value problems [C #2531]
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, dict) for v in value)
        ):
            raise _bad_patch("path", i)  # value: array of objects [D]


def attribute_name(path: str) -> str:
    m = _PATH.fullmatch(path)
    assert m is not None  # check_shape ran first
    return m.group(1)


def _positive_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def _entry_issues(
    name: str, op: str, entry: dict[str, Any], mps: list[str], currency: dict[str, str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    mp = entry.get("marketplace_id")
    if mp is not None and mp not in mps:
        # An entry for a marketplace the request does not name [I].
        out.append(
            issue(f"marketplace_id '{mp}' is not one of the request's marketplaceIds.", name)
        )
    if name == "fulfillment_availability":
        qty = entry.get("quantity")
        if qty is not None and (not isinstance(qty, int) or isinstance(qty, bool) or qty < 0):
            # FulfillmentAvailability.quantity: integer, minimum 0 [D]; text form [C models#3001].
            out.append(issue(f"The provided value for '{name}' is invalid.", name, code="4000001"))
        if op == "merge" and not entry.get("fulfillment_channel_code"):
            # "Merge operation must provide non empty values for selector fields" [D].
            out.append(issue("'fulfillment_channel_code' is required but not supplied.", name))
    if name == "purchasable_offer":
        cur = entry.get("currency")
        want = currency.get(str(mp or mps[0]))
        if cur is not None and want is not None and cur != want:
            # The offer's currency is a selector fixed by the marketplace [D "Manage purchasable
            # offer"]; that a wrong one is an ERROR is [I].
            out.append(
                issue(f"currency '{cur}' is not valid for marketplace {mp or mps[0]}.", name)
            )
        for price in entry.get("our_price") or []:
            for sched in (price.get("schedule") or []) if isinstance(price, dict) else []:
                v = sched.get("value_with_tax") if isinstance(sched, dict) else None
                if not _positive_number(v):
                    out.append(
                        issue(f"The provided value for '{name}' is invalid.", name, code="4000001")
                    )
    return out


def content_issues(
    rules: ListingRules,
    kind: str,
    body: dict[str, Any],
    product_type: str | None,
    mps: list[str],
    currency: dict[str, str],
) -> list[dict[str, Any]]:
    """ERROR issues for a well-formed submission (``product_type``: the listing's, None = new)."""
    out: list[dict[str, Any]] = []
    if kind == "patch":
        if product_type is None:
            return [issue("The listing does not exist; use putListingsItem to create it.")]
        changes = [
            (str(p["op"]), attribute_name(str(p["path"])), p.get("value")) for p in body["patches"]
        ]
        sent = body["productType"]
        offer_only = all(name in OFFER_ATTRIBUTES for _, name, _ in changes)
        lenient = rules.product_type_check == "offer_lenient" and offer_only and sent == "PRODUCT"
        if sent != product_type and not lenient:
            # A submission is validated against the listing's product type schema [I, review
            # finding 4]; a mismatch cannot pass it.
            out.append(
                issue(
                    f"The product type '{sent}' does not match the listing's product type "
                    f"'{product_type}'.",
                    code="90244",
                    category="INVALID_ATTRIBUTE",
                )
            )
    else:
        changes = [("replace", n, v) for n, v in body["attributes"].items()]
    for op, name, value in changes:
        if op == "delete" and not value:
            # "You cannot delete attributes by name alone. Use selector values" [D].
            out.append(issue(f"Selector values are required to delete '{name}'.", name))
            continue
        if op == "merge" and name not in MERGE_DOCUMENTED:
            # Applied per selector, but Amazon documents merge for two attributes only [D];
            # whether it works elsewhere is [I], so the sim says so.
            out.append(
                issue(
                    f"merge is documented only for {', '.join(sorted(MERGE_DOCUMENTED))}.",
                    name,
                    code="99001",
                    severity="WARNING",
                )
            )
        for entry in value or []:
            if name in LOCALIZED and rules.require_localized_tags and op != "delete":
                for field in ("language_tag", "marketplace_id"):
                    if not entry.get(field):
                        out.append(
                            issue(
                                f"'{field}' is required but not supplied.",
                                name,
                                category="MISSING_ATTRIBUTE",
                            )
                        )
            out.extend(_entry_issues(name, op, entry, mps, currency))
    return out
