"""Tokens go only to the configured host: a redirect to another origin must not carry them."""

import contextlib

import aiohttp
from aiohttp import web

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.retry import Backoff

TOKEN = "Atza|access-token-that-must-not-leave"


async def serve(app):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_amazon_token_not_sent_to_redirect_target():
    seen: list[dict[str, str]] = []

    async def foreign(request):
        seen.append(dict(request.headers))
        return web.json_response({"payload": []})

    async def token(request):
        return web.json_response({"access_token": TOKEN, "expires_in": 3600})

    evil = web.Application()
    evil.router.add_get("/{tail:.*}", foreign)
    evil_runner, evil_port = await serve(evil)

    async def redirect(request):
        raise web.HTTPFound(f"http://localhost:{evil_port}/collect")

    home = web.Application()
    home.router.add_post("/token", token)
    home.router.add_get("/{tail:.*}", redirect)
    home_runner, port = await serve(home)
    try:
        async with aiohttp.ClientSession() as session:
            client = AmazonClient(
                session,
                AmazonAccount("cid", "client-secret-x", {"NA": "Atzr|refresh"}),
                "NA",
                endpoint=f"http://127.0.0.1:{port}",
                lwa_url=f"http://127.0.0.1:{port}/token",
                backoff=Backoff(max_tries=1),
            )
            # Refusing the redirect with an error is fine; leaking the token is not.
            with contextlib.suppress(Exception):
                await client.call(
                    "getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations"
                )
    finally:
        await home_runner.cleanup()
        await evil_runner.cleanup()
    assert not any(TOKEN in str(h) for h in seen)
