"""SP-API regions, production hosts and marketplace ids (reference section 1).

A pure table in the config layer so ``load_config`` can refuse an unknown marketplace id at
start-up (config may import nothing above it); ``engine.adapters.amazon.regions`` re-exports it.
"""

from __future__ import annotations

__all__ = ["HOSTS", "MARKETPLACE_REGION", "REGIONS", "region_of"]

HOSTS: dict[str, str] = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}
REGIONS: tuple[str, ...] = tuple(HOSTS)

MARKETPLACE_REGION: dict[str, str] = {
    "A2EUQ1WTGCTBG2": "NA",
    "ATVPDKIKX0DER": "NA",
    "A1AM78C64UM0Y8": "NA",
    "A2Q3Y263D00KWC": "NA",
    "A28R8C7NBKEWEA": "EU",
    "A1RKKUPIHCS9HS": "EU",
    "A1F83G8C2ARO7P": "EU",
    "A13V1IB3VIYZZH": "EU",
    "AMEN7PMS3EDWL": "EU",
    "A1805IZSGTT6HS": "EU",
    "A1PA6795UKMFR9": "EU",
    "APJ6JRA9NG5V4": "EU",
    "A2NODRKZP88ZB9": "EU",
    "AE08WJ6YKNBMC": "EU",
    "A1C3SOZRARQ6R3": "EU",
    "ARBP9OOSHTCHU": "EU",
    "A33AVAJ2PDY3EV": "EU",
    "A17E79C6D8DWNP": "EU",
    "A2VIGQ35RCS4UG": "EU",
    "A21TJRUUN4KGV": "EU",
    "A19VAU5U5O7RUS": "FE",
    "A39IBJ37TRP1C6": "FE",
    "A1VC38T7YXB528": "FE",
}


def region_of(marketplace_id: str) -> str:
    """The region serving a marketplace; ValueError for an unknown id."""
    try:
        return MARKETPLACE_REGION[marketplace_id]
    except KeyError:
        raise ValueError(f"unknown marketplace id {marketplace_id!r}") from None
