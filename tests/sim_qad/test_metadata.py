"""``api/qracore/entitymetadatas`` ([G] shape): every path, view, field, browse and column with
its classic table.field, agreeing with the tenant profile's ``db`` metadata; renamed names,
never renamed db names; 404 on a tenant without it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from engine.config.qad_profile import QadBrowses, QadFields, QadPaths
from engine.sim.qad import QadSimulator
from tests.sim_qad.conftest import Caller

META = "api/qracore/entitymetadatas"


def db_of(section: Any, key: str) -> str:
    return next(str(f.metadata["db"]) for f in dataclasses.fields(section) if f.name == key)


async def metadata(caller: Caller) -> dict[str, Any]:
    status, doc = await caller.get(META)
    assert status == 200, doc
    return dict(doc["data"])


async def test_metadata_agrees_with_the_profile(api: Caller) -> None:
    meta = await metadata(api)
    paths, browses, fields = QadPaths(), QadBrowses(), QadFields()
    by_table = {e["table"]: e for e in meta["entityMetadatas"]}
    assert len(by_table) == len(meta["entityMetadatas"])  # one entry per table hint
    for key, path in paths.entity_paths().items():
        assert by_table[db_of(QadPaths, key)]["path"] == path, key
    step = by_table[db_of(QadPaths, "unplanned_validate_step")]
    assert step["path"] == f"{paths.unplanned_receives}/{paths.unplanned_validate_step}"
    for view_key, path_key in QadPaths.VIEW_OF.items():
        assert by_table[db_of(QadPaths, path_key)]["viewUri"] == getattr(paths, view_key)

    listed = {(f["name"], f["dbField"]) for e in meta["entityMetadatas"] for f in e["fields"]}
    for f in dataclasses.fields(QadFields):
        if f.metadata["db"] and getattr(fields, f.name):  # "" = a field not sent by default
            assert (getattr(fields, f.name), f.metadata["db"]) in listed, f.name
    assert ("remarks", "so_mstr.so_rmks") in listed  # what [qad.fields] so_remarks may name

    by_id = {b["browseId"]: b for b in meta["browseMetadatas"]}
    for key, browse_id in browses.browse_ids().items():
        entry = by_id[browse_id]
        assert entry["table"] == db_of(QadBrowses, key), key
        columns = {(c["name"], c["dbField"]) for c in entry["columns"]}
        for col_key, column in browses.columns_of(key).items():
            assert (column, db_of(QadBrowses, col_key)) in columns, col_key
    assert not any(b.startswith("urn:browse:sim:") for b in by_id)


async def test_every_listed_path_and_browse_is_served(api: Caller) -> None:
    meta = await metadata(api)
    for e in meta["entityMetadatas"]:
        assert (await api.get(e["path"]))[0] in (200, 400, 405), e["path"]
    for b in meta["browseMetadatas"]:
        _status, doc = await api.browse(b["browseId"], size=1)
        if doc["data"]:
            assert set(doc["data"][0]) == {c["name"] for c in b["columns"]}, b["browseId"]


async def test_metadata_speaks_the_tenants_names(
    tmp_path: Any, http: aiohttp.ClientSession
) -> None:
    names = {
        "api/erp/salesOrderHeaders": "api/erp/soHeaders",
        "api/erp/unplannedReceives": "api/erp/receipts",
        "validateAndAssignDefaultsLine": "checkLine",
        "urn:be:com.qad.sales.salesorder.ISalesOrderHeader": "urn:be:acme.ISo",
        "purchaseOrder": "customerPO",
        "urn:browse:mfg:gp242": "urn:browse:mfg:xvbr242",
        "so_mstr.so_po": "so_mstr.so_custpo",
    }
    async with QadSimulator(tmp_path / "m.db", renames=names) as qad:
        caller = Caller(qad, http, names)
        await caller.login()
        meta = await metadata(caller)
    by_table = {e["table"]: e for e in meta["entityMetadatas"]}
    so = by_table["so_mstr"]
    assert (so["path"], so["viewUri"]) == ("api/erp/soHeaders", "urn:be:acme.ISo")
    assert {"name": "customerPO", "dbField": "so_mstr.so_po"} in so["fields"]
    assert by_table["tr_hist:validate"]["path"] == "api/erp/receipts/checkLine"
    (gp242,) = [b for b in meta["browseMetadatas"] if b["table"] == "so_mstr"]
    assert gp242["browseId"] == "urn:browse:mfg:xvbr242"
    assert {"name": "so_mstr.so_custpo", "dbField": "so_mstr.so_po"} in gp242["columns"]


@pytest.fixture
async def hidden(tmp_path: Any, http: aiohttp.ClientSession) -> AsyncIterator[Caller]:
    async with QadSimulator(tmp_path / "h.db", metadata=False) as qad:
        caller = Caller(qad, http)
        await caller.login()
        yield caller


async def test_metadata_can_be_missing(hidden: Caller) -> None:
    status, doc = await hidden.get(META)
    assert status == 404 and doc["errors"][0]["code"] == "404"
    assert (await hidden.get("api/erp/items", {"itemCode": "10-1000"}))[0] == 200
