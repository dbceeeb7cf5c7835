"""Simulated listings: the seed every seller starts with, how an accepted submission changes a
listing once it is due, and what a read shows (evidence tags as in ``listing_rules``).

A listing is stored the way Amazon holds it: attributes keyed by name, every entry carrying its
``marketplace_id`` (and ``language_tag`` for text), offers carrying ``audience`` and ``currency``.
A read filters the entries to the requested marketplaces and overlays the live merchant quantity.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.sim.amazon.common import iso
from engine.sim.amazon.data import DAY, FX, money
from engine.sim.amazon.inventory import mfn_quantity
from engine.sim.amazon.listing_rules import attribute_name, issue, selector
from engine.sim.amazon.sellers import MARKETPLACE_INFO, REGIONS, marketplace
from engine.sim.amazon.world import World

__all__ = [
    "ODD_SKU",
    "SeedListing",
    "apply_change",
    "currency_map",
    "fulfillment_view",
    "known_skus",
    "listing",
    "listing_issues",
    "offers_view",
    "seed_listing",
    "summaries_view",
    "view_attributes",
]

# A listing-only SKU (no orders, not in the QAD map or the merchant listings report) with every
# character that needs path encoding: '/', ' ', '#' and non-ASCII [C models#4429; issue 15].
ODD_SKU = "MLC-9001/A #Größe"

# Product types by noun, so a client that sends a fixed "PRODUCT" is caught (values are the
# simulator's own; real sellers' types come from the Product Type Definitions API).
_TYPES = {
    "Bracket": "HARDWARE",
    "Hinge": "HARDWARE",
    "Clamp": "HARDWARE",
    "Valve": "PLUMBING_FIXTURE",
    "Fitting": "PLUMBING_FIXTURE",
    "Gasket": "SEAL",
    "Pulley": "MECHANICAL_COMPONENTS",
    "Bearing": "MECHANICAL_COMPONENTS",
}
BRAND = "Meridian Works"
LEAD_TIME_DAYS = 2


@dataclass(frozen=True, slots=True)
class SeedListing:
    sku: str
    asin: str
    description: str
    list_price: Decimal  # USD
    fulfillment: str  # AFN / MFN
    product_type: str


def _seeds(world: World) -> dict[str, SeedListing]:
    out = {
        c.sku: SeedListing(
            c.sku,
            c.asin,
            c.description,
            c.list_price,
            c.fulfillment,
            _TYPES.get(c.description.split()[-2], "HARDWARE"),
        )
        for c in world.book.catalog
    }
    out[ODD_SKU] = SeedListing(
        ODD_SKU, "B0MLC9001A", "Präzisions-Winkel Größe A", Decimal("23.40"), "MFN", "HARDWARE"
    )
    return out


def known_skus(world: World) -> list[str]:
    return list(_seeds(world))


def seed_listing(world: World, sku: str) -> SeedListing | None:
    return _seeds(world).get(sku)


def _seller_mps(world: World, seller: int) -> list[str]:
    return [m for r in REGIONS for m in world.configs[seller].marketplace_ids(r)]


def currency_map(world: World, seller: int) -> dict[str, str]:
    return {m: mp.currency for m in _seller_mps(world, seller) if (mp := marketplace(m))}


def _num(value: Decimal, currency: str) -> float | int:
    """Listings attributes carry JSON numbers; amounts are computed as Decimal first."""
    q = money(value, currency)
    return int(q) if currency == "JPY" else float(q)


def _price(value: Decimal, currency: str) -> list[dict[str, Any]]:
    return [{"schedule": [{"value_with_tax": _num(value, currency)}]}]


def _afn_code(mp: str) -> str:
    m = marketplace(mp)
    return f"AMAZON_{m.region if m else 'NA'}"


def _seed_state(world: World, seller: int, s: SeedListing) -> dict[str, Any]:
    attrs: dict[str, list[dict[str, Any]]] = {}
    origin = world.book.origin

    def put(name: str, entry: dict[str, Any]) -> None:
        attrs.setdefault(name, []).append(entry)

    for mp in _seller_mps(world, seller):
        m = marketplace(mp)
        assert m is not None
        cur, lang = m.currency, MARKETPLACE_INFO[mp][0]
        price = s.list_price * FX[cur]
        text = {"language_tag": lang, "marketplace_id": mp}
        put("item_name", {"value": s.description, **text})
        put("product_description", {"value": f"{s.description}, made to order.", **text})
        put("bullet_point", {"value": "Corrosion resistant", **text})
        put("bullet_point", {"value": "Ships in two days", **text})
        put("brand", {"value": BRAND, **text})
        put("condition_type", {"value": "new_new", "marketplace_id": mp})
        # Rich offers a blind replace would destroy: the ALL offer with a sale price and a
        # price band, and a B2B offer with quantity discounts [D "Manage purchasable offer";
        # B2B changelog 2024-09-11].
        put(
            "purchasable_offer",
            {
                "audience": "ALL",
                "currency": cur,
                "marketplace_id": mp,
                "our_price": _price(price, cur),
                "discounted_price": [
                    {
                        "schedule": [
                            {
                                "value_with_tax": _num(price * Decimal("0.9"), cur),
                                "start_at": iso(origin),
                                "end_at": iso(origin + 120 * DAY),
                            }
                        ]
                    }
                ],
                "minimum_seller_allowed_price": _price(price * Decimal("0.5"), cur),
                "maximum_seller_allowed_price": _price(price * Decimal("2"), cur),
            },
        )
        put(
            "purchasable_offer",
            {
                "audience": "B2B",
                "currency": cur,
                "marketplace_id": mp,
                "our_price": _price(price * Decimal("0.95"), cur),
                "quantity_discount_plan": [
                    {
                        "schedule": [
                            {
                                "discount_type": "percent",
                                "levels": [{"lower_bound": 10, "value": 5}],
                            }
                        ]
                    }
                ],
            },
        )
        if s.fulfillment == "AFN":
            put(
                "fulfillment_availability",
                {"fulfillment_channel_code": _afn_code(mp), "marketplace_id": mp},
            )
        else:
            put(
                "fulfillment_availability",
                {
                    "fulfillment_channel_code": "DEFAULT",
                    "lead_time_to_ship_max_days": LEAD_TIME_DAYS,
                    "marketplace_id": mp,
                },
            )
    return {
        "productType": s.product_type,
        "attributes": attrs,
        "created": origin,
        "updated": origin,
        "fulfillment": s.fulfillment,
        "asin": s.asin,
    }


def listing(world: World, seller: int, sku: str) -> dict[str, Any] | None:
    """The applied listing state (pending submissions applied when due), seeded on first use."""
    now = world.now()
    due = [c for c in world.pending_listing_changes if c[0] <= now]
    if due:
        world.pending_listing_changes = [c for c in world.pending_listing_changes if c[0] > now]
        for at, s, k, change in sorted(due, key=lambda c: c[0]):
            apply_change(world, s, k, change, at)
    return _ensure(world, seller, sku)


def _ensure(world: World, seller: int, sku: str) -> dict[str, Any] | None:
    key = (seller, sku)
    if key not in world.listings:
        seed = seed_listing(world, sku)
        if seed is None:
            return None
        world.listings[key] = _seed_state(world, seller, seed)
    return world.listings[key]


def _normalize(
    name: str, entries: list[dict[str, Any]], mps: list[str], currency: dict[str, str]
) -> list[dict[str, Any]]:
    """What Amazon adds on read-back: marketplace_id on every entry [C models#2061, #4406; the
    model's searchListingsItems example D], audience ALL and the currency on offers [C live UK
    fixture; D "audience default: ALL"]. An entry without marketplace_id applies to every
    requested marketplace [I]."""
    out = []
    for entry in entries:
        for mp in [entry["marketplace_id"]] if entry.get("marketplace_id") else mps:
            e = copy.deepcopy(entry)
            e["marketplace_id"] = mp
            if name == "purchasable_offer":
                e.setdefault("audience", "ALL")
                if mp in currency:
                    e.setdefault("currency", currency[mp])
            out.append(e)
    return out


_SELECTOR_FIELDS = {
    "purchasable_offer": ("marketplace_id", "currency", "audience"),
    "fulfillment_availability": ("marketplace_id", "fulfillment_channel_code"),
}


def _patch_one(
    op: str,
    name: str,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    mps: list[str],
    scope: str,
) -> list[dict[str, Any]]:
    keys = {selector(name, e) for e in new}
    if op in ("add", "replace"):  # the model: both "add or replace the target property" [D]
        if scope == "attribute":
            gone = [e.get("marketplace_id") in mps for e in old]
        else:
            gone = [selector(name, e) in keys for e in old]
        # The new entries take the place of the first one replaced (order as Amazon keeps it
        # is [I]; a stable order keeps reads and truth easy to compare).
        at = gone.index(True) if True in gone else len(old)
        kept = [e for e, g in zip(old, gone, strict=True) if not g]
        cut = sum(1 for g in gone[:at] if not g)
        return kept[:cut] + new + kept[cut:]
    if op == "merge":  # only the sub-fields sent change, per selector [D "Merge a listing"]
        out = [dict(e) for e in old]
        for entry in new:
            hit = next((e for e in out if selector(name, e) == selector(name, entry)), None)
            if hit is None:
                out.append({k: v for k, v in entry.items() if v is not None})
                continue
            for k, v in entry.items():
                if v is None:
                    hit.pop(k, None)  # a sub-field sent as null is removed [I]
                else:
                    hit[k] = v
        return out
    # delete: by selector values [D]; on purchasable_offer an entry naming sub-attributes
    # deletes just those ("granularly ... deleting sub-attributes" [D]; the grammar is [I]).
    fields = _SELECTOR_FIELDS.get(name, ())
    out = []
    for e in old:
        hit = next((n for n in new if selector(name, n) == selector(name, e)), None)
        subs = [k for k in (hit or {}) if k not in fields] if name == "purchasable_offer" else []
        if hit is None:
            out.append(e)
        elif subs:
            out.append({k: v for k, v in e.items() if k not in subs})
    return out


def apply_change(world: World, seller: int, sku: str, change: dict[str, Any], at: float) -> None:
    """Apply one accepted submission at its due time ``at``."""
    state = _ensure(world, seller, sku)
    mps: list[str] = list(change["marketplaces"])
    currency = currency_map(world, seller)
    if change["kind"] == "put":
        attrs = {n: _normalize(n, list(v), mps, currency) for n, v in change["attributes"].items()}
        state = {
            "productType": change["productType"],
            "attributes": attrs,
            "created": at if state is None else state["created"],
            "fulfillment": "MFN" if state is None else state["fulfillment"],
            "asin": "" if state is None else state["asin"],
        }
        world.listings[(seller, sku)] = state
        sent = [("replace", n, v) for n, v in change["attributes"].items()]
    else:
        assert state is not None
        sent = [(p["op"], attribute_name(p["path"]), p.get("value")) for p in change["patches"]]
        for op, name, value in sent:
            new = _normalize(name, list(value or []), mps, currency)
            old = state["attributes"].get(name, [])
            result = _patch_one(op, name, old, new, mps, world.listing_rules.replace_scope)
            if result:
                state["attributes"][name] = result
            else:
                state["attributes"].pop(name, None)
    if state["fulfillment"] == "AFN":
        _keep_afn(state, _seller_mps(world, seller))
    state["updated"] = at
    for op, name, value in sent:
        if name != "fulfillment_availability" or op == "delete":
            continue
        for entry in value or []:
            if entry.get("fulfillment_channel_code") == "DEFAULT" and "quantity" in entry:
                for mp in [entry["marketplace_id"]] if entry.get("marketplace_id") else mps:
                    world.mfn_base[(seller, mp, sku)] = (at, int(entry["quantity"]))


def _keep_afn(state: dict[str, Any], mps: list[str]) -> None:
    """Amazon owns the AFN channel of an FBA SKU: a patch never removes it, and a DEFAULT entry
    sent for such a SKU is added next to it as a merchant channel [C models#2061]."""
    entries = state["attributes"].get("fulfillment_availability", [])
    afn = [e for e in entries if str(e.get("fulfillment_channel_code", "")).startswith("AMAZON_")]
    rest = [e for e in entries if e not in afn]
    have = {e["marketplace_id"] for e in afn}
    for mp in mps:
        if mp not in have:
            afn.append({"fulfillment_channel_code": _afn_code(mp), "marketplace_id": mp})
    # Amazon sets the AFN quantity from the fulfilment centres, never from a patch [I].
    afn = [{k: v for k, v in e.items() if k != "quantity"} for e in afn]
    state["attributes"]["fulfillment_availability"] = afn + rest


# -- reads -----------------------------------------------------------------------------------


def view_attributes(
    world: World, seller: int, sku: str, state: dict[str, Any], mps: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The attributes of the requested marketplaces, merchant quantity as of now."""
    out: dict[str, list[dict[str, Any]]] = {}
    now = world.now()
    for name, entries in state["attributes"].items():
        shown = [copy.deepcopy(e) for e in entries if e.get("marketplace_id") in (None, *mps)]
        if name == "fulfillment_availability":
            for e in shown:
                if e.get("fulfillment_channel_code") == "DEFAULT":
                    mp = e.get("marketplace_id") or mps[0]
                    e["quantity"] = mfn_quantity(world, seller, mp, sku, now)
        if shown:
            out[name] = shown
    return out


def _value(entry: dict[str, Any], field: str) -> float | None:
    try:
        v = entry[field][0]["schedule"][0]["value_with_tax"]
    except (KeyError, IndexError, TypeError):
        return None
    return float(v) if isinstance(v, int | float) else None


def listing_issues(state: dict[str, Any], mps: list[str]) -> list[dict[str, Any]]:
    """Listing-level issues: a minimum price above the selling price suppresses the offer
    (code 18155, the model's getListingsItem example [D])."""
    out = []
    for e in state["attributes"].get("purchasable_offer", []):
        mp = e.get("marketplace_id")
        if mp not in mps or e.get("audience", "ALL") != "ALL":
            continue
        low, ours = _value(e, "minimum_seller_allowed_price"), _value(e, "our_price")
        if low is not None and ours is not None and low > ours:
            out.append(
                issue(
                    "The 'minimum price' is greater than the selling price (excluding shipping) "
                    "for the listing. Review and update your price and/or minimum price.",
                    code="18155",
                    category="INVALID_PRICE",
                    marketplaces=(str(mp),),
                )
                | {
                    "enforcements": {
                        "actions": [{"action": "LISTING_SUPPRESSED"}],
                        "exemption": {"status": "NOT_EXEMPT"},
                    }
                }
            )
    return out


def summaries_view(sku: str, state: dict[str, Any], mps: list[str]) -> list[dict[str, Any]]:
    suppressed = {m for i in listing_issues(state, mps) for m in i.get("marketplaceIds", [])}
    out = []
    for mp in mps:
        names = [
            e for e in state["attributes"].get("item_name", []) if e.get("marketplace_id") == mp
        ]
        s: dict[str, Any] = {
            "marketplaceId": mp,
            "asin": state["asin"],
            "productType": state["productType"],
            "conditionType": "new_new",
            "status": ["DISCOVERABLE"] if mp in suppressed else ["BUYABLE", "DISCOVERABLE"],
            "itemName": str(names[0].get("value", sku)) if names else sku,
            "createdDate": iso(state["created"]),
            "lastUpdatedDate": iso(state["updated"]),
        }
        if state["fulfillment"] == "AFN" and state["asin"]:
            s["fnSku"] = "X00" + state["asin"][3:]
        out.append(s)
    return out


def offers_view(state: dict[str, Any], mps: list[str]) -> list[dict[str, Any]]:
    out = []
    for e in state["attributes"].get("purchasable_offer", []):
        ours = _value(e, "our_price")
        if e.get("marketplace_id") not in mps or ours is None:
            continue
        audience = str(e.get("audience", "ALL"))
        cur = str(e.get("currency", ""))
        amount = money(Decimal(str(ours)), cur) if cur in FX else Decimal(str(ours))
        out.append(
            {
                "marketplaceId": e["marketplace_id"],
                "offerType": "B2B" if audience.startswith("B2B") else "B2C",
                "price": {"currencyCode": cur, "amount": str(amount)},
                "audience": {
                    "value": audience,
                    "displayName": "Amazon Business" if audience == "B2B" else "Sell on Amazon",
                },
            }
        )
    return out


def fulfillment_view(
    world: World, seller: int, sku: str, state: dict[str, Any], mps: list[str]
) -> list[dict[str, Any]]:
    """Top-level ``fulfillmentAvailability``: one per channel of the first marketplace; an AFN
    channel carries no quantity (reference §7 [D])."""
    out = []
    entries = view_attributes(world, seller, sku, state, mps[:1]).get(
        "fulfillment_availability", []
    )
    for e in entries:
        code = str(e.get("fulfillment_channel_code", ""))
        fa: dict[str, Any] = {"fulfillmentChannelCode": code}
        if code == "DEFAULT":
            fa["quantity"] = int(e.get("quantity", 0))
        out.append(fa)
    return out
