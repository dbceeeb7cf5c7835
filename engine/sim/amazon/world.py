"""The simulator's state: clock, sellers, orders, settlements, tokens, reports, listings."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from engine.sim.amazon.clock import SimClock
from engine.sim.amazon.common import PagingTokens
from engine.sim.amazon.data import DAY, OrderBook
from engine.sim.amazon.faults import FaultInjector
from engine.sim.amazon.listing_rules import ListingRules
from engine.sim.amazon.paging_rules import PagingRules
from engine.sim.amazon.ratelimit import UsagePlans
from engine.sim.amazon.report_rules import ReportRules
from engine.sim.amazon.roles import DENIED, Roles
from engine.sim.amazon.sellers import SellerConfig, SellerCredentials, build_credentials
from engine.sim.amazon.settlements import Settlements

__all__ = ["AccessGrant", "Report", "World"]

TOKEN_TTL = 3600.0
DOC_URL_TTL = 300.0


@dataclass(slots=True)
class AccessGrant:
    seller: int
    region: str
    expires_at: float  # sim seconds (epoch)
    rdt: tuple[tuple[str, str, tuple[str, ...]], ...] | None = None
    scope: str | None = None  # a grantless (client_credentials) token's scope, any region


@dataclass(slots=True)
class Report:
    report_id: str
    report_type: str
    seller: int
    region: str
    marketplace_ids: tuple[str, ...]
    created: float
    data_start: float | None
    data_end: float | None
    outcome: str  # DONE / FATAL / CANCELLED once processed
    cancelled_at: float | None = None
    document_id: str | None = None
    settlement_key: tuple[str, str, str, int] | None = None
    options: dict[str, str] = field(default_factory=dict)
    ready_after: float = 45.0  # sim seconds from creation to DONE/FATAL/CANCELLED
    body_text: str | None = None  # a fixed document body ("Date range exceeded", order_reports)

    def status(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELLED"
        if self.settlement_key is not None or now >= self.created + self.ready_after:
            return self.outcome
        return "IN_PROGRESS" if now >= self.created + 10 else "IN_QUEUE"


class World:
    def __init__(
        self,
        *,
        seed: int,
        clock: SimClock,
        sellers: list[SellerConfig],
        history_days: int,
        orders_per_day: int,
        total_orders: int | None,
        rate_limits: bool,
        lines_per_order: int | None = None,
        split_line_share: float = 0.0,
        roles: dict[int, set[str]] | None = None,
        role_options: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.configs = sellers
        self.creds: list[SellerCredentials] = [
            build_credentials(seed, i, c) for i, c in enumerate(sellers)
        ]
        start = clock.start.timestamp()
        origin = (start // DAY - history_days) * DAY
        self.book = OrderBook(
            seed,
            sellers,
            origin,
            history_days,
            orders_per_day,
            total_orders,
            lines_per_order,
            split_line_share,
        )
        # All Orders reports (order_reports.py): visibility lag and processing time, sim seconds
        self.order_report_lag_s = 1800.0
        self.order_report_processing_s = 60.0
        self.settlements = Settlements(
            self.book, origin - 3 * DAY, {c.name: c.settlement_locale for c in sellers}
        )
        self.faults = FaultInjector(seed)
        self.plans = UsagePlans(clock, rate_limits)
        self.paging = PagingTokens()
        self.grants: dict[str, AccessGrant] = {}
        self.reports: dict[str, Report] = {}
        self.documents: dict[str, str] = {}  # document id -> report id
        self._report_ids = itertools.count(50000000000 + seed % 1000 * 1000)
        self._secret = os.urandom(16)
        # listings: (seller, sku) -> state dict; pending: (apply_at, seller, sku, mutation)
        self.listings: dict[tuple[int, str], dict[str, Any]] = {}
        self.pending_listing_changes: list[tuple[float, int, str, dict[str, Any]]] = []
        self.listing_rules = ListingRules()  # set by AmazonSimulator(listing_rules=...)
        self.report_rules = ReportRules(seed=seed)  # set by AmazonSimulator(report_cooldown_s=...)
        self.paging_rules = PagingRules()  # tokens bound to their filters (paging_rules.py)
        self.mfn_base: dict[tuple[int, str, str], tuple[float, int]] = {}
        self.base_url = ""  # set once the server listens (document URLs)
        # granted SP-API roles per seller (roles.py); ``roles`` overrides SellerConfig.roles
        granted = [set(c.granted_roles()) for c in sellers]
        for index, given in (roles or {}).items():
            granted[index] = set(given)
        self.not_participating = [set(c.not_participating) for c in sellers]
        opts = dict(role_options or {})
        self.roles = Roles(
            granted,
            operation_roles=opts.get("operation_roles"),
            report_type_roles=opts.get("report_type_roles"),
            message=opts.get("message") or DENIED,
        )

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now().timestamp()

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def now_dt(self) -> datetime:
        return self.clock.now()

    # -- credentials ---------------------------------------------------------------------------
    def seller_by_refresh_token(self, token: str) -> tuple[int, str] | None:
        for i, c in enumerate(self.creds):
            for region, rc in c.regions.items():
                if hmac.compare_digest(rc.refresh_token, token):
                    return i, region
        return None

    def mint(self, prefix: str, grant: AccessGrant) -> str:
        token = prefix + base64url(os.urandom(48))
        self.grants[token] = grant
        return token

    def rate_key(self, seller: int, region: str) -> str:
        return self.creds[seller].regions[region].refresh_token

    # -- reports -------------------------------------------------------------------------------
    def new_report_id(self) -> str:
        return str(next(self._report_ids))

    def sync_settlement_reports(self) -> None:
        """Register the settlement reports Amazon has published by now (it schedules them)."""
        now = self.now()
        for si, cfg in enumerate(self.configs):
            for region in cfg.regions:
                currencies = sorted({m.currency for m in self.book_markets(si, region)})
                for cur in currencies:
                    for st in self.settlements.closed(cfg.name, region, cur, now):
                        rid = "9" + st.settlement_id  # stable per settlement
                        if rid in self.reports:
                            continue
                        doc = f"amzn1.spdoc.1.4.{region.lower()}.{_digest(rid)}"
                        self.reports[rid] = Report(
                            report_id=rid,
                            report_type=SETTLEMENT_TYPE,
                            seller=si,
                            region=region,
                            marketplace_ids=st.marketplace_ids,
                            created=st.report_time,
                            data_start=st.start,
                            data_end=st.end,
                            outcome="DONE",
                            document_id=doc,
                            settlement_key=(cfg.name, region, cur, st.index),
                        )
                        self.documents[doc] = rid

    def book_markets(self, seller: int, region: str) -> list[Any]:
        from engine.sim.amazon.sellers import marketplace

        ids = self.configs[seller].marketplace_ids(region)
        return [m for i in ids if (m := marketplace(i)) is not None]

    def sign(self, doc_id: str, issued: float) -> str:
        return hmac.new(self._secret, f"{doc_id}:{issued}".encode(), hashlib.sha256).hexdigest()


SETTLEMENT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def base64url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


WORLD_KEY = web.AppKey("world", World)
REGION_KEY = web.AppKey("region", str)
PREFIX_KEY = web.AppKey("prefix", str)
