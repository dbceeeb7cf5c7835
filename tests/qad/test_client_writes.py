"""Client writes over real HTTP: idempotency, rejections, unknown outcomes, Decimal exactness."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from engine.adapters.qad import (
    CustomerInvoice,
    InventoryAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    LineChange,
    QadBusinessError,
    QadClient,
    SalesOrder,
    SalesOrderLine,
    SalesOrderUpdate,
)
from engine.errors import Conflict, Rejected, UnknownOutcome

TODAY = datetime.now(UTC).date()
D = Decimal


def order(
    ref: str = "113-0000001-0000001", qty: str = "2", price: str = "19.99", **kw
) -> SalesOrder:
    lines = (
        SalesOrderLine("10-1000", D(qty), D(price)),
        SalesOrderLine("10-1010", D("1"), D("0.10"), site="10-FBA"),
    )
    return SalesOrder(ref, kw.pop("customer", "AMZ-US"), TODAY, kw.pop("lines", lines), **kw)


async def test_sales_order_create_then_lookup_before_create(client, sim):
    first = await client.post_sales_order(order())
    assert first.created and first.document.startswith("SO")
    again = await client.post_sales_order(order())
    assert again == type(again)(first.document, False, again.details)
    [so] = sim.sales_orders()
    assert so["so_po"] == "113-0000001-0000001"
    assert [(ln["sod_part"], ln["sod_qty_ord"], ln["sod_price"]) for ln in so["lines"]] == [
        ("10-1000", D(2), D("19.99")),
        ("10-1010", D(1), D("0.10")),
    ]
    assert so["lines"][1]["sod_site"] == "10-FBA"
    found = await client.find_sales_order_by_reference("113-0000001-0000001")
    assert found is not None and found["salesOrderNumber"] == first.document
    assert await client.find_sales_order_by_reference("nope") is None


async def test_sales_order_same_reference_different_content_is_conflict(client, sim):
    await client.post_sales_order(order())
    with pytest.raises(Conflict, match="lines"):
        await client.post_sales_order(order(qty="3"))
    assert len(sim.sales_orders()) == 1


async def test_deterministic_number_already_exists(client, sim):
    r = await client.post_sales_order(order(ref="A-1", number="AMZ00001"))
    assert r.document == "AMZ00001"
    # Same number under a new reference: QAD says "already exists"; the content differs.
    with pytest.raises(Conflict):
        await client.post_sales_order(order(ref="A-2", number="AMZ00001", qty="5"))


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"customer": "NOBODY"}, "soldToCustomerCode"),
        ({"lines": (SalesOrderLine("XX-1", D(1), D(1)),)}, "itemCode"),
        ({"lines": (SalesOrderLine("10-1000", D(1), D(1), site="99-999"),)}, "siteCode"),
        ({"lines": (SalesOrderLine("10-1000", D(0), D(1)),)}, "quantityOrdered"),
    ],
)
async def test_sales_order_rejections(client, sim, kw, field):
    with pytest.raises(QadBusinessError) as info:
        await client.post_sales_order(order(**kw))
    assert info.value.errors[0]["fieldName"] == field
    assert info.value.status == 200
    assert sim.sales_orders() == []


async def test_sales_order_update_and_cancel(client, sim):
    created = await client.post_sales_order(order())
    upd = SalesOrderUpdate("113-0000001-0000001", (LineChange(1, quantity=D(5), price=D("18.50")),))
    r = await client.update_sales_order(upd)
    assert r.created
    assert (await client.update_sales_order(upd)).created is False  # already applied
    so = sim.sales_order(created.document)
    assert (so["lines"][0]["sod_qty_ord"], so["lines"][0]["sod_price"]) == (D(5), D("18.50"))
    cancel = SalesOrderUpdate("113-0000001-0000001", cancel=True)
    assert (await client.update_sales_order(cancel)).created
    assert (await client.update_sales_order(cancel)).created is False
    assert sim.sales_order(created.document)["so_stat"] == "X"
    with pytest.raises(Rejected):
        await client.update_sales_order(
            SalesOrderUpdate("113-0000001-0000001", (LineChange(1, D(1)),))
        )
    with pytest.raises(Rejected):
        await client.update_sales_order(SalesOrderUpdate("unknown-ref", cancel=True))


async def test_unknown_outcome_timeout_does_not_duplicate(session, settings, sim):
    sim.faults.add(
        "commit_then_stall", path="/api/erp/salesOrderHeaders", method="POST", delay_s=30
    )
    async with QadClient(session, settings(request_timeout_s=0.5)) as c:
        # The POST times out after QAD committed; the follow-up look-up finds the order.
        r = await c.post_sales_order(order())
        assert r.created and r.details["recovered"] is True
        again = await c.post_sales_order(order())
    assert (again.created, again.document) == (False, r.document)
    assert len(sim.sales_orders()) == 1
    assert [k for k, _ in sim.faults.fired] == ["commit_then_stall"]


async def test_dropped_connection_after_commit_is_recovered_by_lookup(client, sim):
    sim.faults.add("commit_then_drop", path="/api/erp/customerInvoices", method="POST")
    inv = CustomerInvoice(
        "SETTLE-1", "AMZ-US", TODAY, D("30.00"), (InvoiceLine("4000", D("30.00")),)
    )
    r = await client.post_customer_invoice(inv)
    assert r.created and r.details["recovered"] is True
    assert len(sim.invoices()) == 1


async def test_500_on_write_then_retry_creates_once(client, sim):
    sim.faults.add("status", path="/api/erp/journalEntries", method="POST", status=500)
    je = JournalEntry(
        "FEES-1",
        TODAY,
        (JournalLine("6100", debit=D("12.50")), JournalLine("1250", credit=D("12.50"))),
    )
    with pytest.raises(UnknownOutcome):  # 500 before commit: the follow-up look-up finds nothing
        await client.post_journal_entry(je)
    assert (await client.post_journal_entry(je)).created
    assert (await client.post_journal_entry(je)).created is False
    assert len(sim.journal_entries()) == 1


async def test_business_error_fault_on_chosen_reference(client, sim):
    sim.faults.add("business_error", reference="113-9", message="Credit hold", times=0)
    with pytest.raises(QadBusinessError, match="Credit hold"):
        await client.post_sales_order(order(ref="113-9"))
    assert (await client.post_sales_order(order(ref="113-8"))).created


async def test_customer_invoice_exact_decimals_and_gl(client, sim):
    lines = (InvoiceLine("4000", D("1234567.89")), InvoiceLine("4010", D("0.01")))
    inv = CustomerInvoice("SETTLE-2", "AMZ-DE", TODAY, D("1234567.90"), lines, currency="EUR")
    r = await client.post_customer_invoice(inv)
    assert r.created and r.document.startswith("CI")
    assert (await client.post_customer_invoice(inv)).created is False
    [stored] = sim.invoices()
    assert stored["ar_amt"] == D("1234567.90") and stored["ar_curr"] == "EUR"
    gl = [g for g in sim.gl_lines() if g["gltr_doc"] == "SETTLE-2"]
    assert sum(g["gltr_amt"] for g in gl) == 0
    assert {g["gltr_acc"]: g["gltr_amt"] for g in gl}["1200"] == D("1234567.90")
    bad = CustomerInvoice("SETTLE-2", "AMZ-DE", TODAY, D("5"), (InvoiceLine("4000", D("5")),))
    with pytest.raises(Conflict):
        await client.post_customer_invoice(bad)


@pytest.mark.parametrize(
    ("inv", "field"),
    [
        (
            CustomerInvoice("I-1", "AMZ-US", TODAY, D("10"), (InvoiceLine("4000", D("9.99")),)),
            "amountTC",
        ),
        (
            CustomerInvoice("I-2", "NOBODY", TODAY, D("1"), (InvoiceLine("4000", D("1")),)),
            "customerCode",
        ),
        (
            CustomerInvoice("I-3", "AMZ-US", TODAY, D("1"), (InvoiceLine("7777", D("1")),)),
            "glAccount",
        ),
        (
            CustomerInvoice(
                "I-4", "AMZ-US", date(2001, 1, 1), D("1"), (InvoiceLine("4000", D("1")),)
            ),
            "postingDate",
        ),
    ],
)
async def test_customer_invoice_rejections(client, sim, inv, field):
    with pytest.raises(QadBusinessError) as info:
        await client.post_customer_invoice(inv)
    assert info.value.errors[0]["fieldName"] == field
    assert sim.invoices() == []


async def test_journal_entry_rules(client, sim):
    unbalanced = JournalEntry(
        "JE-1",
        TODAY,
        (JournalLine("6100", debit=D("10.00")), JournalLine("1250", credit=D("9.99"))),
    )
    with pytest.raises(QadBusinessError, match="not balanced"):
        await client.post_journal_entry(unbalanced)
    sim.close_period(TODAY.year, TODAY.month)
    ok = JournalEntry(
        "JE-2", TODAY, (JournalLine("6100", debit=D("0.30")), JournalLine("1250", credit=D("0.30")))
    )
    with pytest.raises(QadBusinessError, match="open GL period"):
        await client.post_journal_entry(ok)
    assert sim.journal_entries() == []


async def test_journal_entry_in_marketplace_currency(client, sim):
    je = JournalEntry(
        "JE-JPY",
        TODAY,
        (JournalLine("6100", debit=D("1500")), JournalLine("1250", credit=D("1500"))),
        currency="JPY",
    )
    r = await client.post_journal_entry(je)
    [stored] = sim.journal_entries()
    assert str(stored["gltr_voucher"]) == r.document
    assert {ln["gltr_curr"] for ln in stored["lines"]} == {"JPY"}


async def test_unplanned_receipt_and_issue(client, sim):
    rec = InventoryAdjustment("ADJ-1", "10-1000", "10-FBA", D("5"), TODAY, remarks="found")
    r = await client.post_inventory_adjustment(rec)
    assert r.created and (await client.post_inventory_adjustment(rec)).created is False
    iss = InventoryAdjustment("ADJ-2", "10-1000", "10-FBA", D("-7.5"), TODAY)
    await client.post_inventory_adjustment(iss)
    assert sim.on_hand("10-1000", "10-FBA") == D("97.5")
    bal = await client.inventory_balance("10-1000", "10-FBA")
    assert bal is not None and bal.on_hand == D("97.5") and bal.available == D("97.5")
    hist = [(t["tr_type"], t["tr_qty_loc"], t["tr_nbr"]) for t in sim.tr_hist()]
    assert hist == [("RCT-UNP", D(5), "ADJ-1"), ("ISS-UNP", D("-7.5"), "ADJ-2")]
    with pytest.raises(QadBusinessError, match="on hand"):
        await client.post_inventory_adjustment(
            InventoryAdjustment("ADJ-3", "10-1000", "10-FBA", D("-1000"), TODAY)
        )
    with pytest.raises(Conflict):
        await client.post_inventory_adjustment(
            InventoryAdjustment("ADJ-1", "10-1000", "10-FBA", D("6"), TODAY)
        )


async def test_iter_items_pages_to_the_end(session, settings, sim):
    async with QadClient(session, settings(page_size=7)) as c:
        items = [it async for it in c.iter_items()]
    assert len(items) == 24 and len({i.code for i in items}) == 24
    pages = [p for m, p in sim.requests if p == "/api/qracore/browses"]
    assert len(pages) >= 4
    assert all(isinstance(i.list_price, Decimal) for i in items)


async def test_second_tenant_is_isolated(session, settings, sim):
    async with QadClient(session, settings(tenant_url=sim.tenant_url("fresh"))) as fresh:
        await fresh.post_sales_order(order())
    assert len(sim.sales_orders(tenant="fresh")) == 1
    assert sim.sales_orders() == []
    assert sim.state_file("fresh").exists()
