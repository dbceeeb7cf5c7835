"""Amazon orders -> QAD sales orders (one per Amazon order, updated as the order changes).

Rules:
- The first version with a status that carries lines creates the sales order; Pending orders
  have no prices yet, so their lines go in at price 0 and are updated once prices arrive.
- Later versions become updates: changed quantity/price per line, or a cancellation while the
  order has not shipped. Shipped orders are not touched again.
- A later version without prices (e.g. Unshipped flipping back to Pending on a payment
  re-authorisation) keeps the last known price: "no price yet" is not "price 0", so it never
  zeroes a price in QAD (and needs no restoring update when prices come back).
- A line whose SKU is not in the SKU -> item map parks the whole order (never posted with a
  guessed item); after the map is fixed, ``rebuild`` derives the create.
- A merchant-fulfilled order's sealed ship-to (the poller fetched it while unshipped) rides in
  the create as ``ship_to``, the envelope itself (never plain text: only the dispatcher's
  handler opens it right before the post); arriving after the create (Pending first), in one
  update. FBA orders never carry one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.commands.vocabulary import Park, make_command
from engine.log.records import StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper
from engine.projectors.order_keys import rebind_weak_keys, replacement_unknown
from engine.projectors.order_money import MoneyError, MoneyRules, Planned, plan
from engine.security.pii import is_envelope

__all__ = ["OrdersProjector"]

_NO_LINES_YET = frozenset({"PendingAvailability"})
_CANCELLED = frozenset({"Canceled", "Cancelled", "Unfulfillable"})
_SHIPPED = frozenset({"Shipped", "InvoiceUnconfirmed"})


def _listed(pl: Planned) -> dict[str, str]:
    """A line's list price when it shows a discount (treatment "list"); nothing otherwise, so
    commands under the default treatment keep their bodies (and ids)."""
    return {} if pl.list_price is None or pl.price is None else {"list_price": str(pl.list_price)}


class OrdersProjector:
    """Pure projector over ``amazon.orders``."""

    name = "orders"
    streams = ("amazon.orders",)

    def __init__(self, mapper: Mapper, money: MoneyRules | None = None) -> None:
        self.mapper = mapper
        self.money = money or MoneyRules()

    def _items(self, order: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for ln in _sorted_lines(order):
            item = self.mapper.item_for(ln.get("sku"))
            if item:
                out[str(ln.get("sku"))] = item
        return out

    def state_keys(self, event: StoredEvent) -> list[str]:
        return [event.key]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        out = Projection()
        order: dict[str, Any] = event.payload
        order_id = event.key
        prior = state.get(order_id)
        # An order's versions can reach the log out of order (the notifications accelerator's
        # getOrder and the poller's page race): a version older than one already projected
        # changes nothing [I]. ISO-8601 Z strings of one precision compare as times.
        seen = str((prior or {}).get("last_update") or "")
        mine = str(order.get("last_update") or "")
        if seen and mine and mine < seen:
            return out
        status = str(order.get("status") or "")
        new_state: State = dict(prior) if prior else {"created": False}
        new_state["status"] = status
        if mine:
            new_state["last_update"] = mine

        if prior and prior.get("created"):
            self._update(order_id, order, prior, new_state, event.position, out)
            out.state[order_id] = new_state
            return out

        # Not created yet.
        if status in _CANCELLED or status in _NO_LINES_YET or not order.get("lines"):
            if prior and prior.get("parked") and status in _CANCELLED:
                out.resolved.append(order_id)  # nothing to post any more
                new_state["parked"] = False
            out.state[order_id] = new_state
            return out
        raw_lines = order["lines"]
        if not isinstance(raw_lines, list) or not all(isinstance(x, dict) for x in raw_lines):
            reason = "malformed order lines (not a list of objects)"
            return self._park(out, order_id, event.position, reason, new_state)
        mp = self.mapper.marketplace(str(order.get("marketplace_id")))
        if mp is None:
            reason = f"no QAD customer mapped for marketplace {order.get('marketplace_id')}"
            return self._park(out, order_id, event.position, reason, new_state)
        unmapped = sorted(
            {str(ln.get("sku")) for ln in order["lines"] if not self.mapper.item_for(ln.get("sku"))}
        )
        if unmapped:
            reason = f"unmapped SKU {', '.join(unmapped)} (add it to [mapping.sku], then rebuild)"
            return self._park(out, order_id, event.position, reason, new_state)

        if replacement_unknown(order):  # a report version: the API path's flag decides
            new_state["awaiting"] = "replacement flag"
            out.state[order_id] = new_state
            return out
        if order.get("is_replacement_order") and self.money.replacement_orders == "skip":
            new_state["skipped"] = "replacement order"
            out.state[order_id] = new_state
            return out
        try:
            planned, memo = plan(order, self.money, self._items(order))
        except MoneyError as exc:
            return self._park(out, order_id, event.position, str(exc), new_state)
        lines = []
        line_state: dict[str, list[str]] = {}
        keys: dict[str, int] = {}
        for n, pl in enumerate(planned, start=1):
            price = str(pl.price if pl.price is not None else Decimal(0))
            lines.append(
                {
                    "line": n,
                    "item": pl.item,
                    "quantity": str(pl.quantity),
                    "price": price,
                    "site": mp.site,
                    **_listed(pl),
                }
            )
            line_state[str(n)] = [str(pl.quantity), price]
            keys[pl.key] = n
        body = {
            "reference": order_id,
            "customer": mp.customer,
            "order_date": str(order.get("purchase_date", ""))[:10],
            "currency": order.get("currency") or mp.currency,
            "site": mp.site,
            "channel": "AMAZON",
            "lines": lines,
        }
        body.update(_visible(order, memo))
        if (sealed := _sealed_ship_to(order)) is not None:
            body["ship_to"] = sealed
            new_state["ship_to"] = True
        out.commands.append(
            make_command(
                "qad.sales_order.create", "qad", order_id, order_id, body, (event.position,)
            )
        )
        if prior and prior.get("parked"):
            out.resolved.append(order_id)
        new_state.update(created=True, parked=False, lines=line_state, keys=keys, cancelled=False)
        out.state[order_id] = new_state
        return out

    def _update(
        self,
        order_id: str,
        order: dict[str, Any],
        prior: State,
        new_state: State,
        position: int,
        out: Projection,
    ) -> None:
        status = new_state["status"]
        if prior.get("cancelled") or prior.get("status") in _SHIPPED:
            return  # final in QAD: shipped or cancelled orders are not changed from Amazon
        if status in _CANCELLED:
            body = {"reference": order_id, "lines": [], "cancel": True}
            out.commands.append(
                make_command("qad.sales_order.update", "qad", order_id, order_id, body, (position,))
            )
            new_state["cancelled"] = True
            return
        old_lines: dict[str, list[str]] = prior.get("lines", {})
        keys: dict[str, int] = dict(prior.get("keys") or _legacy_keys(order, old_lines))
        keys = rebind_weak_keys(keys, order)  # issue 17: flat-report lines, now with real ids
        try:
            planned, _memo = plan(order, self.money, self._items(order))
        except MoneyError:
            return  # the last posted amounts stay; a later version may be postable
        changes: list[dict[str, Any]] = []
        added: list[dict[str, Any]] = []
        new_lines = dict(old_lines)
        mp = self.mapper.marketplace(str(order.get("marketplace_id")))
        for pl in planned:
            pos = keys.get(pl.key)
            qty = str(pl.quantity)
            if pos is None:
                pos = max([*keys.values(), *map(int, old_lines)], default=0) + 1
                price = str(pl.price if pl.price is not None else Decimal(0))
                site = mp.site if mp is not None else ""
                added.append(
                    {"line": pos, "item": pl.item, "quantity": qty, "price": price, "site": site}
                    | _listed(pl)
                )
                keys[pl.key] = pos
                new_lines[str(pos)] = [qty, price]
                continue
            key = str(pos)
            price = old_lines[key][1] if pl.price is None else str(pl.price)
            if [qty, price] != old_lines[key] and Decimal(qty) > 0:
                changes.append({"line": pos, "quantity": qty, "price": price} | _listed(pl))
                new_lines[key] = [qty, price]
        wanted = {pl.key for pl in planned}
        all_priced = bool(planned) and all(pl.price is not None for pl in planned)
        for gone, pos in sorted(keys.items(), key=lambda kv: kv[1]):
            key = str(pos)
            if all_priced and gone not in wanted and new_lines.get(key, ["", "0"])[1] != "0":
                # A split or charge no longer needed keeps its quantity at price 0: the line
                # stays (lines are never deleted by an update) and adds nothing to the total.
                changes.append({"line": pos, "quantity": new_lines[key][0], "price": "0"})
                new_lines[key] = [new_lines[key][0], "0"]
        sealed = None if prior.get("ship_to") else _sealed_ship_to(order)
        if changes or added or sealed is not None:
            body = {"reference": order_id, "lines": changes, "cancel": False}
            if added:  # lines QAD does not hold yet (split or charges once prices arrived)
                body["add"] = added
            if sealed is not None:  # the address came after the create (Pending first)
                body["ship_to"] = sealed
                new_state["ship_to"] = True
            out.commands.append(
                make_command("qad.sales_order.update", "qad", order_id, order_id, body, (position,))
            )
        new_state["lines"] = new_lines
        new_state["keys"] = keys

    @staticmethod
    def _park(
        out: Projection, order_id: str, position: int, reason: str, new_state: State
    ) -> Projection:
        out.parks.append(Park(order_id, position, reason))
        new_state["parked"] = True
        out.state[order_id] = new_state
        return out


def _sealed_ship_to(order: dict[str, Any]) -> dict[str, Any] | None:
    """The sealed ship-to envelope of a merchant-fulfilled order still to ship, else None."""
    env = order.get("ship_to")
    if order.get("fulfillment") != "MFN" or order.get("pii") != "sealed":
        return None
    if str(order.get("status") or "") in _SHIPPED | _CANCELLED:
        return None
    return dict(env) if isinstance(env, dict) and is_envelope(env) else None


def _sorted_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    lines = order.get("lines")
    if not isinstance(lines, list):
        return []
    dicts = [ln for ln in lines if isinstance(ln, dict)]
    return sorted(dicts, key=lambda ln: str(ln.get("order_item_id")))


def _qty(line: dict[str, Any]) -> int:
    try:
        return int(line.get("quantity") or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float("inf")
        return 0


def _legacy_keys(order: dict[str, Any], old_lines: dict[str, list[str]]) -> dict[str, int]:
    """State written before line keys: line n was the n-th Amazon line (by order item id)."""
    return {
        str(ln.get("order_item_id")): n
        for n, ln in enumerate(_sorted_lines(order), start=1)
        if str(n) in old_lines
    }


def _visible(order: dict[str, Any], memo: dict[str, str]) -> dict[str, Any]:
    """What QAD does not book but a reader of the command must see: memo amounts
    (marketplace-facilitator tax) and the business-order details (PO number)."""
    out: dict[str, Any] = {}
    if memo:
        out["memo"] = dict(memo)
    if order.get("is_business_order"):
        business = {"purchase_order_number": order.get("purchase_order_number")}
        if order.get("buyer_vat_id"):  # only where Amazon gives one (EU business buyers)
            business["buyer_vat_id"] = order.get("buyer_vat_id")
        out["business"] = business
    if order.get("is_replacement_order"):
        out["replacement_of"] = order.get("replaced_order_id")
    return out
