from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from engine.sim.amazon import AmazonSimulator


class Client:
    """A bare SP-API caller over real HTTP (the project's client lives elsewhere)."""

    def __init__(self, sim: AmazonSimulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http = sim, http
        self.tokens: dict[str, str] = {}

    async def token(self, region: str = "NA", seller: int = 0) -> str:
        s = self.sim.sellers[seller]
        async with self.http.post(
            self.sim.lwa_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": s.refresh_token(region),
                "client_id": s.client_id,
                "client_secret": s.client_secret,
            },
        ) as r:
            assert r.status == 200
            return str((await r.json())["access_token"])

    async def call(
        self, method: str, path: str, region: str = "NA", token: str | None = None, **kw: object
    ) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
        if token is None:
            token = self.tokens.get(region) or await self.token(region)
            self.tokens[region] = token
        async with self.http.request(
            method, self.sim.endpoint(region) + path, headers={"x-amz-access-token": token}, **kw
        ) as r:  # type: ignore[arg-type]
            body = await r.json() if r.content_type == "application/json" else {}
            return r.status, body, r.headers


@pytest.fixture
async def sim() -> AsyncIterator[AmazonSimulator]:
    async with AmazonSimulator(seed=3, orders_per_day=30) as s:
        yield s


@pytest.fixture
async def client(sim: AmazonSimulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(sim, http)
