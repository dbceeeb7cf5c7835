"""A seller without the Finance and Accounting role: settlements are refused, the rest flows.

Both simulators over real HTTP and a real SQLite event log. ``sync --once`` lands orders and
stock in QAD and reports the refused flow with the role; ``status`` (a separate read-only open
of the log) shows settlements disabled with Amazon's message; under ``run`` the refusal is
logged once, retried every ``[poll] refused_retry_s`` (not the 10-minute settlements cadence),
and granting the role through the simulator heals it without a restart; ``ping`` names the
missing role in its table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging

import aiohttp

from engine.cli.ping import render as render_ping
from engine.cli.status import render as render_status
from engine.log import SQLiteEventLog
from engine.ops.engine import wait_until
from engine.ops.flow_health import read_health
from engine.ops.ping import run_checks
from engine.ops.status import collect_status
from engine.security.keys import generate_key
from engine.security.vault import AmazonCredential, Vault

FINANCE = "Finance and Accounting"
DENIED = "Access to requested resource is denied."


async def _status(db: str) -> dict:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return await collect_status(log)


def _settlements(status: dict) -> dict:
    return next(f for f in status["flows"] if f["flow"] == "amazon.settlements")


async def test_sync_once_without_finance_role_lands_orders_and_stock(make_world):
    async with make_world(history_days=16, orders_per_day=3, denied_roles=[FINANCE]) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
        assert report.refused and all(n.startswith("settlements:") for n in report.refused)
        assert set(report.refused_roles.values()) == {FINANCE}
        assert all(DENIED in r for r in report.refused.values())
        assert w.qad.sales_orders(), "orders reach QAD without the Finance role"
        fba = w.amazon.truth.fba_inventory(None, "ATVPDKIKX0DER")
        assert fba and all(
            w.qad.on_hand(cfg.mapping.sku[sku], "10-FBA") == q for sku, q in fba.items()
        ), "FBA stock reaches QAD"
        assert not w.qad.invoices(), "no settlement can post without the role"

        status = await _status(cfg.engine.db)
        health = _settlements(status)["health"]
        assert health and {h["state"] for h in health} == {"refused"}
        assert all(h["role"] == FINANCE and DENIED in h["reason"] for h in health)
        assert sorted(status["disabled"]) == sorted(report.refused)
        orders = next(f for f in status["flows"] if f["flow"] == "amazon.orders")
        assert orders["health"] and {h["state"] for h in orders["health"]} == {"ok"}
        out = io.StringIO()
        render_status(status, out)
        assert "DISABLED       settlements:NA since" in out.getvalue()
        assert f"probably missing SP-API role '{FINANCE}'" in out.getvalue()


async def test_run_retries_refused_flow_slowly_and_heals_when_role_granted(make_world, caplog):
    async with make_world(history_days=16, orders_per_day=3, denied_roles=[FINANCE]) as w:
        cfg = w.config()
        poll = dataclasses.replace(
            cfg.poll,
            orders_every_s=1.0,
            inventory_every_s=1.0,
            catalog_every_s=1.0,
            settlements_every_s=600.0,  # healing within seconds proves refused_retry_s is used
            refused_retry_s=0.5,
        )
        cfg = dataclasses.replace(cfg, poll=poll)
        caplog.set_level(logging.INFO, logger="engine")
        async with w.engine(cfg) as eng:
            task = asyncio.create_task(eng.run_forever(drain_s=5))
            try:

                async def refused_everywhere() -> bool:
                    async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
                        rows = [h for h in await read_health(log) if h["flow"] == "settlements:NA"]
                    return bool(rows) and rows[0]["state"] == "refused"

                assert await wait_until(refused_everywhere, 120)
                assert await wait_until(lambda: _async(bool(w.qad.sales_orders())), 120)
                # retried on the slow cadence, and logged quietly after the first time
                retried = lambda: _async("settlements:NA still refused" in caplog.text)  # noqa: E731
                assert await wait_until(retried, 120)
                refusals = [
                    r
                    for r in caplog.records
                    if r.levelno == logging.ERROR and r.getMessage().startswith("settlements:NA")
                ]
                assert len(refusals) == 1, [r.getMessage() for r in refusals]
                assert not task.done(), "no flow killed the scheduler"

                # The seller authorises the role (simulator control endpoint): no restart.
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(f"{w.amazon.base_url}/__sim/roles", json={"grant": [FINANCE]}) as r,
                ):
                    assert r.status == 200

                async def healed() -> bool:
                    status = await _status(cfg.engine.db)
                    states = {h["state"] for h in _settlements(status)["health"]}
                    return states == {"ok"} and status["disabled"] == []

                assert await wait_until(healed, 120), "every region healed without a restart"
                assert await wait_until(lambda: _async(bool(w.qad.invoices())), 120)
                assert "works again" in caplog.text
            finally:
                eng.stop()
                await asyncio.wait_for(task, 30)


async def test_a_bug_in_one_flow_under_run_is_logged_once_and_shown(make_world, caplog):
    async with make_world(history_days=4, orders_per_day=2) as w:
        cfg = w.config()
        poll = dataclasses.replace(cfg.poll, orders_every_s=0.2, settlements_every_s=0.2)
        cfg = dataclasses.replace(cfg, poll=poll)

        class Buggy:
            calls = 0

            async def poll_once(self) -> None:
                Buggy.calls += 1
                raise KeyError("no such column")

        async with w.engine(cfg) as eng:
            eng.pollers["orders:NA"] = Buggy()
            task = asyncio.create_task(eng.run_forever(drain_s=5))
            try:
                assert await wait_until(lambda: _async(Buggy.calls >= 3), 30)
                assert not task.done()
                status = await _status(cfg.engine.db)
            finally:
                eng.stop()
                await asyncio.wait_for(task, 30)
        orders = next(f for f in status["flows"] if f["flow"] == "amazon.orders")
        broken = [h for h in orders["health"] if h["flow"] == "orders:NA"]
        assert broken and broken[0]["state"] == "failed" and "KeyError" in broken[0]["reason"]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "orders:NA" in
                  r.getMessage()]  # fmt: skip
        assert len(errors) == 1 and errors[0].exc_info, "logged once, with its traceback"
        settled = _settlements(status)["health"]
        assert settled and all(h["state"] == "ok" for h in settled), "other flows kept running"


async def test_ping_table_names_the_missing_role(make_world, tmp_path):
    async with make_world(history_days=4, orders_per_day=2, denied_roles=[FINANCE]) as w:
        cfg = w.config()
        cfg = dataclasses.replace(
            cfg, amazon=dataclasses.replace(cfg.amazon, listing_marketplaces=("ATVPDKIKX0DER",))
        )
        s = w.amazon.sellers[0]
        vault = Vault.open(tmp_path / "vault.bin", generate_key(), create=True)
        vault.put(
            AmazonCredential(
                name=cfg.amazon.credential,
                client_id=s.client_id,
                client_secret=s.client_secret,
                refresh_tokens={r: c.refresh_token for r, c in s.regions.items()},
                seller_id=s.seller_id,
            )
        )
        w.amazon.set_participating("A2EUQ1WTGCTBG2", False)
        checks = await run_checks(cfg, vault, only="amazon", timeout_s=10)
        rows = {(c.target.split()[-1], c.step): c for c in checks}
        settle = rows[("NA", "role settlements (getReports)")]
        assert settle.status == "FAILED" and FINANCE in settle.detail and DENIED in settle.detail
        assert FINANCE in settle.fix and "authorise" in settle.fix
        for step in ("role orders (searchOrders)", "role fba (getInventorySummaries)",
                     "role mfn (getReports)", "role listings (getListingsItem)"):  # fmt: skip
            assert rows[("NA", step)].status == "ok", rows[("NA", step)]
        assert rows[("EU", "role settlements (getReports)")].status == "FAILED"
        idle = rows[("NA", "marketplace participation")]
        assert idle.status == "FAILED" and "A2EUQ1WTGCTBG2" in idle.detail
        text = io.StringIO()
        render_ping(checks, text)
        assert f"missing role '{FINANCE}'" in text.getvalue()

        # Without Product Listing and Amazon Fulfillment: listings and FBA rows fail too.
        w.amazon.revoke_role("Product Listing")
        w.amazon.revoke_role("Amazon Fulfillment")
        w.amazon.grant_role(FINANCE)
        checks = await run_checks(cfg, vault, only="amazon", timeout_s=10)
        failed = {c.step for c in checks if c.status == "FAILED" and c.target.endswith("NA")}
        assert failed == {
            "role listings (getListingsItem)",
            "role fba (getInventorySummaries)",
            "marketplace participation",
        }, failed


async def _async(value: bool) -> bool:
    return value
