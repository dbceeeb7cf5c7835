"""Sales orders over real HTTP against the strict simulator: header, then the line-grid flow.

Created exactly once, found again by the customer PO, completed after a crash between header and
lines, unknown outcomes settled by look-up, conflicts, QAD's duplicate code 2041, updates, each
cancel policy and the late ship-to.
"""

from __future__ import annotations

import json

import pytest

from engine.adapters.qad import (
    LineChange,
    QadBusinessError,
    SalesOrderLine,
    SalesOrderUpdate,
)
from engine.adapters.qad.models import ShipTo
from engine.errors import Conflict, Rejected, UnknownOutcome
from tests.qad.conftest import FIELD_CHANGE, LINES_GRID, SO_HEADERS, D, order, posts

REF = "113-0000001-0000001"
THREE = (
    SalesOrderLine("10-1000", D("2"), D("19.99")),
    SalesOrderLine("10-1010", D("1"), D("0.10"), site="10-FBA"),
    SalesOrderLine("10-1020", D("3.5"), D("7.25")),
)


def stored_lines(so: dict) -> list[tuple]:
    return [
        (ln["sod_part"], D(str(ln["sod_qty_ord"])), D(str(ln["sod_price"]))) for ln in so["lines"]
    ]


async def test_order_with_several_lines_is_created_exactly_once_and_found_by_po(client, sim):
    first = await client.post_sales_order(order(lines=THREE))
    assert first.created and first.document
    [so] = sim.sales_orders()
    assert so["so_nbr"] == first.document and so["so_po"] == REF
    assert stored_lines(so) == [
        ("10-1000", D(2), D("19.99")),
        ("10-1010", D(1), D("0.10")),
        ("10-1020", D("3.5"), D("7.25")),
    ]
    assert [ln["sod_line"] for ln in so["lines"]] == [1, 2, 3]
    assert so["lines"][1]["sod_site"] == "10-FBA"
    # The UI's flow: one header, item then quantity field-changed per line, one commit.
    assert (posts(sim, SO_HEADERS), posts(sim, FIELD_CHANGE), posts(sim, LINES_GRID)) == (1, 6, 1)

    again = await client.post_sales_order(order(lines=THREE))
    assert (again.created, again.document) == (False, first.document)
    assert (posts(sim, SO_HEADERS), posts(sim, LINES_GRID)) == (1, 1)
    assert len(sim.sales_orders()) == 1

    found = await client.find_sales_order_by_reference(REF)
    assert found is not None and found["document"] == first.document
    assert [(ln["line"], ln["item"], ln["quantity"]) for ln in found["lines"]] == [
        (1, "10-1000", D(2)),
        (2, "10-1010", D(1)),
        (3, "10-1020", D("3.5")),
    ]
    assert found["customer"] == "AMZ-US" and found["cancelled"] is False
    assert await client.find_sales_order_by_reference("nope") is None


async def test_header_without_its_lines_is_completed_never_duplicated(client, sim):
    # The lines commit fails before QAD applies it: the header is there, its lines are not.
    sim.faults.add("status", path=LINES_GRID, method="POST", status=500)
    with pytest.raises(UnknownOutcome):
        await client.post_sales_order(order())
    [so] = sim.sales_orders()
    assert so["lines"] == []
    # The retry finds the header by its PO and adds the missing lines to it.
    r = await client.post_sales_order(order())
    assert r.created and r.details["completed"] == 2 and r.document == so["so_nbr"]
    [so] = sim.sales_orders()
    assert stored_lines(so) == [("10-1000", D(2), D("19.99")), ("10-1010", D(1), D("0.10"))]
    assert posts(sim, SO_HEADERS) == 1
    assert (await client.post_sales_order(order())).created is False
    # The cut-off flow kept its line numbers reserved, so QAD's numbers skip: the engine's
    # line 1 (Amazon's first line) is QAD's first line by position, whatever its number.
    assert [ln["sod_line"] for ln in so["lines"]] == [3, 4]
    await client.update_sales_order(SalesOrderUpdate(REF, (LineChange(1, quantity=D(7)),)))
    assert stored_lines(sim.sales_orders()[0])[0] == ("10-1000", D(7), D("19.99"))
    found = await client.find_sales_order_by_reference(REF)
    assert found is not None and [ln["line"] for ln in found["lines"]] == [3, 4]


async def test_unknown_outcome_of_the_lines_commit_is_settled_by_reading_the_grid(client, sim):
    sim.faults.add("commit_then_drop", path=LINES_GRID, method="POST")
    r = await client.post_sales_order(order())
    assert r.created and r.details["recovered"] is True
    [so] = sim.sales_orders()
    assert len(so["lines"]) == 2 and posts(sim, LINES_GRID) == 1
    assert sim.faults.fired == [("commit_then_drop", LINES_GRID)]


async def test_unknown_outcome_of_the_header_is_settled_by_look_up(client_with, sim):
    sim.faults.add("commit_then_stall", path=SO_HEADERS, method="POST", delay_s=30)
    async with client_with(request_timeout_s=0.5) as c:
        r = await c.post_sales_order(order())
        assert r.created and r.details["recovered"] is True and r.details["completed"] == 2
        again = await c.post_sales_order(order())
    assert (again.created, again.document) == (False, r.document)
    [so] = sim.sales_orders()
    assert len(so["lines"]) == 2 and posts(sim, SO_HEADERS) == 1


async def test_same_reference_different_content_is_conflict(client, sim):
    await client.post_sales_order(order())
    with pytest.raises(Conflict, match="lines"):
        await client.post_sales_order(order(qty="3"))
    with pytest.raises(Conflict, match="customer"):
        await client.post_sales_order(order(customer="AMZ-DE"))
    assert len(sim.sales_orders()) == 1 and posts(sim, SO_HEADERS) == 1


async def test_duplicate_number_2041_from_another_order_is_conflict(client, sim):
    r = await client.post_sales_order(order(ref="A-1", number="AMZ00001"))
    assert r.document == "AMZ00001"
    # Same number, new reference: QAD answers 2041; the order holding it has another PO.
    with pytest.raises(Conflict, match="purchase order"):
        await client.post_sales_order(order(ref="A-2", number="AMZ00001"))
    assert posts(sim, SO_HEADERS) == 2 and len(sim.sales_orders()) == 1


async def test_duplicate_2041_of_our_own_order_is_success(client, sim, monkeypatch):
    r = await client.post_sales_order(order(ref="A-3", number="AMZ00003"))
    orders = client.parts.sales_orders
    real, misses = orders.find, []

    async def lagging(reference: str):  # the look-up before the create misses once
        if not misses:
            misses.append(reference)
            return None
        return await real(reference)

    monkeypatch.setattr(orders, "find", lagging)
    again = await client.post_sales_order(order(ref="A-3", number="AMZ00003"))
    assert (again.created, again.document) == (False, r.document)
    assert posts(sim, SO_HEADERS) == 2 and len(sim.sales_orders()) == 1  # the 2041 answer


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"customer": "NOBODY"}, "soldToCustomerCode"),
        ({"lines": (SalesOrderLine("XX-1", D(1), D(1)),)}, "itemCode"),
        ({"lines": (SalesOrderLine("10-1000", D(0), D(1)),)}, "quantityOrdered"),
    ],
)
async def test_business_errors_are_rejected_with_qads_text(client, sim, kw, field):
    with pytest.raises(QadBusinessError) as info:
        await client.post_sales_order(order(**kw))
    assert info.value.errors[0]["fieldName"] == field
    assert info.value.status == 200 and info.value.errors[0]["message"]
    assert all(so["lines"] == [] for so in sim.sales_orders())


async def test_update_quantity_and_price(client, sim):
    created = await client.post_sales_order(order())
    upd = SalesOrderUpdate(REF, (LineChange(1, quantity=D(5), price=D("18.50")),))
    assert (await client.update_sales_order(upd)).created
    assert (await client.update_sales_order(upd)).created is False  # already in effect
    price_only = SalesOrderUpdate(REF, (LineChange(2, price=D("0.20")),))
    assert (await client.update_sales_order(price_only)).created
    so = sim.sales_order(created.document)
    assert stored_lines(so) == [("10-1000", D(5), D("18.50")), ("10-1010", D(1), D("0.20"))]
    with pytest.raises(Rejected, match="no line 9"):
        await client.update_sales_order(SalesOrderUpdate(REF, (LineChange(9, D(1)),)))
    with pytest.raises(Rejected, match="no sales order"):
        await client.update_sales_order(SalesOrderUpdate("unknown-ref", cancel=True))


async def test_update_unknown_outcome_is_settled_by_reading_the_grid(client, sim):
    await client.post_sales_order(order())
    sim.faults.add("commit_then_drop", path=LINES_GRID, method="POST")
    r = await client.update_sales_order(SalesOrderUpdate(REF, (LineChange(1, quantity=D(4)),)))
    assert r.created and r.details["recovered"] is True
    assert stored_lines(sim.sales_orders()[0])[0][1] == D(4)


@pytest.mark.parametrize("policy", ["zero_quantity", "close_lines", "delete_lines"])
async def test_cancel_by_policy(client_with, sim, policy):
    async with client_with(cancel_policy=policy) as c:
        created = await c.post_sales_order(order())
        cancel = SalesOrderUpdate(REF, cancel=True)
        assert (await c.update_sales_order(cancel)).created
        assert (await c.update_sales_order(cancel)).created is False
        found = await c.find_sales_order_by_reference(REF)
        assert found is not None and found["cancelled"] is True
        with pytest.raises(Rejected):
            await c.update_sales_order(SalesOrderUpdate(REF, (LineChange(1, D(1)),)))
    lines = sim.sales_order(created.document)["lines"]
    if policy == "zero_quantity":
        assert [D(str(ln["sod_qty_ord"])) for ln in lines] == [0, 0]
    elif policy == "close_lines":
        assert [ln["sod_status"] for ln in lines] == ["C", "C"]
        assert [D(str(ln["sod_qty_ord"])) for ln in lines] == [2, 1]
    else:
        assert lines == []


ADDRESS = ShipTo("Sample Buyer", ("1 Sample Street",), "Springfield", "IL", "62701", "US")


async def test_ship_to_on_create_and_by_header_update(client, client_with, sim):
    await client.post_sales_order(order(ship_to=ADDRESS))
    [so] = sim.sales_orders()
    assert json.loads(so["so_ship_addr"])["name"] == "Sample Buyer"
    # An order created while Pending gets its address later: a header "U".
    await client.post_sales_order(order(ref="113-2"))
    r = await client.update_sales_order(SalesOrderUpdate("113-2", ship_to=ADDRESS))
    assert r.created
    later = next(s for s in sim.sales_orders() if s["so_po"] == "113-2")
    assert json.loads(later["so_ship_addr"])["city"] == "Springfield"


async def test_ship_to_field_empty_never_sends_the_address(client_with, sim):
    async with client_with() as c:
        fields = c.settings.fields.__class__(so_ship_to_address="")
    async with client_with(fields=fields) as c:
        await c.post_sales_order(order(ship_to=ADDRESS))
        r = await c.update_sales_order(SalesOrderUpdate(REF, ship_to=ADDRESS))
    assert r.created is False  # nothing to send
    [so] = sim.sales_orders()
    assert not so["so_ship_addr"]


async def test_second_tenant_is_isolated(client_with, sim):
    async with client_with(tenant_url=sim.tenant_url("fresh")) as fresh:
        await fresh.post_sales_order(order())
    assert len(sim.sales_orders(tenant="fresh")) == 1
    assert sim.sales_orders() == []
    assert sim.state_file("fresh").exists()
