"""All Orders report documents as streams, and the report's visibility lag, over real HTTP:

- a month of a busy seller is sent chunked (no Content-Length) and parses incrementally;
- with enableContentEncodingUrlHeader the body comes with Content-Encoding: gzip;
- the ``truncate`` fault cuts the stream: the client sees a broken download, never a short
  but valid document;
- orders show in the report up to 30 minutes late (seeded per order, configurable).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from xml.etree.ElementTree import XMLPullParser

import aiohttp
import defusedxml.ElementTree as SafeET
import pytest

from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.data import DAY
from tests.sim_amazon.conftest import Client
from tests.sim_amazon.test_order_reports import XML, create, finished, updated_in

US = "ATVPDKIKX0DER"


@pytest.fixture
async def busy() -> AsyncIterator[tuple[AmazonSimulator, Client]]:
    async with (
        AmazonSimulator(seed=8, total_orders=2500, history_days=30, order_report_lag_s=0) as sim,
        aiohttp.ClientSession() as http,
    ):
        yield sim, Client(sim, http)


async def _url(client: Client, report: dict[str, object], **params: str) -> str:
    doc = report["reportDocumentId"]
    st, body, _ = await client.call("GET", f"/reports/2021-06-30/documents/{doc}", params=params)
    assert st == 200
    return str(body["url"])


async def test_a_month_streams_chunked_and_parses_incrementally(busy) -> None:
    sim, client = busy
    now = sim.world.now()
    start = now - 30 * DAY
    rep = await finished(sim, client, await create(client, XML, start, now, [US]))
    url = await _url(client, rep)
    inflate = zlib.decompressobj(31)
    parser = XMLPullParser(events=("end",))  # our own simulator's document (no DTD in it)
    ids: list[str] = []
    async with client.http.get(url) as r:
        assert r.status == 200 and r.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in r.headers
        chunks = 0
        async for block in r.content.iter_chunked(16 * 1024):
            chunks += 1
            parser.feed(inflate.decompress(block))
            for _, el in parser.read_events():
                if el.tag == "AmazonOrderID":
                    ids.append(str(el.text))
    parser.feed(inflate.flush())
    parser.close()
    expected = [o.order_id for o in updated_in(sim, start, now, [US])]
    assert len(expected) > 1000 and chunks > 1
    assert ids == expected


async def test_content_encoding_header_variant(sim, client) -> None:
    now = sim.world.now()
    rep = await finished(sim, client, await create(client, XML, now - DAY, now, [US]))
    url = await _url(client, rep, enableContentEncodingUrlHeader="true")
    async with client.http.get(url) as r:  # aiohttp inflates Content-Encoding: gzip itself
        assert r.headers["Content-Encoding"] == "gzip"
        text = await r.text()
    assert text.startswith("<?xml") and text.rstrip().endswith("</AmazonEnvelope>")


async def test_a_truncated_download_never_looks_complete(sim, client) -> None:
    now = sim.world.now()
    rep = await finished(sim, client, await create(client, XML, now - 10 * DAY, now, [US]))
    sim.faults.add("truncate", operation="downloadDocument")
    url = await _url(client, rep)
    with pytest.raises((aiohttp.ClientPayloadError, EOFError, zlib.error)):
        async with client.http.get(url) as r:
            raw = await r.read()
        gzip.decompress(raw)
    async with client.http.get(url) as r:  # the fault was used up: the whole document
        text = gzip.decompress(await r.read()).decode()
    assert text.rstrip().endswith("</AmazonEnvelope>")


async def test_orders_show_up_to_30_minutes_late() -> None:
    async with (
        AmazonSimulator(seed=9, orders_per_day=1000, history_days=1) as sim,
        aiohttp.ClientSession() as http,
    ):
        client = Client(sim, http)
        assert sim.world.order_report_lag_s == 1800.0  # the documented "up to 30 minutes"
        now = sim.world.now()
        rep = await finished(sim, client, await create(client, XML, now - DAY, now, [US]))
        created = now
        url = await _url(client, rep)
        async with client.http.get(url) as r:
            root = SafeET.fromstring(gzip.decompress(await r.read()))
        seen = {el.text for el in root.iter("AmazonOrderID")}
        business = updated_in(sim, now - DAY, now, [US])
        settled = {o.order_id for o in business if o.last_update(created) <= created - 1800}
        recent = {o.order_id for o in business if o.purchased > created - 1800}
        assert settled and settled <= seen  # older than the lag: all there
        assert recent and not recent <= seen  # some of the last 30 minutes not yet
        sim.advance(timedelta(minutes=31) - timedelta(seconds=61))
        end = sim.world.now()  # they may have been paid since: a window up to now
        later = await finished(sim, client, await create(client, XML, now - DAY, end, [US]))
        async with client.http.get(await _url(client, later)) as r:
            root = SafeET.fromstring(gzip.decompress(await r.read()))
        assert recent <= {el.text for el in root.iter("AmazonOrderID")}
