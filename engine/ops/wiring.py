"""What a configuration wires together: the projectors, one SP-API client per region, and the
pollers of every flow and region (``Engine.open``, ``rebuild`` and ``replay`` share these)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.observed import ObservedAmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.regions import region_of
from engine.adapters.qad.client import QadClient
from engine.config import Config
from engine.errors import ConfigError
from engine.log.ports import EventLog
from engine.observe import NULL_OBSERVER, Observer
from engine.pollers.base import Sealer
from engine.pollers.inventory import FbaInventoryPoller, MfnInventoryPoller
from engine.pollers.orders import OrdersPollConfig, OrdersPoller
from engine.pollers.orders_backfill import BackfillConfig, BackfillOrdersPoller
from engine.pollers.qad_items import QadItemsPoller
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.projectors.catalog import CatalogProjector
from engine.projectors.inventory import InventoryProjector, fba_sources
from engine.projectors.lending import LendingProjector
from engine.projectors.mapping import Mapper
from engine.projectors.order_money import MoneyRules
from engine.projectors.orders import OrdersProjector
from engine.projectors.settlements import SettlementsProjector

__all__ = ["amazon_clients", "build_pollers", "build_projectors"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_projectors(cfg: Config) -> list[Any]:
    """The projectors for a configuration (also used by ``rebuild``)."""
    mapper = Mapper(cfg.mapping)
    regions = {mp: region_of(mp) for mp in cfg.amazon.marketplaces}
    return [
        OrdersProjector(mapper, MoneyRules.of(cfg.orders)),
        SettlementsProjector(mapper),
        LendingProjector(mapper),
        InventoryProjector(
            mapper,
            cfg.inventory.mfn_mode,
            cfg.inventory.fba_mode,
            cfg.inventory.realign_every_s,
            absent_after=cfg.inventory.absent_after_snapshots,
            fba_sources=fba_sources(cfg.amazon.marketplaces, cfg.mapping),
        ),
        CatalogProjector(mapper, cfg.amazon.listing_marketplaces, regions),
    ]


def amazon_clients(
    cfg: Config,
    session: aiohttp.ClientSession,
    account: AmazonAccount,
    *,
    clock: Clock | None = None,
    rate_limits: bool = True,
    time_scale: float = 1.0,
    observer: Observer = NULL_OBSERVER,
) -> dict[str, AmazonClient]:
    """One SP-API client per region of ``amazon.marketplaces`` (sorted), sharing one bucket
    registry; also used by ``replay --config`` to post parked listing patches.

    ``time_scale``: a time-scaled simulator refills its usage plans that much faster."""
    buckets = (
        BucketRegistry(time_scale=time_scale) if rate_limits else BucketRegistry(enabled=False)
    )
    clients: dict[str, AmazonClient] = {}
    for region in sorted({region_of(mp) for mp in cfg.amazon.marketplaces}):
        if region not in account.refresh_tokens:
            raise ConfigError(
                f"amazon.marketplaces include region {region} but the Amazon "
                f"credential has no refresh token for it (creds set amazon --region)"
            )
        clients[region] = ObservedAmazonClient(  # each HTTP try reported to observer (metrics)
            session,
            account,
            region,
            endpoint=_endpoint(cfg, region),
            lwa_url=cfg.amazon.lwa_url,
            clock=clock or _utc_now,
            limits=buckets,
            timeout_s=cfg.amazon.request_timeout_s,
            observer=observer,
        )
    return clients


def _endpoint(cfg: Config, region: str) -> str | None:
    """``[amazon] endpoint`` may hold one URL, or ``{region}`` to fill in (e.g. the simulator)."""
    ep = cfg.amazon.endpoint
    if not ep:
        return None
    return ep.replace("{region}", region.lower())


def build_pollers(
    cfg: Config,
    log: EventLog,
    amazon: dict[str, AmazonClient],
    qad: QadClient,
    sealer: Sealer,
    raw: Path,
) -> dict[str, Any]:
    """Every poller, keyed ``flow:REGION`` (``qad.items`` has no region)."""
    pollers: dict[str, Any] = {}
    for region, client in amazon.items():
        mps = tuple(m for m in cfg.amazon.marketplaces if region_of(m) == region)
        orders_cfg = OrdersPollConfig.from_poll(
            cfg.poll, mps, cfg.amazon.orders_api, ship_to=cfg.orders.ship_to
        )
        pollers[f"orders:{region}"] = OrdersPoller(client, log, orders_cfg, sealer)
        if cfg.backfill.enabled:  # issue 17: history and long gaps from the All Orders report
            pollers[f"orders:{region}"] = BackfillOrdersPoller(
                pollers[f"orders:{region}"], BackfillConfig.of(cfg.backfill), raw
            )
        stl_cfg = SettlementsPollConfig.from_poll(cfg.poll, raw, cfg.mapping.marketplaces)
        pollers[f"settlements:{region}"] = SettlementsPoller(client, log, stl_cfg)
        inv_mps = tuple(m for m in mps if (mm := cfg.mapping.marketplaces.get(m)) and mm.fba_site)
        if inv_mps:
            pollers[f"fba:{region}"] = FbaInventoryPoller(
                client, log, inv_mps, basis=cfg.inventory.fba_quantity
            )
        mfn_mps = tuple(
            m for m in mps if (mm := cfg.mapping.marketplaces.get(m)) and mm.warehouse_site
        )
        if mfn_mps:
            pollers[f"mfn:{region}"] = MfnInventoryPoller(
                client,
                log,
                mfn_mps,
                raw_dir=raw,
                min_interval_s=cfg.inventory.mfn_report_min_interval_s,
            )
    pollers["qad.items"] = QadItemsPoller(qad, log, set(cfg.mapping.sku.values()))
    return pollers
