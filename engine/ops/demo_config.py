"""The demo: both simulators in-process, a seeded business synced into QAD, a summary table.

Also the place that builds a Config pointing at the simulators (tests reuse it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.config import (
    AmazonConfig,
    Config,
    EngineConfig,
    MappingConfig,
    MarketplaceMap,
    QadConfig,
)
from engine.sim.business import MARKETPLACES, sku_to_item

__all__ = ["simulator_config"]


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
