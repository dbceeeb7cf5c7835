"""Client start-up: URL validation, login, refresh, 401/403 handling (probe: test_client_probe)."""

from __future__ import annotations

import asyncio

import pytest

from engine.adapters.qad import QadClient
from engine.errors import AuthError, ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "http://qad.example.com/clouderp",  # plain http off loopback
        "https://user:pw@qad.example.com/clouderp",
        "https://qad.example.com/clouderp?x=1",
        "https://qad.example.com/clouderp#frag",
        "ftp://qad.example.com/clouderp",
    ],
)
async def test_bad_tenant_urls_fail_before_any_request(session, settings, sim, url):
    before = len(sim.requests)
    with pytest.raises(ConfigError):
        await QadClient(session, settings(tenant_url=url)).start()
    assert len(sim.requests) == before


async def test_wrong_context_root_fails_loudly(session, settings, sim):
    with pytest.raises(ConfigError, match="context root"):
        await QadClient(session, settings(tenant_url=sim.base_url + "/qad-central")).start()


async def test_context_root_is_kept_and_client_id_read_from_security_control(client, sim):
    assert client.transport.base == sim.tenant_url()
    assert client.transport.client_id == "sim-client"
    assert ("GET", "/api/qracore/securityControl") in sim.requests
    assert sim.stats["password_grants"] == 1


async def test_bad_password_is_auth_error(session, settings):
    with pytest.raises(AuthError):
        await QadClient(session, settings(password="wrong")).start()


async def test_403_is_never_retried(session, settings, sim):
    before = sim.stats["password_grants"]
    with pytest.raises(AuthError) as info:
        await QadClient(session, settings(username=sim.noaccess_username)).start()
    assert info.value.status == 403
    assert sim.stats["password_grants"] == before + 1
    assert sim.stats["refresh_grants"] == 0


async def test_expired_token_mid_run_refreshes_once_and_retries(client, sim):
    sim.expire_tokens()
    item = await client.get_item("10-1000")
    assert item is not None and item.code == "10-1000"
    assert sim.stats["unauthorized"] == 1
    assert sim.stats["refresh_grants"] == 1
    # The 401-mid-run fault does the same through the fault plan.
    sim.faults.add("expire_tokens", path="/api/erp/items")
    assert await client.get_item("10-1010") is not None
    assert sim.stats["refresh_grants"] == 2


async def test_token_refreshed_before_expiry(session, settings, tmp_path):
    from engine.sim.qad import QadSimulator

    async with QadSimulator(tmp_path / "t.db", token_ttl_s=3.0) as qad:
        s = settings(tenant_url=qad.tenant_url(), token_refresh_margin_s=2.0)
        async with QadClient(session, s) as c:
            await asyncio.sleep(1.2)
            assert await c.get_item("10-1000") is not None
            assert qad.stats["refresh_grants"] == 1
            assert qad.stats["unauthorized"] == 0


async def test_refresh_token_rejected_falls_back_to_password_grant(client, sim):
    sim.expire_tokens()
    sim.faults.add("status", path="/oauth/token", status=401, message="invalid refresh")
    assert await client.get_item("10-1000") is not None
    assert sim.stats["password_grants"] == 2


async def test_second_401_is_auth_error(client, sim):
    sim.faults.add("status", path="/api/erp/items", status=401, times=2)
    with pytest.raises(AuthError):
        await client.get_item("10-1000")
