"""``[listings]``: which QAD item fields flow to Amazon listings, how, and how long to verify.

Own module so the listing keys, their checks and the marketplace language table stay together
(model.py only adds the section to ``Config``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.config.checks import checked, known_marketplaces, one_of, ranged
from engine.config.marketplaces import MARKETPLACE_REGION
from engine.errors import ConfigError

__all__ = ["LISTING_FIELDS", "MARKETPLACE_LANGUAGE", "ListingsConfig"]

# QAD item field -> Amazon attribute each choice writes (engine/adapters/amazon/listing_plan.py):
#   price       QAD list price      -> purchasable_offer our_price (audience ALL entry only)
#   title       QAD description     -> item_name
#   description QAD description     -> product_description
#   quantity    QAD status inactive -> merchant (DEFAULT) fulfillment_availability quantity 0
LISTING_FIELDS = ("price", "title", "description", "quantity")

# The language a marketplace's listings are written in by default (the marketplace's primary
# locale). [D] en_US for ATVPDKIKX0DER (Amazon's own item_name example, models#1876); the others
# are [I] (the locale Seller Central shows for that store). Marketplaces with more than one
# customary language (BE, EG, SA, AE) are left out on purpose: set `[listings] language_tags`.
# The tag of the listing's existing entry is used before this table (listing_plan.py).
MARKETPLACE_LANGUAGE: dict[str, str] = {
    "ATVPDKIKX0DER": "en_US",
    "A2EUQ1WTGCTBG2": "en_CA",
    "A1AM78C64UM0Y8": "es_MX",
    "A2Q3Y263D00KWC": "pt_BR",
    "A28R8C7NBKEWEA": "en_IE",
    "A1RKKUPIHCS9HS": "es_ES",
    "A1F83G8C2ARO7P": "en_GB",
    "A13V1IB3VIYZZH": "fr_FR",
    "A1805IZSGTT6HS": "nl_NL",
    "A1PA6795UKMFR9": "de_DE",
    "APJ6JRA9NG5V4": "it_IT",
    "A2NODRKZP88ZB9": "sv_SE",
    "AE08WJ6YKNBMC": "en_ZA",
    "A1C3SOZRARQ6R3": "pl_PL",
    "A33AVAJ2PDY3EV": "tr_TR",
    "A21TJRUUN4KGV": "en_IN",
    "A19VAU5U5O7RUS": "en_SG",
    "A39IBJ37TRP1C6": "en_AU",
    "A1VC38T7YXB528": "ja_JP",
}
assert set(MARKETPLACE_LANGUAGE) <= set(MARKETPLACE_REGION)

_TAG = re.compile(r"[a-z]{2,3}_[A-Z]{2}")


def _fields(value: Any, where: str) -> None:
    for name in value:
        if name not in LISTING_FIELDS:
            shown = ", ".join(f'"{f}"' for f in LISTING_FIELDS)
            raise ConfigError(f"{where}: unknown listing field {name!r} (known: {shown})")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: a field is named twice")


def _language_tags(value: Any, where: str) -> None:
    known_marketplaces(value, where)
    for mp, tag in value.items():
        if not _TAG.fullmatch(str(tag)):
            raise ConfigError(
                f'{where}.{mp}: {tag!r} is not a language tag like "en_US" (language_REGION)'
            )


@dataclass(frozen=True, slots=True)
class ListingsConfig:
    """``[listings]``: the catalog flow QAD item master -> Amazon listings."""

    # Which QAD fields Amazon takes over (LISTING_FIELDS). Default: the price only; a QAD
    # description is usually not the curated Amazon title, and merchant quantity is opt-in.
    fields: tuple[str, ...] = checked(("price",), _fields)
    # marketplace id -> language tag of item_name / product_description (e.g. "en_US");
    # unset: the listing's own entry, then MARKETPLACE_LANGUAGE, else the patch parks.
    language_tags: dict[str, str] = field(default_factory=dict, metadata={"check": _language_tags})
    # "merge": send only the changed entry (selectors + the changed sub-field) with op merge,
    # Amazon keeps the rest [D op in the model; exact semantics I]. "replace": send the whole
    # attribute as read back, with only QAD's sub-field changed (nothing is lost either way).
    write_op: str = checked("merge", one_of("merge", "replace"))
    # ACCEPTED is not applied: the change is read back from this long after acceptance until
    # this window ends, then flagged as not applied (never re-sent) [C docs#2167, models#2201].
    verify_window_s: float = ranged(1800.0, 0, 7 * 86400, lo_open=True)
    # First read-back this long after acceptance; each later one waits as long as has passed
    # since acceptance (doubling: 60, 120, 240, ... s), the last at the end of the window.
    verify_first_s: float = ranged(60.0, 0, 86400, lo_open=True)
