"""Sales orders, the way QAD's own UI adds them: a header, then lines through the line grid.

1. Look up by the Amazon order id in the customer PO (so_po) through ``qad.browses.sales_order``.
2. ``POST salesOrderHeaders`` (``dataOperation: "C"``): the header only, no lines.
3. Per line: ``GET salesOrderLinesGrid?initialize=true`` (QAD numbers the line), ``POST
   salesOrderLines/fieldChange`` for the item, then the quantity (QAD defaults unit and prices),
   our price set on the record, every other field kept as QAD returned it.
4. ``POST salesOrderLinesGrid``: all lines at once, all or nothing.

A header found without (all of) its lines (a crash between 2 and 4) is completed, never
duplicated. Changes to an existing order are in ``sales_order_updates``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from engine.errors import Rejected, RemoteError, UnknownOutcome

from .browsing import Browser
from .idempotent import LookupProof, find_after_unknown, settle
from .models import PostResult, SalesOrder, SalesOrderLine, discount_percent
from .settings import QadSettings
from .transport import SYSTEM, QadBusinessError
from .wire import (
    CONCURRENCY_HASH,
    DATA_OPERATION,
    SALES_ORDER_HEADERS,
    SALES_ORDER_LINES,
    URI,
    Doc,
    Wire,
    dec,
    qdate,
)

__all__ = ["CLOSED", "CREATE", "DELETE", "UPDATE", "SalesOrders"]

log = logging.getLogger(__name__)
CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"  # line-grid row operations
CLOSED = "C"  # sod_status of a closed line


class SalesOrders:
    def __init__(
        self, wire: Wire, browser: Browser, settings: QadSettings, proof: LookupProof
    ) -> None:
        self.wire = wire
        self.browser = browser
        self.settings = settings
        self.f = settings.fields
        self.paths = settings.paths
        self.proof = proof

    # -- reads ----------------------------------------------------------------------------------

    async def read_header(self, number: str) -> Doc | None:
        recs = await self.wire.get(
            self.paths.sales_order_headers, SALES_ORDER_HEADERS, {self.f.so_number: number}
        )
        return recs[0] if recs else None

    async def read_lines(self, number: str) -> list[Doc]:
        return await self.wire.get(
            self.paths.sales_order_lines_grid, SALES_ORDER_LINES, {self.f.so_number: number}
        )

    async def read(self, number: str) -> Doc | None:
        """Header + lines of order ``number``, normalised (see ``normalise``)."""
        header = await self.read_header(number)
        if header is None:
            return None
        return self.normalise(number, header, await self.read_lines(number))

    async def find(self, reference: str) -> Doc | None:
        """The order whose customer PO is ``reference`` (header and lines), or None."""
        rows = await self.browser.matching(
            "sales_order", "sales_order_po_column", reference, page_size=2
        )
        if not rows:
            return None
        if len(rows) > 1:
            log.warning("qad holds more than one sales order for one reference")
        number = str(rows[0].get(self.settings.browses.sales_order_number_column) or "")
        return await self.read(number) if number else None

    def line(self, raw: Doc) -> Doc:
        f = self.f
        return {
            "line": int(raw.get(f.line_number) or 0),
            "item": str(raw.get(f.line_item) or ""),
            "quantity": dec(raw.get(f.line_quantity)),
            "price": dec(raw.get(f.line_net_price)),
            "status": str(raw.get(f.line_status) or ""),
        }

    def by_position(self, lines: Iterable[Doc]) -> dict[int, Doc]:
        """Lines by their position in the order (1-based, ascending QAD line number).

        QAD numbers lines itself, and a line flow cut off after ``initialize`` leaves its
        numbers reserved, so QAD's numbers can skip; the engine's line numbers (Amazon's
        positions) are matched to QAD's lines by position, never by number."""
        ordered = sorted(lines, key=lambda raw: int(raw.get(self.f.line_number) or 0))
        return dict(enumerate(ordered, 1))

    def cancelled(self, lines: Iterable[Doc]) -> bool:
        """Whether no line is open any more, as ``cancel_policy`` cancels them."""
        norm = [self.line(raw) for raw in lines]
        policy = self.settings.cancel_policy
        if policy == "delete_lines":
            return not norm
        if policy == "close_lines":
            return all(ln["status"] == CLOSED for ln in norm)
        return all(ln["quantity"] == 0 for ln in norm)

    def normalise(self, number: str, header: Doc, lines: list[Doc]) -> Doc:
        """Engine-side view of an order: document, reference, customer, currency, lines
        (``line`` = QAD's number, ``item``/``quantity``/``price``/``status``; in position
        order), cancelled."""
        f = self.f
        ordered = list(self.by_position(lines).values())
        return {
            "document": number,
            "reference": header.get(f.so_customer_po),
            "customer": str(header.get(f.so_sold_to) or ""),
            "currency": str(header.get(f.currency) or ""),
            "lines": [self.line(raw) for raw in ordered],
            # A header without lines is cancelled only where cancelling deletes the lines.
            "cancelled": self.cancelled(ordered)
            and (bool(ordered) or self.settings.cancel_policy == "delete_lines"),
            "header": header,
            "raw_lines": ordered,
        }

    # -- create ---------------------------------------------------------------------------------

    @staticmethod
    def _wanted(so: SalesOrder) -> list[SalesOrderLine]:
        return [ln for _, ln in sorted(enumerate(so.lines, 1), key=lambda p: p[1].line or p[0])]

    def _compare(self, so: SalesOrder, found: Doc) -> tuple[list[str], list[SalesOrderLine]]:
        """(differences, lines still to add): the lines QAD holds must be the first ones of the
        order (all lines are committed at once, so a found order holds all or none)."""
        diffs = []
        if found["reference"] not in (None, "", so.reference):
            diffs.append("purchase order")
        if found["customer"] != so.customer:
            diffs.append("customer")
        if (found["currency"] or so.currency) != so.currency:
            diffs.append("currency")
        want = self._wanted(so)
        have = [(ln["item"], ln["quantity"], ln["price"]) for ln in found["lines"]]
        wanted = [(ln.item, ln.quantity, ln.price) for ln in want]
        if len(have) > len(wanted) or have != wanted[: len(have)]:
            diffs.append("lines")
        return diffs, want[len(have) :]

    async def _find_taken(self, so: SalesOrder) -> Doc | None:
        """After "already exists" (2041): ours by PO, or the order holding our number."""
        found = await self.find(so.reference)
        if found is None and so.number:
            found = await self.read(so.number)  # its PO tells: ours, or a Conflict
        return found

    async def _settle(
        self, so: SalesOrder, found: Doc, *, created: bool, recovered: bool = False
    ) -> PostResult:
        diffs, missing = self._compare(so, found)
        if diffs or not missing:
            return settle(
                "sales order", so.reference, found, diffs, created=created, recovered=recovered
            )
        number = str(found["document"])
        log.info("qad sales order %s: completing %d missing line(s)", number, len(missing))
        await self._add_lines(so, number, missing)
        extra = {"recovered": True} if recovered else {}
        return PostResult(number, True, {**extra, "completed": len(missing)})

    def _header(self, so: SalesOrder) -> Doc:
        f, domain = self.f, self.settings.domain
        due = so.due_date or so.order_date
        uri = f"{self.paths.sales_order_view}:{domain}.{so.number}" if so.number else ""
        return {
            URI: uri,
            f.so_number: so.number,
            f.domain: domain,
            f.so_sold_to: so.customer,
            f.so_bill_to: so.customer,
            f.so_ship_to: so.customer,
            f.site: so.site,
            f.currency: so.currency,
            f.so_order_date: qdate(so.order_date),
            f.so_due_date: qdate(due),
            f.so_customer_po: so.reference,
            **so.ship_to_fields(f.so_ship_to_address),  # merchant-fulfilled only
            **({f.so_remarks: so.remarks} if f.so_remarks and so.remarks else {}),
            DATA_OPERATION: "C",
            CONCURRENCY_HASH: "",
        }

    async def post_header(self, record: Doc) -> Doc:
        recs = await self.wire.commit(
            self.paths.sales_order_headers,
            SALES_ORDER_HEADERS,
            {"viewUri": self.paths.sales_order_view, **self.wire.domain()},
            [record],
        )
        return recs[0] if recs else {}

    async def post(self, so: SalesOrder) -> PostResult:
        """Create the order unless one with ``so.reference`` exists (same content = success;
        a header without its lines is completed)."""
        self.proof.require_usable()
        # known_unsent: the outbox proves no earlier attempt sent it, so there is nothing to
        # find (issue 18: half of all QAD requests were this look-up).
        found = None if so.known_unsent else await self.find(so.reference)
        if found is not None:
            return await self._settle(so, found, created=False)
        if so.after_unknown_outcome and not self.proof.proven:
            raise self.proof.cannot_settle(so.reference, "an earlier attempt's outcome is unknown")
        try:
            header = await self.post_header(self._header(so))
        except UnknownOutcome as exc:
            found = await find_after_unknown(
                self.proof, so.reference, lambda: self.find(so.reference), exc
            )
            return await self._settle(so, found, created=True, recovered=True)
        except QadBusinessError as exc:
            if not exc.already_exists:
                raise
            found = await self._find_taken(so)
            if found is None:
                raise
            return await self._settle(so, found, created=False)
        number = str(header.get(self.f.so_number) or "")
        if not number or not self.proof.confirmed:
            # The first order of a run proves the look-up before its lines go in; an answer
            # without the number can only be identified through the look-up.
            again = await self.find(so.reference)
            self.proof.confirm(again is not None, so.reference, number)
            number = number or str((again or {}).get("document") or "")
            if not number:
                raise UnknownOutcome(
                    f"qad created sales order {so.reference!r} but named no number",
                    system=SYSTEM,
                )
        recovered = await self._add_lines(so, number, self._wanted(so))
        extra = {"recovered": True} if recovered else {}
        return PostResult(number, True, {**extra, "lines": len(so.lines)})

    async def field_change(self, record: Doc, field_name: str, operation: str) -> Doc:
        recs = await self.wire.step(
            self.paths.sales_order_line_field_change,
            SALES_ORDER_LINES,
            {"fieldName": field_name, DATA_OPERATION: operation, **self.wire.domain()},
            {SALES_ORDER_LINES: [record]},
        )
        if not recs:
            raise Rejected(
                f"qad fieldChange of {field_name} answered no line", status=200, system=SYSTEM
            )
        return recs[0]

    async def new_line(self, order_site: str, number: str, line: SalesOrderLine) -> Doc:
        f = self.f
        blank = await self.wire.get(
            self.paths.sales_order_lines_grid,
            SALES_ORDER_LINES,
            {"initialize": "true", f.so_number: number},
        )
        if not blank:
            raise Rejected(f"qad gave no blank line for order {number}", system=SYSTEM)
        rec = {**blank[0], f.line_item: line.item}
        if line.site and line.site != order_site:
            rec[f.site] = line.site  # before the item, so QAD defaults for that site
        rec = await self.field_change(rec, f.line_item, CREATE)
        rec = await self.field_change(
            {**rec, f.line_quantity: line.quantity}, f.line_quantity, CREATE
        )
        # Prices are ours (the Amazon price), not QAD's defaults.
        return {
            **rec,
            f.line_list_price: line.price if line.list_price is None else line.list_price,
            f.line_net_price: line.price,
            f.line_discount: discount_percent(line.list_price, line.price),
            DATA_OPERATION: CREATE,
        }

    async def commit_lines(self, number: str, rows: list[Doc]) -> list[Doc]:
        return await self.wire.commit(
            self.paths.sales_order_lines_grid,
            SALES_ORDER_LINES,
            self.wire.domain(**{self.f.so_number: number}),
            rows,
        )

    async def _add_lines(self, so: SalesOrder, number: str, lines: list[SalesOrderLine]) -> bool:
        """Add ``lines`` to order ``number``; True when an unknown outcome was settled."""
        rows = [await self.new_line(so.site, number, ln) for ln in lines]
        if not rows:
            return False
        try:
            await self.commit_lines(number, rows)
        except UnknownOutcome as exc:
            # The order number is known, so the line grid (a keyed read) settles it.
            try:
                now = await self.read_lines(number)
            except RemoteError:
                raise exc from None
            have = [self.line(raw) for raw in self.by_position(now).values()]
            wanted = [(ln.item, ln.quantity, ln.price) for ln in self._wanted(so)]
            if [(ln["item"], ln["quantity"], ln["price"]) for ln in have] != wanted:
                raise  # not (all) there: the retry finds the header and completes it
            log.info("qad sales order %s: lines found after an unknown outcome", number)
            return True
        return False
