"""One contract, two parties: the QAD client's requests and the simulator's answers are both held
to the shapes public evidence shows (tests/contract/qad_evidence.py).

The client side runs the engine's QadClient through a recording proxy on loopback (real HTTP),
so what is checked is exactly what a real tenant would receive. The simulator side drives the
simulator with requests written from the public loaders, not with the client.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from engine.adapters.qad import (
    CustomerInvoice,
    InventoryAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    LineChange,
    QadClient,
    QadSettings,
    SalesOrder,
    SalesOrderLine,
    SalesOrderUpdate,
)
from engine.sim.qad import QadSimulator
from tests.contract import qad_evidence as ev


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class RecordingProxy:
    """Forwards every request to the simulator's tenant and keeps what the client sent."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> RecordingProxy:
        app = web.Application()
        app.router.add_route("*", "/clouderp/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/clouderp"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        raw = await request.read()
        tail = request.match_info["tail"]
        query = parse_qs(request.query_string, keep_blank_values=True)
        body: Any = None
        if raw:
            ctype = request.headers.get("Content-Type", "")
            body = parse_qs(raw.decode()) if "form" in ctype else json.loads(raw)
        self.seen.append(Seen(request.method, tail, query, body))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with self._session.request(
            request.method,
            f"{self.target}/{tail}",
            params=[(k, v) for k, vs in query.items() for v in vs],
            data=raw or None,
            headers=headers,
        ) as resp:
            return web.Response(
                body=await resp.read(),
                status=resp.status,
                content_type=resp.content_type,
            )


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[QadSimulator]:
    async with QadSimulator(tmp_path / "qad.db", seed=1) as qad:
        yield qad


@pytest.fixture
async def recorded(sim: QadSimulator) -> AsyncIterator[tuple[QadClient, RecordingProxy]]:
    async with RecordingProxy(sim.tenant_url()) as proxy, aiohttp.ClientSession() as session:
        settings = QadSettings(
            tenant_url=proxy.url,
            username=sim.username,
            password=sim.password,
            request_timeout_s=5.0,
        )
        async with QadClient(session, settings) as client:
            yield client, proxy


def _item(sim: QadSimulator, n: int = 0) -> str:
    return str(sim.query("SELECT pt_part FROM pt_mstr ORDER BY pt_part")[n]["pt_part"])


def _check_request(s: Seen) -> ev.RequestShape:
    shape = ev.shape_of(s.method, s.path, s.query)
    assert shape is not None, f"the client sent a request no evidence shows: {s.method} {s.path}"
    missing = shape.query - set(s.query)
    assert not missing, f"{shape.name}: query lacks {missing}"
    if isinstance(s.body, dict):
        invented = ev.walk_keys(s.body) & ev.INVENTED_NEVER_SENT
        assert not invented, f"{shape.name}: sends invented fields {invented}"
    for f in s.query.get("filter", []):
        assert ev.FILTER.match(f), f"{shape.name}: filter {f!r} is not field,op,value,literal"
    if shape.name == "sales order header":
        (header,) = s.body["salesOrderHeaders"]
        allowed = ev.SO_HEADER_FIELDS_C | ev.SO_HEADER_FIELDS_G
        assert not set(header) & ev.INVENTED_IN_HEADER, header
        assert set(header) <= allowed, f"header fields beyond evidence: {set(header) - allowed}"
        assert set(s.body) == {"supplementaryMessages", "salesOrderHeaders"}
        for key in ("orderDate", "dueDate"):
            if key in header:
                assert ev.QDATE.match(header[key]), header[key]
    if shape.name == "line field change":
        assert s.query["fieldName"][0] in ev.LINE_FIELD_CHANGES_C
    if shape.name.endswith("commit") and shape.name.startswith("unplanned"):
        (tree,) = s.body["unplannedProcessorHeaderV2s"]
        for detail in tree["unplannedProcessorDetailV2s"]:
            assert set(detail) | {"lotSerial", "description"} >= ev.UNPLANNED_DETAIL_C
    return shape


async def test_every_request_of_every_flow_matches_the_public_evidence(
    recorded: tuple[QadClient, RecordingProxy], sim: QadSimulator
) -> None:
    client, proxy = recorded
    a, b = _item(sim, 0), _item(sim, 1)
    so = SalesOrder(
        reference="114-0000001-0000001",
        customer=str(sim.query("SELECT cm_addr FROM cm_mstr ORDER BY cm_addr")[0]["cm_addr"]),
        order_date=date(2026, 11, 30),
        lines=(
            SalesOrderLine(item=a, quantity=Decimal(2), price=Decimal("10.00")),
            SalesOrderLine(item=b, quantity=Decimal(1), price=Decimal("4.50")),
        ),
    )
    first = await client.post_sales_order(so)
    again = await client.post_sales_order(so)
    assert first.created and not again.created and first.document == again.document
    await client.update_sales_order(
        SalesOrderUpdate(reference=so.reference, lines=(LineChange(line=1, quantity=Decimal(3)),))
    )
    await client.update_sales_order(SalesOrderUpdate(reference=so.reference, cancel=True))
    for qty, ref in ((Decimal(5), "ADJ-C-1"), (Decimal(-2), "ADJ-C-2")):
        await client.post_inventory_adjustment(
            InventoryAdjustment(
                reference=ref,
                item=a,
                site="10-100",
                quantity=qty,
                effective_date=date(2026, 11, 30),
                remarks="contract",
            )
        )
    await client.inventory_balance(a, "10-100")
    customer = so.customer
    await client.post_customer_invoice(
        CustomerInvoice(
            reference="SETTLE-C-1",
            customer=customer,
            invoice_date=date.today(),
            amount=Decimal("12.00"),
            lines=(InvoiceLine(account=_account(sim), amount=Decimal("12.00")),),
        )
    )
    await client.post_journal_entry(
        JournalEntry(
            reference="SETTLE-C-1-J",
            posting_date=date.today(),
            lines=(
                JournalLine(account=_account(sim), debit=Decimal("1.50")),
                JournalLine(account=_account(sim, 1), credit=Decimal("1.50")),
            ),
        )
    )
    names = [_check_request(s).name for s in proxy.seen]
    for needed in (
        "sales order header",
        "line grid initialize",
        "line field change",
        "line grid commit",
        "unplanned receipt init",
        "unplanned receipt validate",
        "unplanned receipt commit",
        "unplanned issue commit",
        "customer invoice",
        "journal entry",
    ):
        assert needed in names, f"the flows never sent a {needed!r} request"
    _assert_line_order(proxy.seen)
    _assert_unplanned_validated_before_commit(proxy.seen)


def _account(sim: QadSimulator, n: int = 0) -> str:
    return str(sim.query("SELECT ac_code FROM ac_mstr ORDER BY ac_code")[n]["ac_code"])


def _assert_line_order(seen: list[Seen]) -> None:
    """Lines are added the UI's way: header, initialize, fieldChange item then quantity, commit."""
    steps = [ev.shape_of(s.method, s.path, s.query) for s in seen]
    kinds = [
        (st.name, s.query.get("fieldName", [""])[0])
        for st, s in zip(steps, seen, strict=True)
        if st
    ]
    header = kinds.index(("sales order header", ""))
    commit = kinds.index(("line grid commit", ""))
    between = kinds[header:commit]
    assert ("line grid initialize", "") in between
    item = between.index(("line field change", "itemCode"))
    qty = between.index(("line field change", "quantityOrdered"))
    assert item < qty, "quantity field-changed before the item"


def _assert_unplanned_validated_before_commit(seen: list[Seen]) -> None:
    validated: dict[str, set[str]] = {}
    commits = 0
    for s in seen:
        shape = ev.shape_of(s.method, s.path, s.query)
        if shape is None or not shape.name.startswith("unplanned"):
            continue
        if shape.name.endswith("validate"):
            hid = s.query["unplannedProcessorHeaderID"][0]
            validated.setdefault(hid, set()).add(s.query["fieldName"][0])
        if shape.name.endswith("commit"):
            (tree,) = s.body["unplannedProcessorHeaderV2s"]
            hid = str(tree["unplannedProcessorHeaderID"])
            assert {"itemCode", "transactionQuantity"} <= validated.get(hid, set())
            commits += 1
    assert commits == 2


# -- the simulator, driven with the public loaders' requests ----------------------------------


@pytest.fixture
async def http(
    sim: QadSimulator,
) -> AsyncIterator[tuple[aiohttp.ClientSession, str, dict[str, str]]]:
    base = sim.tenant_url()
    async with aiohttp.ClientSession() as s:
        basic = base64.b64encode(f"{sim.username}:{sim.password}".encode()).decode()
        sec = await s.get(
            f"{base}/api/qracore/securityControl", headers={"Authorization": f"Basic {basic}"}
        )
        client_id = (await sec.json())["data"]["securityControls"][0]["clientId"]
        tok = await s.post(
            f"{base}/oauth/token",
            data={
                "client_id": client_id,
                "grant_type": "password",
                "username": sim.username,
                "password": sim.password,
            },
        )
        body = await tok.json()
        assert {"access_token", "refresh_token", "expires_in"} <= set(body)
        headers = {
            "Authorization": f"Bearer {body['access_token']}",
            "x-qad-workspace-id": "10USA_10USACO",
        }
        yield s, base, headers


async def _json(resp: aiohttp.ClientResponse) -> Any:
    return json.loads(await resp.read())


async def test_simulator_answers_the_loader_sales_order_flow_in_evidence_shapes(
    http: tuple[aiohttp.ClientSession, str, dict[str, str]], sim: QadSimulator
) -> None:
    s, base, h = http
    customer = str(sim.query("SELECT cm_addr FROM cm_mstr ORDER BY cm_addr")[0]["cm_addr"])
    header = {
        "uri": "",
        "salesOrderNumber": "",
        "domainCode": "10USA",
        "soldToCustomerCode": customer,
        "billToCustomerCode": customer,
        "shipToCustomerCode": customer,
        "siteCode": "10-100",
        "currencyCode": "USD",
        "orderDate": "2026-11-30T00:00:00.000Z",
        "dueDate": "2026-11-30T00:00:00.000Z",
        "daybookSetCode": "",
        "dataOperation": "C",
        "concurrencyHash": "",
    }
    r = await s.post(
        f"{base}/api/erp/salesOrderHeaders",
        params={"viewUri": ev.SO_VIEW, "domainCode": "10USA"},
        json={"supplementaryMessages": [], "salesOrderHeaders": [header]},
        headers=h,
    )
    assert r.status == 200
    (created,) = ev.assert_write_ok(await _json(r), "salesOrderHeaders")
    nbr = created["salesOrderNumber"]
    assert nbr and "salesOrderLines" not in created
    r = await s.get(
        f"{base}/api/erp/salesOrderLinesGrid",
        params={"initialize": "true", "domainCode": "10USA", "salesOrderNumber": nbr},
        headers=h,
    )
    (line,) = (await _json(r))["data"]["salesOrderLines"]
    for name, value in (("itemCode", _item(sim)), ("quantityOrdered", 2)):
        line = {**line, name: value}
        r = await s.post(
            f"{base}/api/erp/salesOrderLines/fieldChange",
            params={"fieldName": name, "dataOperation": "CREATE", "domainCode": "10USA"},
            json={"salesOrderLines": [line]},
            headers=h,
        )
        assert r.status == 200
        (line,) = (await _json(r))["data"]["salesOrderLines"]
    assert line["unitOfMeasure"] and Decimal(str(line["listPrice"])) > 0  # QAD defaulted them
    r = await s.post(
        f"{base}/api/erp/salesOrderLinesGrid",
        params={"domainCode": "10USA", "salesOrderNumber": nbr},
        json={"supplementaryMessages": [], "salesOrderLines": [line]},
        headers=h,
    )
    (stored,) = ev.assert_write_ok(await _json(r), "salesOrderLines")
    assert Decimal(str(stored["quantityOrdered"])) == 2
    # The same header again is QAD's duplicate error 2041 [C].
    r = await s.post(
        f"{base}/api/erp/salesOrderHeaders",
        params={"viewUri": ev.SO_VIEW, "domainCode": "10USA"},
        json={
            "supplementaryMessages": [],
            "salesOrderHeaders": [{**header, "salesOrderNumber": nbr}],
        },
        headers=h,
    )
    assert r.status == 200
    errors = ev.assert_business_error(await _json(r))
    assert any(str(e["code"]) == "2041" and "already exist" in e["message"] for e in errors)


async def test_simulator_rejects_what_no_evidence_shows(
    http: tuple[aiohttp.ClientSession, str, dict[str, str]], sim: QadSimulator
) -> None:
    s, base, h = http
    customer = str(sim.query("SELECT cm_addr FROM cm_mstr ORDER BY cm_addr")[0]["cm_addr"])
    inline = {
        "salesOrderNumber": "",
        "domainCode": "10USA",
        "soldToCustomerCode": customer,
        "siteCode": "10-100",
        "orderDate": "2026-11-30T00:00:00.000Z",
        "dataOperation": "C",
        "salesOrderLines": [{"itemCode": _item(sim), "quantityOrdered": 1}],
    }
    r = await s.post(
        f"{base}/api/erp/salesOrderHeaders",
        params={"viewUri": ev.SO_VIEW, "domainCode": "10USA"},
        json={"supplementaryMessages": [], "salesOrderHeaders": [inline]},
        headers=h,
    )
    ev.assert_business_error(await _json(r))
    assert sim.sales_orders() == []
    for invented in ("inventoryBalances", "salesOrders"):
        r = await s.get(f"{base}/api/erp/{invented}", params={"domainCode": "10USA"}, headers=h)
        assert r.status == 404, invented
    # A made-up browse code answers nothing rather than an error [C/I].
    r = await s.get(
        f"{base}/api/qracore/browses",
        params={"browseId": "urn:browse:sim:inventoryHistory", "page": "1", "pageSize": "5"},
        headers=h,
    )
    assert r.status == 200 and ev.assert_browse_page(await _json(r)) == []
    # One POST with a hand-built tree (no init, no validation) is not how a receipt is made.
    tree = {
        "domainCode": "10USA",
        "siteCode": "10-100",
        "unplannedProcessorDetailV2s": [
            {"itemCode": _item(sim), "transactionQuantity": 1, "location": "", "reference": "X"}
        ],
    }
    r = await s.post(
        f"{base}/api/erp/unplannedReceives",
        params={"viewUri": ev.RECEIVE_VIEW, "domainCode": "10USA"},
        json={"supplementaryMessages": [], "unplannedProcessorHeaderV2s": [tree]},
        headers=h,
    )
    ev.assert_business_error(await _json(r))
    assert sim.tr_hist() == [] or all(t["tr_nbr"] != "X" for t in sim.tr_hist())


async def test_simulator_browses_and_errors_have_the_evidence_envelopes(
    http: tuple[aiohttp.ClientSession, str, dict[str, str]], sim: QadSimulator
) -> None:
    s, base, h = http
    item = _item(sim)
    r = await s.get(
        f"{base}/api/qracore/browses",
        params=[
            ("browseId", "urn:browse:mfg:gp340"),
            ("page", "1"),
            ("pageSize", "2"),
            ("pageAction", "first"),
            ("filter", f"pt_mstr.pt_part,eq,{item},literal"),
        ],
        headers=h,
    )
    (row,) = ev.assert_browse_page(await _json(r))
    assert row["pt_mstr.pt_part"] == item
    r = await s.get(f"{base}/api/erp/items", params={"domainCode": "10USA"}, headers=h)
    assert r.status == 400
    (err,) = (await _json(r))["errors"]
    assert {"severity", "code", "message", "fieldName"} <= set(err)
    r = await s.get(
        f"{base}/api/erp/items",
        params={"domainCode": "10USA", "itemCode": item},
        headers={**h, "Authorization": "Bearer not-a-token"},
    )
    assert r.status == 401
