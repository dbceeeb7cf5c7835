"""A tenant that spells paths, views, browses, columns, parameters and fields differently:
its names work, and the canonical (default) names are refused so a client that ignores its
profile cannot pass by luck."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from engine.sim.qad import QadSimulator
from tests.sim_qad.conftest import (
    FIELD_CHANGE,
    GRID,
    HEADERS,
    RECEIVE_VIEW,
    RECEIVES,
    SO_VIEW,
    STEP,
    Caller,
    error_of,
    header_record,
    ok,
)

RENAMES = {
    "oauth/token": "oauth2/token",
    HEADERS: "api/erp/soHeaders",
    GRID: "api/erp/soLineGrid",
    FIELD_CHANGE: "api/erp/soLines/change",
    RECEIVES: "api/erp/receipts",
    STEP: "checkLine",
    "api/qracore/browses": "api/qracore/browse2",
    SO_VIEW: "urn:be:com.acme.ISoHeader",
    RECEIVE_VIEW: "urn:be:com.acme.IReceipt",
    "urn:browse:mfg:gp242": "urn:browse:mfg:xvbr242",
    "so_mstr.so_po": "so_mstr.so_custpo",
    "purchaseOrder": "customerPO",
    "itemCode": "partCode",
    "salesOrderNumber": "orderNbr",
    "domainCode": "domain",
    "reference": "ref",
}


def tenant_header(ref: str) -> dict[str, Any]:
    rec = header_record(ref)
    return {RENAMES.get(k, k): v for k, v in rec.items()}


@pytest.fixture
async def renamed(tmp_path: Any, http: aiohttp.ClientSession) -> AsyncIterator[Caller]:
    async with QadSimulator(tmp_path / "r.db", renames=RENAMES) as qad:
        caller = Caller(qad, http, RENAMES)
        await caller.login()
        yield caller


async def test_a_sync_in_the_tenants_names_works(renamed: Caller) -> None:
    t = renamed
    status, doc = await t.post(
        t.n(HEADERS), {"salesOrderHeaders": [tenant_header("R-1")]}, {"viewUri": t.n(SO_VIEW)}
    )
    assert ok(doc), doc
    head = doc["data"]["salesOrderHeaders"][0]
    assert (
        head["customerPO"] == "R-1"
        and "purchaseOrder" not in head
        and "salesOrderNumber" not in head
    )
    nbr = head["orderNbr"]
    status, doc = await t.get(t.n(GRID), {"initialize": "true", "orderNbr": nbr})
    line = {**doc["data"]["salesOrderLines"][0], "partCode": "10-1000"}
    status, doc = await t.post(
        t.n(FIELD_CHANGE),
        {"salesOrderLines": [line]},
        {"fieldName": "partCode", "dataOperation": "CREATE"},
    )
    line = {**doc["data"]["salesOrderLines"][0], "quantityOrdered": 2, "netPrice": "9.50"}
    status, doc = await t.post(
        t.n(FIELD_CHANGE),
        {"salesOrderLines": [line]},
        {"fieldName": "quantityOrdered", "dataOperation": "CREATE"},
    )
    status, doc = await t.post(t.n(GRID), {"salesOrderLines": [line]}, {"orderNbr": nbr})
    assert ok(doc), doc
    (read,) = (await t.get(t.n(GRID), {"orderNbr": nbr}))[1]["data"]["salesOrderLines"]
    assert read["partCode"] == "10-1000" and "itemCode" not in read
    status, doc = await t.get(
        t.n("api/qracore/browses"),
        [("browseId", "urn:browse:mfg:xvbr242"), ("filter", "so_mstr.so_custpo,eq,R-1,literal")],
    )
    (row,) = doc["data"]
    assert row["so_mstr.so_nbr"] == nbr and row["so_mstr.so_custpo"] == "R-1"
    assert t.sim.sales_order(nbr)["so_po"] == "R-1"  # type: ignore[index]

    status, doc = await t.get(t.n(RECEIVES), {"siteCode": "10-100"})
    tree = doc["data"]["unplannedProcessorHeaderV2s"][0]
    assert tree["domain"] == "10USA" and "domainCode" not in tree
    detail = tree["unplannedProcessorDetailV2s"][0]
    assert "partCode" in detail and "ref" in detail
    ids = {
        "unplannedProcessorHeaderID": tree["unplannedProcessorHeaderID"],
        "unplannedProcessorDetailID": detail["unplannedProcessorDetailID"],
    }
    for field, value in (("partCode", "10-1000"), ("transactionQuantity", 3)):
        detail = {**detail, field: value, "ref": "ADJ-R"}
        tree = {**tree, "unplannedProcessorDetailV2s": [detail]}
        status, doc = await t.post(
            t.step_path(RECEIVES),
            {"unplannedProcessorHeaderV2s": [tree]},
            {**ids, "fieldName": field},
        )
        assert status == 200 and "data" in doc, doc
        tree = doc["data"]["unplannedProcessorHeaderV2s"][0]
        detail = tree["unplannedProcessorDetailV2s"][0]
    status, doc = await t.post(
        t.n(RECEIVES), {"unplannedProcessorHeaderV2s": [tree]}, {"viewUri": t.n(RECEIVE_VIEW)}
    )
    assert ok(doc), doc
    assert t.sim.tr_hist()[0]["tr_nbr"] == "ADJ-R"
    assert t.sim.on_hand("10-1000", "10-100") == Decimal(103)


async def test_canonical_names_are_refused(renamed: Caller) -> None:
    t = renamed
    # A renamed path under its canonical spelling is not there; nor is a renamed sub-step.
    status, _ = await t.post(HEADERS, {"salesOrderHeaders": [tenant_header("R-2")]})
    assert status == 404
    status, _ = await t.post(f"{t.n(RECEIVES)}/{STEP}", {"unplannedProcessorHeaderV2s": []})
    assert status == 404
    async with t.http.post(t.sim.tenant_url() + "/oauth/token", data={}) as r:
        assert r.status == 404
    # A renamed field under its canonical spelling is an unknown field.
    rec = {**tenant_header("R-2"), "purchaseOrder": "R-2"}
    rec.pop("customerPO")
    status, doc = await t.post(t.n(HEADERS), {"salesOrderHeaders": [rec]})
    assert error_of(doc) == {
        "fieldName": "purchaseOrder",
        "message": "Unknown field purchaseOrder",
        "code": None,
    }
    # A renamed view, browse, column, query parameter and fieldName value likewise.
    status, doc = await t.post(
        t.n(HEADERS), {"salesOrderHeaders": [tenant_header("R-2")]}, {"viewUri": SO_VIEW}
    )
    assert status == 400 and doc["errors"][0]["fieldName"] == "viewUri"
    nbr = (await t.post(t.n(HEADERS), {"salesOrderHeaders": [tenant_header("R-2")]}))[1]["data"][
        "salesOrderHeaders"
    ][0]["orderNbr"]
    status, doc = await t.get(t.n("api/qracore/browses"), {"browseId": "urn:browse:mfg:gp242"})
    assert status == 200 and doc["data"] == []
    status, doc = await t.get(
        t.n("api/qracore/browses"),
        [("browseId", "urn:browse:mfg:xvbr242"), ("filter", "so_mstr.so_po,eq,R-2,literal")],
    )
    assert status == 200 and doc["data"] == []
    status, doc = await t.get(t.n(GRID), {"initialize": "true", "salesOrderNumber": nbr})
    assert status == 400 and doc["errors"][0] == {
        "severity": 1,
        "code": "400",
        "message": "Missing key field orderNbr",
        "fieldName": "orderNbr",
    }
    status, doc = await t.get(t.n(GRID), {"initialize": "true", "orderNbr": nbr})
    line = {**doc["data"]["salesOrderLines"][0], "partCode": "10-1000"}
    status, doc = await t.post(
        t.n(FIELD_CHANGE),
        {"salesOrderLines": [line]},
        {"fieldName": "itemCode", "dataOperation": "CREATE"},
    )
    assert error_of(doc) == {
        "fieldName": "itemCode",
        "message": "Unknown field itemCode",
        "code": None,
    }
    # Business errors name the tenant's field.
    status, doc = await t.post(
        t.n(FIELD_CHANGE),
        {"salesOrderLines": [{**line, "partCode": "NOPE"}]},
        {"fieldName": "partCode", "dataOperation": "CREATE"},
    )
    assert error_of(doc)["fieldName"] == "partCode"


def test_ambiguous_renames_are_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="several names"):
        QadSimulator(tmp_path / "x.db", renames={"itemCode": "code", "siteCode": "code"})
