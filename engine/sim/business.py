"""The simulated manufacturer shared by both simulators and the default mapping.

Deterministic: the same seed always yields the same catalog. Amazon SKUs map to QAD item codes
through ``sku_to_item`` (the default ``[mapping]`` in config.toml lists the same pairs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ACCOUNTS",
    "MARKETPLACES",
    "CatalogItem",
    "Marketplace",
    "catalog",
    "sku_to_item",
]


@dataclass(frozen=True, slots=True)
class Marketplace:
    """One Amazon marketplace and the QAD customer that stands for Amazon there."""

    marketplace_id: str
    country: str
    region: str  # NA / EU / FE
    currency: str
    name: str  # the settlement file's marketplace-name
    qad_customer: str


MARKETPLACES: tuple[Marketplace, ...] = (
    Marketplace("ATVPDKIKX0DER", "US", "NA", "USD", "Amazon.com", "AMZ-US"),
    Marketplace("A2EUQ1WTGCTBG2", "CA", "NA", "CAD", "Amazon.ca", "AMZ-CA"),
    Marketplace("A1PA6795UKMFR9", "DE", "EU", "EUR", "Amazon.de", "AMZ-DE"),
    Marketplace("A1F83G8C2ARO7P", "GB", "EU", "GBP", "Amazon.co.uk", "AMZ-UK"),
    Marketplace("A1VC38T7YXB528", "JP", "FE", "JPY", "Amazon.co.jp", "AMZ-JP"),
)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """A product: its Amazon SKU/ASIN, its QAD item code, and how Amazon fulfils it."""

    sku: str
    asin: str
    item_code: str
    description: str
    list_price: Decimal  # in USD; other marketplaces convert with a fixed factor
    fulfillment: str  # "AFN" (FBA) or "MFN" (merchant)
    unit_of_measure: str = "EA"


_NOUNS = ("Bracket", "Hinge", "Valve", "Clamp", "Gasket", "Fitting", "Pulley", "Bearing")
_ADJ = ("Steel", "Brass", "Nylon", "Heavy-Duty", "Compact", "Marine", "Precision", "Alloy")


def catalog(size: int = 24, seed: int = 7) -> tuple[CatalogItem, ...]:
    """The manufacturer's Amazon catalog; about half FBA, half merchant-fulfilled."""
    rng = random.Random(seed)
    items = []
    for i in range(size):
        code = 1000 + i * 10
        adj, noun = _ADJ[i % len(_ADJ)], _NOUNS[(i // len(_ADJ) + i) % len(_NOUNS)]
        price = Decimal(rng.randrange(799, 14999)) / 100
        asin = "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))
        items.append(
            CatalogItem(
                sku=f"MLC-{code}-{'F' if i % 2 == 0 else 'M'}",
                asin=asin,
                item_code=f"10-{code}",
                description=f"{adj} {noun} {code}",
                list_price=price,
                fulfillment="AFN" if i % 2 == 0 else "MFN",
            )
        )
    return tuple(items)


def sku_to_item(items: tuple[CatalogItem, ...] | None = None) -> dict[str, str]:
    """The default SKU -> QAD item map for the simulated business."""
    return {it.sku: it.item_code for it in (items if items is not None else catalog())}


# QAD chart of accounts seeded in the simulated tenant; the settlement mapping posts to these.
ACCOUNTS: dict[str, str] = {
    "1010": "Bank - operating",
    "1200": "Accounts receivable control",
    "1250": "Amazon settlement clearing",
    "1260": "Amazon charge clearing (payable to Amazon / successful charge)",
    "1270": "Amazon settlement carried forward (month split)",
    "1290": "Amazon reserve held",
    "2300": "Sales tax payable / marketplace facilitator tax",
    "2500": "Amazon Lending loan",
    "4000": "Sales clearing - Amazon",
    "4010": "Shipping income - Amazon",
    "4100": "Refunds - Amazon",
    "4110": "Chargeback refunds - Amazon",
    "4120": "A-to-z Guarantee refunds - Amazon",
    "4900": "Promotions and discounts",
    "6100": "Amazon referral commission",
    "6110": "FBA fulfilment fees",
    "6120": "Amazon service fees (subscription, storage)",
    "6130": "Amazon other fees and adjustments",
    "6140": "Amazon advertising",
    "6150": "FBA removal and disposal fees",
    "6900": "Amazon Lending interest",
    "7100": "Amazon reimbursements (SAFE-T, FBA inventory)",
    "9999": "Suspense - unmapped settlement lines",
}
