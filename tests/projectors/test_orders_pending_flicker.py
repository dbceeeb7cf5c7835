"""An order flipping Unshipped -> Pending after import keeps its known QAD prices."""

from __future__ import annotations

from typing import Any

from engine.projectors.mapping import Mapper
from engine.projectors.orders import OrdersProjector
from tests.projectors.test_projectors import MAPPING, ev, line, order, run

OID = "111-0000042-0000042"


def _events(*versions: dict[str, Any]) -> list[Any]:
    return [ev("amazon.orders", OID, v, pos) for pos, v in enumerate(versions, start=1)]


def test_pending_without_prices_after_unshipped_keeps_the_price():
    cmds, _parks, state = run(
        OrdersProjector(Mapper(MAPPING)),
        _events(
            order("Unshipped", [line("SKU-A", 2, "19.99"), line("SKU-B", 1, "5.00", "2")], OID),
            order("Pending", [line("SKU-A", 2, None), line("SKU-B", 1, None, "2")], OID),
            order("Unshipped", [line("SKU-A", 2, "19.99"), line("SKU-B", 1, "5.00", "2")], OID),
        ),
    )
    # Only the create: the Pending version neither zeroes the price nor needs a restore.
    assert [c.kind for c in cmds] == ["qad.sales_order.create"]
    assert [ln["price"] for ln in cmds[0].body["lines"]] == ["19.99", "5.00"]
    assert state[OID]["lines"] == {"1": ["2", "19.99"], "2": ["1", "5.00"]}


def test_pending_with_a_quantity_change_updates_quantity_at_the_known_price():
    cmds, _parks, _state = run(
        OrdersProjector(Mapper(MAPPING)),
        _events(
            order("Unshipped", [line("SKU-A", 2, "19.99")], OID),
            order("Pending", [line("SKU-A", 1, None)], OID),
            order("Unshipped", [line("SKU-A", 1, "21.00")], OID),
        ),
    )
    assert [c.body.get("lines") for c in cmds[1:]] == [
        [{"line": 1, "quantity": "1", "price": "19.99"}],
        [{"line": 1, "quantity": "1", "price": "21.00"}],  # a real new price still applies
    ]


def test_created_while_pending_gets_prices_once_they_arrive():
    cmds, _parks, _state = run(
        OrdersProjector(Mapper(MAPPING)),
        _events(
            order("Pending", [line("SKU-A", 2, None)], OID),
            order("Pending", [line("SKU-A", 2, None)], OID),
            order("Unshipped", [line("SKU-A", 2, "19.99")], OID),
        ),
    )
    assert cmds[0].body["lines"][0]["price"] == "0"
    assert [c.body.get("lines") for c in cmds[1:]] == [
        [{"line": 1, "quantity": "2", "price": "19.99"}]
    ]
