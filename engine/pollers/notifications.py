"""The notifications accelerator: ORDER_CHANGE over SQS -> ``NotificationReceived`` -> getOrder.

A notification is a hint, never the truth [D wave2-anchors 2.3: SQS standard queues deliver
at least once, out of order; Amazon says to keep a backup mechanism]. So, per cycle:

1. Long-poll the queue (``[notifications] wait_s`` <= 20, ``max_messages`` <= 10, a visibility
   timeout), then keep receiving for ``coalesce_s`` so repeated order ids collapse.
2. Validate each body (notification_body.py). A malformed one is counted and *left* on the
   queue: its redrive policy moves it to the DLQ after maxReceiveCount; the flow goes on.
3. Append ``amazon.notifications`` / ``NotificationReceived`` keyed by NotificationId; an id
   already in the log is a duplicate and adds nothing.
4. Only after that commit, delete the messages. A crash between 3 and 4 redelivers them, and 3
   dedupes them.
5. Turn every notification after the bookmark ``amazon.notifications.fetched`` into one
   targeted getOrder per distinct order (the region's client: its usage-plan bucket), and
   append the result as the same ``amazon.orders`` / ``OrderFetched`` the orders poller would
   (its normalisation and ship-to rules: the region's ``OrdersPoller`` builds the event), with
   the bookmark in the same transaction. The request lives in the log, so a crash after the
   delete still fetches. The notification's own OrderStatus is never projected: duplicates
   and out-of-order deliveries change nothing in QAD (the log dedupes equal versions, the
   orders projector ignores older ones).

The orders poller keeps running on its cadence: it is the safety net for lost notifications
(retention, outages, and ORDER_CHANGE possibly not firing for brand-new orders [U]).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.orders import V2026_INCLUDED, get_order_v2026
from engine.adapters.amazon.regions import region_of
from engine.adapters.aws.sqs import QueueMessage, SqsQueue
from engine.config import Config
from engine.config.notifications import NotificationsConfig
from engine.errors import Rejected
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult
from engine.pollers.notification_body import Malformed, OrderChange, parse_order_change
from engine.pollers.orders import OrdersPoller
from engine.security.credentials import AwsCredential

__all__ = [
    "FETCH_BOOKMARK",
    "STREAM",
    "NotificationsConsumer",
    "Queue",
    "fetch_order",
    "notifications_consumer",
]

log = logging.getLogger(__name__)

STREAM = "amazon.notifications"
EVENT = "NotificationReceived"
FETCH_BOOKMARK = "amazon.notifications.fetched"
_MAX_BATCH = 100  # messages per cycle: bounds memory and the visibility-timeout budget


class Queue(Protocol):
    """What the consumer needs of ``engine.adapters.aws.sqs.SqsQueue``."""

    async def receive(
        self, *, max_messages: int, wait_s: int, visibility_timeout_s: int
    ) -> list[QueueMessage]: ...

    async def delete(self, messages: list[QueueMessage]) -> int: ...

    async def attributes(self) -> dict[str, str]: ...


class NotificationsConsumer:
    """One SQS queue for every region of the configuration (routed by MarketplaceId).

    Args:
        queue: the SQS queue (opened).
        log: the event log.
        orders: the orders poller of each region (``build_pollers``' ``orders:REGION``).
        cfg: ``[notifications]``.
        marketplaces: the configured marketplace ids; notifications of others are dropped.
        seller_id: the seller's id; notifications of another seller are dropped ("" = any).
    """

    name = "notifications"

    def __init__(
        self,
        queue: Queue,
        log: EventLog,
        orders: Mapping[str, OrdersPoller],
        cfg: NotificationsConfig,
        *,
        marketplaces: tuple[str, ...],
        seller_id: str = "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.log = log
        self.orders = dict(orders)
        self.cfg = cfg
        self.marketplaces = frozenset(marketplaces)
        self.seller_id = seller_id
        self._monotonic = monotonic
        self._checked = False
        # Totals since start (status / benchmarks); never message bodies.
        self.counts: dict[str, int] = {
            "received": 0,
            "appended": 0,
            "duplicates": 0,
            "malformed": 0,
            "ignored": 0,
            "deleted": 0,
            "fetched": 0,
        }

    async def poll_once(self) -> PollResult:
        res = PollResult()
        if not self._checked:
            await self._check_queue()
        messages = await self._collect()
        if messages:
            await self._consume(messages, res)
        await self._fetch_pending(res)
        return res

    async def _check_queue(self) -> None:
        """The key, its permission and the queue, before the first receive (fatal if not)."""
        attrs = await self.queue.attributes()
        if not attrs.get("RedrivePolicy"):
            log.warning(
                "notifications: the queue has no redrive policy: a malformed message is "
                "received again every %d s until its retention ends (configure a DLQ, README)",
                self.cfg.visibility_timeout_s,
            )
        self._checked = True

    async def _collect(self) -> list[QueueMessage]:
        """One long poll, then more receives for ``coalesce_s`` (repeated ids coalesce)."""
        cfg = self.cfg
        got = await self.queue.receive(
            max_messages=cfg.max_messages,
            wait_s=cfg.wait_s,
            visibility_timeout_s=cfg.visibility_timeout_s,
        )
        if not got:
            return []
        deadline = self._monotonic() + cfg.coalesce_s
        while len(got) < _MAX_BATCH and (left := deadline - self._monotonic()) > 0:
            more = await self.queue.receive(
                max_messages=min(cfg.max_messages, _MAX_BATCH - len(got)),
                wait_s=min(cfg.wait_s, max(0, int(left))),
                visibility_timeout_s=cfg.visibility_timeout_s,
            )
            got.extend(more)
            if not more and left < 1:
                break
        return got

    async def _consume(self, messages: list[QueueMessage], res: PollResult) -> None:
        self.counts["received"] += len(messages)
        done: list[QueueMessage] = []  # handled (appended, duplicate or not ours): deleted
        fresh: dict[str, NewEvent] = {}
        valid = 0
        for m in messages:
            try:
                change = parse_order_change(m.body, self.cfg.max_body_bytes)
            except Malformed as exc:
                # Left on the queue for its redrive policy (DLQ); never quoted (untrusted).
                self.counts["malformed"] += 1
                res.quarantined += 1
                log.warning(
                    "notifications: message %s is malformed (%s; received %d times); left for "
                    "the queue's dead-letter queue",
                    m.message_id[:64],
                    exc,
                    m.receive_count,
                )
                continue
            done.append(m)
            region = self._region_of(change)
            if region is None:
                self.counts["ignored"] += 1
                continue
            valid += 1
            if change.notification_id not in fresh:
                fresh[change.notification_id] = NewEvent(
                    STREAM,
                    EVENT,
                    change.notification_id,
                    change.payload(region),
                    f"sqs:{change.notification_type}",
                )
        # Deduplicated on the NotificationId itself, not only on the payload's digest.
        new = [e for e in fresh.values() if not await self.log.history(STREAM, e.key)]
        self.counts["duplicates"] += valid - len(new)
        if new:
            r = await self.log.append(new)
            res.appended += r.appended
            res.duplicates += r.duplicates
            self.counts["appended"] += r.appended
        # Only now, after the commit: a crash before this line redelivers, and the log dedupes.
        if done:
            self.counts["deleted"] += await self.queue.delete(done)

    def _region_of(self, change: OrderChange) -> str | None:
        """The region whose client fetches the order; None: not ours (dropped after logging)."""
        if change.notification_type != "ORDER_CHANGE":
            log.info("notifications: a %s notification is not read", change.notification_type)
            return None
        if self.seller_id and change.seller_id != self.seller_id:
            log.warning("notifications: a notification of another seller was dropped")
            return None
        if change.marketplace_id not in self.marketplaces:
            log.info("notifications: marketplace %s is not configured", change.marketplace_id)
            return None
        region = region_of(change.marketplace_id)
        return region if region in self.orders else None

    async def _fetch_pending(self, res: PollResult) -> None:
        """One getOrder per distinct order notified after the bookmark; events + bookmark in
        one transaction."""
        state = await self.log.bookmark(FETCH_BOOKMARK) or {}
        after = int(state.get("position", 0))
        last = after
        todo: dict[tuple[str, str], None] = {}
        async for event in self.log.read(after, streams=[STREAM]):
            last = event.position
            region, oid = event.payload.get("region"), event.payload.get("order_id")
            if isinstance(region, str) and isinstance(oid, str) and region in self.orders:
                todo[(region, oid)] = None
        if last == after:
            return
        events: list[NewEvent] = []
        for region, oid in todo:
            fetched = await self._fetch(self.orders[region], oid)
            if fetched is not None:
                events.append(fetched)
        r = await self.log.append(events, bookmark=(FETCH_BOOKMARK, {"position": last}))
        res.fetched += len(events)
        res.appended += r.appended
        res.duplicates += r.duplicates
        self.counts["fetched"] += len(events)

    async def _fetch(self, poller: OrdersPoller, order_id: str) -> NewEvent | None:
        return await fetch_order(poller, order_id)


async def fetch_order(
    poller: OrdersPoller, order_id: str, why: str = "notifications"
) -> NewEvent | None:
    """One order by getOrder, as the poller would append it; None when Amazon does not know it
    (also the backfill's look-up of zero-value report orders, orders_backfill.py)."""
    client = poller.client
    try:
        if poller.cfg.api == "v0":
            order = await _get_order_v0(client, order_id)
            src = f"sp-api:{client.region}:getOrder"
        else:
            order = await get_order_v2026(client, order_id, V2026_INCLUDED)
            src = f"sp-api:{client.region}:getOrder2026"
    except Rejected as exc:  # 404 / 400: not this seller's order; the poll decides
        log.warning("%s: getOrder %s refused (%s)", why, order_id, exc.status)
        return None
    if not order:
        return None
    # The poller's own normalisation and PII rules (ship-to only where it would fetch it).
    return await poller._event(order, src)


async def _get_order_v0(client: AmazonClient, order_id: str) -> dict[str, Any]:
    """v0 getOrder (the items follow in the poller's normalisation, as for getOrders)."""
    resp = await client.call("getOrder", "GET", f"/orders/v0/orders/{order_id}")
    return dict((resp.body or {}).get("payload") or {})


@asynccontextmanager
async def notifications_consumer(
    cfg: Config,
    log: EventLog,
    pollers: Mapping[str, Any],
    credential: AwsCredential,
    *,
    seller_id: str = "",
) -> AsyncIterator[NotificationsConsumer]:
    """The consumer of ``[notifications]`` with its SQS queue open (``Engine.open``)."""
    n = cfg.notifications
    # With [backfill] enabled the orders poller is a BackfillOrdersPoller wrapping the API
    # poller (``.inner``): the targeted getOrder goes through the API poller.
    apis = {name: getattr(p, "inner", p) for name, p in pollers.items()}
    orders = {
        name.split(":", 1)[1]: p
        for name, p in apis.items()
        if name.startswith("orders:") and isinstance(p, OrdersPoller)
    }
    async with SqsQueue(
        n.sqs_queue_url,
        n.aws_region,
        credential,
        endpoint=n.endpoint,
        timeout_s=cfg.amazon.request_timeout_s,
    ) as queue:
        yield NotificationsConsumer(
            queue,
            log,
            orders,
            n,
            marketplaces=tuple(cfg.amazon.marketplaces),
            seller_id=seller_id,
        )
