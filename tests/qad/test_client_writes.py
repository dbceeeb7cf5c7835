"""What every QAD write shares, over real HTTP: business-error envelopes (QAD's text, the
duplicate code 2041), injected business errors, and the catalog read by pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.adapters.qad import QadBusinessError
from tests.qad.conftest import order


def test_already_exists_accepts_code_2041_or_the_text():
    assert QadBusinessError([{"fieldName": "", "message": "x", "code": "2041"}]).already_exists
    assert QadBusinessError([{"fieldName": "", "message": "x", "code": 2041}]).already_exists
    assert QadBusinessError(
        [{"message": "Sales order SO1 already exists", "code": None}]
    ).already_exists
    assert QadBusinessError([{"message": "Record already exist", "code": None}]).already_exists
    assert not QadBusinessError([{"message": "Credit hold", "code": None}]).already_exists


async def test_business_error_keeps_qads_text_and_other_orders_flow(client, sim):
    sim.faults.add("business_error", reference="113-9", message="Credit hold", times=0)
    with pytest.raises(QadBusinessError, match="Credit hold") as info:
        await client.post_sales_order(order(ref="113-9"))
    assert info.value.status == 200 and info.value.errors[0]["message"] == "Credit hold"
    assert (await client.post_sales_order(order(ref="113-8"))).created


async def test_iter_items_pages_to_the_end(client_with, sim):
    async with client_with(page_size=7) as c:
        before = sum(1 for _, p in sim.requests if p == "/api/qracore/browses")
        items = [it async for it in c.iter_items()]
        pages = sum(1 for _, p in sim.requests if p == "/api/qracore/browses") - before
    count = len(sim.query("SELECT pt_part FROM pt_mstr"))
    assert len(items) == count and len({i.code for i in items}) == count
    assert -(-count // 7) <= pages <= count // 7 + 1  # paged, and stopped at the end
    assert all(isinstance(i.list_price, Decimal) for i in items)


async def test_get_item_by_code(client):
    item = await client.get_item("10-1000")
    assert item is not None and item.code == "10-1000" and item.unit_of_measure
    assert await client.get_item("XX-NOPE") is None
