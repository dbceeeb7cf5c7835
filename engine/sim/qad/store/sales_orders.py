"""Sales-order headers in so_mstr (their lines: ``order_lines``).

A header is created with ``dataOperation`` "C" and changed with "U" [C]; a duplicate number
fails with QAD's code 2041 [C]. Which header fields an update may change is [G].
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from engine.sim.qad.store.core import (
    DOMAIN,
    BusinessError,
    Store,
    dec,
    parse_date,
    text,
    unknown_field,
)

__all__ = [
    "ADDRESS_KEYS",
    "create_header",
    "get",
    "header",
    "lines",
    "need_header",
    "update_header",
]

ADDRESS_KEYS = ("name", "addressLines", "city", "stateOrRegion", "postalCode", "countryCode")
DUPLICATE_ORDER = "2041"  # QAD's code for "Sales order <nbr> already exists" [C]
# Header fields an update may change, and the so_mstr column each lands in.
_MUTABLE = {
    "dueDate": "so_due_date",
    "purchaseOrder": "so_po",
    "creditTermsCode": "so_cr_terms",
    "shipVia": "so_shipvia",
    "languageCode": "so_lang",
    "daybookSetCode": "so_daybookset",
    "exchangeRate": "so_ex_rate",
    "exchangeRate2": "so_ex_rate2",
    "isConfirmed": "so_conf",
    "shipToAddress": "so_ship_addr",
    "remarks": "so_rmks",
}
# so_rmks is x(40) in QAD's schema [I: the usual width of QAD remark fields]; longer is refused.
REMARKS_WIDTH = 40
_FIXED = {
    "domainCode": "so_domain",
    "soldToCustomerCode": "so_cust",
    "billToCustomerCode": "so_bill",
    "shipToCustomerCode": "so_ship",
    "siteCode": "so_site",
    "currencyCode": "so_curr",
    "orderDate": "so_ord_date",
}


def header(store: Store, nbr: str) -> dict[str, Any] | None:
    return store.one("SELECT * FROM so_mstr WHERE so_nbr=?", (nbr,))


def lines(store: Store, nbr: str) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM sod_det WHERE sod_nbr=? ORDER BY sod_line", (nbr,))


def get(store: Store, nbr: str) -> dict[str, Any] | None:
    """so_mstr row with its sod_det rows under ``"lines"`` (the Python read API)."""
    head = header(store, nbr)
    if head is not None:
        head["lines"] = lines(store, nbr)
    return head


def need_header(store: Store, nbr: str) -> dict[str, Any]:
    head = header(store, nbr) if nbr else None
    if head is None:
        raise BusinessError("salesOrderNumber", f"Sales order {nbr!r} does not exist")
    return head


def _hash(store: Store, nbr: str) -> str:
    head = header(store, nbr)
    assert head is not None
    canon = repr(sorted((k, str(v)) for k, v in head.items() if k != "so_hash"))
    return hashlib.sha1(canon.encode(), usedforsecurity=False).hexdigest()[:16]


def _address(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise BusinessError("shipToAddress", "shipToAddress must be an object")
    for key in value:
        if key not in ADDRESS_KEYS:
            raise unknown_field(str(key))
    lines_ = value.get("addressLines", [])
    if not isinstance(lines_, list) or not all(isinstance(x, str) for x in lines_):
        raise BusinessError("addressLines", "addressLines must be a list of strings")
    return json.dumps({k: value[k] for k in ADDRESS_KEYS if k in value}, sort_keys=True)


def _column_value(field: str, value: Any) -> str:
    """The so_mstr text of one mutable header field."""
    if field == "shipToAddress":
        return _address(value)
    if field == "remarks" and len(text(value)) > REMARKS_WIDTH:
        raise BusinessError(field, f"remarks is longer than {REMARKS_WIDTH} characters")
    if field == "dueDate":
        return parse_date(value, field).isoformat()
    if field in ("exchangeRate", "exchangeRate2"):
        return "" if value in (None, "") else str(dec(value, field))
    if field == "isConfirmed":
        if not isinstance(value, bool):
            raise BusinessError(field, f"{field} must be true or false")
        return "1" if value else "0"
    return text(value)


def create_header(store: Store, rec: Mapping[str, Any]) -> str:
    """Insert a header (no lines); the order number, assigned when ``salesOrderNumber`` is ""."""
    nbr = text(rec.get("salesOrderNumber")).strip()
    cust = text(rec.get("soldToCustomerCode"))
    store.need_customer(cust, "soldToCustomerCode")
    bill = text(rec.get("billToCustomerCode")) or cust
    ship = text(rec.get("shipToCustomerCode")) or cust
    store.need_customer(bill, "billToCustomerCode")
    store.need_customer(ship, "shipToCustomerCode")
    site = text(rec.get("siteCode")) or "10-100"
    store.need_site(site)
    ord_date = parse_date(rec.get("orderDate"), "orderDate")
    cm = store.one("SELECT cm_curr, cm_cr_terms FROM cm_mstr WHERE cm_addr=?", (cust,))
    assert cm is not None
    values = {
        "so_domain": DOMAIN,
        "so_cust": cust,
        "so_bill": bill,
        "so_ship": ship,
        "so_ord_date": ord_date.isoformat(),
        "so_due_date": ord_date.isoformat(),
        "so_site": site,
        "so_curr": text(rec.get("currencyCode")) or cm["cm_curr"],
        "so_channel": "",
        "so_cr_terms": cm["cm_cr_terms"],
        "so_stat": "",
        "so_hash": "",
    }
    for field, column in _MUTABLE.items():
        if field in rec and rec[field] not in (None, ""):
            values[column] = _column_value(field, rec[field])
    with store.transaction() as db:
        if not nbr:
            while True:
                nbr = f"SO{store.next_number('next_so'):06d}"
                if header(store, nbr) is None:
                    break
        elif header(store, nbr) is not None:
            raise BusinessError(
                "salesOrderNumber", f"Sales order {nbr} already exists", DUPLICATE_ORDER
            )
        if len(nbr) > 8:
            raise BusinessError("salesOrderNumber", "Sales order number is longer than 8")
        values["so_nbr"] = nbr
        cols = ", ".join(values)
        db.execute(
            f"INSERT INTO so_mstr ({cols}) VALUES ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )
        db.execute("UPDATE so_mstr SET so_hash=? WHERE so_nbr=?", (_hash(store, nbr), nbr))
    return nbr


def update_header(store: Store, rec: Mapping[str, Any]) -> str:
    """``dataOperation: "U"``: change the mutable fields; the concurrency hash must match."""
    nbr = text(rec.get("salesOrderNumber"))
    head = need_header(store, nbr)
    given = text(rec.get("concurrencyHash"))
    if given and given != head["so_hash"]:
        raise BusinessError(
            "concurrencyHash", "Record has been modified by another user since it was read"
        )
    for field, column in _FIXED.items():
        if field in rec:
            value = text(rec[field])
            if field == "orderDate":
                value = parse_date(rec[field], field).isoformat()
            if value != head[column]:
                raise BusinessError(field, f"{field} of an existing order cannot be changed")
    changes = {col: _column_value(f, rec[f]) for f, col in _MUTABLE.items() if f in rec}
    with store.transaction() as db:
        for column, value in changes.items():
            db.execute(f"UPDATE so_mstr SET {column}=? WHERE so_nbr=?", (value, nbr))
        db.execute("UPDATE so_mstr SET so_hash=? WHERE so_nbr=?", (_hash(store, nbr), nbr))
    return nbr
