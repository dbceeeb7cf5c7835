"""The report document URL and its redirects stay on https, and downloads are size-capped.

``getReportDocument`` hands us a URL and the storage host may redirect: both are remote input.
A test resolver sends every host name to 127.0.0.1, so ``http://storage.evil.example`` is a real
server here (recording hits) while the engine must still treat it as a foreign plain-http host.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from engine.adapters.amazon import reports
from engine.errors import RemoteError, RetriableRemoteError
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.sim.amazon import AmazonSimulator
from tests.amazon.conftest import make_client

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


class EveryNameIsLoopback(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def sim():
    async with AmazonSimulator(seed=2, time_scale=60.0, history_days=32, orders_per_day=20) as s:
        yield s


@pytest.fixture
async def session():
    conn = aiohttp.TCPConnector(resolver=EveryNameIsLoopback())
    async with aiohttp.ClientSession(connector=conn) as s:
        yield s


@pytest.fixture
async def evil():
    """A server that must never be contacted; ``hits`` lists the paths asked for."""
    hits: list[str] = []

    async def collect(request: web.Request) -> web.StreamResponse:
        hits.append(request.path_qs)
        if request.path == "/chunked":  # a body without Content-Length, 4 MiB
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await resp.prepare(request)
            for _ in range(64):
                await resp.write(b"x" * (1 << 16))
            await resp.write_eof()
            return resp
        return web.Response(body=b"pwned\n")

    app = web.Application()
    app.router.add_get("/{tail:.*}", collect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, hits
    await runner.cleanup()


async def poll(sim: AmazonSimulator, session: Any, tmp_path: Any) -> tuple[Any, list[Any]]:
    raw = tmp_path / "raw"
    async with SQLiteEventLog.open(tmp_path / "e.db") as log:
        poller = SettlementsPoller(
            make_client(sim, session, "NA"), log, SettlementsPollConfig(raw_dir=raw)
        )
        res = await poller.poll_once()
        evs = [e async for e in log.read(streams=["amazon.settlements"])]
    return res, evs


async def refused(sim: AmazonSimulator, session: Any, tmp_path: Any) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        await poll(sim, session, tmp_path)
    assert isinstance(info.value, RetriableRemoteError)  # this flow waits a cycle; others go on
    return info.value


def files(tmp_path: Any) -> list[str]:
    raw = tmp_path / "raw"
    return sorted(p.name for p in raw.rglob("*") if p.is_file()) if raw.exists() else []


async def assert_nothing_lost(sim: AmazonSimulator, session: Any, tmp_path: Any) -> None:
    """The refused report was left unprocessed: a clean poll fetches every settlement."""
    res, evs = await poll(sim, session, tmp_path)
    truth = {s.settlement_id for s in sim.truth.settlements(region="NA")}
    assert truth and res.quarantined == 0
    assert sorted(e.key for e in evs if e.type == "SettlementFetched") == sorted(truth)


@pytest.mark.parametrize(
    "base",
    [
        "http://storage.evil.example:{evil}",  # plain http to a non-loopback host
        "http://127.0.0.1.evil.example:{evil}",
        "file://",
        "ftp://127.0.0.1:{evil}",
        "http://user:secret@127.0.0.1:{sim}",  # userinfo: credentials in the URL
        "//127.0.0.1:{evil}",  # relative to nothing
    ],
)
async def test_unsafe_document_url_is_never_fetched(sim, session, evil, tmp_path, base):
    port, hits = evil
    good = sim.world.base_url
    sim.world.base_url = base.format(evil=port, sim=sim.port)
    exc = await refused(sim, session, tmp_path)
    assert hits == [] and files(tmp_path) == []
    assert type(exc).__name__ == "UnsafeUrl", exc
    assert "X-Amz-Signature" not in str(exc)  # the pre-signed URL is a secret: not in messages
    sim.world.base_url = good
    await assert_nothing_lost(sim, session, tmp_path)


@pytest.mark.parametrize(
    "location",
    [
        "http://storage.evil.example:{evil}/collect",
        "//storage.evil.example:{evil}/collect",  # scheme-relative: inherits http
        "file:///etc/passwd",
        "ftp://127.0.0.1:{evil}/x",
        "http://user:secret@127.0.0.1:{evil}/x",
    ],
)
async def test_unsafe_redirect_is_never_followed(sim, session, evil, tmp_path, location):
    port, hits = evil
    rule = sim.faults.add(
        "redirect", operation="downloadDocument", location=location.format(evil=port), count=None
    )
    exc = await refused(sim, session, tmp_path)
    assert hits == [] and files(tmp_path) == []
    assert type(exc).__name__ == "UnsafeUrl", exc
    sim.faults.remove(rule)
    await assert_nothing_lost(sim, session, tmp_path)


async def test_safe_redirects_are_followed(sim, session, tmp_path):
    """Two relative redirects on the storage host itself: followed, documents as usual."""
    sim.faults.add("redirect", operation="downloadDocument", count=2)
    await assert_nothing_lost(sim, session, tmp_path)
    assert not sim.faults.rules  # both hops were really taken


async def test_redirect_loop_is_cut_after_five_hops(sim, session, tmp_path):
    rule = sim.faults.add("redirect", operation="downloadDocument", count=100)
    exc = await refused(sim, session, tmp_path)
    assert type(exc).__name__ == "UnsafeUrl" and "redirects" in str(exc)
    left = next(r.count for r in sim.faults.rules if r.id == rule)
    assert left == 100 - 6  # the first answer and five followed redirects, no more
    assert files(tmp_path) == []
    sim.faults.remove(rule)
    await assert_nothing_lost(sim, session, tmp_path)


async def test_document_over_the_size_cap_is_refused_and_removed(
    sim, session, tmp_path, monkeypatch
):
    monkeypatch.setattr(reports, "MAX_DOCUMENT_BYTES", 1000)
    exc = await refused(sim, session, tmp_path)
    assert type(exc).__name__ == "ResponseTooLarge" and "1000-byte cap" in str(exc)
    assert files(tmp_path) == []  # no .part left behind
    monkeypatch.undo()
    await assert_nothing_lost(sim, session, tmp_path)


async def test_document_decoding_over_the_cap_is_refused_and_removed(
    sim, session, tmp_path, monkeypatch
):
    """A small gzip that inflates past MAX_DECODED_BYTES (a gzip bomb) is not kept."""
    monkeypatch.setattr(reports, "MAX_DECODED_BYTES", 5000)
    exc = await refused(sim, session, tmp_path)
    assert type(exc).__name__ == "ResponseTooLarge", exc
    assert files(tmp_path) == []
    monkeypatch.undo()
    await assert_nothing_lost(sim, session, tmp_path)


async def test_chunked_document_is_cut_at_the_cap(sim, session, evil, tmp_path, monkeypatch):
    """No Content-Length to refuse up front: the stream is counted and cut, the .part removed."""
    port, hits = evil
    monkeypatch.setattr(reports, "MAX_DOCUMENT_BYTES", 256 << 10)
    rule = sim.faults.add(
        "redirect",
        operation="downloadDocument",
        location=f"http://127.0.0.1:{port}/chunked",  # loopback http: allowed (simulators)
        count=None,
    )
    exc = await refused(sim, session, tmp_path)
    assert hits == ["/chunked"]
    assert type(exc).__name__ == "ResponseTooLarge", exc
    assert files(tmp_path) == []
    sim.faults.remove(rule)
    monkeypatch.undo()
    await assert_nothing_lost(sim, session, tmp_path)
