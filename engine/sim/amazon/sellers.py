"""Seller configuration and the deterministic credentials the simulator accepts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from engine.sim.amazon.roles import ALL_ROLES, RESTRICTED_ROLES, canonical_role
from engine.sim.business import MARKETPLACES, Marketplace

__all__ = [
    "MARKETPLACE_INFO",
    "REGIONS",
    "RegionCredentials",
    "SellerConfig",
    "SellerCredentials",
    "build_credentials",
    "marketplace",
]

REGIONS = ("NA", "EU", "FE")

# id -> (language, domain, storefront display name) as getMarketplaceParticipations reports them.
MARKETPLACE_INFO: dict[str, tuple[str, str]] = {
    "ATVPDKIKX0DER": ("en_US", "www.amazon.com"),
    "A2EUQ1WTGCTBG2": ("en_CA", "www.amazon.ca"),
    "A1PA6795UKMFR9": ("de_DE", "www.amazon.de"),
    "A1F83G8C2ARO7P": ("en_GB", "www.amazon.co.uk"),
    "A1VC38T7YXB528": ("ja_JP", "www.amazon.co.jp"),
}

_BY_ID = {m.marketplace_id: m for m in MARKETPLACES}


def marketplace(marketplace_id: str) -> Marketplace | None:
    return _BY_ID.get(marketplace_id)


@dataclass(frozen=True, slots=True)
class SellerConfig:
    """One simulated selling partner. ``marketplaces`` None = every marketplace of its regions."""

    name: str = "demo"
    regions: tuple[str, ...] = REGIONS
    marketplaces: tuple[str, ...] | None = None
    has_pii_role: bool = True
    rate_overrides: dict[str, tuple[float, int]] = field(default_factory=dict)
    # settlement file locale for all of this seller's settlements (US/DE/UK/JP); None = by currency
    settlement_locale: str | None = None
    # SP-API roles the seller's authorisation grants (Amazon's names, engine/sim/amazon/roles.py);
    # None = every role. has_pii_role=False takes the restricted roles away in either case.
    roles: frozenset[str] | None = None
    # marketplaces getMarketplaceParticipations reports with participation.isParticipating=false
    # [D sellers.json Participation]: registered there, but not selling (e.g. suspended, paused)
    not_participating: tuple[str, ...] = ()

    def granted_roles(self) -> set[str]:
        roles = (
            {canonical_role(r) for r in self.roles} if self.roles is not None else set(ALL_ROLES)
        )
        return roles - RESTRICTED_ROLES if not self.has_pii_role else roles

    def marketplace_ids(self, region: str) -> tuple[str, ...]:
        ids = [m.marketplace_id for m in MARKETPLACES if m.region == region]
        if self.marketplaces is not None:
            ids = [i for i in ids if i in self.marketplaces]
        return tuple(ids) if region in self.regions else ()


@dataclass(frozen=True, slots=True)
class RegionCredentials:
    region: str
    refresh_token: str  # Atzr|... valid only in this region
    marketplace_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SellerCredentials:
    name: str
    seller_id: str  # merchant token (Listings sellerId)
    client_id: str
    client_secret: str
    has_pii_role: bool
    regions: dict[str, RegionCredentials]

    def refresh_token(self, region: str) -> str:
        return self.regions[region].refresh_token


def _h(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def build_credentials(seed: int, index: int, cfg: SellerConfig) -> SellerCredentials:
    """Deterministic from the seed so the standalone simulator prints stable demo credentials."""
    regions = {
        r: RegionCredentials(r, f"Atzr|IwEB{_h(seed, index, r, 'rt')[:40]}", cfg.marketplace_ids(r))
        for r in REGIONS
        if cfg.marketplace_ids(r)
    }
    return SellerCredentials(
        name=cfg.name,
        seller_id="A" + _h(seed, index, "seller")[:12].upper(),
        client_id=f"amzn1.application-oa2-client.{_h(seed, 'client')[:32]}",
        client_secret=f"amzn1.oa2-cs.v1.{_h(seed, 'secret')[:48]}",
        has_pii_role=cfg.has_pii_role,
        regions=regions,
    )
