"""The Notifications API of the Amazon simulator over real HTTP, and the engine's setup path.

Proves: grantless tokens (client_credentials, the notifications scope) open the destination
operations and nothing else; createSubscription wants the seller's token, a known destination,
payloadVersion 1.0, and refuses a second subscription with Amazon's 409 StateConflict; a
second destination of one ARN is a 409 Conflict; ``ensure_order_change`` (the engine's setup)
is idempotent; the simulator publishes ORDER_CHANGE only to a subscribed destination, and only
changes after the subscription, carrying its SubscriptionId.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.notifications_api import ensure_order_change, grantless_token
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.retry import Backoff
from engine.errors import Rejected
from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.notifications import NotificationPublisher
from tests.e2e.test_notifications import moto_endpoint  # noqa: F401 (a fixture)

ARN = "arn:aws:sqs:us-east-1:123456789012:ml-orders"
SUBS = "/notifications/v1/subscriptions/ORDER_CHANGE"
DESTS = "/notifications/v1/destinations"


@pytest.fixture
async def sim() -> AsyncIterator[AmazonSimulator]:
    async with AmazonSimulator(seed=3, time_scale=60.0, history_days=2, orders_per_day=200) as s:
        yield s


def client_of(sim: AmazonSimulator, session: aiohttp.ClientSession) -> AmazonClient:
    s = sim.sellers[0]
    account = AmazonAccount(
        client_id=s.client_id,
        client_secret=s.client_secret,
        refresh_tokens={r: c.refresh_token for r, c in s.regions.items()},
        seller_id=s.seller_id,
    )
    return AmazonClient(
        session,
        account,
        "NA",
        endpoint=sim.endpoint("NA"),
        lwa_url=sim.lwa_url,
        clock=sim.clock.now,
        limits=BucketRegistry(time_scale=sim.clock.time_scale),
        backoff=Backoff(base=0.01, cap=0.1, max_tries=2),
    )


async def raw(
    session: aiohttp.ClientSession,
    sim: AmazonSimulator,
    method: str,
    path: str,
    token: str,
    body: Any = None,
) -> tuple[int, Any]:
    async with session.request(
        method, sim.endpoint("NA") + path, json=body, headers={"x-amz-access-token": token}
    ) as resp:
        return resp.status, await resp.json()


async def test_grantless_and_seller_tokens_each_open_only_their_operations(
    sim: AmazonSimulator,
) -> None:
    async with aiohttp.ClientSession() as session:
        client = client_of(sim, session)
        seller_token = await client.auth.token()
        app = await grantless_token(client, sim.lwa_url)
        s = sim.sellers[0]
        form = {
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::unknown",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
        }
        async with session.post(sim.lwa_url, data=form) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_scope"

        dest = {"name": "orders", "resourceSpecification": {"sqs": {"arn": ARN}}}
        status, body = await raw(session, sim, "POST", DESTS, seller_token, dest)
        assert status == 403 and body["errors"][0]["code"] == "Unauthorized"
        bad = {"name": "orders", "resourceSpecification": {"sqs": {"arn": "arn:aws:sns:x"}}}
        assert (await raw(session, sim, "POST", DESTS, app, bad))[0] == 400
        status, body = await raw(session, sim, "POST", DESTS, app, dest)
        assert status == 200
        dest_id = body["payload"]["destinationId"]
        assert body["payload"]["resource"] == {"sqs": {"arn": ARN}}
        status, body = await raw(session, sim, "POST", DESTS, app, dest)
        assert status == 409 and body["errors"][0]["code"] == "Conflict"
        status, body = await raw(session, sim, "GET", DESTS, app)
        assert [d["destinationId"] for d in body["payload"]] == [dest_id]
        # destinations are per region endpoint
        async with session.get(
            sim.endpoint("EU") + DESTS, headers={"x-amz-access-token": app}
        ) as resp:
            assert (await resp.json())["payload"] == []

        sub = {"payloadVersion": "1.0", "destinationId": dest_id}
        status, _ = await raw(session, sim, "POST", SUBS, app, sub)
        assert status == 403  # a subscription acts for a seller: not with a grantless token
        status, body = await raw(
            session, sim, "POST", SUBS, seller_token, {**sub, "destinationId": "nope"}
        )
        assert status == 400 and "No destination with id 'nope'" in body["errors"][0]["message"]
        status, _ = await raw(
            session, sim, "POST", SUBS, seller_token, {**sub, "payloadVersion": "2.0"}
        )
        assert status == 400
        assert (await raw(session, sim, "GET", SUBS, seller_token))[0] == 404
        status, body = await raw(session, sim, "POST", SUBS, seller_token, sub)
        assert status == 200 and body["payload"]["destinationId"] == dest_id
        sub_id = body["payload"]["subscriptionId"]
        status, body = await raw(session, sim, "POST", SUBS, seller_token, sub)
        assert status == 409 and body["errors"][0]["code"] == "StateConflict"
        assert "ORDER_CHANGE" in body["errors"][0]["details"]
        status, body = await raw(session, sim, "GET", SUBS, seller_token)
        assert body["payload"] == {
            "subscriptionId": sub_id,
            "payloadVersion": "1.0",
            "destinationId": dest_id,
        }
        assert (await raw(session, sim, "GET", f"{SUBS}/{sub_id}", seller_token))[0] == 403
        status, body = await raw(session, sim, "GET", f"{SUBS}/{sub_id}", app)
        assert status == 200 and body["payload"]["subscriptionId"] == sub_id


async def test_setup_is_idempotent_and_refuses_a_foreign_subscription(sim: AmazonSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        client = client_of(sim, session)
        first = await ensure_order_change(client, ARN, lwa_url=sim.lwa_url)
        assert first.created_destination and first.created_subscription
        again = await ensure_order_change(client, ARN, lwa_url=sim.lwa_url)
        assert again == type(first)(first.destination_id, first.subscription_id, False, False)
        # the seller's one ORDER_CHANGE subscription points elsewhere: refused, not replaced
        with pytest.raises(Rejected, match=first.subscription_id):
            await ensure_order_change(client, ARN + "-other", lwa_url=sim.lwa_url)


async def test_publisher_sends_only_what_a_subscription_covers(sim: AmazonSimulator) -> None:
    sent: list[str] = []

    async def send(bodies: list[str]) -> None:
        sent.extend(bodies)

    pub = NotificationPublisher(
        sim.world, send, arn=ARN, delay_s=0, duplicate_share=0, hold_share=0
    )
    sim.advance(timedelta(hours=2))
    assert await pub.publish_once() == 0  # changes happened, but nobody subscribed
    async with aiohttp.ClientSession() as session:
        client = client_of(sim, session)
        setup = await ensure_order_change(client, ARN, lwa_url=sim.lwa_url)
        other = NotificationPublisher(sim.world, send, arn=ARN + "-x", delay_s=0)
    sim.advance(timedelta(hours=2))
    assert await pub.publish_once() > 0
    assert await other.publish_once() == 0  # a queue no destination names gets nothing
    metas = [json.loads(b)["NotificationMetadata"] for b in sent]
    assert {m["SubscriptionId"] for m in metas} == {setup.subscription_id}
    event_times = [json.loads(b)["EventTime"] for b in sent]
    subscribed_at = sim.clock.now() - timedelta(hours=2)
    assert min(event_times) >= subscribed_at.strftime("%Y-%m-%dT%H:%M:%S")


async def test_subscribe_command_path_sets_up_every_region_once(
    sim: AmazonSimulator,
    tmp_path: Path,
    moto_endpoint: str,  # noqa: F811 (the fixture)
) -> None:
    """``ml-connector notifications subscribe``'s function: QueueArn from SQS (moto), then one
    destination and one subscription per configured region; a second run finds them."""
    import dataclasses

    from engine.ops.demo import simulator_config
    from engine.ops.notifications_setup import subscribe
    from engine.security.keys import generate_key
    from engine.security.vault import AmazonCredential, Vault
    from engine.sim.amazon.notifications_api import state_of
    from tests.e2e.test_notifications import CRED, StandIn

    url, _dlq = await StandIn(moto_endpoint).queue()
    cfg = simulator_config(
        tmp_path / "events.db",
        amazon_base=sim.base_url,
        lwa_url=sim.lwa_url,
        qad_url="http://127.0.0.1:9/clouderp",
    )
    n = dataclasses.replace(
        cfg.notifications, sqs_queue_url=url, aws_region="us-east-1", endpoint=moto_endpoint
    )
    cfg = dataclasses.replace(cfg, notifications=n)
    s = sim.sellers[0]
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
    vault.put(CRED)
    first = await subscribe(cfg, vault)
    regions = {r.region for r in first}
    assert regions and all(r.setup.created_subscription for r in first)
    assert {r.arn for r in first} == {f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"}
    again = await subscribe(cfg, vault)
    assert not any(r.setup.created_destination or r.setup.created_subscription for r in again)
    state = state_of(sim.world)
    assert {sub.region for sub in state.subscriptions.values()} == regions
    assert len(state.destinations) == len(regions)
    for sub in state.subscriptions.values():  # filtered to the configured marketplaces
        assert set(sub.marketplace_ids) <= set(cfg.amazon.marketplaces)
