"""QadClient: idempotent, typed operations on one QAD Adaptive ERP tenant.

The facade the dispatcher (``QadPort``), replay verification and the pollers use. Each QAD
conversation lives in its own module: ``probe`` (start-up checks of the tenant profile),
``sales_orders``, ``sales_order_updates``, ``inventory``, ``finance``, ``items``, over
``browsing`` and ``wire``, with the create-once rules in ``idempotent``.

QAD has no idempotency key, so every create is made safe by a deterministic reference: look it
up first, create only if absent, and look it up again after an unknown outcome; a document
already there with the same content is success, with different content a Conflict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp

from engine.config.qad_profile import cancel_policy_check

from .browsing import Browser
from .finance import Finance
from .idempotent import Lookups
from .inventory import Inventory
from .items import Items
from .models import (
    CustomerInvoice,
    InventoryAdjustment,
    InventoryBalance,
    Item,
    JournalEntry,
    PostResult,
    SalesOrder,
    SalesOrderUpdate,
)
from .probe import Probe
from .sales_order_updates import SalesOrderUpdates
from .sales_orders import SalesOrders
from .settings import QadSettings
from .transport import Transport
from .wire import Doc, Wire, retrying

__all__ = ["QadClient"]


def validate_profile(settings: QadSettings) -> None:
    """Every profile key within its own rules (settings may be built without the loader)."""
    for section in ("paths", "browses", "fields"):
        values = getattr(settings, section)
        for f in dataclasses.fields(values):
            check = f.metadata.get("check")
            if check is not None:
                check(getattr(values, f.name), f"qad.{section}.{f.name}")
    cancel_policy_check(settings.cancel_policy, "qad.cancel_policy")


@dataclasses.dataclass(frozen=True, slots=True)
class _Parts:
    transport: Transport
    browser: Browser
    probe: Probe
    sales_orders: SalesOrders
    sales_order_updates: SalesOrderUpdates
    inventory: Inventory
    finance: Finance
    items: Items


class QadClient:
    """``async with QadClient(session, settings) as qad:``; the session is injected, not owned."""

    def __init__(self, session: aiohttp.ClientSession, settings: QadSettings) -> None:
        self.settings = settings
        self.paths = settings.paths
        self.lookups = Lookups(settings)
        self._session = session
        self._parts: _Parts | None = None

    async def __aenter__(self) -> QadClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._parts = None

    @property
    def parts(self) -> _Parts:
        if self._parts is None:
            raise RuntimeError("QadClient not started: use `async with` or `await start()`")
        return self._parts

    @property
    def transport(self) -> Transport:
        return self.parts.transport

    @property
    def probe(self) -> Probe:
        return self.parts.probe

    def _compose(self, t: Transport) -> _Parts:
        s, lk = self.settings, self.lookups
        wire, browser = Wire(t, s), Browser(t, s)
        orders = SalesOrders(wire, browser, s, lk.sales_order)
        return _Parts(
            transport=t,
            browser=browser,
            probe=Probe(t, s, browser, lk),
            sales_orders=orders,
            sales_order_updates=SalesOrderUpdates(orders),
            inventory=Inventory(wire, browser, s, lk.inventory_history),
            finance=Finance(wire, browser, s, lk.customer_invoice, lk.journal_entry),
            items=Items(wire, browser, s),
        )

    async def start(self) -> None:
        """Validate the URL and profile, log in, and probe every configured path and browse."""
        if self._parts is not None:
            raise RuntimeError("QadClient already started")
        base = self.settings.validated_url()
        validate_profile(self.settings)
        t = Transport(self._session, self.settings, base)
        await retrying(t.token)
        parts = self._compose(t)
        if self.settings.probe_paths:
            await parts.probe.run()
        self._parts = parts

    # -- browses --------------------------------------------------------------------------------

    async def browse(
        self, browse_id: str, filters: list[str] | None = None, page_size: int | None = None
    ) -> AsyncIterator[Doc]:
        """Every row of a browse, page by page."""
        async for row in self.parts.browser.rows(browse_id, filters, page_size):
            yield row

    # -- sales orders ---------------------------------------------------------------------------

    async def find_sales_order_by_reference(self, reference: str) -> Doc | None:
        """The order whose customer PO is ``reference``: ``document``, ``customer``,
        ``currency``, ``lines`` (line/item/quantity/price/status), ``cancelled``, raw parts."""
        return await self.parts.sales_orders.find(reference)

    async def post_sales_order(self, so: SalesOrder) -> PostResult:
        return await self.parts.sales_orders.post(so)

    async def update_sales_order(self, upd: SalesOrderUpdate) -> PostResult:
        return await self.parts.sales_order_updates.update(upd)

    # -- finance --------------------------------------------------------------------------------

    async def find_customer_invoice_by_reference(self, reference: str) -> Doc | None:
        return await self.parts.finance.find_invoice(reference)

    async def post_customer_invoice(self, inv: CustomerInvoice) -> PostResult:
        return await self.parts.finance.post_invoice(inv)

    async def find_journal_entry_by_reference(self, reference: str) -> Doc | None:
        return await self.parts.finance.find_journal(reference)

    async def find_journal_lines_by_reference(self, reference: str) -> list[Doc]:
        return await self.parts.finance.find_journal_lines(reference)

    async def post_journal_entry(self, je: JournalEntry) -> PostResult:
        return await self.parts.finance.post_journal(je)

    # -- inventory ------------------------------------------------------------------------------

    async def find_inventory_adjustment_by_reference(self, reference: str) -> Doc | None:
        return await self.parts.inventory.find(reference)

    async def post_inventory_adjustment(self, adj: InventoryAdjustment) -> PostResult:
        return await self.parts.inventory.post(adj)

    async def inventory_balance(self, item: str, site: str) -> InventoryBalance | None:
        return await self.parts.inventory.balance(item, site)

    # -- items ----------------------------------------------------------------------------------

    async def iter_items(self, page_size: int | None = None) -> AsyncIterator[Item]:
        async for item in self.parts.items.iter_items(page_size):
            yield item

    async def get_item(self, code: str) -> Item | None:
        return await self.parts.items.get_item(code)

    def lookup_states(self) -> dict[str, str]:
        """``[qad.browses] key`` -> proof state of each look-up browse (for ping / status)."""
        return {key: p.state for key, p in self.lookups.by_browse().items()}
