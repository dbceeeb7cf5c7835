"""Sales-order lines in sod_det, and the state of QAD's line-grid flow.

A line reaches sod_det only through the UI's three steps [C] (public sales-order loader):
initialise a blank line (a line number is reserved), field-change ``itemCode`` and
``quantityOrdered`` (QAD defaults unit and prices), commit the grid. List price, discount % and
net price must agree ([I], ``_discount``). The strict simulator
remembers every value that went through field-change (``sim_sod_changed``) and rejects a commit
whose item or quantity did not, so a client that skips the steps is caught here. Updates
(``UPDATE``, ``lineStatus`` "C") and ``DELETE`` in the same commit are [G].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.sim.qad.store.core import DOMAIN, BusinessError, Store, dec, parse_date, text
from engine.sim.qad.store.sales_orders import lines, need_header

__all__ = [
    "CREATE",
    "DELETE",
    "UPDATE",
    "commit_lines",
    "extended",
    "field_change",
    "initialize_line",
    "order_total",
]

CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"


def extended(line: Mapping[str, Any]) -> Decimal:
    """A line's extended amount: quantity x net price rounded to 2 decimals, half up.

    [I] QAD rounds an order line's extended amount to the currency's rounding (2 decimals
    for the simulator's currencies; the simulator does not model per-currency rounding);
    a closed line ("C") still counts, as QAD keeps its amount on the order [G]."""
    qty = Decimal(str(line["sod_qty_ord"] or 0))
    price = Decimal(str(line["sod_price"] or 0))
    return (qty * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def order_total(store: Store, nbr: str) -> Decimal:
    """The order's total: the sum of its lines' extended amounts (what QAD would invoice)."""
    return sum((extended(ln) for ln in lines(store, nbr)), Decimal(0))


def _pending(store: Store, nbr: str) -> set[int]:
    rows = store.db.execute("SELECT line FROM sim_sod_pending WHERE nbr=?", (nbr,))
    return {int(r[0]) for r in rows}


def initialize_line(store: Store, nbr: str) -> tuple[int, dict[str, Any]]:
    """Reserve the next free line number (initialised-but-uncommitted lines count)."""
    head = need_header(store, nbr)
    with store.transaction() as db:
        used = [ln["sod_line"] for ln in lines(store, nbr)] + sorted(_pending(store, nbr))
        number = max(used, default=0) + 1
        db.execute("INSERT INTO sim_sod_pending VALUES (?,?)", (nbr, number))
    return number, head


def _line_key(rec: Mapping[str, Any]) -> tuple[str, int]:
    nbr = text(rec.get("salesOrderNumber"))
    try:
        return nbr, int(text(rec.get("salesOrderLine")))
    except ValueError:
        raise BusinessError("salesOrderLine", "salesOrderLine must be a line number") from None


def field_change(
    store: Store, rec: Mapping[str, Any], field: str, operation: str
) -> dict[str, Any]:
    """Validate one field of a line; the defaults QAD assigns for it (canonical names)."""
    if operation not in (CREATE, UPDATE):
        raise BusinessError("dataOperation", f"dataOperation must be {CREATE} or {UPDATE}")
    nbr, number = _line_key(rec)
    need_header(store, nbr)
    existing = {ln["sod_line"] for ln in lines(store, nbr)}
    if operation == CREATE and number not in _pending(store, nbr):
        raise BusinessError("salesOrderLine", f"Line {number} has not been initialized")
    if operation == UPDATE and number not in existing:
        raise BusinessError("salesOrderLine", f"Line {number} does not exist")
    if field not in rec:
        raise BusinessError(field, f"The line carries no {field}")
    value = rec[field]
    defaults: dict[str, Any] = {}
    if field == "itemCode":
        item = store.item(text(value))
        defaults = {
            "unitOfMeasure": item["pt_um"],
            "listPrice": item["pt_price"],
            "netPrice": item["pt_price"],
        }
        stored = text(value)
    elif field == "quantityOrdered":
        qty = dec(value, field)
        if qty < 0 or (qty == 0 and operation == CREATE):
            raise BusinessError(field, "Quantity must be greater than zero")
        stored = str(qty)
    elif field == "siteCode":
        store.need_site(text(value))
        stored = text(value)
    else:
        stored = text(value)
    store.db.execute(
        "INSERT OR REPLACE INTO sim_sod_changed VALUES (?,?,?,?)", (nbr, number, field, stored)
    )
    return defaults


def _changed(store: Store, nbr: str) -> dict[tuple[int, str], str]:
    rows = store.db.execute("SELECT line, field, value FROM sim_sod_changed WHERE nbr=?", (nbr,))
    return {(int(r[0]), str(r[1])): str(r[2]) for r in rows}


def _passed(changed: Mapping[tuple[int, str], str], number: int, field: str, value: Any) -> None:
    """The value must be the one field-changed for this line since initialise/last commit."""
    seen = changed.get((number, field))
    same = seen is not None and (
        Decimal(seen) == dec(value, field) if field == "quantityOrdered" else seen == text(value)
    )
    if not same:
        raise BusinessError(
            field, f"Line {number}: {field} {text(value)!r} was not passed through fieldChange"
        )


def commit_lines(store: Store, nbr: str, records: Sequence[Mapping[str, Any]]) -> None:
    """CREATE / UPDATE / DELETE lines of one order, all or nothing; clears the flow state."""
    head = need_header(store, nbr)
    existing = {ln["sod_line"]: ln for ln in lines(store, nbr)}
    pending, changed = _pending(store, nbr), _changed(store, nbr)
    writes: list[tuple[str, tuple[Any, ...]]] = []
    seen: set[int] = set()
    for rec in records:
        op = text(rec.get("dataOperation")).upper()
        if op not in (CREATE, UPDATE, DELETE):
            raise BusinessError(
                "dataOperation", f"dataOperation must be {CREATE}, {UPDATE} or {DELETE}"
            )
        rec_nbr, number = _line_key(rec)
        if rec_nbr != nbr:
            raise BusinessError("salesOrderNumber", f"Line {number} belongs to order {rec_nbr!r}")
        if number in seen:
            raise BusinessError("salesOrderLine", f"Line {number} appears twice")
        seen.add(number)
        if op == CREATE:
            if number not in pending or number in existing:
                raise BusinessError("salesOrderLine", f"Line {number} has not been initialized")
            writes.append(_create(store, head, number, rec, changed))
        elif number not in existing:
            raise BusinessError("salesOrderLine", f"Line {number} does not exist")
        elif op == DELETE:
            writes.append(("DELETE FROM sod_det WHERE sod_nbr=? AND sod_line=?", (nbr, number)))
        else:
            writes.append(_update(store, existing[number], rec, changed))
    with store.transaction() as db:
        for sql, params in writes:
            db.execute(sql, params)
        db.execute("DELETE FROM sim_sod_pending WHERE nbr=?", (nbr,))
        db.execute("DELETE FROM sim_sod_changed WHERE nbr=?", (nbr,))


def _prices(
    rec: Mapping[str, Any], list_default: Decimal, net_default: Decimal
) -> tuple[Decimal, Decimal]:
    lst = dec(rec["listPrice"], "listPrice") if "listPrice" in rec else list_default
    net = dec(rec["netPrice"], "netPrice") if "netPrice" in rec else net_default
    for field, price in (("listPrice", lst), ("netPrice", net)):
        if price < 0:
            raise BusinessError(field, "Price cannot be negative")
    return lst, net


def _discount(rec: Mapping[str, Any], lst: Decimal, net: Decimal) -> Decimal:
    """The line's discount %, kept in agreement with its list and net prices.

    [I] QAD derives a line's net price from its list price and discount %, and the % from a net
    price entered by hand: a line never holds a list, a discount and a net that disagree. So a
    line sent without a discount (absent or 0) gets the % its prices imply, and one whose
    stated discount puts the net more than half a cent off list x (1 - % / 100) is refused,
    rather than stored as three prices QAD would not keep together."""
    disc = dec(rec.get("discountFormatted") or 0, "discountFormatted")
    if disc < 0 or disc > 100:
        raise BusinessError("discountFormatted", "Discount must be between 0 and 100")
    if disc == 0:
        if lst <= 0 or net >= lst:
            return Decimal(0)
        return ((lst - net) * 100 / lst).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if abs(lst * (1 - disc / 100) - net) > Decimal("0.005"):
        raise BusinessError(
            "discountFormatted",
            f"Net price {net} does not follow from list price {lst} less {disc}%",
        )
    return disc


def _status(rec: Mapping[str, Any], default: str) -> str:
    status = text(rec.get("lineStatus", default))
    if status not in ("", "C"):
        raise BusinessError("lineStatus", 'lineStatus must be "" (open) or "C" (closed)')
    return status


def _create(
    store: Store,
    head: Mapping[str, Any],
    number: int,
    rec: Mapping[str, Any],
    changed: Mapping[tuple[int, str], str],
) -> tuple[str, tuple[Any, ...]]:
    for field in ("itemCode", "quantityOrdered"):
        _passed(changed, number, field, rec.get(field))
    item = store.item(text(rec["itemCode"]))
    qty = dec(rec["quantityOrdered"], "quantityOrdered")
    site = text(rec.get("siteCode")) or head["so_site"]
    store.need_site(site)
    lst, net = _prices(
        rec, item["pt_price"], dec(rec.get("listPrice", item["pt_price"]), "listPrice")
    )
    due = (
        parse_date(rec["dueDate"], "dueDate").isoformat()
        if rec.get("dueDate")
        else head["so_due_date"]
    )
    if _status(rec, "") != "":
        raise BusinessError("lineStatus", "A new line cannot be closed")
    disc = _discount(rec, lst, net)
    return (
        "INSERT INTO sod_det (sod_domain, sod_nbr, sod_line, sod_part, sod_site, sod_qty_ord, "
        "sod_um, sod_list_pr, sod_price, sod_due_date, sod_status, sod_disc) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,'',?)",
        (
            DOMAIN,
            head["so_nbr"],
            number,
            item["pt_part"],
            site,
            str(qty),
            text(rec.get("unitOfMeasure")) or item["pt_um"],
            str(lst),
            str(net),
            due,
            str(disc),
        ),
    )


def _update(
    store: Store,
    line: Mapping[str, Any],
    rec: Mapping[str, Any],
    changed: Mapping[tuple[int, str], str],
) -> tuple[str, tuple[Any, ...]]:
    number = line["sod_line"]
    part = line["sod_part"]
    if "itemCode" in rec and text(rec["itemCode"]) != part:
        _passed(changed, number, "itemCode", rec["itemCode"])
        part = store.item(text(rec["itemCode"]))["pt_part"]
    qty = line["sod_qty_ord"]
    if "quantityOrdered" in rec and dec(rec["quantityOrdered"], "quantityOrdered") != qty:
        _passed(changed, number, "quantityOrdered", rec["quantityOrdered"])
        qty = dec(rec["quantityOrdered"], "quantityOrdered")
        if qty < 0:
            raise BusinessError("quantityOrdered", "Quantity cannot be negative")
    site = text(rec.get("siteCode")) or line["sod_site"]
    store.need_site(site)
    lst, net = _prices(rec, line["sod_list_pr"], line["sod_price"])
    disc = _discount(rec, lst, net)
    due = (
        parse_date(rec["dueDate"], "dueDate").isoformat()
        if rec.get("dueDate")
        else line["sod_due_date"]
    )
    status = _status(rec, text(line["sod_status"]))
    return (
        "UPDATE sod_det SET sod_part=?, sod_qty_ord=?, sod_site=?, sod_list_pr=?, sod_price=?, "
        "sod_due_date=?, sod_status=?, sod_disc=? WHERE sod_nbr=? AND sod_line=?",
        (
            part,
            str(qty),
            site,
            str(lst),
            str(net),
            due,
            status,
            str(disc),
            line["sod_nbr"],
            number,
        ),
    )
