"""The stricter Reports API and paging of the simulator, over real HTTP:

- a report of one seller/type/marketplaces requested within the cooldown ends CANCELLED [C];
  the engine's client reuses a recent report instead, and its defaults never hit the cooldown
  at the default cadence;
- documents without a charset in Content-Type decode through the client's sniff/fallback;
- paging tokens are bound to the filters of their first page the way each model says.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from engine.adapters.amazon.inventory import mfn_quantities
from engine.adapters.amazon.reports import (
    download_document,
    open_text,
    recent_or_new_report,
    wait_report,
)
from engine.config import InventoryConfig, PollConfig
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.inventory import MFN_REPORT_TYPE, MfnInventoryPoller
from engine.sim.amazon import AmazonSimulator
from tests.amazon.conftest import make_client
from tests.sim_amazon.conftest import Client

US, CA, DE, JP = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1PA6795UKMFR9", "A1VC38T7YXB528"
REPORTS = "/reports/2021-06-30/reports"


async def _create(client: Client, mp: str, region: str = "NA") -> str:
    spec = {"reportType": MFN_REPORT_TYPE, "marketplaceIds": [mp]}
    st, body, _ = await client.call("POST", REPORTS, region=region, json=spec)
    assert st == 202
    return str(body["reportId"])


async def _status(client: Client, rid: str, region: str = "NA") -> str:
    st, body, _ = await client.call("GET", f"{REPORTS}/{rid}", region=region)
    assert st == 200
    return str(body["processingStatus"])


async def test_a_report_requested_again_within_the_cooldown_ends_cancelled(sim, client) -> None:
    assert sim.world.report_rules.cooldown_s == 600.0  # the documented default
    r1 = await _create(client, US)
    sim.advance(timedelta(seconds=60))
    r2 = await _create(client, US)  # 60 s later: too often
    other = await _create(client, CA)  # another marketplace has its own cooldown
    sim.advance(timedelta(seconds=60))
    assert [await _status(client, r) for r in (r1, r2, other)] == ["DONE", "CANCELLED", "DONE"]
    sim.advance(timedelta(seconds=500))  # 620 s after r1; the cancelled r2 started nothing
    r3 = await _create(client, US)
    sim.advance(timedelta(seconds=60))
    assert await _status(client, r3) == "DONE"


async def test_the_cooldown_is_an_option() -> None:
    async with (
        AmazonSimulator(seed=3, report_cooldown_s=0.0) as sim,
        aiohttp.ClientSession() as http,
    ):
        client = Client(sim, http)
        ids = [await _create(client, US), await _create(client, US)]
        sim.advance(timedelta(seconds=60))
        assert [await _status(client, r) for r in ids] == ["DONE", "DONE"]


@pytest.fixture
async def log(tmp_path) -> AsyncIterator[SQLiteEventLog]:
    async with SQLiteEventLog.open(tmp_path / "events.db") as lg:
        yield lg


def _listings(sim: AmazonSimulator) -> list[Any]:
    return [r for r in sim.world.reports.values() if r.report_type == MFN_REPORT_TYPE]


async def _poll(sim: AmazonSimulator, poller: MfnInventoryPoller) -> Any:
    # The report is processed 45 sim seconds after creation: advance while the poller waits.
    import asyncio

    task = asyncio.create_task(poller.poll_once())
    while not task.done():
        await asyncio.sleep(0.05)
        sim.advance(timedelta(seconds=20))
    return task.result()


async def test_client_reuses_a_recent_report_and_a_reread_is_no_new_snapshot(
    sim, tmp_path, log
) -> None:
    async with aiohttp.ClientSession() as http:
        amazon = make_client(sim, http)
        poller = MfnInventoryPoller(amazon, log, [US], raw_dir=tmp_path, min_interval_s=600)
        first = await _poll(sim, poller)
        again = await _poll(sim, poller)  # well within 600 s: the same report, read before
        assert (first.appended, again.appended) == (1, 0)
        assert len(_listings(sim)) == 1  # never asked Amazon for a second one
        # A client without the interval asks again and Amazon cancels: stock unknown.
        eager = MfnInventoryPoller(amazon, log, [US], raw_dir=tmp_path, min_interval_s=0)
        res = await _poll(sim, eager)
        assert res.appended == 0
        state = await log.bookmark(poller.name)
        assert state is not None
        assert (
            state["degraded"][US]["times"] == 1 and "CANCELLED" in state["degraded"][US]["reason"]
        )
        assert await log.head() == 1  # only the first snapshot is in the log
        sim.advance(timedelta(seconds=700))
        assert (await _poll(sim, eager)).appended == 1
        state = await log.bookmark(poller.name)
        assert state is not None and state["degraded"] == {} and state[US] == 2


async def test_the_default_cadence_never_meets_the_default_cooldown(sim, tmp_path, log) -> None:
    every = PollConfig().inventory_every_s
    interval = InventoryConfig().mfn_report_min_interval_s
    assert interval < every and sim.world.report_rules.cooldown_s <= interval
    async with aiohttp.ClientSession() as http:
        poller = MfnInventoryPoller(
            make_client(sim, http), log, [US], raw_dir=tmp_path, min_interval_s=interval
        )
        appended = []
        for _ in range(3):
            appended.append((await _poll(sim, poller)).appended)
            sim.advance(timedelta(seconds=every))
    assert appended == [1, 1, 1]
    statuses = [r.status(sim.world.now()) for r in _listings(sim)]
    assert statuses == ["DONE"] * 3


@pytest.mark.parametrize(
    ("mp", "region", "text", "legacy"),
    [(DE, "EU", "Präzisionsteil", "cp1252"), (JP, "FE", "精密部品", "cp932"), (US, "NA", "", None)],
)
async def test_documents_without_a_charset_decode_through_the_fallback(
    tmp_path, mp, region, text, legacy
) -> None:
    async with (
        AmazonSimulator(seed=3, charsetless_share=1.0) as sim,
        aiohttp.ClientSession() as http,
    ):
        amazon = make_client(sim, http, region)
        rid = await recent_or_new_report(amazon, MFN_REPORT_TYPE, [mp])
        sim.advance(timedelta(seconds=60))
        rep = await wait_report(amazon, rid)
        doc = await download_document(amazon, rep["reportDocumentId"], tmp_path, name=rid)
        assert doc.charset is None  # the download named none
        raw = gzip.decompress(doc.path.read_bytes()) if doc.compressed else doc.path.read_bytes()
        if legacy is not None:  # really a legacy encoding: UTF-8 would not decode it
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        lines = list(open_text(doc, region=region))
        assert text in "".join(lines)
        assert mfn_quantities(lines) == sim.truth.mfn_inventory(None, mp)


async def test_charset_omission_is_deterministic_and_a_share(sim) -> None:
    rules = sim.world.report_rules
    picks = [rules.without_charset(f"doc-{i}") for i in range(400)]
    assert picks == [rules.without_charset(f"doc-{i}") for i in range(400)]
    assert 0.15 < sum(picks) / 400 < 0.35  # default share 0.25


# ------------------------------------------------------------------------------- paging tokens


async def _first_page(client: Client, path: str, params: dict[str, str]) -> tuple[str, Any]:
    st, body, _ = await client.call("GET", path, params=params)
    assert st == 200, body
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    pag = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
    token = payload.get("NextToken") or pag.get("nextToken") or body.get("nextToken")
    assert token, "no second page"
    return str(token), body


def _refused(st: int, body: dict[str, Any]) -> bool:
    errs = body.get("errors")
    return st == 400 and isinstance(errs, list) and errs[0]["code"] == "InvalidInput"


async def test_v0_next_token_needs_the_same_filters(sim, client) -> None:
    after = sim.clock.now() - timedelta(days=5)
    f = {"MarketplaceIds": US, "LastUpdatedAfter": after.strftime("%Y-%m-%dT%H:%M:%SZ")}
    f["MaxResultsPerPage"] = "5"
    token, _ = await _first_page(client, "/orders/v0/orders", f)
    ok = await client.call("GET", "/orders/v0/orders", params={**f, "NextToken": token})
    assert ok[0] == 200
    other = {**f, "LastUpdatedAfter": (after - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for params in (
        {**other, "NextToken": token},  # another window
        {"MarketplaceIds": US, "NextToken": token},  # filters dropped
        {"NextToken": token},  # MarketplaceIds is required [D]
    ):
        st, body, _ = await client.call("GET", "/orders/v0/orders", params=params)
        assert _refused(st, body), params


async def test_fba_next_token_needs_the_same_params(sim, client) -> None:
    path = "/fba/inventory/v1/summaries"
    p = {"granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US}
    token, _ = await _first_page(client, path, {**p, "details": "true"})
    sim.advance(timedelta(seconds=1))  # the usage plan is 2 rps (burst 2); the token lives 30 s
    st, _, _ = await client.call("GET", path, params={**p, "details": "true", "nextToken": token})
    assert st == 200
    for params in (
        {"nextToken": token},  # granularityType/granularityId/marketplaceIds are required [D]
        {**p, "granularityId": CA, "marketplaceIds": CA, "details": "true", "nextToken": token},
    ):
        sim.advance(timedelta(seconds=1))
        st, body, _ = await client.call("GET", path, params=params)
        assert _refused(st, body), params


async def test_v2026_token_alone_is_accepted_other_filters_are_not(sim, client) -> None:
    path = "/orders/2026-01-01/orders"
    after = (sim.clock.now() - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    f = {"marketplaceIds": US, "lastUpdatedAfter": after, "maxResultsPerPage": "5"}
    token, _ = await _first_page(client, path, f)
    assert (await client.call("GET", path, params={"paginationToken": token}))[0] == 200
    assert (await client.call("GET", path, params={**f, "paginationToken": token}))[0] == 200
    st, body, _ = await client.call(
        "GET", path, params={**f, "marketplaceIds": CA, "paginationToken": token}
    )
    assert _refused(st, body)


async def test_reports_next_token_must_be_alone_and_binding_is_an_option(sim, client) -> None:
    for mp in (US, CA, US):
        await _create(client, mp)
        sim.advance(timedelta(seconds=700))
    q = {"reportTypes": MFN_REPORT_TYPE, "pageSize": "1"}
    token, _ = await _first_page(client, REPORTS, q)
    st, body, _ = await client.call("GET", REPORTS, params={**q, "nextToken": token})
    assert _refused(st, body)
    assert (await client.call("GET", REPORTS, params={"nextToken": token}))[0] == 200
    sim.world.paging_rules.filters_must_match = False  # AmazonSimulator(paging_filters_...)
    after = sim.clock.now() - timedelta(days=5)
    f = {"MarketplaceIds": US, "LastUpdatedAfter": after.strftime("%Y-%m-%dT%H:%M:%SZ")}
    token, _ = await _first_page(client, "/orders/v0/orders", {**f, "MaxResultsPerPage": "5"})
    st, _, _ = await client.call("GET", "/orders/v0/orders", params={**f, "NextToken": token})
    assert st == 200  # page size differs and the option is off: accepted
