"""The demo as data: both simulators in-process, a seeded business synced into QAD, a summary.

Also builds a Config pointing at the simulators (tests reuse it). The one ops module that
imports ``engine.sim``.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.qad.settings import QadSettings, profile_kwargs
from engine.config import (
    AmazonConfig,
    Config,
    EngineConfig,
    MappingConfig,
    MarketplaceMap,
    QadConfig,
)
from engine.dispatch.listing_handlers import VERIFY_KIND
from engine.log.sqlite import SQLiteEventLog
from engine.ops.engine import Engine, wait_until
from engine.sim.business import MARKETPLACES, catalog, sku_to_item

__all__ = [
    "DemoOptions",
    "DemoSummary",
    "SettlementCheck",
    "await_listing_checks",
    "demo_qad_login",
    "run_demo",
    "simulator_config",
]

Progress = Callable[[str], None]


def simulator_config(
    db: Path,
    *,
    amazon_base: str,
    lwa_url: str,
    qad_url: str,
    marketplaces: tuple[str, ...] | None = None,
    sku_map: dict[str, str] | None = None,
    orders_api: str = "2026-01-01",
    base: Config | None = None,
) -> Config:
    """A configuration for the simulated business (the same as config.toml's demo values)."""
    cfg = base or Config()
    if marketplaces is None:
        marketplaces = tuple(m.marketplace_id for m in MARKETPLACES)
    mps = {
        m.marketplace_id: MarketplaceMap(
            customer=m.qad_customer,
            currency=m.currency,
            name=m.name,
            site="10-100",
            # The home marketplace's FBA pool and warehouse are aligned with QAD sites.
            fba_site="10-FBA" if m.country == "US" else "",
            warehouse_site="10-100" if m.country == "US" else "",
        )
        for m in MARKETPLACES
    }
    return dataclasses.replace(
        cfg,
        engine=dataclasses.replace(cfg.engine or EngineConfig(), db=str(db)),
        amazon=dataclasses.replace(
            cfg.amazon or AmazonConfig(),
            endpoint=f"{amazon_base.rstrip('/')}/{{region}}",
            lwa_url=lwa_url,
            marketplaces=marketplaces,
            orders_api=orders_api,
        ),
        qad=dataclasses.replace(cfg.qad or QadConfig(), tenant_url=qad_url),
        mapping=dataclasses.replace(
            cfg.mapping or MappingConfig(),
            sku=sku_to_item() if sku_map is None else sku_map,
            marketplaces=mps,
        ),
        source="<simulators>",
    )


def demo_qad_login() -> tuple[str, str]:
    """The QAD simulator's published demo user and password (``--demo-credentials``)."""
    from engine.sim.qad import DEMO_PASSWORD, DEMO_USER

    return DEMO_USER, DEMO_PASSWORD


@dataclass(frozen=True, slots=True)
class DemoOptions:
    seed: int = 7
    days: int = 28
    orders_per_day: int = 25
    time_scale: float = 600.0


@dataclass(frozen=True, slots=True)
class SettlementCheck:
    reference: str
    currency: str
    amount: Any
    reconciled: bool  # journal balances and the clearing lines equal the invoice


@dataclass(slots=True)
class DemoSummary:
    orders: int = 0  # distinct Amazon orders in the log
    order_versions: int = 0
    sales_orders: int = 0
    invoices: int = 0
    journals: int = 0
    settlements: list[SettlementCheck] = field(default_factory=list)
    adjustments: int = 0
    listings_patched: int = 0
    listing_sku: str = ""
    listing_price: str = "listing unchanged"
    parked: list[tuple[str, str]] = field(default_factory=list)  # (record key, reason)


async def run_demo(workdir: Path, opts: DemoOptions, say: Progress) -> DemoSummary:
    """Both simulators in-process, two sync passes around a QAD price change; the outcome."""
    from engine.sim.amazon import AmazonSimulator
    from engine.sim.qad import QadSimulator

    async with (
        AmazonSimulator(
            seed=opts.seed,
            time_scale=opts.time_scale,
            history_days=opts.days,
            orders_per_day=opts.orders_per_day,
            rate_limits=True,
        ) as amazon,
        QadSimulator(workdir / "qad-state.db") as qad,
    ):
        say(f"  Amazon SP-API simulator  {amazon.base_url}  (usage plans on, x{opts.time_scale:g})")
        say(f"  QAD tenant simulator     {qad.tenant_url()}")
        cfg = simulator_config(
            workdir / "events.db",
            amazon_base=amazon.base_url,
            lwa_url=amazon.lwa_url,
            qad_url=qad.tenant_url(),
        )
        # Read listings back after 1 real second (= 10 simulated minutes at x600), not 60.
        cfg = dataclasses.replace(
            cfg, listings=dataclasses.replace(cfg.listings, verify_first_s=1.0)
        )
        seller = amazon.sellers[0]
        account = AmazonAccount(
            client_id=seller.client_id,
            client_secret=seller.client_secret,
            refresh_tokens={r: c.refresh_token for r, c in seller.regions.items()},
            seller_id=seller.seller_id,
            name=seller.name,
        )
        qad_settings = QadSettings(
            tenant_url=qad.tenant_url(),
            username=qad.username,
            password=qad.password,
            **profile_kwargs(cfg.qad),
        )
        async with Engine.open(
            cfg,
            amazon_account=account,
            qad_settings=qad_settings,
            master_key=os.urandom(32),  # demo only: addresses sealed under a throwaway key
            amazon_clock=amazon.clock.now,
        ) as eng:
            say("[1/3] syncing Amazon -> QAD")
            await eng.sync_once(progress=lambda m: say(f"      {m}"))
            item = catalog()[1]
            new_price = (item.list_price + Decimal("1.00")).quantize(Decimal("0.01"))
            say(f"[2/3] QAD item {item.item_code} list price {item.list_price} -> {new_price}")
            _change_item_price(qad.state_file(), item.item_code, new_price)
            say("[3/3] syncing the catalog change QAD -> Amazon listing")
            await eng.sync_once(progress=lambda m: say(f"      {m}"))
            # Amazon applies an ACCEPTED patch minutes later: its read-back is a later command.
            checked = await await_listing_checks(eng, timeout_s=60.0)
            say(f"      listing read-back {'confirmed' if checked else 'still pending'}")
            counts = await eng.outbox.counts()
            parked = await eng.outbox.parked()
        return await _summary(cfg.engine.db, qad, amazon, item.sku, counts, parked)


async def await_listing_checks(eng: Engine, timeout_s: float) -> bool:
    """Dispatch until no listing read-back is waiting (True) or ``timeout_s`` passes; for the
    demo and tests (``sync --once`` itself never waits for one)."""

    async def settled() -> bool:
        await eng.dispatcher.run_once()
        states = (await eng.outbox.counts()).by_kind.get(VERIFY_KIND, {})
        return not any(states.get(s) for s in ("new", "verifying", "retry", "unknown"))

    return await wait_until(settled, timeout_s)


def _change_item_price(state: Path, item: str, price: Decimal) -> None:
    # Stands in for a user editing the item master in QAD.
    con = sqlite3.connect(state)
    with con:
        con.execute("UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?", (str(price), item))
    con.close()


async def _summary(
    db: str, qad: Any, amazon: Any, sku: str, counts: Any, parked: list[Any]
) -> DemoSummary:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        stats = await log.stats()
        keys = await log.query(
            "SELECT DISTINCT key FROM events WHERE stream = ?", ("amazon.orders",)
        )
    out = DemoSummary(
        orders=len(keys),
        order_versions=sum(stats["streams"].get("amazon.orders", {}).values()),
        listing_sku=sku,
    )
    out.sales_orders = len(qad.sales_orders())
    invoices = qad.invoices()
    out.invoices = len(invoices)
    out.journals = len(qad.journal_entries())
    for inv in invoices:
        lines = qad.query(
            "SELECT gltr_amt, gltr_acc FROM gltr_hist WHERE gltr_doc = ? AND gltr_doc_typ = 'JL'",
            (inv["ar_po"],),
        )
        balanced = sum(Decimal(str(x["gltr_amt"])) for x in lines) == 0
        deposit = sum(Decimal(str(x["gltr_amt"])) for x in lines if x["gltr_acc"] == "1250")
        # A credit note (ar_type M: a negative settlement) carries the positive amount.
        signed = inv["ar_amt"] if inv["ar_type"] == "I" else -inv["ar_amt"]
        out.settlements.append(
            SettlementCheck(inv["ar_po"], inv["ar_curr"], signed, balanced and deposit == signed)
        )
    out.adjustments = len([t for t in qad.tr_hist() if t["tr_type"] in ("RCT-UNP", "ISS-UNP")])
    out.listings_patched = _listing_patches(counts)
    out.listing_price = _price_of(amazon.truth.listings().get(sku, {}))
    out.parked = [(p.record_key, p.reason) for p in parked]
    return out


def _listing_patches(counts: Any) -> int:
    by_kind = getattr(counts, "by_kind", None) or {}
    entry = by_kind.get("amazon.listing.patch", {}) if isinstance(by_kind, dict) else {}
    return int(entry.get("ok", 0)) + int(entry.get("exists", 0)) if isinstance(entry, dict) else 0


def _price_of(listing: dict[str, Any]) -> str:
    try:
        offer = listing["attributes"]["purchasable_offer"][0]
        return f"price now {offer['our_price'][0]['schedule'][0]['value_with_tax']}"
    except (KeyError, IndexError, TypeError):
        return "listing unchanged"
