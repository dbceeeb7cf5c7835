"""Configuration model: one frozen dataclass per ``config.toml`` section, with defaults.

To add a section: define a frozen dataclass with defaults and add it as a field of ``Config``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.errors import ConfigError

__all__ = [
    "AmazonConfig",
    "Config",
    "DispatchConfig",
    "EngineConfig",
    "InventoryConfig",
    "MappingConfig",
    "MarketplaceMap",
    "PollConfig",
    "QadConfig",
    "SettlementRule",
]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """``[engine]``: where the event log lives."""

    db: str = "ml-connector.db"
    # synchronous=FULL survives power loss; NORMAL is faster and still crash-safe in WAL mode.
    synchronous: str = "FULL"


@dataclass(frozen=True, slots=True)
class AmazonConfig:
    """``[amazon]``: SP-API access. Credentials come from the vault entry named ``credential``."""

    credential: str = "default"
    # Empty means: derive the production host from the region (NA/EU/FE).
    endpoint: str = ""
    lwa_url: str = "https://api.amazon.com/auth/o2/token"
    region: str = "NA"
    marketplaces: tuple[str, ...] = ("ATVPDKIKX0DER",)
    seller_id: str = ""
    orders_api: str = "2026-01-01"  # or "v0" (deprecated getOrders + getOrderItems)
    # Marketplaces whose listings follow QAD item changes (price is in QAD's currency).
    listing_marketplaces: tuple[str, ...] = ("ATVPDKIKX0DER",)
    # Per HTTP request to SP-API / LWA; a timeout is retried like a 5xx.
    request_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class QadConfig:
    """``[qad]``: one QAD tenant, addressed by its full URL (QAD has no shared base address)."""

    credential: str = "default"
    tenant_url: str = ""
    domain: str = "10USA"
    entity: str = "10USACO"


@dataclass(frozen=True, slots=True)
class PollConfig:
    """``[poll]``: cadences in seconds for the scheduler (``ml-connector run``) and the Amazon
    pollers' windows. ``validate`` rejects unsafe values (e.g. an end lag under Amazon's 2 min)."""

    orders_every_s: float = 300.0
    inventory_every_s: float = 900.0  # FBA summaries and the merchant listings report
    settlements_every_s: float = 21600.0
    catalog_every_s: float = 3600.0
    # Orders windows by LastUpdatedAfter: each starts this long before the watermark so an
    # order updated at a window edge is never missed (re-reads append nothing new).
    orders_overlap_s: float = 600.0
    # The window ends this long before now; Amazon wants >= 2 minutes (late-indexed updates).
    orders_end_lag_s: float = 150.0
    orders_initial_lookback_days: float = 30.0  # first run (no watermark yet)
    orders_max_window_days: float = 7.0  # long outages are caught up in windows of this size
    settlements_lookback_days: float = 89.0  # settlement reports are retained 90 days
    # Raw report documents (settlements, listings) kept for re-parsing; "" = "raw" next to db.
    raw_dir: str = ""

    def validate(self, source: str) -> None:
        """Raise ConfigError naming the key when a value is unsafe."""
        for name in ("orders_every_s", "inventory_every_s", "settlements_every_s",
                     "catalog_every_s", "orders_initial_lookback_days",
                     "orders_max_window_days"):  # fmt: skip
            v = getattr(self, name)
            if not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{source}: poll.{name} must be a positive number, got {v!r}")
        if not math.isfinite(self.orders_overlap_s) or self.orders_overlap_s < 0:
            raise ConfigError(
                f"{source}: poll.orders_overlap_s must be >= 0, got {self.orders_overlap_s!r}"
            )
        if not math.isfinite(self.orders_end_lag_s) or self.orders_end_lag_s < 120:
            raise ConfigError(
                f"{source}: poll.orders_end_lag_s must be >= 120 (Amazon wants the end bound "
                f"at least 2 minutes before now), got {self.orders_end_lag_s!r}"
            )
        if not 0 < self.settlements_lookback_days <= 90:
            raise ConfigError(
                f"{source}: poll.settlements_lookback_days must be in (0, 90] (reports are "
                f"kept 90 days), got {self.settlements_lookback_days!r}"
            )


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """``[dispatch]``: how commands are posted."""

    qad_rate_per_s: float = 10.0
    qad_burst: int = 10
    concurrency: int = 4
    max_attempts: int = 8
    timeout_s: float = 30.0
    # Backoff with full jitter: uniform(0, min(retry_cap_s, retry_base_s * 2**(n-1))).
    retry_base_s: float = 2.0
    retry_cap_s: float = 600.0
    # SP-API patchListingsItem: 5 requests/s, burst 10.
    listings_rate_per_s: float = 5.0
    listings_burst: int = 10


@dataclass(frozen=True, slots=True)
class MarketplaceMap:
    """How one Amazon marketplace lands in QAD."""

    customer: str
    currency: str
    name: str = ""  # as in settlement files' marketplace-name, e.g. "Amazon.de"
    site: str = "10-100"
    # QAD site holding this marketplace's FBA stock; "" = do not align FBA stock for it.
    fba_site: str = ""
    # Compare merchant-fulfilled quantities with this QAD site; "" = skip.
    warehouse_site: str = ""


@dataclass(frozen=True, slots=True)
class SettlementRule:
    """(transaction-type, amount-type, amount-description) -> GL account; fnmatch patterns."""

    account: str
    transaction_type: str = "*"
    amount_type: str = "*"
    amount_description: str = "*"


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """``[mapping]``: SKU -> QAD item, marketplace -> customer/site, settlement lines -> GL."""

    sku: dict[str, str] = field(default_factory=dict)
    marketplaces: dict[str, MarketplaceMap] = field(default_factory=dict)
    settlement: tuple[SettlementRule, ...] = ()
    clearing_account: str = "1250"
    suspense_account: str = "9999"
    invoice_daybook: str = "SALES"
    journal_daybook: str = "JE"


@dataclass(frozen=True, slots=True)
class InventoryConfig:
    """``[inventory]``: merchant-fulfilled stock is adjusted or only reported as drift."""

    mfn_mode: str = "report"  # "adjust" | "report"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``source`` is the file it came from (for error messages)."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    amazon: AmazonConfig = field(default_factory=AmazonConfig)
    qad: QadConfig = field(default_factory=QadConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    source: str = "<defaults>"
