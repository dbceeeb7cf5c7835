"""Amazon stores by country code, for people who know their stores as "US" or "DE", not by id.

``ml-connector init`` asks for country codes and writes the marketplace ids, the region they
belong to (``marketplaces.MARKETPLACE_REGION``) and a ``[mapping.marketplaces.<id>]`` table
with the store's currency and its settlement-file name.

Evidence: ids and regions [D] (Amazon's "Marketplace IDs" page, reference sp-api README s1);
currency and domain [C] (what getMarketplaceParticipations returns as defaultCurrencyCode /
domainName); the settlement ``marketplace-name`` as "Amazon." + the domain's tail, e.g.
"Amazon.co.uk" [I] (the simulator and the example config write it so; check a real file).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COUNTRY_ALIASES", "STORES", "Store", "store_for"]


@dataclass(frozen=True, slots=True)
class Store:
    country: str  # Amazon's code ("UK" for the United Kingdom)
    marketplace_id: str
    currency: str
    domain: str  # amazon.co.uk

    @property
    def settlement_name(self) -> str:
        """As settlement files name the store: "Amazon.co.uk" [I]."""
        return "Amazon" + self.domain.removeprefix("amazon")


STORES: dict[str, Store] = {
    s.country: s
    for s in (
        Store("CA", "A2EUQ1WTGCTBG2", "CAD", "amazon.ca"),
        Store("US", "ATVPDKIKX0DER", "USD", "amazon.com"),
        Store("MX", "A1AM78C64UM0Y8", "MXN", "amazon.com.mx"),
        Store("BR", "A2Q3Y263D00KWC", "BRL", "amazon.com.br"),
        Store("IE", "A28R8C7NBKEWEA", "EUR", "amazon.ie"),
        Store("ES", "A1RKKUPIHCS9HS", "EUR", "amazon.es"),
        Store("UK", "A1F83G8C2ARO7P", "GBP", "amazon.co.uk"),
        Store("FR", "A13V1IB3VIYZZH", "EUR", "amazon.fr"),
        Store("BE", "AMEN7PMS3EDWL", "EUR", "amazon.com.be"),
        Store("NL", "A1805IZSGTT6HS", "EUR", "amazon.nl"),
        Store("DE", "A1PA6795UKMFR9", "EUR", "amazon.de"),
        Store("IT", "APJ6JRA9NG5V4", "EUR", "amazon.it"),
        Store("SE", "A2NODRKZP88ZB9", "SEK", "amazon.se"),
        Store("ZA", "AE08WJ6YKNBMC", "ZAR", "amazon.co.za"),
        Store("PL", "A1C3SOZRARQ6R3", "PLN", "amazon.pl"),
        Store("EG", "ARBP9OOSHTCHU", "EGP", "amazon.eg"),
        Store("TR", "A33AVAJ2PDY3EV", "TRY", "amazon.com.tr"),
        Store("SA", "A17E79C6D8DWNP", "SAR", "amazon.sa"),
        Store("AE", "A2VIGQ35RCS4UG", "AED", "amazon.ae"),
        Store("IN", "A21TJRUUN4KGV", "INR", "amazon.in"),
        Store("SG", "A19VAU5U5O7RUS", "SGD", "amazon.sg"),
        Store("AU", "A39IBJ37TRP1C6", "AUD", "amazon.com.au"),
        Store("JP", "A1VC38T7YXB528", "JPY", "amazon.co.jp"),
    )
}

# ISO 3166 writes the United Kingdom GB; Amazon's table writes UK [D].
COUNTRY_ALIASES: dict[str, str] = {"GB": "UK"}


def store_for(code: str) -> Store | None:
    """The store of a country code (any case, GB = UK) or a marketplace id; None if unknown."""
    text = code.strip()
    upper = COUNTRY_ALIASES.get(text.upper(), text.upper())
    if upper in STORES:
        return STORES[upper]
    for store in STORES.values():
        if store.marketplace_id == text:
            return store
    return None
