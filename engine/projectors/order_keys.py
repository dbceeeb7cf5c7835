"""Weak line keys of a flat-file report version, re-bound to real order-item ids.

The flat All Orders report has no order-item id (README "Order backfill from reports"): its lines
are keyed ``flat:<sku>:<n>`` (the n-th row of that SKU in the order). When a later version of
the order carries real ids (the API path, or the XML report), the QAD lines posted under the weak
keys are the same lines: this maps each weak key (and its ``+`` split part) to the real id of the
same SKU and rank (real ids sorted, as the backfill does when it matches them [I]), so the update
changes amounts of existing lines instead of adding new ones.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WEAK_PREFIX", "rebind_weak_keys"]

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
