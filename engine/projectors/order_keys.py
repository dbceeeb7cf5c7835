"""Weak line keys of a flat-file report version, re-bound to real order-item ids.

The flat All Orders report has no order-item id (README "Order backfill from reports"): its lines
are keyed ``flat:<sku>:<n>`` (the n-th row of that SKU in the order). When a later version of
the order carries real ids (the API path, or the XML report), the QAD lines posted under the weak
keys are the same lines: this maps each weak key (and its ``+`` split part) to the real id of the
same SKU and rank (real ids sorted, as the backfill does when it matches them [I]), so the update
changes amounts of existing lines instead of adding new ones.

Also here: ``replacement_unknown``. The All Orders report has no IsReplacementOrder
[D reference §1.5], so a report version carries ``is_replacement_order = None`` (unknown). A
replacement order is priced at zero [I: Amazon ships it free of charge; the simulator's are],
so only a zero-value version with an unknown flag is undecided: the projector holds it (no QAD
post, whatever ``[orders] replacement_orders`` says) until a version from the API path says.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["WEAK_PREFIX", "rebind_weak_keys", "replacement_unknown", "zero_value"]

WEAK_PREFIX = "flat:"


def rebind_weak_keys(keys: dict[str, int], order: dict[str, Any]) -> dict[str, int]:
    """``keys`` (line key -> QAD line) with weak keys renamed to the order's real ids."""
    if order.get("line_ids") == "weak" or not any(k.startswith(WEAK_PREFIX) for k in keys):
        return keys
    lines = order.get("lines")
    real: dict[str, list[str]] = {}
    for ln in sorted(
        (x for x in lines if isinstance(x, dict)) if isinstance(lines, list) else [],
        key=lambda x: str(x.get("order_item_id")),
    ):
        real.setdefault(str(ln.get("sku")), []).append(str(ln.get("order_item_id")))
    out: dict[str, int] = {}
    for key, pos in keys.items():
        base, plus = (key[:-1], "+") if key.endswith("+") else (key, "")
        if base.startswith(WEAK_PREFIX):
            sku, _, rank = base[len(WEAK_PREFIX) :].rpartition(":")
            ids = real.get(sku, [])
            n = int(rank) - 1 if rank.isdigit() else -1
            if 0 <= n < len(ids) and ids[n] + plus not in keys:
                out[ids[n] + plus] = pos
                continue
        out[key] = pos
    return out


def zero_value(order: dict[str, Any]) -> bool:
    """True when the order has lines and every line's item price is known and zero."""
    lines = order.get("lines")
    if not isinstance(lines, list) or not lines or order.get("prices") == "absent":
        return False
    for ln in lines:
        price = ln.get("item_price") if isinstance(ln, dict) else None
        if price is None:
            return False
        try:
            if Decimal(str(price)) != 0:
                return False
        except InvalidOperation:
            return False
    return True


def replacement_unknown(order: dict[str, Any]) -> bool:
    """True when the payload cannot say whether it is a replacement order (see module doc):
    the flag is present and None (a payload without the key predates the flag: not held)."""
    unknown = "is_replacement_order" in order and order["is_replacement_order"] is None
    return unknown and zero_value(order)
