"""Issue 21.1: the Listings write path's seller id (config wins over the vault; none: park/ping)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.listings import ListingsAdapter, get_listing
from engine.config import Config
from engine.dispatch.retry import RetryPolicy
from engine.errors import Rejected
from engine.log import SQLiteEventLog
from engine.ops.credentials import amazon_account
from engine.ops.ping import run_checks
from engine.security.keys import generate_key
from engine.security.vault import AmazonCredential, Vault
from engine.sim.business import catalog
from tests.amazon.conftest import account_of

US = "ATVPDKIKX0DER"


def _credential(sim, seller_id: str = "") -> AmazonCredential:
    s = sim.sellers[0]
    return AmazonCredential(
        name="default",
        client_id=s.client_id,
        client_secret=s.client_secret,
        refresh_tokens={r: c.refresh_token for r, c in s.regions.items()},
        seller_id=seller_id,
    )


def _with_seller(cfg: Config, seller_id: str) -> Config:
    return dataclasses.replace(cfg, amazon=dataclasses.replace(cfg.amazon, seller_id=seller_id))


async def _attempts(db: str, sku: str) -> list[tuple[str, str]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        rows = await log.query(
            "SELECT a.outcome, a.response FROM commands c JOIN attempts a USING (command_id) "
            "WHERE c.kind = 'amazon.listing.patch' AND c.record_key = ? ORDER BY a.id",
            (sku,),
        )
    return [(r[0], r[1]) for r in rows]


async def _change_price(w, eng) -> tuple[str, Decimal]:
    item = catalog()[3]
    await eng.sync_once()  # baseline: the first item version patches nothing
    new_price = (item.list_price + Decimal("1.25")).quantize(Decimal("0.01"))
    w.qad.query(
        "UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?", (str(new_price), item.item_code)
    )
    await eng.sync_once()
    return item.sku, new_price


async def test_config_seller_id_wins_and_patches_the_listing(make_world):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        seller = w.amazon.sellers[0].seller_id
        cfg = _with_seller(w.config(), seller)
        # The vault holds no seller id (or a stale one): config's wins either way.
        assert amazon_account(cfg, _credential(w.amazon, "")).seller_id == seller
        assert amazon_account(cfg, _credential(w.amazon, "ASTALE0001")).seller_id == seller
        assert amazon_account(w.config(), _credential(w.amazon, "AVAULT")).seller_id == "AVAULT"
        w.account = amazon_account(cfg, _credential(w.amazon, ""))
        async with w.engine(cfg) as eng:
            sku, price = await _change_price(w, eng)
            assert [o for o, _ in await _attempts(cfg.engine.db, sku)] == ["ok"]
            w.amazon.advance(timedelta(minutes=10))  # past the simulated apply delay
            listing = await get_listing(eng.amazon["NA"], sku, [US])
            offer = next(
                o for o in listing["attributes"]["purchasable_offer"] if o["audience"] == "ALL"
            )
            assert Decimal(str(offer["our_price"][0]["schedule"][0]["value_with_tax"])) == price


async def test_no_seller_id_parks_with_the_fix_and_ping_fails(make_world, tmp_path):
    async with make_world(history_days=4, orders_per_day=2, time_scale=600.0) as w:
        cfg = w.config()
        assert cfg.amazon.seller_id == ""
        w.account = amazon_account(cfg, _credential(w.amazon, ""))
        async with w.engine(cfg) as eng:
            sku, _ = await _change_price(w, eng)
            attempts = await _attempts(cfg.engine.db, sku)
        assert [o for o, _ in attempts] == ["parked"], attempts
        reason = attempts[0][1]
        assert "no seller id" in reason and "[amazon] seller_id" in reason
        assert "--seller-id" in reason and "HTTP 404" not in reason

        vault = Vault.open(tmp_path / "vault.bin", generate_key(), create=True)
        vault.put(_credential(w.amazon, ""))
        checks = await run_checks(cfg, vault, only="amazon", timeout_s=5)
        row = next(c for c in checks if c.step.startswith("seller id"))
        assert row.status == "FAILED" and "seller_id" in row.fix and "--seller-id" in row.fix
        # Set in config (vault still empty): ok.
        checks = await run_checks(_with_seller(cfg, "A1CONFIG"), vault, only="amazon", timeout_s=5)
        row = next(c for c in checks if c.step.startswith("seller id"))
        assert row.status == "ok" and "A1CONFIG" in row.detail
        # No listing marketplaces: nothing needs a seller id, no row.
        no_listings = dataclasses.replace(
            cfg, amazon=dataclasses.replace(cfg.amazon, listing_marketplaces=())
        )
        checks = await run_checks(no_listings, vault, only="amazon", timeout_s=5)
        assert not [c for c in checks if c.step.startswith("seller id")]


@pytest.fixture
async def bare_404():
    """An SP-API host that answers every request 404 with an empty body."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


async def test_empty_404_still_gives_a_reason(make_world, bare_404):
    async with make_world(history_days=1, orders_per_day=1) as w, aiohttp.ClientSession() as s:
        client = AmazonClient(
            s, account_of(w.amazon), "NA", endpoint=bare_404, lwa_url=w.amazon.lwa_url
        )
        adapter = ListingsAdapter({"NA": client})
        with pytest.raises(Rejected) as info:
            await adapter.patch_listing("NA", US, "SKU-1", {"list_price": "9.99"})
        decision = RetryPolicy().decide(1, info.value)
        assert decision.outcome == "parked"
        reason = decision.reason
        # Read-modify-write: the listing is read first, so the read names the 404.
        assert "HTTP 404" in reason and "getListingsItem" in reason
        assert "not found" in reason and "seller id" in reason
        assert not reason.rstrip().endswith(":")
