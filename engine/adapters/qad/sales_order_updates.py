"""Changes to an existing sales order: line quantity/price, cancellation, late ship-to.

- Quantity: ``POST salesOrderLines/fieldChange?fieldName=quantityOrdered&dataOperation=UPDATE``
  on the line as read, then the line-grid commit with ``dataOperation: "UPDATE"``; a price is
  set directly on the UPDATE line (our price, kept over any QAD re-pricing).
- Cancellation, by ``[qad] cancel_policy``: ``zero_quantity`` (every line to 0 through
  field-change), ``close_lines`` (lineStatus "C"), ``delete_lines`` (every line DELETE). It is
  already in effect when no line is open any more in that sense.
- Ship-to of a merchant-fulfilled order that arrived late: header ``dataOperation: "U"``.
- Added lines (``SalesOrderUpdate.add``: a split or charge line known once prices arrived): the
  create flow's steps (initialise, field-change, CREATE row) in the same commit as the
  changes; only positions past the lines QAD holds, so a retry never adds a line twice.
``LineChange.line`` is the line's position in the Amazon order, matched to QAD's lines by
position (``SalesOrders.by_position``). An unknown outcome of the commit is settled by reading
the line grid (a keyed read).
"""

from __future__ import annotations

from typing import Any

from engine.errors import Rejected, RemoteError, UnknownOutcome

from .models import LineChange, PostResult, SalesOrderUpdate, discount_percent
from .sales_orders import CLOSED, DELETE, UPDATE, SalesOrders
from .transport import SYSTEM
from .wire import CONCURRENCY_HASH, DATA_OPERATION, URI, Doc, dec

__all__ = ["SalesOrderUpdates"]


class SalesOrderUpdates:
    def __init__(self, orders: SalesOrders) -> None:
        self.orders = orders

    def _keep_prices(self, rec: Doc, cur: Doc, price: Any = None, listed: Any = None) -> Doc:
        f = self.orders.f
        net = cur.get(f.line_net_price) if price is None else price
        lst = cur.get(f.line_list_price) if price is None else price if listed is None else listed
        disc = cur.get(f.line_discount, 0) if price is None else discount_percent(lst, net)
        return {
            **rec,
            f.line_net_price: net,
            f.line_list_price: lst,
            f.line_discount: disc,
            DATA_OPERATION: UPDATE,
        }

    async def _change_rows(
        self, number: str, lines: list[Doc], changes: tuple[LineChange, ...]
    ) -> list[Doc]:
        f = self.orders.f
        by_line = self.orders.by_position(lines)
        rows = []
        for ch in changes:
            cur = by_line.get(ch.line)
            if cur is None:
                raise Rejected(f"qad sales order {number} has no line {ch.line}", system=SYSTEM)
            rec: Doc | None = None
            if ch.quantity is not None and dec(cur.get(f.line_quantity)) != ch.quantity:
                changed = {**cur, f.line_quantity: ch.quantity, DATA_OPERATION: UPDATE}
                rec = await self.orders.field_change(changed, f.line_quantity, UPDATE)
            if ch.price is not None and dec(cur.get(f.line_net_price)) != ch.price:
                rec = self._keep_prices(rec or cur, cur, ch.price, ch.list_price)
            elif rec is not None:
                rec = self._keep_prices(rec, cur)  # QAD may re-price on a quantity change
            if rec is not None:
                rows.append(rec)
        return rows

    async def _add_rows(self, number: str, found: Doc, upd: SalesOrderUpdate) -> list[Doc]:
        held = len(found["raw_lines"])
        site = str(found["header"].get(self.orders.f.site) or "")
        missing = sorted((ln for ln in upd.add if ln.line > held), key=lambda ln: ln.line)
        if missing and missing[0].line != held + 1:
            raise Rejected(
                f"qad sales order {number} holds {held} lines; cannot add line {missing[0].line}",
                system=SYSTEM,
            )
        return [await self.orders.new_line(site, number, ln) for ln in missing]

    async def _cancel_rows(self, number: str, lines: list[Doc]) -> list[Doc]:
        f, policy = self.orders.f, self.orders.settings.cancel_policy
        if policy == "delete_lines":
            return [
                {f.so_number: number, f.line_number: raw.get(f.line_number), DATA_OPERATION: DELETE}
                for raw in lines
            ]
        if policy == "close_lines":
            return [
                {**raw, f.line_status: CLOSED, DATA_OPERATION: UPDATE}
                for raw in lines
                if str(raw.get(f.line_status) or "") != CLOSED
            ]
        rows = []
        for raw in lines:
            if dec(raw.get(f.line_quantity)) != 0:
                zero = {**raw, f.line_quantity: 0, DATA_OPERATION: UPDATE}
                rows.append(
                    self._keep_prices(
                        await self.orders.field_change(zero, f.line_quantity, UPDATE), raw
                    )
                )
        return rows

    def _applied(self, upd: SalesOrderUpdate, lines: list[Doc]) -> bool:
        if upd.cancel:
            return self.orders.cancelled(lines)
        by_line = {n: self.orders.line(raw) for n, raw in self.orders.by_position(lines).items()}
        if any(ln.line not in by_line for ln in upd.add):
            return False
        for ch in upd.lines:
            ln = by_line.get(ch.line)
            if ln is None:
                return False
            if ch.quantity is not None and ln["quantity"] != ch.quantity:
                return False
            if ch.price is not None and ln["price"] != ch.price:
                return False
        return True

    async def update(self, upd: SalesOrderUpdate) -> PostResult:
        """Apply line changes / the cancellation; created=False when already in effect."""
        found = await self.orders.find(upd.reference)
        if found is None:
            raise Rejected(f"qad has no sales order for reference {upd.reference!r}", system=SYSTEM)
        number = str(found["document"])
        lines: list[Doc] = found["raw_lines"]
        if upd.cancel:
            rows = [] if self.orders.cancelled(lines) else await self._cancel_rows(number, lines)
        elif (upd.lines or upd.add) and found["cancelled"]:
            raise Rejected(f"qad sales order {number} is cancelled", system=SYSTEM)
        else:
            rows = await self._change_rows(number, lines, upd.lines)
            rows += await self._add_rows(number, found, upd)
        details: dict[str, Any] = {}
        if rows:
            try:
                await self.orders.commit_lines(number, rows)
            except UnknownOutcome as exc:
                try:
                    now = await self.orders.read_lines(number)
                except RemoteError:
                    raise exc from None
                if not self._applied(upd, now):
                    raise
                details["recovered"] = True
        ship_to = upd.ship_to_fields(self.orders.f.so_ship_to_address)
        if ship_to:
            await self.orders.post_header(self._ship_to_record(number, found["header"], ship_to))
        return PostResult(number, bool(rows or ship_to), {**details, "lines": len(rows)})

    def _ship_to_record(self, number: str, header: Doc, ship_to: Doc) -> Doc:
        f = self.orders.f
        return {
            URI: header.get(URI, ""),
            f.so_number: number,
            f.domain: self.orders.settings.domain,
            DATA_OPERATION: "U",
            CONCURRENCY_HASH: header.get(CONCURRENCY_HASH, ""),
            **ship_to,
        }
