"""A hostile or broken LWA endpoint: bounded memory, sane token lifetime, one clear error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from engine.adapters.amazon.auth import LWA_BODY_CAP, AmazonAccount, LwaAuth
from engine.errors import RemoteError


@pytest.fixture
async def lwa_server() -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A real HTTP token endpoint whose answer each test sets."""
    answer: dict[str, object] = {"status": 200, "body": b"{}"}

    async def token(_request: web.Request) -> web.StreamResponse:
        body = answer["body"]
        assert isinstance(body, bytes)
        return web.Response(status=int(str(answer["status"])), body=body)

    app = web.Application()
    app.router.add_post("/auth/o2/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/auth/o2/token", answer
    await runner.cleanup()


def _auth(session: aiohttp.ClientSession, url: str, now: datetime) -> LwaAuth:
    account = AmazonAccount("cid", "secret-value", {"NA": "Atzr|refresh"})
    return LwaAuth(session, account, "NA", lwa_url=url, clock=lambda: now)


async def test_oversized_token_answer_is_refused(lwa_server) -> None:
    url, answer = lwa_server
    answer["body"] = b'{"access_token": "Atza|' + b"x" * (LWA_BODY_CAP + 10) + b'"}'
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RemoteError, match="exceeds"):
            await _auth(session, url, datetime.now(UTC)).token()


@pytest.mark.parametrize("expires", ['"soon"', "-5", "99999999", "null"])
async def test_bad_expires_in_never_caches_a_token_past_an_hour(lwa_server, expires) -> None:
    url, answer = lwa_server
    answer["body"] = f'{{"access_token": "Atza|abc", "expires_in": {expires}}}'.encode()
    now = datetime.now(UTC)
    async with aiohttp.ClientSession() as session:
        auth = _auth(session, url, now)
        assert await auth.token() == "Atza|abc"
        assert auth._expires is not None and auth._expires <= now + timedelta(hours=1)
