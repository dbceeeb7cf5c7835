"""Simulator: seed, restarts (flow state included), browse grammar/paging, control prefix."""

from __future__ import annotations

from decimal import Decimal

import aiohttp

from engine.sim import business
from engine.sim.qad import QadSimulator
from engine.sim.qad.store.schema import CHARGE_ITEMS
from tests.sim_qad.conftest import Caller


async def _token(s: aiohttp.ClientSession, qad: QadSimulator) -> dict[str, str]:
    r = await s.post(
        qad.tenant_url() + "/oauth/token",
        data={
            "client_id": qad.client_id,
            "grant_type": "password",
            "username": qad.username,
            "password": qad.password,
        },
    )
    assert r.status == 200
    return {"Authorization": "Bearer " + (await r.json())["access_token"]}


async def test_seed_matches_the_shared_business(sim):
    items = {r["pt_part"]: r for r in sim.query("SELECT * FROM pt_mstr")}
    cat = business.catalog()
    # The catalog plus the non-inventory charge items orders' shipping/gift wrap/tax go on.
    assert set(items) == {it.item_code for it in cat} | set(CHARGE_ITEMS)
    assert items[cat[0].item_code]["pt_price"] == cat[0].list_price
    customers = {r["cm_addr"] for r in sim.query("SELECT cm_addr FROM cm_mstr")}
    assert customers == {m.qad_customer for m in business.MARKETPLACES}
    accounts = {r["ac_code"] for r in sim.query("SELECT ac_code FROM ac_mstr")}
    assert accounts == set(business.ACCOUNTS)
    assert sim.on_hand(cat[0].item_code, "10-FBA") == Decimal(100)
    assert len(sim.query("SELECT * FROM glc_cal WHERE glc_closed=0")) >= 13


async def test_state_survives_restart(tmp_path, session):
    path = tmp_path / "state.db"
    async with QadSimulator(path) as qad:
        api = Caller(qad, session)
        await api.login()
        nbr = await api.order("111-222", ("10-1000", 3, "12.34"))
        # A line initialised and field-changed but not committed survives a restart too.
        pending = await api.prepared_line(nbr, "10-1010", 1, "1.00")
    async with QadSimulator(path) as again:
        orders = again.sales_orders()
        assert [o["so_po"] for o in orders] == ["111-222"]
        assert orders[0]["lines"][0]["sod_price"] == Decimal("12.34")
        assert again.on_hand("10-1000", "10-100") == Decimal(100)  # not reseeded
        api = Caller(again, session)
        await api.login()
        status, doc = await api.commit(nbr, [pending])
        assert status == 200 and doc["submitResult"]["success"] is True, doc
        assert [ln["sod_part"] for ln in again.sales_order(nbr)["lines"]] == ["10-1000", "10-1010"]


async def test_browse_filters_and_paging(sim, session):
    h = await _token(session, sim)
    url = sim.tenant_url() + "/api/qracore/browses"
    seen, page = [], 1
    while True:
        r = await session.get(
            url,
            params=[("browseId", "urn:browse:mfg:gp340"), ("page", str(page)), ("pageSize", "5")],
            headers=h,
        )
        doc = await r.json()
        seen += [row["pt_mstr.pt_part"] for row in doc["data"]]
        if doc["auxillaryData"]["HasMoreParams"] == "false":
            break
        page += 1
    assert len(seen) == len(set(seen)) == 24 + len(CHARGE_ITEMS) and page == 6

    async def count(*filters: str) -> int:
        r = await session.get(
            url + "/totalCount/",
            params=[("browseId", "mfg:gp340"), *(("filter", f) for f in filters)],
            headers=h,
        )
        return int((await r.json())["data"]["totalCount"])

    assert await count("pt_mstr.pt_part,eq,10-1000,literal") == 1
    assert await count("pt_mstr.pt_part,rg,10-1000,literal,10-1040,literal") == 5
    assert await count("pt_mstr.pt_desc1,cn,clamp,literal") >= 1
    assert await count("pt_mstr.pt_part,sw,10-10,literal") == 10
    assert await count("pt_mstr.pt_part,ew,0,literal") == 24
    assert await count("pt_mstr.pt_price,gt,0,literal", "pt_mstr.pt_price,le,0,literal") == 0
    r = await session.get(url, params={"browseId": "urn:browse:nope"}, headers=h)
    assert r.status == 200 and (await r.json())["data"] == []  # unknown browse: no rows
    r = await session.get(
        url, params={"browseId": "mfg:gp340", "filter": "pt_mstr.pt_part,zz,1,literal"}, headers=h
    )
    assert r.status == 400


async def test_keyed_get_missing_key_is_400_and_health_needs_no_auth(sim, session):
    h = await _token(session, sim)
    r = await session.get(sim.tenant_url() + "/api/erp/items?domainCode=10USA", headers=h)
    assert r.status == 400
    assert (await r.json())["errors"][0]["fieldName"] == "itemCode"
    r = await session.get(sim.tenant_url() + "/api/erp/items?itemCode=10-1000&domainCode=10USA")
    assert r.status == 401
    r = await session.get(sim.tenant_url("fresh") + "/__sim/health")
    assert (await r.json())["status"] == "ok"


async def test_faults_over_http_control_prefix(sim, session):
    h = await _token(session, sim)
    r = await session.post(
        sim.tenant_url() + "/__sim/faults",
        json={"faults": [{"kind": "status", "status": 503, "path": "/api/erp/items"}]},
    )
    assert r.status == 200
    item = sim.tenant_url() + "/api/erp/items?itemCode=10-1000&domainCode=10USA"
    r = await session.get(item, headers=h)
    assert r.status == 503
    r = await session.get(item, headers=h)
    assert r.status == 200  # times=1
    r = await session.post(sim.tenant_url() + "/__sim/faults", json={"faults": [{"kind": "x"}]})
    assert r.status == 400
