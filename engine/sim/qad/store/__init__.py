"""The simulated tenant's state: one SQLite file per tenant, tables named as in QAD SE.

``core`` holds the handle and shared rules, ``schema`` the tables and seed; one module per QAD
conversation: ``sales_orders``, ``inventory`` (unplanned receipts/issues), ``finance``.
"""

from engine.sim.qad.store.core import (
    DOMAIN,
    ENTITY,
    SITES,
    BusinessError,
    Store,
    default_open_range,
)

__all__ = ["DOMAIN", "ENTITY", "SITES", "BusinessError", "Store", "default_open_range"]
