"""The notifications accelerator over real HTTP: the Amazon simulator publishes ORDER_CHANGE
notifications to a local SQS stand-in (moto's server on 127.0.0.1, never AWS), the engine
consumes them, fetches the orders with getOrder and posts them to the QAD simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from engine.config.notifications import NotificationsConfig
from engine.pollers.notifications import FETCH_BOOKMARK, STREAM, NotificationsConsumer
from engine.security.credentials import AwsCredential

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] is not installed (pip install -e '.[test]')"
)
aiobotocore_session = pytest.importorskip(
    "aiobotocore.session", reason="aiobotocore is not installed (the sqs extra)"
)

from engine.sim.amazon.notifications import (  # noqa: E402 (after the skips)
    NotificationPublisher,
    order_change_body,
    sqs_sender,
)

CRED = AwsCredential("default", "AKIAIOSFODNN7EXAMPLE", "moto-takes-any-secret")
REGION = "us-east-1"
US = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2")  # two NA marketplaces: the others' notifications drop


class StandIn:
    """moto's SQS server on loopback and the queues of one test."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        async with aiobotocore_session.get_session().create_client(
            "sqs",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=CRED.access_key_id,
            aws_secret_access_key=CRED.secret_access_key,
        ) as c:
            yield c

    async def queue(self, *, max_receives: int = 5) -> tuple[str, str]:
        """A Standard queue with a redrive policy to its own DLQ: (queue url, dlq url)."""
        name = f"orders-{uuid.uuid4().hex[:12]}"
        async with self.client() as c:
            dlq = (await c.create_queue(QueueName=f"{name}-dlq"))["QueueUrl"]
            attrs = await c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
            policy = {
                "deadLetterTargetArn": attrs["Attributes"]["QueueArn"],
                "maxReceiveCount": str(max_receives),
            }
            url = (
                await c.create_queue(
                    QueueName=name, Attributes={"RedrivePolicy": json.dumps(policy)}
                )
            )["QueueUrl"]
        return url, dlq

    async def depth(self, url: str) -> int:
        """Messages in the queue, visible or in flight."""
        async with self.client() as c:
            a = (
                await c.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )
            )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(
            a["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sqs(moto_endpoint: str) -> StandIn:
    return StandIn(moto_endpoint)


def accelerated(cfg: Any, sqs: StandIn, url: str, **kw: Any) -> Any:
    n = NotificationsConfig(
        enabled=True,
        sqs_queue_url=url,
        aws_region=REGION,
        endpoint=sqs.endpoint,
        wait_s=kw.pop("wait_s", 1),
        coalesce_s=kw.pop("coalesce_s", 0.3),
        visibility_timeout_s=kw.pop("visibility_timeout_s", 30),
        **kw,
    )
    # Posting unthrottled keeps the test short (QAD's limit is not what is tested here).
    dispatch = dataclasses.replace(cfg.dispatch, qad_rate_per_s=0.0, concurrency=8)
    return dataclasses.replace(cfg, notifications=n, dispatch=dispatch)


async def orders_in_log(eng: Any) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    async for e in eng.log.read(streams=["amazon.orders"]):
        out.setdefault(e.key, []).append((e.digest, e.source))
    return out


def notification_id(body: str) -> str:
    return str(json.loads(body)["NotificationMetadata"]["NotificationId"])


def ours_in(body: str) -> bool:
    summary = json.loads(body)["Payload"]["OrderChangeNotification"]["Summary"]
    return summary["MarketplaceId"] in US


async def notification_ids(eng: Any) -> list[str]:
    return [e.key async for e in eng.log.read(streams=[STREAM])]


async def catch_up(eng: Any) -> None:
    """The orders history by polling (reports would wait for simulated time to pass)."""
    report = await eng.poll(["orders"])
    assert not report.poll_errors
    await eng.project_and_dispatch()


pytestmark = pytest.mark.timeout(120)

# A nearly frozen simulated clock: the test moves it, so Amazon's truth cannot change under it.
WORLD = {"history_days": 1, "orders_per_day": 12, "time_scale": 0.001, "seed": 11}


async def test_a_notified_change_reaches_log_and_qad_before_the_next_poll(make_world, sqs):
    async with make_world(**WORLD) as w:
        url, _ = await sqs.queue()
        cfg = accelerated(w.config(marketplaces=US), sqs, url)
        async with (
            w.engine(cfg, aws_credential=CRED) as eng,
            sqs_sender(url, endpoint=sqs.endpoint) as send,
        ):
            await catch_up(eng)  # the history, by polling (the queue is still empty)
            polled = {n: await eng.log.bookmark(f"amazon.orders.{n}") for n in ("NA", "EU", "FE")}
            pub = NotificationPublisher(w.amazon.world, send, seed=5, delay_s=0, hold_share=0)
            w.amazon.advance(timedelta(hours=6))
            assert await pub.publish_once() > 0
            before = await orders_in_log(eng)

            report = await eng.poll(["notifications"])  # no orders poll runs
            await eng.project_and_dispatch()

            assert not report.poll_errors
            for region, mark in polled.items():
                assert await eng.log.bookmark(f"amazon.orders.{region}") == mark
            after = await orders_in_log(eng)
            latest = {}
            async for e in eng.log.read(streams=["amazon.orders"]):
                latest[e.key] = e.payload
            qad = {so["so_po"]: so for so in w.qad.sales_orders()}
            now = w.amazon.clock.now().timestamp()
            configured = set(cfg.amazon.marketplaces)
            ours = {oid for oid, _ in pub.notified}
            ours = {
                o for o in ours if w.amazon.truth.order(o).marketplace.marketplace_id in configured
            }
            assert ours, "the publisher notified no order of the configured marketplaces"
            fetched_now = 0
            for oid in ours:
                truth = w.amazon.truth.order(oid)
                assert latest[oid]["status"] == truth.status(now), oid  # the API's truth
                if len(after.get(oid, [])) > len(before.get(oid, [])):
                    fetched_now += 1
                    assert after[oid][-1][1].endswith(":getOrder2026")
                if truth.status(now) != "Canceled":
                    assert oid in qad, f"{oid} not in QAD after its notification"
            assert fetched_now > 0  # new versions came in through the accelerator
            assert await eng.log.bookmark(FETCH_BOOKMARK) is not None
            assert await sqs.depth(url) == 0  # every message deleted after its append


async def test_duplicate_and_out_of_order_notifications_change_nothing(make_world, sqs):
    async with make_world(**WORLD) as w:
        url, _ = await sqs.queue()
        cfg = accelerated(w.config(marketplaces=US), sqs, url)
        sent: list[str] = []
        async with (
            w.engine(cfg, aws_credential=CRED) as eng,
            sqs_sender(url, endpoint=sqs.endpoint) as sqs_send,
        ):

            async def send(bodies: list[str]) -> None:
                sent.extend(bodies)
                await sqs_send(bodies)

            await catch_up(eng)
            pub = NotificationPublisher(
                w.amazon.world, send, seed=7, delay_s=0, duplicate_share=0.5, hold_share=0.3
            )
            w.amazon.advance(timedelta(hours=6))
            await pub.publish_once()
            await pub.flush()  # held-back (late) ones too
            await eng.poll(["notifications"])
            await eng.project_and_dispatch()
            orders = await orders_in_log(eng)
            qad = w.qad.sales_orders()
            ids = await notification_ids(eng)
            ours = {notification_id(b) for b in sent if ours_in(b)}
            assert len(ids) == len(set(ids)) == len(ours)

            # Every message again (duplicates), plus stale ones: an older status of each
            # notified order under a new NotificationId, all shuffled (out of order).
            stale = [
                order_change_body(w.amazon.world, o, o.purchased, o.purchased, seed=99)
                for o in {w.amazon.truth.order(oid) for oid, _ in pub.notified}
            ]
            assert stale
            again = [*sent, *stale]
            random.Random(3).shuffle(again)
            await sqs_send(again)
            await eng.poll(["notifications"])
            await eng.project_and_dispatch()

            assert await orders_in_log(eng) == orders  # no new order version at all
            assert w.qad.sales_orders() == qad  # QAD unchanged
            ids2 = await notification_ids(eng)
            # Only the stale ones of our marketplaces are new notifications.
            assert len(ids2) == len(set(ids2)) == len(ids) + len([b for b in stale if ours_in(b)])
            assert await sqs.depth(url) == 0


class CrashOnDelete:
    """The real queue, except that the process 'dies' right before deleting."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def receive(self, **kw: Any) -> Any:
        return await self.inner.receive(**kw)

    async def attributes(self) -> dict[str, str]:
        return await self.inner.attributes()

    async def delete(self, messages: Any) -> int:
        raise KeyboardInterrupt("crash between the append and the delete")


async def test_a_crash_between_append_and_delete_causes_no_duplicate(make_world, sqs):
    async with make_world(**WORLD) as w:
        url, _ = await sqs.queue()
        cfg = accelerated(w.config(marketplaces=US), sqs, url, visibility_timeout_s=1)
        async with (
            w.engine(cfg, aws_credential=CRED) as eng,
            sqs_sender(url, endpoint=sqs.endpoint) as send,
        ):
            await catch_up(eng)
            pub = NotificationPublisher(w.amazon.world, send, seed=9, delay_s=0, hold_share=0)
            w.amazon.advance(timedelta(hours=2))
            assert await pub.publish_once() > 0
            consumer: NotificationsConsumer = eng.pollers["notifications"]
            real = consumer.queue
            consumer.queue = CrashOnDelete(real)
            with pytest.raises(KeyboardInterrupt):
                await consumer.poll_once()
            ids = await notification_ids(eng)
            assert ids, "the notifications were appended before the crash"
            assert await eng.log.bookmark(FETCH_BOOKMARK) is None  # nothing fetched yet

            consumer.queue = real  # "restart": the messages reappear after 1 s of visibility
            await asyncio.sleep(1.2)
            res = await consumer.poll_once()
            await eng.project_and_dispatch()

            assert await notification_ids(eng) == ids  # redelivered, deduplicated
            assert consumer.counts["duplicates"] > 0
            assert res.fetched > 0  # the getOrder calls ran once, after the restart
            assert await sqs.depth(url) == 0
            refs = [so["so_po"] for so in w.qad.sales_orders()]
            assert len(refs) == len(set(refs))


async def test_a_malformed_body_does_not_stop_the_consumer(make_world, sqs):
    async with make_world(**WORLD) as w:
        url, dlq = await sqs.queue(max_receives=1)
        cfg = accelerated(w.config(marketplaces=US), sqs, url, visibility_timeout_s=1)
        async with (
            w.engine(cfg, aws_credential=CRED) as eng,
            sqs_sender(url, endpoint=sqs.endpoint) as send,
        ):
            order = next(
                o
                for o in w.amazon.truth.orders()
                if o.marketplace.marketplace_id == "ATVPDKIKX0DER"
            )
            good = order_change_body(w.amazon.world, order, order.paid_at, order.paid_at, seed=1)
            evil = json.loads(good)
            evil["Payload"]["OrderChangeNotification"]["AmazonOrderId"] = "../../orders/x"
            evil["NotificationMetadata"]["NotificationId"] = "evil-1"
            bad = ["not json", "[1, 2]", json.dumps(evil), "{" + " " * 70_000 + "}"]
            await send([*bad, good])
            consumer: NotificationsConsumer = eng.pollers["notifications"]

            res = await consumer.poll_once()

            assert res.quarantined == len(bad)
            assert await notification_ids(eng) == [
                json.loads(good)["NotificationMetadata"]["NotificationId"]
            ]
            assert res.fetched == 1
            assert order.order_id in {e.key async for e in eng.log.read(streams=["amazon.orders"])}
            # Left for the redrive policy: received once more, SQS moves them to the DLQ.
            await asyncio.sleep(1.2)
            await consumer.poll_once()
            assert await sqs.depth(url) == 0
            assert await sqs.depth(dlq) == len(bad)
