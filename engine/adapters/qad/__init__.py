"""QAD Adaptive ERP tenant client: OAuth login, entity paths, look-up-before-create writes."""

from engine.adapters.qad.client import QadClient
from engine.adapters.qad.models import (
    CustomerInvoice,
    InventoryAdjustment,
    InventoryBalance,
    InvoiceLine,
    Item,
    JournalEntry,
    JournalLine,
    LineChange,
    PostResult,
    SalesOrder,
    SalesOrderLine,
    SalesOrderUpdate,
)
from engine.adapters.qad.settings import QadBrowses, QadFields, QadPaths, QadSettings
from engine.adapters.qad.transport import QadBusinessError

__all__ = [
    "CustomerInvoice",
    "InventoryAdjustment",
    "InventoryBalance",
    "InvoiceLine",
    "Item",
    "JournalEntry",
    "JournalLine",
    "LineChange",
    "PostResult",
    "QadBrowses",
    "QadBusinessError",
    "QadClient",
    "QadFields",
    "QadPaths",
    "QadSettings",
    "SalesOrder",
    "SalesOrderLine",
    "SalesOrderUpdate",
]
