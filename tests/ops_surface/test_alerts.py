"""Alarms: a local webhook receiver and an SMTP stand-in get the notices, under the rate limit,
without a secret or a buyer field in them.

The parked case is a real sync against the simulators (orders with unmapped SKUs park); the
flow-state cases are written by the engine's own FlowHealth into a real SQLite file, with a
fake monotonic clock for the rate limit (no test sleeps through an interval).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from engine.config import PollConfig, parse_config
from engine.config.alerts import AlertsConfig
from engine.errors import ConfigError
from engine.log import SQLiteEventLog
from engine.ops.alerts import MAX_LISTED, Alerter, AlertSecrets, Notice, payload
from engine.ops.flow_health import FlowHealth
from engine.sim.business import sku_to_item
from tests.ops_surface.receivers import Mailbox, Webhook, smtp_server, webhook_receiver


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _alerts(hook: Webhook, box: Mailbox, interval: float = 60.0) -> AlertsConfig:
    return AlertsConfig(
        webhook_url=hook.url,
        smtp_host="127.0.0.1",
        smtp_port=box.port,
        smtp_security="none",
        mail_from="connector@example.com",
        mail_to=("ops@example.com", "it@example.com"),
        min_interval_s=interval,
    )


# The simulator's buyer data (engine/sim/amazon/order_bodies.py): name, street, phone, e-mail.
PII_MARKERS = ("Buyer ", "Sample Street", "+1 555", "@marketplace.amazon.com")


async def test_parked_orders_notify_both_channels_without_buyer_data(make_world) -> None:
    full = sku_to_item()
    partial = {k: v for k, v in full.items() if k not in sorted(full)[::2]}
    async with (
        make_world(history_days=2, orders_per_day=5) as w,
        webhook_receiver() as hook,
        aiohttp.ClientSession() as http,
    ):
        with smtp_server() as box:
            cfg = w.config(sku_map=partial)
            async with w.engine(cfg) as eng:
                alerter = Alerter(
                    _alerts(hook, box), cfg.poll, AlertSecrets(hook.url), session=http
                )
                assert await alerter.check(eng.log) == []  # primes: nothing parked yet
                report = await eng.sync_once()
                notices = await alerter.check(eng.log)
                again = await alerter.check(eng.log)
            assert report.parked_total > 0
            await asyncio.sleep(0)
    parked = [n for n in notices if n.kind == "parked"]
    assert len(parked) == report.parked_total
    assert again == []  # known parks are not announced twice
    assert len(hook.bodies) == 1 and len(box.messages) == 1
    body = hook.bodies[0]
    assert body["source"] == "ml-connector"
    assert [n["kind"] for n in body["notices"]] == ["parked"] * len(parked)
    assert body["more"] == 0
    assert all(n["text"].startswith("parked record ") for n in body["notices"])
    mail = box.messages[0]
    assert box.recipients[0] == ["ops@example.com", "it@example.com"]
    assert mail["Subject"].startswith(f"ml-connector: {len(parked)} alert(s)")
    text = mail.get_payload(decode=True).decode()
    assert all(n.text in text for n in parked)
    # No buyer field and no sealed envelope in either channel (the orders carry both).
    for blob in (hook.raw[0].decode(), str(mail), text):
        for marker in (*PII_MARKERS, '"pii"', "p1."):
            assert marker not in blob, marker
        assert w.qad.password not in blob and w.account.client_secret not in blob


async def test_failing_recovery_and_rate_limit(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        webhook_receiver() as hook,
        aiohttp.ClientSession() as http,
        SQLiteEventLog.open(tmp_path / "events.db") as log,
    ):
        h = FlowHealth(log, 3600.0)
        with smtp_server() as box:
            cfg = _alerts(hook, box, interval=60.0)
            alerter = Alerter(cfg, PollConfig(), AlertSecrets(hook.url), session=http, clock=clock)
            await h.ok("orders:NA")
            assert await alerter.check(log) == []  # healthy from the start: nothing to say
            await h.failed("orders:NA", RuntimeError("QAD is down"))
            first = await alerter.check(log)
            assert [n.kind for n in first] == ["flow_failing"]
            assert "orders:NA is Failing" in first[0].text and "QAD is down" in first[0].text
            assert len(hook.bodies) == 1 and len(box.messages) == 1  # the first goes at once

            clock.t += 10
            await h.ok("orders:NA")
            await h.failed("orders:EU", RuntimeError("disk full"))
            later = await alerter.check(log)
            assert sorted(n.kind for n in later) == ["flow_failing", "flow_recovered"]
            assert len(hook.bodies) == 1 and len(box.messages) == 1  # held: 10 s < 60 s
            assert await alerter.flush() == 0

            clock.t += 51  # 61 s after the first message
            assert await alerter.flush() == 2  # one message per channel, both notices in it
            assert len(hook.bodies) == 2 and len(box.messages) == 2
            texts = [n["text"] for n in hook.bodies[1]["notices"]]
            assert texts == [n.text for n in later]
            assert "2 alert(s)" in box.messages[1]["Subject"]
            assert await alerter.flush() == 0  # nothing left


async def test_a_failed_delivery_keeps_its_notices_for_the_next_try(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        webhook_receiver() as hook,
        aiohttp.ClientSession() as http,
        SQLiteEventLog.open(tmp_path / "events.db") as log,
    ):
        h = FlowHealth(log, 3600.0)
        cfg = dataclasses.replace(AlertsConfig(webhook_url=hook.url), min_interval_s=30.0)
        alerter = Alerter(cfg, PollConfig(), AlertSecrets(hook.url), session=http, clock=clock)
        await alerter.check(log)
        hook.status = 500
        await h.failed("settlements:EU", RuntimeError("boom"))
        await alerter.check(log)
        assert hook.bodies == [] and len(alerter.channels[0].pending) == 1
        hook.status = 200
        clock.t += 31
        assert await alerter.flush() == 1
        assert [n["flow"] for n in hook.bodies[0]["notices"]] == ["settlements:EU"]


async def test_run_loop_sends_a_notice_for_a_record_parked_while_running(make_world) -> None:
    full = sku_to_item()
    partial = {k: v for k, v in full.items() if k not in sorted(full)[::2]}
    async with make_world(history_days=2, orders_per_day=5) as w, webhook_receiver() as hook:
        cfg = w.config(sku_map=partial)
        cfg = dataclasses.replace(
            cfg, alerts=AlertsConfig(webhook_url=hook.url, min_interval_s=0, check_every_s=1)
        )
        async with w.engine(cfg) as eng:
            eng.alert_secrets = AlertSecrets(webhook_url=hook.url)
            task = asyncio.create_task(eng.run_forever(drain_s=1))
            try:
                async with asyncio.timeout(60):
                    while not any(n["kind"] == "parked" for b in hook.bodies for n in b["notices"]):
                        await asyncio.sleep(0.2)
            finally:
                eng.stop()
                await task
    assert datetime.fromisoformat(hook.bodies[0]["notices"][0]["at"]).tzinfo == UTC


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"webhook_url": "http://hooks.example.com/x"}, "https"),
        ({"webhook_url": "https://user:pw@hooks.example.com/x"}, "user:password"),
        ({"smtp_host": "mail.example.com", "mail_to": ["a@example.com"]}, "mail_from"),
        ({"mail_to": ["not an address"]}, "e-mail address"),
        ({"smtp_security": "ssl"}, "smtp_security"),
        ({"min_interval_s": -1}, "min_interval_s"),
        (
            {
                "smtp_host": "mail.example.com",
                "mail_from": "a@example.com",
                "mail_to": ["b@example.com"],
                "smtp_user": "relay",
                "smtp_security": "none",
            },
            "in clear",
        ),
    ],
)
def test_wrong_alert_config_is_refused_at_load(alerts: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"alerts": alerts}, source="t.toml")


def test_a_long_batch_lists_fifty_and_counts_the_rest() -> None:
    many = [
        Notice("parked", "orders", f"parked record {i}", "2026-01-01T00:00:00+00:00")
        for i in range(60)
    ]
    body = payload(many)
    assert len(body["notices"]) == MAX_LISTED == 50 and body["more"] == 10
    assert body["summary"] == "ml-connector: 60 alert(s) (parked)"
