"""Unplanned receipts and issues: QAD's init / validate-and-default / commit flow on ld_det,
in_mstr and tr_hist.

The flow [C] (public unplanned-receipt loader): init hands out a header id and a detail id;
``validateAndAssignDefaultsLine`` for ``itemCode`` and for ``transactionQuantity`` defaults the
location, inventory status and GL accounts; the commit posts the whole tree once. The strict
simulator remembers each tree it handed out (``sim_unplanned``) with the values validated, and
refuses a commit of an unknown or already committed tree, or of values that were not validated.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.sim.qad.store.core import (
    DEFAULT_LOC,
    DOMAIN,
    BusinessError,
    Store,
    dec,
    text,
    today,
    unknown_field,
)

__all__ = ["ISSUE", "RECEIPT", "commit", "init", "on_hand_at", "validate"]

RECEIPT, ISSUE = "RCT-UNP", "ISS-UNP"
# The offset GL account of an adjustment, by the item's product line (QAD reads it from the
# product line master; the simulated business has one product line) [I].
_ADJUSTMENT_ACCOUNTS = {"AMZ": ("6130", "", "")}
_FALLBACK_ACCOUNT = ("9999", "", "")


def init(store: Store, kind: str, site: str) -> tuple[str, str]:
    """A new (header id, detail id) pair for one receipt/issue tree at ``site``."""
    store.need_site(site)
    header_id, detail_id = secrets.token_hex(8), secrets.token_hex(8)
    store.db.execute(
        "INSERT INTO sim_unplanned VALUES (?,?,?,?,'','',0,?)",
        (header_id, kind, site, detail_id, datetime.now(UTC).isoformat()),
    )
    return header_id, detail_id


def _open_tree(store: Store, kind: str, header_id: str, detail_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM sim_unplanned WHERE header_id=? AND kind=?", (header_id, kind))
    if row is None:
        raise BusinessError(
            "unplannedProcessorHeaderID", f"Unplanned header {header_id!r} does not exist"
        )
    if row["committed"]:
        raise BusinessError(
            "unplannedProcessorHeaderID", f"Unplanned header {header_id} was already committed"
        )
    if row["detail_id"] != detail_id:
        raise BusinessError(
            "unplannedProcessorDetailID", f"Unplanned detail {detail_id!r} does not exist"
        )
    return row


def on_hand_at(store: Store, item: str, site: str, loc: str, lot: str) -> Decimal:
    row = store.db.execute(
        "SELECT ld_qty_oh FROM ld_det WHERE ld_part=? AND ld_site=? AND ld_loc=? AND ld_lot=? "
        "AND ld_ref=''",
        (item, site, loc, lot),
    ).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def validate(
    store: Store,
    kind: str,
    ids: tuple[str, str],
    site: str,
    detail: Mapping[str, Any],
    field: str,
) -> dict[str, Any]:
    """Validate one field of the tree's detail; the defaults QAD assigns (canonical names)."""
    _open_tree(store, kind, *ids)
    store.need_site(site)
    item = store.item(text(detail.get("itemCode")))
    loc = text(detail.get("location")) or DEFAULT_LOC
    defaults: dict[str, Any] = {}
    if field == "itemCode":
        acct, sub, cc = _ADJUSTMENT_ACCOUNTS.get(item["pt_prod_line"], _FALLBACK_ACCOUNT)
        defaults = {
            "location": loc,
            "inventoryStatus": text(detail.get("inventoryStatus")) or "GOOD",
            "glAccount": text(detail.get("glAccount")) or acct,
            "subAccount": text(detail.get("subAccount")) or sub,
            "costCenter": text(detail.get("costCenter")) or cc,
        }
        column, value = "item", item["pt_part"]
    elif field == "transactionQuantity":
        qty = _quantity(detail)
        if kind == ISSUE:
            _enough(store, item["pt_part"], site, loc, text(detail.get("lotSerial")), qty)
        column, value = "qty", str(qty)
    elif field in ("location", "lotSerial", "reference", "description"):
        return defaults
    else:
        raise unknown_field(field)
    store.db.execute(f"UPDATE sim_unplanned SET {column}=? WHERE header_id=?", (value, ids[0]))
    return defaults


def _quantity(detail: Mapping[str, Any]) -> Decimal:
    qty = dec(detail.get("transactionQuantity"), "transactionQuantity")
    if qty <= 0:
        raise BusinessError("transactionQuantity", "Quantity must be greater than zero")
    return qty


def _enough(store: Store, item: str, site: str, loc: str, lot: str, qty: Decimal) -> None:
    have = on_hand_at(store, item, site, loc, lot)
    if qty > have:
        raise BusinessError(
            "transactionQuantity", f"Quantity on hand {have} at {site}/{loc} is less than {qty}"
        )


def commit(
    store: Store, kind: str, ids: tuple[str, str], site: str, detail: Mapping[str, Any]
) -> int:
    """Post one validated tree: ld_det, in_mstr and one tr_hist row; its tr_trnbr."""
    tree = _open_tree(store, kind, *ids)
    store.need_site(site)
    item = text(detail.get("itemCode"))
    if not tree["item"] or tree["item"] != item:
        raise BusinessError("itemCode", f"itemCode {item!r} was not validated")
    qty = _quantity(detail)
    if not tree["qty"] or Decimal(tree["qty"]) != qty:
        raise BusinessError("transactionQuantity", f"transactionQuantity {qty} was not validated")
    store.open_period(today(), "effectiveDate")
    loc = text(detail.get("location")) or DEFAULT_LOC
    lot = text(detail.get("lotSerial"))
    status = text(detail.get("inventoryStatus")) or "GOOD"
    with store.transaction() as db:
        have = on_hand_at(store, item, site, loc, lot)
        if kind == ISSUE:
            _enough(store, item, site, loc, lot, qty)
        delta = -qty if kind == ISSUE else qty
        key = (item, site, loc, lot)
        if db.execute(
            "SELECT 1 FROM ld_det WHERE ld_part=? AND ld_site=? AND ld_loc=? AND ld_lot=? "
            "AND ld_ref=''",
            key,
        ).fetchone():
            db.execute(
                "UPDATE ld_det SET ld_qty_oh=? WHERE ld_part=? AND ld_site=? AND ld_loc=? "
                "AND ld_lot=? AND ld_ref=''",
                (str(have + delta), *key),
            )
        else:
            db.execute(
                "INSERT INTO ld_det VALUES (?,?,?,?,?,'',?,?,'0')",
                (DOMAIN, item, site, loc, lot, status, str(delta)),
            )
        inm = db.execute(
            "SELECT in_qty_oh, in_qty_all FROM in_mstr WHERE in_part=? AND in_site=?",
            (item, site),
        ).fetchone()
        if inm:
            oh = Decimal(inm[0]) + delta
            db.execute(
                "UPDATE in_mstr SET in_qty_oh=?, in_qty_avail=? WHERE in_part=? AND in_site=?",
                (str(oh), str(oh - Decimal(inm[1])), item, site),
            )
        else:
            db.execute(
                "INSERT INTO in_mstr VALUES (?,?,?,?,'0',?)",
                (DOMAIN, item, site, str(delta), str(delta)),
            )
        cur = db.execute(
            "INSERT INTO tr_hist (tr_domain, tr_type, tr_part, tr_site, tr_loc, tr_lot, "
            "tr_qty_loc, tr_effdate, tr_nbr, tr_rmks, tr_date) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                DOMAIN,
                kind,
                item,
                site,
                loc,
                lot,
                str(delta),
                today().isoformat(),
                text(detail.get("reference")),
                text(detail.get("description")),
                datetime.now(UTC).isoformat(),
            ),
        )
        db.execute("UPDATE sim_unplanned SET committed=1 WHERE header_id=?", (ids[0],))
    assert cur.lastrowid is not None
    return cur.lastrowid
