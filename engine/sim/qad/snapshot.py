"""A canonical, comparable picture of one simulated QAD tenant's business documents.

Reliability checks (crash test, fault matrix, replay to a fresh tenant, benchmarks) need to say
"this tenant ends with the same documents as that one". QAD assigns its own numbers (SO number,
voucher, transaction number), which differ between runs, so documents are keyed by the
*reference* the engine gave them (Amazon order id in ``so_po``, settlement id in ``ar_po`` and
``gltr_doc``, command reference in ``tr_nbr``) and compared by content. Duplicates (two documents
with one reference) are counted, never merged away.

Reads the tenant's SQLite state file read-only, so it works while the simulator runs in another
process.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["TenantSnapshot", "diff_snapshots", "snapshot"]

Line = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    """Documents by reference. Amounts are normalised Decimal strings ("12.5" == "12.50")."""

    sales_orders: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    invoices: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    journals: dict[str, tuple[Line, ...]] = field(default_factory=dict)
    stock: dict[tuple[str, str], str] = field(default_factory=dict)
    adjustments: dict[str, tuple[Line, ...]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # "kind:reference" -> copies

    @property
    def duplicate_count(self) -> int:
        """Extra copies beyond the first, over all document kinds."""
        return sum(n - 1 for n in self.duplicates.values())

    def counts(self) -> dict[str, int]:
        return {
            "sales_orders": len(self.sales_orders),
            "invoices": len(self.invoices),
            "journals": len(self.journals),
            "adjustments": len(self.adjustments),
            "duplicates": self.duplicate_count,
        }


def _num(value: Any) -> str:
    """Decimal text without trailing zeros so 1.50 and 1.5 compare equal."""
    if value is None or value == "":
        return ""
    return format(Decimal(str(value)).normalize(), "f")


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def snapshot(state_file: Path) -> TenantSnapshot:
    """Read one tenant's state file (``QadSimulator.state_file(tenant)``)."""
    if not Path(state_file).exists():
        raise FileNotFoundError(f"no QAD simulator state at {state_file}")
    db = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return _read(db)
    finally:
        db.close()


def _read(db: sqlite3.Connection) -> TenantSnapshot:
    dup: Counter[str] = Counter()

    # QAD numbers the lines (a retried line flow may reserve new numbers), so lines compare
    # by content, in a canonical order, not by line number.
    lines: dict[str, list[Line]] = {}
    for r in db.execute(
        "SELECT sod_nbr, sod_part, sod_site, sod_qty_ord, sod_price, sod_status FROM sod_det "
        "ORDER BY sod_nbr, sod_line"
    ):
        lines.setdefault(r["sod_nbr"], []).append(
            (_s(r["sod_part"]), _s(r["sod_site"]), _num(r["sod_qty_ord"]), _num(r["sod_price"]),
             _s(r["sod_status"]))
        )  # fmt: skip
    sales_orders: dict[str, tuple[Any, ...]] = {}
    for r in db.execute(
        "SELECT so_nbr, so_po, so_cust, so_site, so_curr, so_stat FROM so_mstr ORDER BY so_nbr"
    ):
        ref = _s(r["so_po"])
        dup[f"sales_order:{ref}"] += 1
        sales_orders[ref] = (
            _s(r["so_cust"]), _s(r["so_site"]), _s(r["so_curr"]), _s(r["so_stat"]),
            tuple(sorted(lines.get(r["so_nbr"], ()))),
        )  # fmt: skip

    invoices: dict[str, tuple[Any, ...]] = {}
    for r in db.execute("SELECT ar_po, ar_cust, ar_amt, ar_curr, ar_due_date FROM ar_mstr"):
        ref = _s(r["ar_po"])
        dup[f"invoice:{ref}"] += 1
        invoices[ref] = (
            _s(r["ar_cust"]),
            _num(r["ar_amt"]),
            _s(r["ar_curr"]),
            _s(r["ar_due_date"]),
        )

    journals: dict[str, list[Line]] = {}
    vouchers: dict[str, set[int]] = {}
    for r in db.execute(
        "SELECT gltr_doc, gltr_voucher, gltr_acc, gltr_sub, gltr_ctr, gltr_amt, gltr_curr, "
        "gltr_curramt FROM gltr_hist WHERE gltr_doc_typ='JL' ORDER BY gltr_voucher, gltr_line"
    ):
        ref = _s(r["gltr_doc"])
        vouchers.setdefault(ref, set()).add(int(r["gltr_voucher"]))
        journals.setdefault(ref, []).append(
            (_s(r["gltr_acc"]), _s(r["gltr_sub"]), _s(r["gltr_ctr"]), _num(r["gltr_amt"]),
             _s(r["gltr_curr"]), _num(r["gltr_curramt"]))
        )  # fmt: skip
    for ref, vs in vouchers.items():
        dup[f"journal:{ref}"] += len(vs)

    stock = {
        (_s(r["in_part"]), _s(r["in_site"])): _num(r["in_qty_oh"])
        for r in db.execute("SELECT in_part, in_site, in_qty_oh FROM in_mstr")
    }
    adjustments: dict[str, list[Line]] = {}
    for r in db.execute(
        "SELECT tr_nbr, tr_type, tr_part, tr_site, tr_qty_loc FROM tr_hist "
        "WHERE tr_nbr IS NOT NULL AND tr_nbr != '' ORDER BY tr_trnbr"
    ):
        ref = _s(r["tr_nbr"])
        dup[f"adjustment:{ref}"] += 1
        adjustments.setdefault(ref, []).append(
            (_s(r["tr_type"]), _s(r["tr_part"]), _s(r["tr_site"]), _num(r["tr_qty_loc"]))
        )

    return TenantSnapshot(
        sales_orders=sales_orders,
        invoices=invoices,
        journals={k: tuple(sorted(v)) for k, v in journals.items()},
        stock=stock,
        adjustments={k: tuple(v) for k, v in adjustments.items()},
        duplicates={k: n for k, n in dup.items() if n > 1},
    )


def diff_snapshots(
    expected: TenantSnapshot, actual: TenantSnapshot, limit: int = 20
) -> dict[str, Any]:
    """``{"lost": n, "duplicated": n, "mismatched": n, "examples": [...]}`` (all 0 = same books)."""
    lost = duplicated = mismatched = 0
    examples: list[str] = []

    def note(text: str) -> None:
        if len(examples) < limit:
            examples.append(text)

    # Adjustments are not compared one by one: their references name the inventory snapshot
    # they came from, and two runs may poll at different moments. Final stock is compared.
    for kind in ("sales_orders", "invoices", "journals"):
        exp: dict[str, Any] = getattr(expected, kind)
        act: dict[str, Any] = getattr(actual, kind)
        for ref, doc in exp.items():
            if ref not in act:
                lost += 1
                note(f"{kind} {ref}: missing")
            elif act[ref] != doc:
                mismatched += 1
                note(f"{kind} {ref}: expected {doc!r}, got {act[ref]!r}")
        for ref in act.keys() - exp.keys():
            mismatched += 1
            note(f"{kind} {ref}: unexpected")
    for part_site, qty in expected.stock.items():
        if actual.stock.get(part_site, "0") != qty:
            mismatched += 1
            note(f"stock {part_site}: expected {qty}, got {actual.stock.get(part_site)}")
    duplicated = max(0, actual.duplicate_count - expected.duplicate_count)
    for ref in actual.duplicates.keys() - expected.duplicates.keys():
        note(f"duplicate {ref} x{actual.duplicates[ref]}")
    return {"lost": lost, "duplicated": duplicated, "mismatched": mismatched, "examples": examples}
