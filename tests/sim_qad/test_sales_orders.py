"""Sales orders: header, then the line grid (initialise, fieldChange, commit), strictly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sim_qad.conftest import (
    FIELD_CHANGE,
    GRID,
    HEADERS,
    SO_VIEW,
    Caller,
    error_of,
    header_record,
    ok,
)

ITEM, ITEM2 = "10-1000", "10-1010"


async def test_header_then_lines_through_the_grid(api: Caller) -> None:
    head = await api.header("111-0000001-0000001")
    nbr = head["salesOrderNumber"]
    assert nbr.startswith("SO") and head["purchaseOrder"] == "111-0000001-0000001"
    assert "salesOrderLines" not in head and head["concurrencyHash"]

    line = await api.new_line(nbr)
    assert line == {
        "salesOrderNumber": nbr,
        "salesOrderLine": 1,
        "itemCode": "",
        "quantityOrdered": 0,
        "siteCode": "10-100",
        "unitOfMeasure": "",
        "listPrice": 0,
        "netPrice": 0,
        "discountFormatted": 0,
        "dueDate": "2026-01-08T00:00:00.000Z",
        "lineStatus": "",
        "dataOperation": "CREATE",
    }
    status, doc = await api.field_change({**line, "itemCode": ITEM}, "itemCode")
    defaulted = doc["data"]["salesOrderLines"][0]
    price = api.sim.query("SELECT pt_price, pt_um FROM pt_mstr WHERE pt_part=?", (ITEM,))[0]
    assert status == 200 and "submitResult" not in doc
    assert defaulted["unitOfMeasure"] == price["pt_um"]
    assert (
        Decimal(str(defaulted["listPrice"]))
        == Decimal(str(defaulted["netPrice"]))
        == price["pt_price"]
    )

    first = await api.prepared_line(nbr, ITEM, 2, "19.99")
    second = await api.prepared_line(nbr, ITEM2, 1, "5.00")
    assert (first["salesOrderLine"], second["salesOrderLine"]) == (2, 3)  # 1 still pending
    status, doc = await api.commit(nbr, [first, second])
    assert status == 200 and ok(doc), doc
    assert [ln["salesOrderLine"] for ln in doc["data"]["salesOrderLines"]] == [2, 3]

    stored = api.sim.sales_order(nbr)
    assert stored is not None and stored["so_po"] == "111-0000001-0000001"
    assert [(ln["sod_part"], ln["sod_qty_ord"], ln["sod_price"]) for ln in stored["lines"]] == [
        (ITEM, Decimal(2), Decimal("19.99")),
        (ITEM2, Decimal(1), Decimal("5.00")),
    ]
    status, doc = await api.get(HEADERS, {"salesOrderNumber": nbr})
    assert status == 200 and "salesOrderLines" not in doc["data"]["salesOrderHeaders"][0]
    read = await api.lines(nbr)
    assert [(ln["itemCode"], ln["quantityOrdered"], ln["lineStatus"]) for ln in read] == [
        (ITEM, 2, ""),
        (ITEM2, 1, ""),
    ]
    # A commit clears the flow: the line initialised but never committed is gone.
    assert (await api.new_line(nbr))["salesOrderLine"] == 4


@pytest.mark.parametrize(
    "extra",
    [
        {"salesOrderLines": [{"itemCode": ITEM, "quantityOrdered": 1, "netPrice": 1}]},
        {"customerPurchaseOrder": "111-1"},
        {"channel": "AMAZON"},
        {"status": "open"},
    ],
    ids=["inline-lines", "customerPurchaseOrder", "channel", "status"],
)
async def test_header_with_an_unknown_field_is_rejected(
    api: Caller, extra: dict[str, object]
) -> None:
    status, doc = await api.post(
        HEADERS,
        {"supplementaryMessages": [], "salesOrderHeaders": [header_record("R1", **extra)]},
        {"viewUri": SO_VIEW},
    )
    (name,) = extra
    assert status == 200 and error_of(doc) == {
        "fieldName": name,
        "message": f"Unknown field {name}",
        "code": None,
    }
    assert api.sim.sales_orders() == []


async def test_duplicate_order_number_is_2041(api: Caller) -> None:
    await api.header("R1", salesOrderNumber="SO777")
    status, doc = await api.post(
        HEADERS, {"salesOrderHeaders": [header_record("R2", salesOrderNumber="SO777")]}
    )
    assert status == 200 and error_of(doc) == {
        "fieldName": "salesOrderNumber",
        "message": "Sales order SO777 already exists",
        "code": "2041",
    }


async def test_commit_without_field_change_is_rejected(api: Caller) -> None:
    nbr = (await api.header("R1"))["salesOrderNumber"]
    blank = await api.new_line(nbr)
    status, doc = await api.commit(nbr, [{**blank, "itemCode": ITEM, "quantityOrdered": 1}])
    assert status == 200 and error_of(doc)["fieldName"] == "itemCode"
    # The item went through fieldChange, the quantity was changed afterwards: rejected too.
    line = await api.prepared_line(nbr, ITEM, 2, "1.00")
    status, doc = await api.commit(nbr, [{**line, "quantityOrdered": 3}])
    assert error_of(doc)["fieldName"] == "quantityOrdered"
    # A line number never initialised cannot be created.
    status, doc = await api.commit(nbr, [{**line, "salesOrderLine": 9}])
    assert error_of(doc)["fieldName"] == "salesOrderLine"
    assert api.sim.sales_order(nbr)["lines"] == []  # type: ignore[index]


async def test_commit_is_all_or_nothing(api: Caller) -> None:
    nbr = (await api.header("R1"))["salesOrderNumber"]
    good = await api.prepared_line(nbr, ITEM, 1, "1.00")
    bad = await api.new_line(nbr)
    _status, doc = await api.commit(nbr, [good, {**bad, "itemCode": ITEM2, "quantityOrdered": 1}])
    assert not ok(doc) and api.sim.sales_order(nbr)["lines"] == []  # type: ignore[index]


async def test_field_change_rules(api: Caller) -> None:
    nbr = (await api.header("R1"))["salesOrderNumber"]
    line = await api.new_line(nbr)
    status, doc = await api.field_change({**line, "itemCode": "NOPE"}, "itemCode")
    assert error_of(doc)["fieldName"] == "itemCode"
    status, doc = await api.field_change({**line, "quantityOrdered": 0}, "quantityOrdered")
    assert error_of(doc)["fieldName"] == "quantityOrdered"
    status, doc = await api.field_change({**line, "salesOrderLine": 5}, "itemCode")
    assert error_of(doc)["fieldName"] == "salesOrderLine"  # not initialised
    status, doc = await api.field_change({**line, "lineNote": "x"}, "itemCode")
    assert error_of(doc) == {
        "fieldName": "lineNote",
        "message": "Unknown field lineNote",
        "code": None,
    }
    status, doc = await api.get(FIELD_CHANGE, {"fieldName": "itemCode"})
    assert status == 405 and doc["errors"][0]["code"] == "405"


async def test_initialise_needs_a_known_order_and_reads_need_the_key(api: Caller) -> None:
    status, doc = await api.get(GRID, {"initialize": "true", "salesOrderNumber": "SO999999"})
    assert status == 200 and error_of(doc)["fieldName"] == "salesOrderNumber"
    status, doc = await api.get(HEADERS)
    assert status == 400 and doc == {
        "errors": [
            {
                "severity": 1,
                "code": "400",
                "message": "Missing key field salesOrderNumber",
                "fieldName": "salesOrderNumber",
            }
        ]
    }
    status, doc = await api.get(HEADERS, {"salesOrderNumber": "SO999999"})
    assert status == 200 and doc == {"data": {"salesOrderHeaders": []}}


async def test_update_quantity_close_and_delete_lines(api: Caller) -> None:
    nbr = await api.order("R1", (ITEM, 2, "3.00"), (ITEM2, 1, "4.00"), ("10-1020", 1, "5.00"))
    first, second, third = await api.lines(nbr)
    # A quantity change without fieldChange is refused; through fieldChange UPDATE it lands.
    status, doc = await api.commit(
        nbr, [{**first, "quantityOrdered": 0, "dataOperation": "UPDATE"}]
    )
    assert error_of(doc)["fieldName"] == "quantityOrdered"
    status, doc = await api.field_change(
        {**first, "quantityOrdered": 0}, "quantityOrdered", "UPDATE"
    )
    assert status == 200 and "data" in doc
    changed = {**doc["data"]["salesOrderLines"][0], "netPrice": "2.50", "dataOperation": "UPDATE"}
    closed = {**second, "lineStatus": "C", "dataOperation": "UPDATE"}
    gone = {
        "salesOrderNumber": nbr,
        "salesOrderLine": third["salesOrderLine"],
        "dataOperation": "DELETE",
    }
    status, doc = await api.commit(nbr, [changed, closed, gone])
    assert ok(doc), doc
    assert [
        (ln["quantityOrdered"], ln["netPrice"], ln["lineStatus"]) for ln in await api.lines(nbr)
    ] == [
        (0, 2.5, ""),
        (1, 4.0, "C"),
    ]
    status, doc = await api.commit(nbr, [{**closed, "lineStatus": "X"}])
    assert error_of(doc)["fieldName"] == "lineStatus"


async def test_ship_to_update_needs_the_current_hash(api: Caller) -> None:
    head = await api.header("R1")
    address = {
        "name": "A. Buyer",
        "addressLines": ["1 Main St"],
        "city": "Springfield",
        "stateOrRegion": "IL",
        "postalCode": "62701",
        "countryCode": "US",
    }
    update = {
        "uri": head["uri"],
        "salesOrderNumber": head["salesOrderNumber"],
        "domainCode": "10USA",
        "concurrencyHash": head["concurrencyHash"],
        "shipToAddress": address,
        "dataOperation": "U",
    }
    _, doc = await api.post(HEADERS, {"salesOrderHeaders": [update]}, {"viewUri": SO_VIEW})
    assert ok(doc) and doc["data"]["salesOrderHeaders"][0]["shipToAddress"] == address
    _, doc = await api.post(HEADERS, {"salesOrderHeaders": [update]})  # stale hash now
    assert error_of(doc)["fieldName"] == "concurrencyHash"
    _, fresh = await api.get(HEADERS, {"salesOrderNumber": head["salesOrderNumber"]})
    doc_hash = fresh["data"]["salesOrderHeaders"][0]["concurrencyHash"]
    assert doc_hash != head["concurrencyHash"]
    _, doc = await api.post(
        HEADERS,
        {"salesOrderHeaders": [{**update, "concurrencyHash": doc_hash, "status": "cancelled"}]},
    )
    assert error_of(doc)["fieldName"] == "status"
    _status, doc = await api.post(
        HEADERS,
        {
            "salesOrderHeaders": [
                {**update, "concurrencyHash": doc_hash, "shipToAddress": {"zip": "1"}}
            ]
        },
    )
    assert error_of(doc)["fieldName"] == "zip"


async def test_gp242_finds_the_order_by_its_po(api: Caller) -> None:
    nbr = await api.order("113-4455667-1234567", (ITEM, 1, "1.00"))
    status, doc = await api.browse(
        "urn:browse:mfg:gp242", "so_mstr.so_po,eq,113-4455667-1234567,literal"
    )
    assert status == 200 and doc["auxillaryData"] == {"HasMoreParams": "false"}
    (row,) = doc["data"]
    assert row["so_mstr.so_nbr"] == nbr and set(row) == {
        "so_mstr.so_nbr",
        "so_mstr.so_po",
        "so_mstr.so_cust",
        "so_mstr.so_ord_date",
        "so_mstr.so_curr",
        "so_mstr.so_site",
    }
    status, doc = await api.browse("urn:browse:mfg:gp242", "so_mstr.so_po,eq,nope,literal")
    assert doc["data"] == []
