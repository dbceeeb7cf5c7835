"""Paths, methods, domain context and the browses the connector reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from engine.sim.qad import QadSimulator
from tests.sim_qad.conftest import HEADERS, SO_VIEW, Caller, header_record

ENTITY_PATHS = (
    "api/erp/salesOrderHeaders",
    "api/erp/salesOrderLinesGrid",
    "api/erp/salesOrderLines/fieldChange",
    "api/erp/items",
    "api/erp/unplannedReceives",
    "api/erp/unplannedIssues",
    "api/erp/customerInvoices",
    "api/erp/journalEntries",
)


async def test_every_entity_path_answers_a_probe(api: Caller) -> None:
    """GET <path>?domainCode: 200 / 400 (key missing) / 405 (write-only) mean "present"."""
    answers = {p: (await api.get(p))[0] for p in ENTITY_PATHS}
    assert answers == {
        "api/erp/salesOrderHeaders": 400,
        "api/erp/salesOrderLinesGrid": 400,
        "api/erp/salesOrderLines/fieldChange": 405,
        "api/erp/items": 400,
        "api/erp/unplannedReceives": 400,
        "api/erp/unplannedIssues": 400,
        "api/erp/customerInvoices": 405,
        "api/erp/journalEntries": 405,
    }


@pytest.mark.parametrize(
    "path", ["api/erp/inventoryBalances", "api/erp/salesOrders", "api/erp/nope", "api/x"]
)
async def test_invented_and_unknown_paths_are_404(api: Caller, path: str) -> None:
    status, doc = await api.get(path, {"itemCode": "10-1000", "siteCode": "10-100"})
    assert status == 404 and doc == {
        "errors": [{"severity": 1, "code": "404", "message": "Not found", "fieldName": ""}]
    }


async def test_domain_and_view_are_checked(api: Caller) -> None:
    status, doc = await api.get("api/erp/items", {"itemCode": "10-1000"}, domain=False)
    assert status == 400 and doc["errors"][0]["fieldName"] == "domainCode"
    status, doc = await api.get(
        "api/erp/items", {"itemCode": "10-1000", "domainCode": "20EU"}, domain=False
    )
    assert status == 403 and doc["errors"][0]["message"] == "Access is denied"
    status, doc = await api.post(
        HEADERS, {"salesOrderHeaders": [header_record("R1")]}, {"viewUri": "urn:be:com.qad.nope"}
    )
    assert status == 400 and doc["errors"][0]["fieldName"] == "viewUri"
    status, doc = await api.post(
        HEADERS, {"salesOrderHeaders": [header_record("R1")]}, {"viewUri": SO_VIEW}
    )
    assert status == 200
    status, doc = await api.post(
        HEADERS, {"salesOrderHeaders": [header_record("R2", domainCode="20EU")]}
    )
    assert doc["submitResult"]["errors"][0]["fieldName"] == "domainCode"


async def test_item_keyed_get(api: Caller) -> None:
    status, doc = await api.get("api/erp/items", {"itemCode": "10-1000"})
    (item,) = doc["data"]["items"]
    assert item["itemCode"] == "10-1000" and set(item) == {
        "uri",
        "itemCode",
        "description",
        "description2",
        "unitOfMeasure",
        "productLine",
        "itemType",
        "itemStatus",
        "listPrice",
        "domainCode",
    }
    status, doc = await api.post("api/erp/items", {"items": [item]})
    assert status == 405


@pytest.mark.parametrize(
    "browse_id",
    ["urn:browse:mfg:zz999", "urn:browse:sim:inventoryDetail", "urn:browse:sim:inventoryHistory"],
)
async def test_unknown_browse_answers_empty(api: Caller, browse_id: str) -> None:
    status, doc = await api.browse(browse_id)
    assert status == 200 and doc == {"data": [], "auxillaryData": {"HasMoreParams": "false"}}


@pytest.fixture
async def strict404(tmp_path: Any, http: aiohttp.ClientSession) -> AsyncIterator[Caller]:
    async with QadSimulator(tmp_path / "q.db", unknown_browse="404") as qad:
        caller = Caller(qad, http)
        await caller.login()
        yield caller


async def test_unknown_browse_can_answer_404(strict404: Caller) -> None:
    assert (await strict404.browse("urn:browse:mfg:zz999"))[0] == 404
    assert (await strict404.browse("urn:browse:mfg:gp340"))[0] == 200


async def test_a_filter_on_a_missing_column_matches_nothing(api: Caller) -> None:
    status, doc = await api.browse("urn:browse:mfg:gp340", "pt_mstr.pt_nope,eq,1,literal")
    assert status == 200 and doc["data"] == []


async def test_on_hand_browse_sums_to_the_stock(api: Caller) -> None:
    _status, doc = await api.browse(
        "urn:browse:mfg:gp164",
        "ld_det.ld_part,eq,10-1000,literal",
        "ld_det.ld_site,eq,10-FBA,literal",
    )
    rows = doc["data"]
    assert set(rows[0]) == {
        "ld_det.ld_part",
        "ld_det.ld_site",
        "ld_det.ld_loc",
        "ld_det.ld_lot",
        "ld_det.ld_ref",
        "ld_det.ld_status",
        "ld_det.ld_qty_oh",
    }
    assert sum(Decimal(str(r["ld_det.ld_qty_oh"])) for r in rows) == api.sim.on_hand(
        "10-1000", "10-FBA"
    )


async def test_item_and_history_browse_columns(api: Caller) -> None:
    _, doc = await api.browse("urn:browse:mfg:gp340", size=1)
    assert set(doc["data"][0]) == {
        "pt_mstr.pt_part",
        "pt_mstr.pt_desc1",
        "pt_mstr.pt_desc2",
        "pt_mstr.pt_um",
        "pt_mstr.pt_prod_line",
        "pt_mstr.pt_price",
        "pt_mstr.pt_status",
        "pt_mstr.pt_part_type",
    }
    assert doc["auxillaryData"]["HasMoreParams"] == "true"
    done = await api.validated_tree("10-1000", 1, "ADJ-9")
    await api.commit_tree(done)
    _status, doc = await api.browse("urn:browse:mfg:ic763")
    assert set(doc["data"][0]) == {
        "tr_hist.tr_trnbr",
        "tr_hist.tr_type",
        "tr_hist.tr_part",
        "tr_hist.tr_site",
        "tr_hist.tr_loc",
        "tr_hist.tr_serial",
        "tr_hist.tr_qty_loc",
        "tr_hist.tr_effdate",
        "tr_hist.tr_nbr",
        "tr_hist.tr_rmks",
    }
