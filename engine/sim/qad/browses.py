"""Browse definitions and QAD's browse filter grammar (``field,op,value,literal``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.sim.qad.store import Store

__all__ = ["BROWSES", "BrowseError", "apply_filters", "rows_for"]


class BrowseError(ValueError):
    """A malformed filter or unknown browse id (HTTP 400/404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _prefixed(prefix: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f"{prefix}.{k}": v for k, v in r.items()} for r in rows]


def _sales_orders(store: Store, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
    # A real tenant answers a by-reference look-up from an index, not by reading every order:
    # an ``eq`` filter on the PO reference narrows the SQL (a superset; apply_filters decides).
    ref = next((f.split(",")[2] for f in filters if _is_ref_eq(f)), None)
    if ref is None:
        rows = store.query("SELECT * FROM so_mstr ORDER BY so_nbr")
    else:
        rows = store.query(
            "SELECT * FROM so_mstr WHERE lower(so_po) = ? ORDER BY so_nbr", (ref.lower(),)
        )
    out = []
    for r in rows:
        out.append(
            {
                "salesOrder.salesOrderNumber": r["so_nbr"],
                "salesOrder.domainCode": r["so_domain"],
                "salesOrder.soldToCustomerCode": r["so_cust"],
                "salesOrder.billToCustomerCode": r["so_bill"],
                "salesOrder.shipToCustomerCode": r["so_ship"],
                "salesOrder.orderDate": r["so_ord_date"],
                "salesOrder.dueDate": r["so_due_date"],
                "salesOrder.siteCode": r["so_site"],
                "salesOrder.currencyCode": r["so_curr"],
                "salesOrder.customerPurchaseOrder": r["so_po"],
                "salesOrder.channel": r["so_channel"],
                "salesOrder.status": "cancelled" if r["so_stat"] == "X" else "open",
            }
        )
    return out


def _is_ref_eq(spec: str) -> bool:
    parts = spec.split(",")
    if len(parts) < 3 or parts[0] != "salesOrder.customerPurchaseOrder":
        return False
    if parts[1].lower() != "eq":
        return False
    try:  # numbers compare numerically ("1.0" eq "1"): leave those to the full scan
        Decimal(parts[2])
    except InvalidOperation:
        return True
    return False


def _items(store: Store) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT pt_part, pt_desc1, pt_desc2, pt_um, pt_prod_line, pt_price, pt_status, "
        "pt_part_type FROM pt_mstr ORDER BY pt_part"
    )
    return _prefixed("pt_mstr", rows)


def _customers(store: Store) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT cm_addr, cm_sort, cm_curr, cm_cr_terms FROM cm_mstr ORDER BY cm_addr"
    )
    return [
        {**{f"cm_mstr.{k}": v for k, v in r.items()}, "ad_mstr.ad_name": r["cm_sort"]} for r in rows
    ]


def _table(sql: str, prefix: str) -> Callable[[Store], list[dict[str, Any]]]:
    return lambda store: _prefixed(prefix, store.query(sql))


SALES_ORDERS_BROWSE = "urn:browse:bebrowse:com.qad.erp.sales.salesOrders"

BROWSES: dict[str, Callable[[Store], list[dict[str, Any]]]] = {
    "urn:browse:bebrowse:com.qad.erp.sales.salesOrders": _sales_orders,
    "urn:browse:mfg:gp340": _items,
    "urn:browse:mfg:cm007": _customers,
    "urn:browse:sim:inventoryDetail": _table(
        "SELECT ld_part, ld_site, ld_loc, ld_lot, ld_ref, ld_status, ld_qty_oh, ld_qty_all "
        "FROM ld_det ORDER BY ld_part, ld_site, ld_loc, ld_lot, ld_ref",
        "ld_det",
    ),
    "urn:browse:sim:inventoryTotals": _table(
        "SELECT in_part, in_site, in_qty_oh, in_qty_avail, in_qty_all FROM in_mstr "
        "ORDER BY in_part, in_site",
        "in_mstr",
    ),
    "urn:browse:sim:inventoryHistory": _table(
        "SELECT tr_trnbr, tr_type, tr_part, tr_site, tr_loc, tr_lot, tr_qty_loc, tr_effdate, "
        "tr_nbr, tr_rmks FROM tr_hist ORDER BY tr_trnbr",
        "tr_hist",
    ),
    "urn:browse:sim:customerInvoices": _table(
        "SELECT ar_nbr, ar_type, ar_cust, ar_date, ar_effdate, ar_amt, ar_curr, ar_po, ar_dy_code, "
        "ar_voucher FROM ar_mstr ORDER BY ar_nbr",
        "ar_mstr",
    ),
    "urn:browse:sim:journalEntries": _table(
        "SELECT gltr_voucher, gltr_line, gltr_ref, gltr_eff_dt, gltr_acc, gltr_sub, gltr_ctr, "
        "gltr_amt, gltr_curr, gltr_dy_code, gltr_doc, gltr_doc_typ FROM gltr_hist "
        "ORDER BY gltr_voucher, gltr_line",
        "gltr_hist",
    ),
}


def rows_for(browse_id: str, store: Store, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
    """All rows of a browse (or a superset of those ``filters`` select); the older
    ``mfg:gp340`` spelling is accepted too."""
    bid = browse_id if browse_id.startswith("urn:") else f"urn:browse:{browse_id}"
    if bid == SALES_ORDERS_BROWSE:
        return _sales_orders(store, filters)
    fn = BROWSES.get(bid)
    if fn is None:
        raise BrowseError(f"Browse {browse_id!r} not found", status=404)
    return fn(store)


def _key(value: Any) -> tuple[int, Any]:
    # Numbers compare numerically, everything else as case-insensitive text (Progress default).
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (0, Decimal(value))
    text = "" if value is None else str(value)
    try:
        return (0, Decimal(text)) if text and text.strip() == text else (1, text.lower())
    except InvalidOperation:
        return (1, text.lower())


def _compare(a: tuple[int, Any], b: tuple[int, Any]) -> int:
    if a[0] != b[0]:  # mixed kinds: compare as text
        sa, sb = str(a[1]).lower(), str(b[1]).lower()
        return (sa > sb) - (sa < sb)
    return int(a[1] > b[1]) - int(a[1] < b[1])


def _predicate(spec: str) -> Callable[[dict[str, Any]], bool]:
    parts = spec.split(",")
    if len(parts) < 3:
        raise BrowseError(f"Malformed filter {spec!r}: expected field,op,value,literal")
    field, op = parts[0], parts[1].lower()
    if op == "rg":
        if len(parts) < 5:
            raise BrowseError(f"Malformed range filter {spec!r}: field,rg,from,literal,to,literal")
        lo, hi = _key(parts[2]), _key(parts[4])
        return lambda r: (
            field in r and _compare(_key(r[field]), lo) >= 0 >= _compare(_key(r[field]), hi)
        )
    value = parts[2]
    if op in ("cn", "sw", "ew"):
        v = value.lower()
        tests: dict[str, Callable[[str], bool]] = {
            "cn": lambda s: v in s,
            "sw": lambda s: s.startswith(v),
            "ew": lambda s: s.endswith(v),
        }
        t = tests[op]
        return lambda r: field in r and t(str(r[field] if r[field] is not None else "").lower())
    cmp_ok: dict[str, Callable[[int], bool]] = {
        "eq": lambda c: c == 0,
        "gt": lambda c: c > 0,
        "ge": lambda c: c >= 0,
        "lt": lambda c: c < 0,
        "le": lambda c: c <= 0,
    }
    if op not in cmp_ok:
        raise BrowseError(f"Unknown filter operator {op!r}")
    ok, target = cmp_ok[op], _key(value)
    return lambda r: field in r and ok(_compare(_key(r[field]), target))


def apply_filters(rows: list[dict[str, Any]], filters: Sequence[str]) -> list[dict[str, Any]]:
    preds = [_predicate(f) for f in filters]
    return [r for r in rows if all(p(r) for p in preds)]
