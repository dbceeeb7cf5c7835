"""ORDER_CHANGE notifications of the simulated business, delivered to an SQS queue.

What Amazon does [D wave2-anchors 2.1-2.3]: a subscription (``createSubscription`` for
ORDER_CHANGE with an SQS destination) makes Amazon send one message per important order change
(status changes; whether brand-new orders fire is unclear [U], so ``include_new_orders``) to the
queue, at least once and in no guaranteed order. The publisher reproduces that from the order
book: every moment an order's status changes (purchase, payment, shipment, cancellation) is
one notification, sent ``delay_s`` simulated seconds later [G: Amazon publishes no latency],
with seeded duplicates (same NotificationId, sent again) and out-of-order delivery (a batch is
shuffled, and some messages are held back until the next batch).

The envelope is PascalCase (OrderChangeNotification.json [D]); it carries no prices and no PII.
``send`` is any coroutine that delivers a batch of bodies (``sqs_sender`` builds one on
aiobotocore, e.g. against moto's server in tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from engine.sim.amazon.data import OrderBook, SimOrder
from engine.sim.amazon.world import World

__all__ = ["NotificationPublisher", "order_change_body", "sqs_sender"]

Send = Callable[[list[str]], Awaitable[None]]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _nid(seed: int, order_id: str, moment: float) -> str:
    h = hashlib.sha256(f"{seed}:{order_id}:{moment}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def order_change_body(
    world: World,
    order: SimOrder,
    moment: float,
    publish: float,
    seed: int = 0,
    subscription_id: str | None = None,
) -> str:
    """The ORDER_CHANGE message Amazon would send for ``order``'s change at ``moment``."""
    status = order.status(moment)
    seller = next(i for i, c in enumerate(world.configs) if c.name == order.seller)
    shipped = status == "Shipped"
    items = [
        {
            "OrderItemId": ln.order_item_id,
            "SellerSKU": ln.item.sku,
            "Quantity": ln.quantity,
            "QuantityShipped": ln.quantity if shipped else 0,
        }
        for ln in order.lines
    ]
    qty = sum(ln.quantity for ln in order.lines)
    doc: dict[str, Any] = {
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": _iso(moment),
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sp.solution.simulator",
            "SubscriptionId": subscription_id or f"sim-sub-{world.seed}",
            "PublishTime": _iso(publish),
            "NotificationId": _nid(seed, order.order_id, moment),
        },
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": world.creds[seller].seller_id,
                "AmazonOrderId": order.order_id,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": _iso(moment),
                    "ChangeReason": "Order status changed",
                },
                "Summary": {
                    "MarketplaceId": order.marketplace.marketplace_id,
                    "OrderStatus": status,
                    "PurchaseDate": _iso(order.purchased),
                    "FulfillmentType": order.channel,
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": qty if shipped else 0,
                    "NumberOfItemsUnshipped": 0 if shipped else qty,
                    "OrderItems": items,
                },
            }
        },
    }
    return json.dumps(doc)


class NotificationPublisher:
    """Publishes the order book's status changes up to the simulator's clock.

    Args:
        world: the simulator's world (``AmazonSimulator.world``).
        send: delivers a list of bodies (``sqs_sender``).
        duplicate_share: share of notifications sent twice (same NotificationId).
        hold_share: share held back one batch (delivered after later changes).
        delay_s: simulated seconds between a change and its notification.
        arn: the SQS queue ``send`` delivers to. Given, only sellers subscribed to ORDER_CHANGE
            with a destination of this ARN (notifications_api.py) are notified, from the
            subscription's creation on and within its eventFilter, as Amazon does [D]; None
            (tests of the consumer alone): every seller, as if subscribed.
    """

    def __init__(
        self,
        world: World,
        send: Send,
        *,
        seed: int = 1,
        duplicate_share: float = 0.2,
        hold_share: float = 0.2,
        delay_s: float = 30.0,
        include_new_orders: bool = True,
        since: float | None = None,
        arn: str | None = None,
    ) -> None:
        self.arn = arn
        self.world = world
        self.send = send
        self.seed = seed
        self.rng = random.Random(f"notifications:{seed}")
        self.duplicate_share = duplicate_share
        self.hold_share = hold_share
        self.delay_s = delay_s
        self.include_new_orders = include_new_orders
        # Changes after this moment are notified (default: from now on, as a new subscription).
        self.cursor = world.now() if since is None else since
        self._held: list[str] = []
        self.sent = 0  # bodies delivered, duplicates included
        self.notified: list[tuple[str, str]] = []  # (order id, status) per distinct notification
        self._task: asyncio.Task[None] | None = None

    def changes(self, lo: float, hi: float) -> list[tuple[float, SimOrder]]:
        """(moment, order) for every status change with lo < moment <= hi."""
        out: list[tuple[float, SimOrder]] = []
        for o in self.world.book.purchased_between(lo - OrderBook.MAX_LAG, hi + 1):
            moments = [o.paid_at, o.shipped_at, o.canceled_at]
            if self.include_new_orders:
                moments.append(o.purchased)
            out.extend((m, o) for m in moments if m is not None and lo < m <= hi)
        out.sort(key=lambda c: c[0])
        return out

    async def publish_once(self) -> int:
        """Send every change that is ``delay_s`` old by now; returns bodies sent."""
        upto = self.world.now() - self.delay_s
        if upto <= self.cursor:
            return 0
        bodies = list(self._held)
        self._held = []
        for moment, order in self.changes(self.cursor, upto):
            sub_id = self._subscription(order, moment)
            if sub_id is False:
                continue
            body = order_change_body(
                self.world,
                order,
                moment,
                moment + self.delay_s,
                self.seed,
                sub_id if isinstance(sub_id, str) else None,
            )
            self.notified.append((order.order_id, order.status(moment)))
            copies = 2 if self.rng.random() < self.duplicate_share else 1
            for _ in range(copies):
                if self.rng.random() < self.hold_share:
                    self._held.append(body)  # arrives after later changes: out of order
                else:
                    bodies.append(body)
        self.cursor = upto
        self.rng.shuffle(bodies)
        if bodies:
            await self.send(bodies)
            self.sent += len(bodies)
        return len(bodies)

    def _subscription(self, order: SimOrder, moment: float) -> str | bool:
        """The subscription id that covers this change; True without ``arn``; False: none."""
        if self.arn is None:
            return True
        from engine.sim.amazon.notifications_api import subscribers

        seller = next(i for i, c in enumerate(self.world.configs) if c.name == order.seller)
        mp = order.marketplace
        for sub in subscribers(self.world, self.arn):
            if (
                sub.seller == seller
                and sub.region == mp.region
                and moment >= sub.created
                and (not sub.marketplace_ids or mp.marketplace_id in sub.marketplace_ids)
                and (not sub.order_change_types or "OrderStatusChange" in sub.order_change_types)
            ):
                return sub.subscription_id
        return False

    async def flush(self) -> int:
        """Deliver what was held back (end of a test or benchmark)."""
        held, self._held = self._held, []
        if held:
            await self.send(held)
            self.sent += len(held)
        return len(held)

    def start(self, every_s: float = 0.5) -> None:
        """Publish every ``every_s`` real seconds in the background until ``stop``."""

        async def loop() -> None:
            while True:
                await self.publish_once()
                await asyncio.sleep(every_s)

        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@asynccontextmanager
async def sqs_sender(
    queue_url: str,
    *,
    endpoint: str,
    region: str = "us-east-1",
    access_key_id: str = "AKIAIOSFODNN7EXAMPLE",
    secret_access_key: str = "simulator-secret",  # noqa: S107 (a local stand-in accepts any)
) -> AsyncIterator[Send]:
    """A ``send`` over SQS SendMessageBatch (10 per call) with aiobotocore (local stand-in)."""
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    ) as client:

        async def send(bodies: list[str]) -> None:
            for i in range(0, len(bodies), 10):
                entries = [
                    {"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])
                ]
                resp = await client.send_message_batch(QueueUrl=queue_url, Entries=entries)
                if resp.get("Failed"):
                    raise RuntimeError(f"sqs send failed: {resp['Failed']}")

        yield send
