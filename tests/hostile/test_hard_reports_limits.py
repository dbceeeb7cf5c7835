"""Hostile sizes cost bounded memory: SP-API bodies are read with a cap, report lines too.

Before: a 1 GB getReports body was read whole (2.1 GB RSS) and a 400 MB settlement line became
one string (934 MB). Memory is measured with tracemalloc on 64 MiB inputs: capped reading stays
within a few MiB; the old whole-body/whole-line reads hold at least the 64 MiB.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.reports import Document, list_reports, open_text
from engine.adapters.amazon.retry import Backoff
from engine.adapters.amazon.settlement import SettlementError, parse_settlement
from engine.errors import ParseError, RemoteError, RemoteUnavailable, RetriableRemoteError
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.settlements import (
    SETTLEMENT_REPORT_TYPE,
    SettlementsPollConfig,
    SettlementsPoller,
)
from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.documents import SETTLEMENT_COLUMNS
from tests.amazon.conftest import account_of, make_client

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]

BIG = 64 << 20


@pytest.fixture
async def sim() -> AsyncIterator[AmazonSimulator]:
    async with AmazonSimulator(seed=2, time_scale=60.0, history_days=32, orders_per_day=20) as s:
        yield s


# --------------------------------------------------------------------------- SP-API bodies


async def test_getreports_body_over_its_cap_is_refused_at_once(sim):
    """Per-operation cap, against the simulator: one request, no in-call retries, retriable
    for the next cycle; other operations of the same client keep the default cap."""
    async with aiohttp.ClientSession() as session:
        client = AmazonClient(
            session,
            account_of(sim),
            "NA",
            endpoint=sim.endpoint("NA"),
            lwa_url=sim.lwa_url,
            clock=sim.clock.now,
            backoff=Backoff(base=0.01, cap=0.05, max_tries=4),
            body_caps={"getReports": 300},
        )
        with pytest.raises(RemoteError) as info:
            async for _ in list_reports(client, [SETTLEMENT_REPORT_TYPE]):
                pass
        assert type(info.value).__name__ == "ResponseTooLarge"
        assert isinstance(info.value, RetriableRemoteError)
        assert "getReports" in str(info.value) and "300-byte cap" in str(info.value)
        assert client.stats["requests"] == 1 and client.stats["retries"] == 0
        resp = await client.call(
            "getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations"
        )
        assert resp.body["payload"]


async def serve(handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


def plain_client(session: aiohttp.ClientSession, port: int, max_tries: int = 1) -> AmazonClient:
    async def _token() -> str:
        return "Atza|t"

    client = AmazonClient(
        session,
        AmazonAccount("cid", "secret", {"NA": "Atzr|r"}),
        "NA",
        endpoint=f"http://127.0.0.1:{port}",
        lwa_url=f"http://127.0.0.1:{port}/token",
        backoff=Backoff(base=0.01, cap=0.02, max_tries=max_tries),
    )
    client.auth.token = _token  # type: ignore[method-assign]  # LWA is not under test here
    return client


async def test_chunked_json_body_is_cut_at_the_cap_in_bounded_memory():
    """64 MiB of JSON without Content-Length: reading stops at the cap (1 MiB here) and the
    connection is dropped instead of draining the rest."""
    sent = {"bytes": 0}

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(b'{"reports": [')
            for _ in range(BIG // (1 << 16)):
                await resp.write(b"0," * (1 << 15))
                sent["bytes"] += 1 << 16
            await resp.write(b"0]}")
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what we want
        return resp

    runner, port = await serve(huge)
    try:
        async with aiohttp.ClientSession() as session:
            client = plain_client(session, port)
            client.max_body_bytes = 1 << 20
            tracemalloc.start()
            try:
                with pytest.raises(RemoteError) as info:
                    await client.call("getReports", "GET", "/reports/2021-06-30/reports")
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    finally:
        await runner.cleanup()
    assert type(info.value).__name__ == "ResponseTooLarge"
    assert peak < 16 << 20, peak
    assert sent["bytes"] < BIG


async def test_oversized_error_page_keeps_its_status_meaning():
    """A 503 with a 1 MiB HTML page: the status decides (retried, then RemoteUnavailable)."""
    calls = []

    async def down(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=503, body=b"<html>" + b"x" * (1 << 20))

    runner, port = await serve(down)
    try:
        async with aiohttp.ClientSession() as session:
            client = plain_client(session, port, max_tries=2)
            with pytest.raises(RemoteUnavailable) as info:
                await client.call("getReports", "GET", "/reports/2021-06-30/reports")
    finally:
        await runner.cleanup()
    assert info.value.status == 503 and type(info.value).__name__ == "RemoteUnavailable"
    assert len(calls) == 2


# --------------------------------------------------------------------------- report lines


def settlement_text(description: str) -> str:
    header = "\t".join(SETTLEMENT_COLUMNS)
    summary = ["5001", "2026-01-01 00:00:00 UTC", "2026-01-15 00:00:00 UTC"]
    summary += ["2026-01-16 00:00:00 UTC", "10.00", "USD"] + [""] * 18
    detail = ["5001", "", "", "", "", "", "Order", "111-1", "", "", "", "Amazon.com"]
    detail += ["ItemPrice", description, "10.00", "AFN", "01/05/26", "2026-01-05 00:00:00 UTC"]
    detail += ["1", "", "", "SKU1", "1", ""]
    return "".join("\t".join(r) + "\r\n" for r in ([header], summary, detail))


def on_disk(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8", newline="")
    return Document(path, False, "utf-8", "", path.stat().st_size)


def test_a_64mib_settlement_line_is_refused_in_bounded_memory(tmp_path):
    assert parse_settlement(open_text(on_disk(tmp_path, settlement_text("Principal")))).row_count
    doc = on_disk(tmp_path, settlement_text("Principal" + "x" * BIG))
    tracemalloc.start()
    try:
        with pytest.raises(SettlementError, match="line too long") as info:
            parse_settlement(open_text(doc, region="NA"), keep_rows=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak
    assert info.value.reason_code == "parse_error" and "line 3" in str(info.value)


def test_settlement_parser_refuses_long_lines_from_any_source():
    lines = settlement_text("Principal" + "x" * (2 << 20)).splitlines(keepends=True)
    with pytest.raises(SettlementError, match="line too long"):
        parse_settlement(lines)


def test_line_cap_boundary(tmp_path):
    """The terminator does not count; one character over the cap is refused."""
    ok = on_disk(tmp_path, "0123456789\r\n" + "abcdefghij\n" + "klmnopqrst")
    assert list(open_text(ok, max_line=10)) == ["0123456789\r\n", "abcdefghij\n", "klmnopqrst"]
    for bad in ("01234567890\r\n", "ok\r\n01234567890", "ok\n" + "y" * 50 + "\r\n"):
        with pytest.raises(ParseError, match="too long"):
            list(open_text(on_disk(tmp_path, bad), max_line=10))


async def test_long_settlement_line_over_http_quarantines_that_settlement_only(sim, tmp_path):
    """A 2 MiB line in one settlement document served by the simulator: that settlement is
    quarantined whole (nothing of it applied), every other one is fetched, no re-fetch loop."""
    world = sim.world
    world.sync_settlement_reports()
    rep = next(r for r in world.reports.values() if r.region == "NA" and r.settlement_key)
    assert rep.settlement_key is not None
    st = world.settlements.get(*rep.settlement_key)
    st.rows[0] = dataclasses.replace(st.rows[0], amount_description="P" + "x" * (2 << 20))
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        poller = SettlementsPoller(
            make_client(sim, session, "NA"), log, SettlementsPollConfig(raw_dir=tmp_path / "raw")
        )
        res = await poller.poll_once()
        again = await poller.poll_once()
        evs = [e async for e in log.read(streams=["amazon.settlements"])]
    bad = [e for e in evs if e.type == "SettlementQuarantined"]
    assert [e.payload["report_id"] for e in bad] == [rep.report_id]
    assert "line too long" in bad[0].payload["reason"]
    assert bad[0].payload["reason_code"] == "parse_error"
    truth = {s.settlement_id for s in sim.truth.settlements(region="NA")}
    fetched = {e.key for e in evs if e.type == "SettlementFetched"}
    assert fetched == truth - {st.settlement_id} and fetched
    assert res.quarantined == 1 and again.fetched == 0
