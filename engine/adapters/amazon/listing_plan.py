"""Read-modify-write of one Amazon listing: from the listing as read back and QAD's changes to
the patches that change only the sub-fields QAD owns (pure, no I/O).

What QAD owns, per ``[listings] fields`` (engine/config/listings.py):
- price: ``our_price`` of the ``purchasable_offer`` entry for audience ALL of the marketplace.
  B2B (other audience) entries, ``discounted_price``, minimum/maximum prices stay as they are.
- title / description: the ``item_name`` / ``product_description`` entry of the marketplace
  in its language (``language_tag``); entries in other languages stay.
- quantity: an item made inactive in QAD sets the merchant (``DEFAULT``) channel's quantity to 0,
  keeping ``lead_time_to_ship_max_days``. Never on an FBA SKU: a DEFAULT entry sent for an
  Amazon-fulfilled SKU is added as a second (merchant) channel instead [C models#2061].

The same comparison verifies a patch later (``pending``): a change is applied when planning it
again against the listing finds nothing left to change. Only the owned sub-fields are compared,
so what Amazon adds on read-back (``marketplace_id``, ``audience``, ``currency``,
``language_tag``) never makes an applied patch look unapplied.

Ops [D listingsItems_2021-08-01.json PatchOperation; H1 sim notes]: only top-level paths
(``/attributes/<name>``) are accepted. ``merge`` is documented for the offer attributes
(purchasable_offer, fulfillment_availability) and updates only the sub-fields sent for the entry
its selector names (marketplace_id + currency + audience; marketplace_id +
fulfillment_channel_code). ``replace`` replaces every entry of the attribute for the marketplace,
so a replace always re-sends every entry as read back with only QAD's sub-field changed. Text
attributes have no documented merge: they are always written that way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.config.listings import MARKETPLACE_LANGUAGE, ListingsConfig
from engine.errors import DataError

__all__ = ["Plan", "fba_channels", "is_inactive", "plan_patch", "product_type_of", "summary"]

# QAD item status codes that mean "still selling" (anything else stops the merchant offer).
_ACTIVE = ("AC", "ACTIVE")
_TEXT = {"title": "item_name", "description": "product_description"}


@dataclass(slots=True)
class Plan:
    """What to send (``patches``) and, for the audit trail, what changes and what is left."""

    product_type: str
    patches: list[dict[str, Any]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # e.g. "price 12.34 USD"
    notes: list[str] = field(default_factory=list)  # why an owned field was left alone


def is_inactive(status: Any) -> bool:
    return status is not None and str(status).upper() not in _ACTIVE


def product_type_of(listing: Mapping[str, Any], marketplace_id: str) -> str:
    """The listing's product type in that marketplace (summaries[].productType)."""
    summaries = [s for s in listing.get("summaries") or () if isinstance(s, dict)]
    for s in summaries:
        if s.get("marketplaceId") == marketplace_id and s.get("productType"):
            return str(s["productType"])
    for s in summaries:
        if s.get("productType"):
            return str(s["productType"])
    return ""


def fba_channels(listing: Mapping[str, Any], marketplace_id: str) -> list[str]:
    """Amazon-fulfilled channel codes (AMAZON_NA, AMAZON_EU, ...) the listing has."""
    codes = {
        str(f.get("fulfillmentChannelCode") or "")
        for f in listing.get("fulfillmentAvailability") or ()
        if isinstance(f, dict)
    }
    codes |= {
        str(e.get("fulfillment_channel_code") or "")
        for e in _entries(listing, "fulfillment_availability", marketplace_id)
    }
    return sorted(c for c in codes if c and c != "DEFAULT")


def plan_patch(
    listing: Mapping[str, Any],
    marketplace_id: str,
    changes: Mapping[str, Any],
    cfg: ListingsConfig,
) -> Plan:
    """The patches that bring QAD's ``changes`` (description, list_price, status, currency)
    onto ``listing`` for ``marketplace_id``; an empty plan when nothing (left) to change.

    DataError: something QAD owns cannot be written safely (no currency, a currency other than
    the listing's, no language tag); the command parks with that reason.
    """
    plan = Plan(product_type_of(listing, marketplace_id))
    if not plan.product_type:
        raise DataError(f"listing has no product type for {marketplace_id} (summaries missing)")
    wanted = set(cfg.fields)
    if "price" in wanted and changes.get("list_price") is not None:
        _price(plan, listing, marketplace_id, changes, cfg)
    for name, attribute in _TEXT.items():
        if name in wanted and changes.get("description") is not None:
            _text(plan, listing, marketplace_id, attribute, str(changes["description"]), cfg)
    if "quantity" in wanted and is_inactive(changes.get("status")):
        _merchant_zero(plan, listing, marketplace_id, cfg)
    return plan


def _entries(listing: Mapping[str, Any], name: str, marketplace_id: str) -> list[dict[str, Any]]:
    """Entries of one attribute for the marketplace (an entry without marketplace_id applies
    to every marketplace of the request, as Amazon fills it in)."""
    values = (listing.get("attributes") or {}).get(name) or []
    return [
        e
        for e in values
        if isinstance(e, dict) and e.get("marketplace_id") in (None, marketplace_id)
    ]


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _price(
    plan: Plan,
    listing: Mapping[str, Any],
    mp: str,
    changes: Mapping[str, Any],
    cfg: ListingsConfig,
) -> None:
    price = _decimal(changes["list_price"])
    if price is None or price <= 0:
        raise DataError(f"QAD list price {changes['list_price']!r} is not a positive amount")
    entries = _entries(listing, "purchasable_offer", mp)
    everyone = next((e for e in entries if (e.get("audience") or "ALL") == "ALL"), None)
    qad_currency = str(changes.get("currency") or "")
    listed = str((everyone or {}).get("currency") or "")
    # No fallback to a guessed currency: the listing's own offer, else the marketplace mapping.
    currency = listed or qad_currency
    if not currency:
        raise DataError(
            f"no currency for {mp}: the listing has no offer currency and "
            f"[mapping.marketplaces.{mp}] currency is not set"
        )
    if listed and qad_currency and listed != qad_currency:
        raise DataError(
            f"the {mp} offer is in {listed} but QAD's list price is in {qad_currency}: "
            "not converted (fix [mapping.marketplaces] currency or the listing)"
        )
    if everyone is not None and _our_price(everyone) == price:
        return  # already the price: nothing to send
    new = copy.deepcopy(everyone) if everyone is not None else {}
    new.update({"marketplace_id": mp, "audience": "ALL", "currency": currency})
    new["our_price"] = _with_price(new.get("our_price"), price)
    if cfg.write_op == "merge":
        # Selector (marketplace_id, currency, audience) + the one sub-field: Amazon keeps the
        # entry's discounted_price, min/max prices and every other audience's entry.
        value = [{k: new[k] for k in ("marketplace_id", "currency", "audience", "our_price")}]
        plan.patches.append(
            {"op": "merge", "path": "/attributes/purchasable_offer", "value": value}
        )
    else:
        # Every entry of the marketplace as read back (B2B too), only ALL's our_price changed.
        value = [new if e is everyone else copy.deepcopy(e) for e in entries]
        if everyone is None:
            value.append(new)
        plan.patches.append(
            {"op": "replace", "path": "/attributes/purchasable_offer", "value": value}
        )
    plan.changed.append(f"price {price} {currency}")


def _our_price(entry: Mapping[str, Any]) -> Decimal | None:
    try:
        return _decimal(entry["our_price"][0]["schedule"][0]["value_with_tax"])
    except (KeyError, IndexError, TypeError):
        return None


def _with_price(our_price: Any, price: Decimal) -> list[dict[str, Any]]:
    """``our_price`` as read back with the first schedule's value replaced (other schedule keys
    and entries kept). Listings takes a JSON number; cents-exact decimals survive a float."""
    out = copy.deepcopy(our_price) if isinstance(our_price, list) and our_price else [{}]
    first = out[0] if isinstance(out[0], dict) else {}
    schedule = first.get("schedule") if isinstance(first.get("schedule"), list) else []
    if not schedule or not isinstance(schedule[0], dict):
        schedule = [{}]
    schedule[0] = {**schedule[0], "value_with_tax": float(price)}
    out[0] = {**first, "schedule": schedule}
    return out


def _language(listing: Mapping[str, Any], attribute: str, mp: str, cfg: ListingsConfig) -> str:
    """Configured tag, else the language the listing already uses there, else the default."""
    if mp in cfg.language_tags:
        return cfg.language_tags[mp]
    for entry in _entries(listing, attribute, mp):
        if entry.get("language_tag"):
            return str(entry["language_tag"])
    tag = MARKETPLACE_LANGUAGE.get(mp, "")
    if not tag:
        raise DataError(
            f"no language tag for {attribute} in {mp}: set [listings.language_tags] {mp}"
        )
    return tag


def _text(
    plan: Plan,
    listing: Mapping[str, Any],
    mp: str,
    attribute: str,
    text: str,
    cfg: ListingsConfig,
) -> None:
    tag = _language(listing, attribute, mp, cfg)
    entries = _entries(listing, attribute, mp)
    mine = next((e for e in entries if e.get("language_tag") == tag), None)
    if mine is not None and mine.get("value") == text:
        return
    new = {**copy.deepcopy(mine or {}), "value": text, "language_tag": tag, "marketplace_id": mp}
    # No documented merge for text attributes: every entry of the marketplace goes back as
    # read, only this language's value changed (other languages are not lost).
    value = [new if e is mine else copy.deepcopy(e) for e in entries]
    if mine is None:
        value.append(new)
    plan.patches.append({"op": "replace", "path": f"/attributes/{attribute}", "value": value})
    plan.changed.append(f"{attribute} ({tag})")


def _merchant_zero(plan: Plan, listing: Mapping[str, Any], mp: str, cfg: ListingsConfig) -> None:
    fba = fba_channels(listing, mp)
    if fba:
        # An FBA SKU's stock is Amazon's: a DEFAULT entry would add a merchant channel
        # [C models#2061], and the AMAZON_* channel is never ours to change.
        plan.notes.append(
            f"fulfillment_availability untouched: {'/'.join(fba)} (Amazon-fulfilled) SKU"
        )
        return
    entries = _entries(listing, "fulfillment_availability", mp)
    merchant = next((e for e in entries if e.get("fulfillment_channel_code") == "DEFAULT"), None)
    if merchant is None:
        plan.notes.append("fulfillment_availability untouched: no merchant (DEFAULT) channel")
        return
    if merchant.get("quantity") == 0:
        return
    new = {**copy.deepcopy(merchant), "quantity": 0, "marketplace_id": mp}
    if cfg.write_op == "merge":
        value = [{k: new[k] for k in ("marketplace_id", "fulfillment_channel_code", "quantity")}]
        op = "merge"
    else:
        value = [new if e is merchant else copy.deepcopy(e) for e in entries]
        op = "replace"
    plan.patches.append({"op": op, "path": "/attributes/fulfillment_availability", "value": value})
    plan.changed.append("merchant quantity 0 (inactive in QAD)")


def summary(patches: Sequence[Mapping[str, Any]]) -> str:
    """``op path`` of each patch, for the attempt's request column."""
    return ", ".join(f"{p.get('op')} {p.get('path')}" for p in patches)
