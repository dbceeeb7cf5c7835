"""Amazon Business orders: PO number and buyer VAT id reach QAD's remarks, only if configured.

``[qad.fields] so_remarks`` is "" by default (the Adaptive name of so_mstr.so_rmks is not
public): nothing is sent. Set, the header carries "PO <po> VAT <id>" within QAD's x(40), and
the simulator refuses anything longer, as QAD would refuse a value wider than its column.
"""

from __future__ import annotations

from engine.adapters.qad import QadBusinessError
from engine.adapters.qad.models import REMARKS_WIDTH, business_remarks
from engine.projectors.mapping import Mapper
from engine.projectors.orders import OrdersProjector
from tests.projectors.test_projectors import MAPPING, ev, line, run
from tests.projectors.test_projectors import order as order_payload
from tests.qad.conftest import order

REF = "113-0000001-0000001"


def test_remarks_fit_qad_column_dropping_the_vat_id_first() -> None:
    assert business_remarks({"purchase_order_number": "PO-1", "buyer_vat_id": "DE1"}) == (
        "PO PO-1 VAT DE1"
    )
    long_vat = {"purchase_order_number": "4711", "buyer_vat_id": "X" * 40}
    assert business_remarks(long_vat) == "PO 4711"
    long_po = business_remarks({"purchase_order_number": "P" * 60})
    assert len(long_po) == REMARKS_WIDTH and long_po.startswith("PO PPP")
    assert business_remarks(None) == "" and business_remarks({}) == ""


async def test_remarks_are_not_sent_by_default(client, sim) -> None:
    await client.post_sales_order(order(remarks="PO 4711 VAT DE123"))
    [so] = sim.sales_orders()
    assert not so["so_rmks"]


async def test_configured_remarks_field_lands_in_so_rmks(client_with, sim) -> None:
    async with client_with() as c:
        fields = c.settings.fields.__class__(so_remarks="remarks")
    async with client_with(fields=fields) as c:
        await c.post_sales_order(order(remarks="PO 4711 VAT DE123"))
        found = await c.find_sales_order_by_reference(REF)
    [so] = sim.sales_orders()
    assert so["so_rmks"] == "PO 4711 VAT DE123" and found is not None


async def test_simulator_refuses_remarks_wider_than_the_column(client_with, sim) -> None:
    async with client_with() as c:
        fields = c.settings.fields.__class__(so_remarks="remarks")
    async with client_with(fields=fields) as c:
        try:
            await c.post_sales_order(order(remarks="R" * (REMARKS_WIDTH + 1)))
        except QadBusinessError as exc:
            assert "remarks" in str(exc)
        else:
            raise AssertionError("a 41-character remark was accepted")
    assert all(not so["so_rmks"] for so in sim.sales_orders())


def test_projector_keeps_po_and_vat_in_the_command_body() -> None:
    oid = "111-0000042-0000042"
    business = {
        **order_payload("Unshipped", [line("SKU-A", 1, "10.00")], oid),
        "is_business_order": True,
        "purchase_order_number": "PO-000042",
        "buyer_vat_id": "DE123456789",
    }
    consumer = order_payload("Unshipped", [line("SKU-A", 1, "10.00")], "111-0000043-0000043")
    cmds, _parks, _state = run(
        OrdersProjector(Mapper(MAPPING)),
        [
            ev("amazon.orders", oid, business, 1),
            ev("amazon.orders", consumer["order_id"], consumer, 2),
        ],
    )
    assert [c.kind for c in cmds] == ["qad.sales_order.create"] * 2
    assert cmds[0].body["business"] == {
        "purchase_order_number": "PO-000042",
        "buyer_vat_id": "DE123456789",
    }
    assert business_remarks(cmds[0].body["business"]) == "PO PO-000042 VAT DE123456789"
    assert "business" not in cmds[1].body and business_remarks(cmds[1].body.get("business")) == ""
