"""Orders poller: LastUpdatedAfter windows -> ``amazon.orders`` / ``OrderFetched`` events.

Window: from (watermark - overlap) to (now - lag), lag >= 2 minutes (Amazon's rule for the Before
bound); the overlap re-reads the window edge so an order updated right at the edge is never
missed (re-reads dedupe in the log). Events of each page are appended as they arrive; the
watermark advances only with the last page of a window, in the same transaction.

Buyer PII (the ship-to address) has one use: the QAD ship-to of a merchant-fulfilled order the
seller still has to ship. So it is fetched only for MFN orders in SHIP_TO_STATUSES, only with
``ship_to`` on (``[orders] ship_to``), and once per order: an order whose address is already
sealed in the log carries that envelope forward instead of asking Amazon again. FBA orders never
request it. The order's PurchaseDate dates the data key, so ``purge-pii`` ages it by the order.

Re-reads inside the overlap: an order listed with the (LastUpdateDate, status) of the settled
version this poller appended last (``order_versions``) gets no follow-up call and no event; any
other listing is fetched and appended as before (see engine/pollers/order_versions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.adapters.amazon.client import AmazonClient, iso_z
from engine.adapters.amazon.orders import (
    SHIP_TO_STATUSES,
    address_v0,
    address_v2026,
    get_order_address,
    get_order_items,
    get_order_v2026,
    get_orders_v0,
    normalise_v0,
    normalise_v2026,
    search_orders,
)
from engine.config import PollConfig
from engine.errors import AuthError, ConfigError, Rejected
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult, Sealer
from engine.pollers.order_versions import (
    UNSETTLED_STATUSES,
    OrderVersions,
    listed_version,
    order_id_of,
)
from engine.security.pii import PiiSealer, is_envelope

__all__ = ["OrdersPollConfig", "OrdersPoller"]

log = logging.getLogger(__name__)

MIN_LAG = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class OrdersPollConfig:
    """Tuning of the orders poller (``[poll]`` / ``[amazon]`` config)."""

    marketplace_ids: tuple[str, ...]
    api: str = "2026-01-01"  # or "v0"
    overlap: timedelta = timedelta(minutes=10)
    lag: timedelta = timedelta(minutes=2, seconds=30)
    initial_lookback: timedelta = timedelta(days=30)
    max_window: timedelta = timedelta(days=7)
    pii_channels: tuple[str, ...] = ("MFN",)  # fulfilment channels whose ship-to is needed
    page_size: int = 100
    ship_to: bool = True  # [orders] ship_to: fetch MFN ship-to addresses for QAD at all

    @classmethod
    def from_poll(
        cls,
        poll: PollConfig,
        marketplace_ids: Sequence[str],
        api: str = "2026-01-01",
        *,
        ship_to: bool = True,
    ) -> OrdersPollConfig:
        """The windows of config.toml's ``[poll]`` (validated there: lag >= 2 min)."""
        return cls(
            marketplace_ids=tuple(marketplace_ids),
            api=api,
            ship_to=ship_to,
            overlap=timedelta(seconds=poll.orders_overlap_s),
            lag=timedelta(seconds=poll.orders_end_lag_s),
            initial_lookback=timedelta(days=poll.orders_initial_lookback_days),
            max_window=timedelta(days=poll.orders_max_window_days),
        )


class OrdersPoller:
    """Fetch changed orders of one region and append them.

    Args:
        client: the region's AmazonClient.
        log: the event log.
        cfg: windows and API choice.
        sealer: PII sealer (None: addresses are never requested, pii="unavailable").
    """

    def __init__(
        self,
        client: AmazonClient,
        log: EventLog,
        cfg: OrdersPollConfig,
        sealer: Sealer | None = None,
    ) -> None:
        if cfg.api not in ("2026-01-01", "v0"):
            raise ConfigError(f'amazon.orders_api must be "2026-01-01" or "v0", got {cfg.api!r}')
        if cfg.lag < MIN_LAG:
            raise ConfigError("orders lag must be at least 2 minutes (SP-API rule)")
        self.client = client
        self.log = log
        self.cfg = cfg
        self.sealer = sealer
        self.name = f"amazon.orders.{client.region}"
        self._pii_denied = False
        self.versions = OrderVersions(log, cfg.api)
        self.skipped = 0  # listed orders whose version was already settled in the log

    async def poll_once(self) -> PollResult:
        """One window (or several, up to now - lag, in ``max_window`` steps)."""
        res = PollResult()
        await self.versions.ensure()
        while True:
            state = await self.log.bookmark(self.name) or {}
            now = self.client.clock()
            end = now - self.cfg.lag
            if "watermark" in state:
                start = datetime.fromisoformat(state["watermark"]) - self.cfg.overlap
            else:
                start = now - self.cfg.initial_lookback
            if end - start <= self.cfg.overlap and "watermark" in state:
                res.watermark = state["watermark"]
                return res
            end = min(end, start + self.cfg.max_window)
            await self._window(start, end, res)
            if end >= now - self.cfg.lag - timedelta(seconds=1):
                return res

    async def _window(self, start: datetime, end: datetime, res: PollResult) -> None:
        pending: list[NewEvent] = []
        echo: str | None = None
        src = f"sp-api:{self.client.region}:" + (
            "searchOrders" if self.cfg.api != "v0" else "getOrders"
        )
        pages = (
            search_orders(
                self.client, self.cfg.marketplace_ids, start, end, page_size=self.cfg.page_size
            )
            if self.cfg.api != "v0"
            else get_orders_v0(
                self.client, self.cfg.marketplace_ids, start, end, page_size=self.cfg.page_size
            )
        )
        async for orders, echo_before in pages:
            echo = echo_before or echo
            if pending:  # append the previous page now that the next one is known to exist
                await self._append(pending, res, None)
            pending = await self._page(orders, src, res)
            res.fetched += len(orders)
        watermark = (
            iso_z(datetime.fromisoformat(echo.replace("Z", "+00:00"))) if echo else iso_z(end)
        )
        await self._append(pending, res, {"watermark": watermark, "api": self.cfg.api})
        res.watermark = watermark

    async def _page(
        self, orders: Sequence[dict[str, Any]], src: str, res: PollResult
    ) -> list[NewEvent]:
        """Events of one listed page; orders whose settled version the log holds are skipped
        (counted as duplicates: the log would have deduplicated their event)."""
        api, region = self.cfg.api, self.client.region
        settled = await self.versions.settled([order_id_of(o, api) for o in orders])
        events: list[NewEvent] = []
        for order in orders:
            known = settled.get(order_id_of(order, api))
            if known is not None and known == listed_version(order, api, region):
                self.skipped += 1
                res.duplicates += 1
                continue
            events.append(await self._event(order, src))
        return events

    async def _append(
        self, events: Sequence[NewEvent], res: PollResult, bookmark: dict[str, Any] | None
    ) -> None:
        """Events, their versions (``order_versions``) and the bookmark in one transaction."""
        rows = [
            (e.key, str(e.payload["last_update"]), str(e.payload["status"]), self._settled(e))
            for e in events
            if isinstance(e.payload.get("last_update"), str)
            and isinstance(e.payload.get("status"), str)
        ]
        async with self.log.transaction() as tx:
            r = await tx.append(events)
            await self.versions.record(tx, rows)
            if bookmark is not None:
                await tx.set_bookmark(self.name, bookmark)
                wm = datetime.fromisoformat(str(bookmark["watermark"]).replace("Z", "+00:00"))
                await self.versions.prune(tx, wm, self.cfg.overlap)
        res.appended += r.appended
        res.duplicates += r.duplicates

    def _settled(self, event: NewEvent) -> bool:
        """Nothing a follow-up call could still add is missing from this version."""
        p = event.payload
        lines = p.get("lines") or []
        if p.get("status") in UNSETTLED_STATUSES or not lines:
            return False  # Pending: prices (and the address) come with payment
        if p.get("status") != "Canceled" and any(ln.get("item_price") is None for ln in lines):
            return False
        wants_ship_to = (
            p.get("fulfillment") in self.cfg.pii_channels
            and self.cfg.ship_to
            and p.get("status") in SHIP_TO_STATUSES
            and self.sealer is not None
            # Refused in this process (no restricted role): asking again on a re-read would
            # not help; the order's next version is fetched as usual.
            and not self._pii_denied
        )
        return not wants_ship_to or p.get("pii") == "sealed"

    async def _event(self, order: dict[str, Any], src: str) -> NewEvent:
        region = self.client.region
        if self.cfg.api == "v0":
            items = await get_order_items(self.client, order["AmazonOrderId"])
            payload = normalise_v0(order, items, region)
        else:
            payload = normalise_v2026(order, region)
        await self._pii(payload)
        return NewEvent("amazon.orders", "OrderFetched", payload["order_id"], payload, src)

    async def _pii(self, payload: dict[str, Any]) -> None:
        """Fetch and seal the ship-to once, only for MFN orders still to be shipped."""
        if payload["fulfillment"] not in self.cfg.pii_channels or not self.cfg.ship_to:
            return  # FBA orders never request PII; nor anything with [orders] ship_to = false
        sealed = await self._sealed(payload["order_id"])
        if sealed is not None:  # fetched before: carry the envelope, never ask Amazon again
            payload["ship_to"] = sealed
            payload["pii"] = "sealed"
            return
        if payload["status"] not in SHIP_TO_STATUSES:
            return  # pending (no address yet), shipped or cancelled: no ship-to needed
        if self.sealer is None or self._pii_denied:
            payload["pii"] = "unavailable"
            return
        oid = payload["order_id"]
        try:
            if self.cfg.api == "v0":
                rdt = await self.client.restricted_token(
                    "/orders/v0/orders/{orderId}/address", ["shippingAddress"]
                )
                plain = address_v0(await get_order_address(self.client, oid, rdt))
            else:
                plain = address_v2026(await get_order_v2026(self.client, oid, ["RECIPIENT"]))
        except (Rejected, AuthError) as exc:
            # No restricted role (RDT 400 / 403): degrade visibly, keep syncing orders.
            self._pii_denied = True
            log.warning(
                "amazon %s: no access to buyer addresses (%s); orders continue without ship-to",
                self.client.region,
                getattr(exc, "code", "") or exc.status,
            )
            payload["pii"] = "unavailable"
            return
        if plain is None:
            payload["pii"] = "unavailable"
            return
        if isinstance(self.sealer, PiiSealer):  # dated by the order: purge-pii ages it by that
            placed = _placed(payload.get("purchase_date"))
            payload["ship_to"] = await self.sealer.seal(oid, plain, record_date=placed)
        else:  # another Sealer (tests): its keys age from their creation
            payload["ship_to"] = await self.sealer.seal(oid, plain)
        payload["pii"] = "sealed"

    async def _sealed(self, order_id: str) -> dict[str, Any] | None:
        """The ship-to envelope an earlier version of the order carries in the log, if any."""
        for event in reversed(await self.log.history("amazon.orders", order_id)):
            env = event.payload.get("ship_to")
            if event.payload.get("pii") == "sealed" and isinstance(env, dict) and is_envelope(env):
                return dict(env)
        return None


def _placed(text: Any) -> datetime | None:
    """The order's PurchaseDate (normalised ISO-8601 Z) as an aware datetime, None if absent."""
    if not isinstance(text, str) or not text:
        return None
    try:
        placed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return placed if placed.tzinfo is not None else None
