"""A flat-file report version (weak line keys) followed by an API version (real ids) is one set
of QAD lines: the later version updates them, never adds a second copy."""

from __future__ import annotations

from typing import Any

from engine.projectors.mapping import Mapper
from engine.projectors.order_keys import rebind_weak_keys
from engine.projectors.orders import OrdersProjector
from tests.projectors.test_projectors import MAPPING, ev, line, order, run

OID = "111-0000077-0000077"


def _flat(status: str, *lines: dict[str, Any]) -> dict[str, Any]:
    body = order(status, list(lines), OID)
    body["line_ids"] = "weak"
    return body


def test_api_version_after_a_flat_version_updates_the_same_lines() -> None:
    cmds, _parks, state = run(
        OrdersProjector(Mapper(MAPPING)),
        [
            ev(
                "amazon.orders",
                OID,
                _flat(
                    "Unshipped",
                    line("SKU-A", 2, "19.99", "flat:SKU-A:1"),
                    line("SKU-B", 1, "5.00", "flat:SKU-B:1"),
                ),
                1,
            ),
            ev(
                "amazon.orders",
                OID,
                order(
                    "Unshipped",
                    [line("SKU-A", 2, "19.99", "9001"), line("SKU-B", 1, "5.50", "9002")],
                    OID,
                ),
                2,
            ),
        ],
    )
    assert [c.kind for c in cmds] == ["qad.sales_order.create", "qad.sales_order.update"]
    update = cmds[1].body
    assert "add" not in update  # no second copy of the lines
    assert update["lines"] == [{"line": 2, "quantity": "1", "price": "5.50"}]
    assert set(state[OID]["keys"]) == {"9001", "9002"}


def test_rebind_keeps_what_it_cannot_match() -> None:
    keys = {"flat:A:1": 1, "flat:A:1+": 2, "flat:B:2": 3, "@shipping": 4}
    real = {"lines": [{"sku": "A", "order_item_id": "7"}, {"sku": "B", "order_item_id": "8"}]}
    assert rebind_weak_keys(keys, real) == {"7": 1, "7+": 2, "flat:B:2": 3, "@shipping": 4}
    assert rebind_weak_keys(keys, {**real, "line_ids": "weak"}) is keys


def test_a_zero_value_version_without_the_replacement_flag_is_held_until_the_api_says() -> None:
    """The report has no IsReplacementOrder: its zero-value version posts nothing (in either
    mode); the API version with the flag decides (skip: nothing; zero: posted at zero)."""
    from engine.projectors.order_money import MoneyRules

    report = {**order("Shipped", [line("SKU-A", 1, "0.00", "9001")], OID)}
    report["is_replacement_order"] = None
    api = {**report, "is_replacement_order": True, "replaced_order_id": "111-1-1"}
    for mode, kinds in (("skip", []), ("zero", ["qad.sales_order.create"])):
        proj = OrdersProjector(Mapper(MAPPING), MoneyRules(replacement_orders=mode))
        cmds, _parks, state = run(proj, [ev("amazon.orders", OID, report, 1)])
        assert cmds == [] and state[OID]["awaiting"] == "replacement flag"
        cmds, _parks, _ = run(
            proj, [ev("amazon.orders", OID, report, 1), ev("amazon.orders", OID, api, 2)]
        )
        assert [c.kind for c in cmds] == kinds, mode
    priced = {**report, "lines": [line("SKU-A", 1, "4.00", "9001")]}
    cmds, _parks, _ = run(OrdersProjector(Mapper(MAPPING)), [ev("amazon.orders", OID, priced, 1)])
    assert [c.kind for c in cmds] == ["qad.sales_order.create"]  # priced: no replacement
