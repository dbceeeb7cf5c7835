"""Configuration model: one frozen dataclass per ``config.toml`` section, with defaults.

To add a section: define a frozen dataclass with defaults and add it as a field of ``Config``.
Every numeric key is declared with ``ranged(default, lo, hi)`` (tests refuse one without), and
string keys with a closed set of values or URL rules with ``checked(default, rule)``; the
loader applies them to file values and environment overrides alike (engine/config/checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.config.alerts import AlertsConfig
from engine.config.checks import (
    checked,
    endpoint_url,
    known_marketplaces,
    known_region,
    nonempty,
    one_of,
    path_text,
    ranged,
    service_url,
)
from engine.config.database import event_log_target, partition_name
from engine.config.listings import ListingsConfig
from engine.config.notifications import NotificationsConfig
from engine.config.qad_profile import QadBrowses, QadFields, QadPaths, cancel_policy_check
from engine.config.settlement_accounts import known_account_classes, rules_name_an_account
from engine.config.settlement_locales import LOCALES
from engine.config.web import WebConfig

__all__ = [
    "AmazonConfig",
    "BackfillConfig",
    "Config",
    "DispatchConfig",
    "EngineConfig",
    "InventoryConfig",
    "ListingsConfig",
    "MappingConfig",
    "MarketplaceMap",
    "OrdersConfig",
    "PollConfig",
    "QadConfig",
    "SettlementRule",
]


# Upper bounds are generous sanity limits: far above any sane setting, low enough that a typo
# (an extra few zeros, inf) is refused instead of stalling a flow for years.
MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """``[engine]``: where the event log lives."""

    # An SQLite file; a postgresql:// URL is recognised and refused for now (config/database.py).
    db: str = checked("ml-connector.db", event_log_target)
    # synchronous=FULL survives power loss; NORMAL is faster and still crash-safe in WAL mode.
    synchronous: str = checked("FULL", one_of("FULL", "NORMAL", "EXTRA", fold_case=True))
    # One (seller, region) of a PostgreSQL deployment holding many: its log, outbox and
    # projections live in their own schema of the shared database (config/database.py).
    partition: str = checked("", partition_name)


@dataclass(frozen=True, slots=True)
class AmazonConfig:
    """``[amazon]``: SP-API access. Credentials come from the vault entry named ``credential``."""

    credential: str = "default"
    # Empty means: derive the production host from the region (NA/EU/FE); "{region}" is filled
    # in with na/eu/fe per region. Receives access tokens, hence the URL rules.
    endpoint: str = checked("", endpoint_url("https://sellingpartnerapi-na.amazon.com"))
    # Receives the refresh token and client secret: https only (http on loopback for the sim).
    lwa_url: str = checked(
        "https://api.amazon.com/auth/o2/token",
        service_url("https://api.amazon.com/auth/o2/token"),
    )
    # The home region (NA/EU/FE). Informational: the regions actually called are derived from
    # `marketplaces`; validated so a typo does not suggest a setting that is not there.
    region: str = checked("NA", known_region)
    marketplaces: tuple[str, ...] = checked(("ATVPDKIKX0DER",), known_marketplaces)
    seller_id: str = ""
    orders_api: str = checked("2026-01-01", one_of("2026-01-01", "v0"))  # v0: deprecated
    # Marketplaces whose listings follow QAD item changes (price is in QAD's currency).
    listing_marketplaces: tuple[str, ...] = checked(("ATVPDKIKX0DER",), known_marketplaces)
    # Per HTTP request to SP-API / LWA; a timeout is retried like a 5xx.
    request_timeout_s: float = ranged(30.0, 0, HOUR, lo_open=True)
    # Whose "now" the Amazon side uses: "wall" (real time, production) or "simulator" (follow a
    # time-scaled `sim amazon`'s clock; loopback endpoints only, checked when the engine opens).
    clock: str = checked("wall", one_of("wall", "simulator"))


@dataclass(frozen=True, slots=True)
class QadConfig:
    """``[qad]``: one QAD tenant, addressed by its full URL (QAD has no shared base address)."""

    credential: str = "default"
    tenant_url: str = ""
    domain: str = "10USA"
    entity: str = "10USACO"
    # The tenant's OAuth client id; "" = read it from securityControl with Basic auth [C].
    client_id: str = ""
    # What an Amazon cancellation does to the QAD order's lines (no public evidence: a choice).
    cancel_policy: str = checked("zero_quantity", cancel_policy_check)
    # The tenant profile: names of paths, browses and fields (engine/config/qad_profile.py).
    paths: QadPaths = field(default_factory=QadPaths)
    browses: QadBrowses = field(default_factory=QadBrowses)
    fields: QadFields = field(default_factory=QadFields)


@dataclass(frozen=True, slots=True)
class PollConfig:
    """``[poll]``: cadences in seconds for the scheduler (``ml-connector run``) and the Amazon
    pollers' windows. Every number has a declared range (e.g. an end lag under Amazon's 2 min
    is refused)."""

    # 180 s: one searchOrders a window, inside its 0.0056 rps (one per 178.6 s) with the burst
    # of 20 kept for multi-page windows [D orders_2026-01-01 usage plan]; p95 ~5 sim min.
    orders_every_s: float = ranged(180.0, 0, WEEK, lo_open=True)
    # FBA summaries and the merchant listings report
    inventory_every_s: float = ranged(900.0, 0, WEEK, lo_open=True)
    settlements_every_s: float = ranged(21600.0, 0, WEEK, lo_open=True)
    catalog_every_s: float = ranged(3600.0, 0, WEEK, lo_open=True)
    # A flow Amazon refused (403: a missing SP-API role; a revoked grant) is disabled for its
    # region and tried again this often under `run`, so granting the role heals it unrestarted.
    refused_retry_s: float = ranged(3600.0, 0, WEEK, lo_open=True)
    # A flow whose polls failed 3 times in a row (Amazon down, no network) is shown as failed
    # and retried this often (or at its cadence if longer) until it works: never given up.
    failing_retry_s: float = ranged(600.0, 0, WEEK, lo_open=True)
    # Orders windows by LastUpdatedAfter: each starts this long before the watermark so an
    # order updated at a window edge is never missed (re-reads append nothing new).
    orders_overlap_s: float = ranged(600.0, 0, DAY)
    # The window ends this long before now; Amazon wants >= 2 minutes (late-indexed updates).
    orders_end_lag_s: float = ranged(
        125.0, 2 * MINUTE, DAY, why="Amazon wants the end bound at least 2 minutes before now"
    )
    # first run (no watermark yet)
    orders_initial_lookback_days: float = ranged(30.0, 0, 3650, lo_open=True)
    # long outages are caught up in windows of this size
    orders_max_window_days: float = ranged(7.0, 0, 365, lo_open=True)
    settlements_lookback_days: float = ranged(
        89.0, 0, 90, lo_open=True, why="reports are kept 90 days"
    )
    # Raw report documents (settlements, listings) kept for re-parsing; "" = "raw" next to db.
    raw_dir: str = checked("", path_text)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """``[dispatch]``: how commands are posted."""

    # Token bucket per target; a rate of 0 means unlimited (inf would divide by zero).
    qad_rate_per_s: float = ranged(10.0, 0, 10_000, why="0 = unlimited")
    qad_burst: int = ranged(10, 1, 10_000)
    concurrency: int = ranged(4, 1, 256)
    max_attempts: int = ranged(8, 1, 1000)
    timeout_s: float = ranged(30.0, 0, HOUR, lo_open=True)
    # Backoff with full jitter: uniform(0, min(retry_cap_s, retry_base_s * 2**(n-1))).
    retry_base_s: float = ranged(2.0, 0, HOUR, lo_open=True)
    retry_cap_s: float = ranged(600.0, 0, DAY, lo_open=True)
    # SP-API patchListingsItem: 5 requests/s, burst 10.
    listings_rate_per_s: float = ranged(5.0, 0, 1000, why="0 = unlimited")
    listings_burst: int = ranged(10, 1, 10_000)
    # "unless_unsent": a create whose send intent the outbox never recorded goes without the
    # look-up before create (it provably never reached QAD); "always": look up every time
    # (after restoring the db from a backup, or if anything else may write these references).
    lookup_before_create: str = checked("unless_unsent", one_of("unless_unsent", "always"))


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
    # Layout of this marketplace's settlement files (engine/config/settlement_locales.py):
    # "" = the marketplace's default; "US", "UK", "DE", "EU" or "JP" to override.
    settlement_locale: str = checked("", one_of("", *LOCALES))


@dataclass(frozen=True, slots=True)
class SettlementRule:
    """(transaction-type, amount-type, amount-description) -> GL account; fnmatch patterns."""

    # A GL account, or "" with ``account_class`` (engine/config/settlement_accounts.py), whose
    # account [mapping.accounts] sets. One of the two is required.
    account: str = ""
    transaction_type: str = "*"
    amount_type: str = "*"
    amount_description: str = "*"
    account_class: str = field(default="", metadata={"check": known_account_classes})


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """``[mapping]``: SKU -> QAD item, marketplace -> customer/site, settlement lines -> GL."""

    sku: dict[str, str] = field(default_factory=dict)
    marketplaces: dict[str, MarketplaceMap] = field(
        default_factory=dict, metadata={"check": known_marketplaces}
    )
    settlement: tuple[SettlementRule, ...] = field(
        default=(), metadata={"check": rules_name_an_account}
    )
    clearing_account: str = "1250"
    suspense_account: str = "9999"
    # Account class -> GL account; classes not listed keep DEFAULT_CLASS_ACCOUNTS.
    accounts: dict[str, str] = field(
        default_factory=dict, metadata={"check": known_account_classes}
    )
    # Settlements no row of which names a marketplace ("Unknown Marketplace": no sales in the
    # period) post to this [mapping.marketplaces] id's customer, flagged; "" = by currency.
    default_settlement_marketplace: str = ""
    # true: a settlement spanning a month end posts one journal per month (by posted-date).
    settlement_month_split: bool = False
    invoice_daybook: str = "SALES"
    journal_daybook: str = "JE"


@dataclass(frozen=True, slots=True)
class InventoryConfig:
    """``[inventory]``: FBA and merchant-fulfilled stock are adjusted or only reported as drift."""

    mfn_mode: str = checked("report", one_of("adjust", "report"))
    fba_mode: str = checked("adjust", one_of("adjust", "report"))
    # Every SKU of a snapshot is compared with QAD's current on-hand at least this often, even
    # when Amazon's number did not change (stock moved in QAD drifts back otherwise).
    realign_every_s: float = ranged(3600.0, 0, WEEK, why="0 = every snapshot")
    # Which FBA units are the QAD FBA site's stock (getInventorySummaries inventoryDetails):
    # fulfillableQuantity; + reserved; + reserved + inbound shipped/receiving.
    fba_quantity: str = checked(
        "fulfillable", one_of("fulfillable", "fulfillable_reserved", "with_inbound")
    )
    # Consecutive complete snapshots without a SKU (or, FBA, without any SKU of a mapped item)
    # before it is aligned to 0; a cancelled report or broken listing never counts.
    absent_after_snapshots: int = ranged(2, 1, 100)
    # Several marketplaces mapped to one fba_site: refused unless true; then the site follows
    # the first such marketplace of [amazon] marketplaces (pooled regions count units once).
    allow_shared_fba_site: bool = False
    # A listings report of the same marketplace requested less than this long ago is reused
    # (Amazon cancels reports requested too often; its threshold is not published).
    mfn_report_min_interval_s: float = ranged(600.0, 0, DAY, why="0 = always request a new one")


@dataclass(frozen=True, slots=True)
class OrdersConfig:
    """``[orders]``: buyer PII of orders. ``ship_to``: fetch (once, sealed) the delivery address
    of merchant-fulfilled orders still to ship, for QAD's ship-to; false: never any address."""

    ship_to: bool = True
    # Order money (README "Order money"): the QAD items the order's charges are posted on as
    # extra sales-order lines (non-inventory items that must exist in QAD's item master).
    shipping_item: str = checked("AMZ-SHIP", nonempty("a QAD item"))
    gift_wrap_item: str = checked("AMZ-GIFT", nonempty("a QAD item"))
    tax_item: str = checked("AMZ-TAX", nonempty("a QAD item"))
    # "line": seller-collected tax as a line on tax_item; "none": not posted (QAD taxes itself).
    tax_mode: str = checked("line", one_of("line", "none"))
    # Tax Amazon collects and remits (marketplace facilitator): "memo" = not booked, kept in the
    # event and the command; "book" = posted like seller-collected tax. facilitator_tax_book:
    # marketplace ids whose facilitator tax is booked even when facilitator_tax = "memo".
    facilitator_tax: str = checked("memo", one_of("memo", "book"))
    facilitator_tax_book: tuple[str, ...] = field(
        default=(), metadata={"check": known_marketplaces}
    )
    # Replacement orders (IsReplacementOrder): "zero" = posted with Amazon's (zero) prices so the
    # goods ship from QAD; "skip" = not posted.
    replacement_orders: str = checked("zero", one_of("zero", "skip"))
    # Promotion discounts: "net" = netted into the line's price (list = net price); "list" =
    # the line keeps Amazon's undiscounted unit price as QAD's list price and the discounted
    # one as its net price, so QAD shows the discount on the line. Totals equal either way.
    discount_treatment: str = checked("net", one_of("net", "list"))


@dataclass(frozen=True, slots=True)
class BackfillConfig:
    """``[backfill]`` (issue 17): order history and long gaps from the All Orders report by last
    update (engine/pollers/orders_backfill.py), then the API path takes over."""

    # Off by default for now: the API path alone as before (first runs and outages included).
    enabled: bool = False
    # A backfill runs when the API path would have to cover more than this (no watermark yet:
    # poll.orders_initial_lookback_days; else now - watermark + overlap).
    gap_threshold_h: float = ranged(72.0, 0, 24 * 3650, lo_open=True)
    # Days per report window (UTC midnight aligned); Amazon refuses more than 30.
    window_days: int = ranged(30, 1, 30, why="Amazon refuses windows over 30 days")
    # "xml" carries the order-item id; "flat" (no item id: weak line keys) is the fallback.
    format: str = checked("xml", one_of("xml", "flat"))
    # A document over this size (as downloaded) is refused and its window halved.
    max_document_mb: float = ranged(4096.0, 0, 65536.0, lo_open=True)
    # The API path resumes this long before the report's end (reports lag up to 30 min [D]).
    report_lag_s: float = ranged(1800.0, 0, DAY)
    # Windows requested at once (createReport burst is 15, shared with the other reports; 12 =
    # a year at once, processed by Amazon side by side).
    reports_ahead: int = ranged(12, 1, 15)
    # getReport polling in Amazon-clock seconds: first wait, longest wait, give up after.
    poll_first_s: float = ranged(30.0, 0, HOUR, lo_open=True)
    poll_max_s: float = ranged(300.0, 0, HOUR, lo_open=True)
    wait_timeout_s: float = ranged(7200.0, 0, 2 * DAY, lo_open=True)


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
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    backfill: BackfillConfig = field(default_factory=BackfillConfig)
    listings: ListingsConfig = field(default_factory=ListingsConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    source: str = "<defaults>"
