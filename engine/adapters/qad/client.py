"""QadClient: idempotent, typed operations on one QAD Adaptive ERP tenant.

QAD has no idempotency key, so every create is made safe by a deterministic reference: look it up
first, create only if absent, and look it up again after an unknown outcome. A document already
there with the same content is success; with different content it is a Conflict (never
overwritten).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Any

import aiohttp

from engine.errors import (
    ConfigError,
    Conflict,
    Rejected,
    RemoteError,
    RemoteUnavailable,
    RetriableRemoteError,
    UnknownOutcome,
)

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
from .settings import QadSettings
from .transport import SYSTEM, QadBusinessError, Transport

__all__ = ["QadClient"]

log = logging.getLogger(__name__)
Doc = dict[str, Any]


def _d(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def _qdate(d: date) -> str:
    return f"{d.isoformat()}T00:00:00.000Z"


START_TRIES = 6  # a blip (503, dropped answer) while logging in must not abort the whole run


async def _retrying(step: Callable[[], Awaitable[Any]]) -> Any:
    """Run a start-up step, retrying transient failures with a short doubling pause."""
    for attempt in range(START_TRIES):
        try:
            return await step()
        except RetriableRemoteError as exc:
            if attempt == START_TRIES - 1:
                raise
            log.info("qad start-up: %s; retrying", exc)
            await asyncio.sleep(0.25 * 2**attempt)
    raise AssertionError("unreachable")


class QadClient:
    """``async with QadClient(session, settings) as qad:``; the session is injected, not owned."""

    def __init__(self, session: aiohttp.ClientSession, settings: QadSettings) -> None:
        self.settings = settings
        self.paths = settings.paths
        self._session = session
        self._t: Transport | None = None

    async def __aenter__(self) -> QadClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._t = None

    @property
    def transport(self) -> Transport:
        if self._t is None:
            raise RuntimeError("QadClient not started: use `async with` or `await start()`")
        return self._t

    async def start(self) -> None:
        """Validate the URL and paths, log in, and probe every configured path."""
        if self._t is not None:
            raise RuntimeError("QadClient already started")
        base = self.settings.validated_url()
        self.paths.validated()
        t = Transport(self._session, self.settings, base)
        await _retrying(t.token)
        self._t = t
        if self.settings.probe_paths:
            try:
                await self._probe()
            except BaseException:
                self._t = None
                raise

    async def _probe_status(self, path: str, params: dict[str, str]) -> int:
        """One probe GET; a busy/failing tenant (429, 5xx) is retried, it says nothing about
        the path."""

        async def once() -> int:
            status, _, _ = await self.transport.send("GET", path, params=params)
            if status == 429 or status >= 500:
                raise RemoteUnavailable(
                    f"qad probe of {path}: HTTP {status}", status=status, system=SYSTEM
                )
            return status

        return int(await _retrying(once))

    async def _probe(self) -> None:
        dom = {"domainCode": self.settings.domain}
        for key, path in self.paths.entity_paths().items():
            status = await self._probe_status(path, dom)
            # 400 "missing key field" proves the entity exists; 404 means a wrong path.
            if status not in (200, 400):
                raise ConfigError(
                    f"qad.paths.{key} = {path!r} does not exist on {self.transport.base} "
                    f"(probe answered HTTP {status}); set the tenant's real path in config"
                )
        for key, browse_id in self.paths.browse_ids().items():
            params = {"browseId": browse_id, "page": "1", "pageSize": "1", "pageAction": "first"}
            status = await self._probe_status(self.paths.browses, params)
            if status != 200:
                raise ConfigError(
                    f"qad.paths.{key} = {browse_id!r} is not a browse on {self.transport.base} "
                    f"(probe of {self.paths.browses} answered HTTP {status})"
                )

    # -- generic helpers ------------------------------------------------------------------------

    async def _browse_page(
        self, browse_id: str, page: int, size: int, filters: list[str]
    ) -> tuple[list[Doc], bool]:
        params = [
            ("browseId", browse_id),
            ("page", str(page)),
            ("pageSize", str(size)),
            ("pageAction", "first" if page == 1 else "next"),
            *(("filter", f) for f in filters),
        ]
        doc = await self.transport.json("GET", self.paths.browses, params=params)
        rows = doc.get("data") if isinstance(doc, dict) else None
        aux = doc.get("auxillaryData") if isinstance(doc, dict) else None
        more = str((aux or {}).get("HasMoreParams", "false")).lower() == "true"
        return [r for r in rows or [] if isinstance(r, dict)], more

    async def browse(
        self, browse_id: str, filters: list[str] | None = None, page_size: int | None = None
    ) -> AsyncIterator[Doc]:
        """Every row of a browse, page by page, until ``HasMoreParams`` is "false"."""
        size = page_size or self.settings.page_size
        page = 1
        while True:
            rows, more = await self._browse_page(browse_id, page, size, filters or [])
            for r in rows:
                yield r
            if not more or not rows:  # an empty page claiming "more" would loop forever
                return
            page += 1

    @staticmethod
    def _eq(field: str, value: str) -> str:
        return f"{field},eq,{value},literal"

    async def _keyed(self, path: str, plural: str, params: dict[str, str]) -> Doc | None:
        doc = await self.transport.json(
            "GET", path, params={"domainCode": self.settings.domain, **params}
        )
        recs = (doc.get("data") or {}).get(plural) if isinstance(doc, dict) else None
        return recs[0] if recs else None

    async def _write(self, path: str, view: str, plural: str, record: Doc) -> Doc:
        body = {"supplementaryMessages": [], plural: [record]}
        doc = await self.transport.json(
            "POST",
            path,
            params={"viewUri": view, "domainCode": self.settings.domain},
            body=body,
            write=True,
        )
        recs = (doc.get("data") or {}).get(plural) if isinstance(doc, dict) else None
        return recs[0] if recs else {}

    async def _create(
        self,
        kind: str,
        reference: str,
        find: Callable[[], Awaitable[Doc | None]],
        same: Callable[[Doc], list[str]],
        document: Callable[[Doc], str],
        create: Callable[[], Awaitable[Doc]],
    ) -> PostResult:
        """Look up, create if absent, and resolve unknown outcomes / 'already exists'."""

        def settle(found: Doc, created: bool, **extra: Any) -> PostResult:
            diffs = same(found)
            if diffs:
                raise Conflict(
                    f"qad already holds {kind} {document(found)} for reference {reference!r} "
                    f"with different content: {', '.join(diffs)}",
                    system=SYSTEM,
                )
            return PostResult(document(found), created, {**extra, "record": found})

        existing = await find()
        if existing is not None:
            return settle(existing, False)
        try:
            rec = await create()
        except UnknownOutcome:
            try:
                found = await find()
            except RemoteError:
                found = None
            if found is None:
                raise
            log.info("qad %s %s: found after an unknown outcome", kind, reference)
            return settle(found, True, recovered=True)
        except QadBusinessError as exc:
            if not exc.already_exists:
                raise
            found = await find()
            if found is None:
                raise
            return settle(found, False)
        return PostResult(document(rec), True, {"record": rec})

    # -- sales orders ---------------------------------------------------------------------------

    async def get_sales_order(self, number: str) -> Doc | None:
        return await self._keyed(
            self.paths.sales_orders, "salesOrders", {"salesOrderNumber": number}
        )

    async def find_sales_order_by_reference(self, reference: str) -> Doc | None:
        filt = [self._eq(self.paths.sales_order_reference_field, reference)]
        rows, _ = await self._browse_page(self.paths.sales_order_browse, 1, 2, filt)
        if not rows:
            return None
        if len(rows) > 1:
            log.warning("qad holds more than one sales order for one reference")
        number = next((str(v) for k, v in rows[0].items() if k.endswith(".salesOrderNumber")), "")
        return await self.get_sales_order(number) if number else None

    @staticmethod
    def _so_diffs(found: Doc, so: SalesOrder) -> list[str]:
        diffs = []
        if found.get("soldToCustomerCode") != so.customer:
            diffs.append("customer")
        if (found.get("currencyCode") or "USD") != so.currency:
            diffs.append("currency")
        want = sorted(
            (ln.line or i, ln.item, ln.quantity, ln.price) for i, ln in enumerate(so.lines, 1)
        )
        have = sorted(
            (
                int(ln.get("salesOrderLine") or 0),
                str(ln.get("itemCode")),
                _d(ln.get("quantityOrdered")),
                _d(ln.get("netPrice")),
            )
            for ln in found.get("salesOrderLines") or []
        )
        if want != have:
            diffs.append("lines")
        return diffs

    async def post_sales_order(self, so: SalesOrder) -> PostResult:
        """Create the order unless one with ``so.reference`` exists (same content = success)."""

        async def find() -> Doc | None:
            found = await self.find_sales_order_by_reference(so.reference)
            if found is None and so.number:
                found = await self.get_sales_order(so.number)
            return found

        due = so.due_date or so.order_date
        record: Doc = {
            "uri": f"{self.paths.sales_order_view}:{self.settings.domain}.{so.number}"
            if so.number
            else "",
            "salesOrderNumber": so.number,
            "domainCode": self.settings.domain,
            "soldToCustomerCode": so.customer,
            "billToCustomerCode": so.customer,
            "shipToCustomerCode": so.customer,
            "siteCode": so.site,
            "currencyCode": so.currency,
            "orderDate": _qdate(so.order_date),
            "dueDate": _qdate(due),
            "customerPurchaseOrder": so.reference,
            "channel": so.channel,
            **so.ship_to_fields(),  # merchant-fulfilled only; decrypted by the handler
            "dataOperation": "C",
            "concurrencyHash": "",
            "salesOrderLines": [
                {
                    "salesOrderLine": ln.line or i,
                    "itemCode": ln.item,
                    "siteCode": ln.site or so.site,
                    "quantityOrdered": ln.quantity,
                    "listPrice": ln.price,
                    "netPrice": ln.price,
                    "discountFormatted": Decimal(0),
                    "dueDate": _qdate(due),
                }
                for i, ln in enumerate(so.lines, 1)
            ],
        }

        async def create() -> Doc:
            return await self._write(
                self.paths.sales_order_headers,
                self.paths.sales_order_view,
                "salesOrderHeaders",
                record,
            )

        return await self._create(
            "sales order",
            so.reference,
            find,
            lambda f: self._so_diffs(f, so),
            lambda f: str(f.get("salesOrderNumber", "")),
            create,
        )

    @staticmethod
    def _update_pending(found: Doc, upd: SalesOrderUpdate) -> list[Doc]:
        lines = {
            int(ln.get("salesOrderLine") or 0): ln for ln in found.get("salesOrderLines") or []
        }
        pending = []
        for ch in upd.lines:
            cur = lines.get(ch.line)
            if cur is None:
                raise Rejected(
                    f"qad sales order {found.get('salesOrderNumber')} has no line {ch.line}",
                    system=SYSTEM,
                )
            rec: Doc = {"salesOrderLine": ch.line}
            if ch.quantity is not None and _d(cur.get("quantityOrdered")) != ch.quantity:
                rec["quantityOrdered"] = ch.quantity
            if ch.price is not None and _d(cur.get("netPrice")) != ch.price:
                rec["netPrice"] = ch.price
            if len(rec) > 1:
                pending.append(rec)
        return pending

    async def update_sales_order(self, upd: SalesOrderUpdate) -> PostResult:
        """Apply line changes / cancellation; a no-op (created=False) if already applied."""
        found = await self.find_sales_order_by_reference(upd.reference)
        if found is None:
            raise Rejected(f"qad has no sales order for reference {upd.reference!r}", system=SYSTEM)
        number = str(found.get("salesOrderNumber"))
        cancelled = found.get("status") == "cancelled"
        pending = [] if cancelled else self._update_pending(found, upd)
        if cancelled and upd.lines and not upd.cancel:
            raise Rejected(f"qad sales order {number} is cancelled", system=SYSTEM)
        if not pending and (cancelled or not upd.cancel) and upd.ship_to is None:
            return PostResult(number, False, {"record": found})
        record: Doc = {
            "uri": f"{self.paths.sales_order_view}:{self.settings.domain}.{number}",
            "salesOrderNumber": number,
            "domainCode": self.settings.domain,
            "dataOperation": "U",
            "concurrencyHash": found.get("concurrencyHash", ""),
            "salesOrderLines": pending,
            **upd.ship_to_fields(),
        }
        if upd.cancel:
            record["status"] = "cancelled"
        try:
            rec = await self._write(
                self.paths.sales_order_headers,
                self.paths.sales_order_view,
                "salesOrderHeaders",
                record,
            )
        except UnknownOutcome:
            again = await self.get_sales_order(number)
            done = (
                again is not None
                and not self._update_pending(again, upd)
                and (not upd.cancel or again.get("status") == "cancelled")
            )
            if not done or again is None:
                raise
            return PostResult(number, True, {"record": again, "recovered": True})
        return PostResult(number, True, {"record": rec})

    # -- customer invoices ----------------------------------------------------------------------

    async def find_customer_invoice_by_reference(self, reference: str) -> Doc | None:
        return await self._keyed(
            self.paths.customer_invoices, "customerInvoices", {"reference": reference}
        )

    @staticmethod
    def _invoice_diffs(found: Doc, inv: CustomerInvoice) -> list[str]:
        diffs = []
        if found.get("customerCode") != inv.customer:
            diffs.append("customer")
        if found.get("currencyCode") != inv.currency:
            diffs.append("currency")
        if _d(found.get("amountTC")) != inv.amount:
            diffs.append("amount")
        want = sorted((ln.account, ln.amount) for ln in inv.lines)
        have = sorted(
            (str(ln.get("glAccount")), _d(ln.get("amountTC"))) for ln in found.get("lines") or []
        )
        if want != have:
            diffs.append("lines")
        return diffs

    async def post_customer_invoice(self, inv: CustomerInvoice) -> PostResult:
        record: Doc = {
            "domainCode": self.settings.domain,
            "entityCode": self.settings.entity,
            "customerCode": inv.customer,
            "invoiceNumber": "",
            "reference": inv.reference,
            "invoiceDate": inv.invoice_date.isoformat(),
            "postingDate": (inv.posting_date or inv.invoice_date).isoformat(),
            "dueDate": (inv.due_date or inv.invoice_date).isoformat(),
            "daybookCode": inv.daybook,
            "currencyCode": inv.currency,
            "description": inv.description,
            "amountTC": inv.amount,
            "lines": [
                {
                    "glAccount": ln.account,
                    "subAccount": ln.sub_account,
                    "costCenter": ln.cost_center,
                    "project": "",
                    "amountTC": ln.amount,
                    "description": ln.description,
                }
                for ln in inv.lines
            ],
            "dataOperation": "C",
        }
        return await self._create(
            "customer invoice",
            inv.reference,
            lambda: self.find_customer_invoice_by_reference(inv.reference),
            lambda f: self._invoice_diffs(f, inv),
            lambda f: str(f.get("invoiceNumber", "")),
            lambda: self._write(
                self.paths.customer_invoices,
                self.paths.customer_invoice_view,
                "customerInvoices",
                record,
            ),
        )

    # -- journal entries ------------------------------------------------------------------------

    async def find_journal_entry_by_reference(self, reference: str) -> Doc | None:
        return await self._keyed(
            self.paths.journal_entries, "journalEntries", {"reference": reference}
        )

    @staticmethod
    def _journal_diffs(found: Doc, je: JournalEntry) -> list[str]:
        want = sorted((ln.account, ln.debit, ln.credit) for ln in je.lines)
        have = sorted(
            (str(ln.get("glAccount")), _d(ln.get("debitTC")), _d(ln.get("creditTC")))
            for ln in found.get("lines") or []
        )
        diffs = [] if want == have else ["lines"]
        if str(found.get("postingDate", ""))[:10] != je.posting_date.isoformat():
            diffs.append("postingDate")
        return diffs

    async def post_journal_entry(self, je: JournalEntry) -> PostResult:
        record: Doc = {
            "domainCode": self.settings.domain,
            "entityCode": self.settings.entity,
            "daybookCode": je.daybook,
            "postingDate": je.posting_date.isoformat(),
            "voucher": 0,
            "description": je.description,
            "reference": je.reference,
            "currencyCode": je.currency,
            "lines": [
                {
                    "glAccount": ln.account,
                    "subAccount": ln.sub_account,
                    "costCenter": ln.cost_center,
                    "project": "",
                    "currencyCode": ln.currency or je.currency,
                    "debitTC": ln.debit,
                    "creditTC": ln.credit,
                    "description": ln.description,
                }
                for ln in je.lines
            ],
            "dataOperation": "C",
        }
        return await self._create(
            "journal entry",
            je.reference,
            lambda: self.find_journal_entry_by_reference(je.reference),
            lambda f: self._journal_diffs(f, je),
            lambda f: str(f.get("voucher", "")),
            lambda: self._write(
                self.paths.journal_entries, self.paths.journal_entry_view, "journalEntries", record
            ),
        )

    # -- inventory ------------------------------------------------------------------------------

    async def find_inventory_adjustment_by_reference(self, reference: str) -> Doc | None:
        """The unplanned receipt/issue history row(s) whose order number is ``reference``."""
        rows = [
            r
            async for r in self.browse(
                self.paths.inventory_history_browse, [self._eq("tr_hist.tr_nbr", reference)]
            )
            if str(r.get("tr_hist.tr_type")) in ("RCT-UNP", "ISS-UNP")
        ]
        if not rows:
            return None
        first = rows[0]
        return {
            "transactionNumber": first.get("tr_hist.tr_trnbr"),
            "type": first.get("tr_hist.tr_type"),
            "itemCode": first.get("tr_hist.tr_part"),
            "siteCode": first.get("tr_hist.tr_site"),
            "quantity": sum((_d(r.get("tr_hist.tr_qty_loc")) for r in rows), Decimal(0)),
            "rows": rows,
        }

    async def post_inventory_adjustment(self, adj: InventoryAdjustment) -> PostResult:
        issue = adj.quantity < 0
        header: Doc = {
            "domainCode": self.settings.domain,
            "siteCode": adj.site,
            "effectiveDate": adj.effective_date.isoformat(),
            "reference": adj.reference,
            "remarks": adj.remarks,
            "unplannedProcessorDetailV2s": [
                {
                    "itemCode": adj.item,
                    "transactionQuantity": abs(adj.quantity),
                    "location": adj.location,
                    "lotSerial": "",
                    "reference": adj.reference,
                    "description": "",
                }
            ],
        }

        def diffs(found: Doc) -> list[str]:
            out = []
            if found.get("itemCode") != adj.item or found.get("siteCode") != adj.site:
                out.append("item/site")
            if _d(found.get("quantity")) != adj.quantity:
                out.append("quantity")
            return out

        async def create() -> Doc:
            rec = await self._write(
                self.paths.unplanned_issues if issue else self.paths.unplanned_receives,
                self.paths.unplanned_issue_view if issue else self.paths.unplanned_receive_view,
                "unplannedProcessorHeaderV2s",
                header,
            )
            numbers = rec.get("transactionNumbers") or []
            return {**rec, "transactionNumber": numbers[0] if numbers else ""}

        return await self._create(
            "inventory adjustment",
            adj.reference,
            lambda: self.find_inventory_adjustment_by_reference(adj.reference),
            diffs,
            lambda f: str(f.get("transactionNumber", "")),
            create,
        )

    # -- readers --------------------------------------------------------------------------------

    @staticmethod
    def _item(row: Mapping[str, Any]) -> Item:
        def g(name: str) -> Any:
            return row.get(f"pt_mstr.{name}", row.get(name))

        price = g("pt_price")
        return Item(
            code=str(g("pt_part") or ""),
            description=str(g("pt_desc1") or ""),
            unit_of_measure=str(g("pt_um") or ""),
            list_price=_d(price) if price not in (None, "") else None,
            status=str(g("pt_status") or ""),
            raw=dict(row),
        )

    async def iter_items(self, page_size: int | None = None) -> AsyncIterator[Item]:
        async for row in self.browse(self.paths.item_browse, page_size=page_size):
            yield self._item(row)

    async def get_item(self, code: str) -> Item | None:
        rec = await self._keyed(self.paths.items, "items", {"itemCode": code})
        if rec is None:
            return None
        return Item(
            code=str(rec.get("itemCode")),
            description=str(rec.get("description") or ""),
            unit_of_measure=str(rec.get("unitOfMeasure") or ""),
            list_price=_d(rec["listPrice"]) if rec.get("listPrice") is not None else None,
            status=str(rec.get("itemStatus") or ""),
            raw=rec,
        )

    async def inventory_balance(self, item: str, site: str) -> InventoryBalance | None:
        rec = await self._keyed(
            self.paths.inventory_balances, "inventoryBalances", {"itemCode": item, "siteCode": site}
        )
        if rec is None:
            return None
        return InventoryBalance(
            item=item,
            site=site,
            on_hand=_d(rec.get("quantityOnHand")),
            available=_d(rec.get("quantityAvailable")),
            allocated=_d(rec.get("quantityAllocated")),
        )
