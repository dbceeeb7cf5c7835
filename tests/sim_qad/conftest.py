"""A bare QAD REST caller over real HTTP (plain aiohttp, not the engine's client).

It speaks the wire contract (/tmp/qad14/CONTRACT.md, mirrored in each simulator flow module's
docstring) so the tests state what a real tenant is expected to accept and refuse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from engine.sim.qad import QadSimulator

DOMAIN = "10USA"
SO_VIEW = "urn:be:com.qad.sales.salesorder.ISalesOrderHeader"
RECEIVE_VIEW = "urn:be:com.qad.logistics.unplanned.IUnplannedReceiveV2"
ISSUE_VIEW = "urn:be:com.qad.logistics.unplanned.IUnplannedIssueV2"
HEADERS = "api/erp/salesOrderHeaders"
GRID = "api/erp/salesOrderLinesGrid"
FIELD_CHANGE = "api/erp/salesOrderLines/fieldChange"
RECEIVES = "api/erp/unplannedReceives"
ISSUES = "api/erp/unplannedIssues"
STEP = "validateAndAssignDefaultsLine"
BROWSES = "api/qracore/browses"


class Caller:
    """Authenticated calls to one tenant; ``names`` = the tenant's renames (canonical -> its)."""

    def __init__(
        self, sim: QadSimulator, http: aiohttp.ClientSession, names: Mapping[str, str] | None = None
    ) -> None:
        self.sim, self.http, self.names = sim, http, dict(names or {})
        self.auth = ""

    def n(self, name: str) -> str:
        return self.names.get(name, name)

    def step_path(self, entity: str) -> str:
        return f"{self.n(entity)}/{self.n(STEP)}"

    async def login(self) -> None:
        async with self.http.post(
            self.sim.tenant_url() + "/" + self.n("oauth/token"),
            data={
                "client_id": self.sim.client_id,
                "grant_type": "password",
                "username": self.sim.username,
                "password": self.sim.password,
            },
        ) as r:
            assert r.status == 200, await r.text()
            self.auth = "Bearer " + (await r.json())["access_token"]

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Any = None,
        *,
        domain: bool = True,
    ) -> tuple[int, Any]:
        """(status, parsed JSON); ``path`` is sent as given (already in the tenant's names)."""
        query: list[tuple[str, str]] = list(
            params.items() if isinstance(params, dict) else params or []
        )
        if domain and path.startswith("api/erp/"):
            query.append((self.n("domainCode"), DOMAIN))
        headers = {"Authorization": self.auth, "x-qad-workspace-id": "10USA_10USACO"}
        data = None
        if body is not None:
            data = orjson.dumps(body, default=lambda d: float(d) if isinstance(d, Decimal) else d)
            headers["Content-Type"] = "application/json"
        async with self.http.request(
            method, f"{self.sim.tenant_url()}/{path}", params=query, data=data, headers=headers
        ) as r:
            text = await r.text()
            return r.status, orjson.loads(text) if text else None

    async def get(self, path: str, params: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, None, params, **kw)

    async def post(self, path: str, body: Any, params: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, params, **kw)

    # -- flows in canonical names (tests of renames spell their own) -----------------------------

    async def header(self, ref: str, **extra: Any) -> dict[str, Any]:
        status, doc = await self.post(
            HEADERS,
            {"supplementaryMessages": [], "salesOrderHeaders": [header_record(ref, **extra)]},
            {"viewUri": SO_VIEW},
        )
        assert status == 200 and ok(doc), doc
        return dict(doc["data"]["salesOrderHeaders"][0])

    async def new_line(self, nbr: str) -> dict[str, Any]:
        status, doc = await self.get(GRID, {"initialize": "true", "salesOrderNumber": nbr})
        assert status == 200, doc
        return dict(doc["data"]["salesOrderLines"][0])

    async def field_change(
        self, line: dict[str, Any], field: str, op: str = "CREATE"
    ) -> tuple[int, Any]:
        return await self.post(
            FIELD_CHANGE, {"salesOrderLines": [line]}, {"fieldName": field, "dataOperation": op}
        )

    async def prepared_line(self, nbr: str, item: str, qty: int, price: str) -> dict[str, Any]:
        """initialise -> fieldChange itemCode -> fieldChange quantityOrdered -> own price."""
        line = await self.new_line(nbr)
        status, doc = await self.field_change({**line, "itemCode": item}, "itemCode")
        assert status == 200 and "data" in doc, doc
        line = doc["data"]["salesOrderLines"][0]
        status, doc = await self.field_change({**line, "quantityOrdered": qty}, "quantityOrdered")
        assert status == 200 and "data" in doc, doc
        return {**doc["data"]["salesOrderLines"][0], "netPrice": price, "listPrice": price}

    async def commit(self, nbr: str, lines: list[dict[str, Any]]) -> tuple[int, Any]:
        return await self.post(
            GRID, {"supplementaryMessages": [], "salesOrderLines": lines}, {"salesOrderNumber": nbr}
        )

    async def order(self, ref: str, *lines: tuple[str, int, str]) -> str:
        nbr = str((await self.header(ref))["salesOrderNumber"])
        prepared = [await self.prepared_line(nbr, *ln) for ln in lines]
        status, doc = await self.commit(nbr, prepared)
        assert status == 200 and ok(doc), doc
        return nbr

    async def lines(self, nbr: str) -> list[dict[str, Any]]:
        status, doc = await self.get(GRID, {"salesOrderNumber": nbr})
        assert status == 200, doc
        return list(doc["data"]["salesOrderLines"])

    async def tree(self, site: str = "10-100", path: str = RECEIVES) -> dict[str, Any]:
        status, doc = await self.get(path, {"siteCode": site})
        assert status == 200, doc
        return dict(doc["data"]["unplannedProcessorHeaderV2s"][0])

    async def validate(
        self, tree: dict[str, Any], field: str, path: str = RECEIVES
    ) -> tuple[int, Any]:
        detail = tree["unplannedProcessorDetailV2s"][0]
        return await self.post(
            f"{path}/{STEP}",
            {"unplannedProcessorHeaderV2s": [tree]},
            {
                "unplannedProcessorHeaderID": tree["unplannedProcessorHeaderID"],
                "unplannedProcessorDetailID": detail["unplannedProcessorDetailID"],
                "fieldName": field,
            },
        )

    async def commit_tree(self, tree: dict[str, Any], path: str = RECEIVES) -> tuple[int, Any]:
        view = ISSUE_VIEW if path == ISSUES else RECEIVE_VIEW
        return await self.post(
            path,
            {"supplementaryMessages": [], "unplannedProcessorHeaderV2s": [tree]},
            {"viewUri": view},
        )

    async def validated_tree(
        self, item: str, qty: int, ref: str, *, site: str = "10-100", path: str = RECEIVES
    ) -> dict[str, Any]:
        tree = await self.tree(site, path)
        detail = {
            **tree["unplannedProcessorDetailV2s"][0],
            "itemCode": item,
            "reference": ref,
            "description": f"adjustment {ref}",
        }
        tree = {**tree, "unplannedProcessorDetailV2s": [detail]}
        status, doc = await self.validate(tree, "itemCode", path)
        assert status == 200 and "data" in doc, doc
        tree = doc["data"]["unplannedProcessorHeaderV2s"][0]
        detail = {**tree["unplannedProcessorDetailV2s"][0], "transactionQuantity": qty}
        tree = {**tree, "unplannedProcessorDetailV2s": [detail]}
        status, doc = await self.validate(tree, "transactionQuantity", path)
        assert status == 200 and "data" in doc, doc
        return dict(doc["data"]["unplannedProcessorHeaderV2s"][0])

    async def browse(self, browse_id: str, *filters: str, size: int = 100) -> tuple[int, Any]:
        params = [("browseId", browse_id), ("page", "1"), ("pageSize", str(size))]
        params += [("filter", f) for f in filters]
        return await self.get(BROWSES, params)


def header_record(ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "uri": "",
        "salesOrderNumber": "",
        "domainCode": DOMAIN,
        "soldToCustomerCode": "AMZ-US",
        "billToCustomerCode": "AMZ-US",
        "shipToCustomerCode": "AMZ-US",
        "siteCode": "10-100",
        "currencyCode": "USD",
        "orderDate": "2026-01-05T00:00:00.000Z",
        "dueDate": "2026-01-08T00:00:00.000Z",
        "purchaseOrder": ref,
        "dataOperation": "C",
        "concurrencyHash": "",
        **extra,
    }


def ok(doc: Any) -> bool:
    return bool(doc.get("submitResult", {}).get("success"))


def error_of(doc: Any) -> dict[str, Any]:
    """The one business error of a failed write (asserts it is one)."""
    result = doc["submitResult"]
    assert result["success"] is False and result["errorSeverity"] == 1, doc
    (err,) = result["errors"]
    return dict(err)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def sim(tmp_path: Any) -> AsyncIterator[QadSimulator]:
    async with QadSimulator(tmp_path / "qad.db") as qad:
        yield qad


@pytest.fixture
async def api(sim: QadSimulator, http: aiohttp.ClientSession) -> Caller:
    caller = Caller(sim, http)
    await caller.login()
    return caller
