"""SP-API regions, production hosts and marketplaces (reference section 1).

The table lives in ``engine.config.marketplaces`` so config can validate marketplace ids at load
time; it is re-exported here for the adapters and everything above them.
"""

from __future__ import annotations

from engine.config.marketplaces import HOSTS, MARKETPLACE_REGION, region_of

__all__ = ["HOSTS", "MARKETPLACE_REGION", "region_of"]
