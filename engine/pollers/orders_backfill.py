"""Orders backfill and catch-up from the All Orders report, then the API path takes over.

``BackfillOrdersPoller`` wraps the region's ``OrdersPoller`` (same ``name``, same events). Each
``poll_once``:

1. If a backfill run is in progress (bookmark ``amazon.orders.backfill.<R>``), resume it. Else
   plan one when the API path has to cover more than ``gap_threshold``: no watermark yet
   (``initial_lookback``) or ``now - (watermark - overlap)`` too long (an outage).
2. A run covers [start, now - lag) in windows of <= 30 days aligned to UTC midnight, oldest first
   (so the newest version of an order lands last). Up to ``reports_ahead`` windows are requested
   at once (Amazon has no cooldown for these types [D reference §1.1]); their report ids are in
   the bookmark before they are waited on, and an in-progress report of the same window is
   reused after a crash, so no window is requested twice.
3. A window's document is read whole once (``validate``) before anything is appended from it; its
   orders are then appended in pages, the last page with the bookmark marking the window done, in
   one transaction. A restart re-reads an unfinished window: its pages dedupe in the log.
4. The last window's transaction also moves the API path's watermark to the run's end minus
   ``report_lag`` (Amazon's reports lag up to 30 minutes [D §1.1]); the API path then reads from
   there minus its usual overlap, so an order updated near the hand-over is read by both
   (duplicates change nothing) and none is missed.

Per order: a report version never rolls the log back (skipped when the log holds a version with
the same or a later ``last_update``); a flat-file version (weak line ids) takes the real ids of
a version in the log or is skipped; a merchant-fulfilled order still to ship gets its ship-to
through the API path's own PII step (``OrdersPoller._pii``: getOrder RECIPIENT / RDT), the same
single call per order the API path would make. A zero-value order (maybe a replacement: the
report has no IsReplacementOrder) is held by the projector and confirmed by getOrder, up to
``confirm_per_cycle`` per cycle (bookmark key ``confirm``). Pending MFN orders carry no
price (``prices = "absent"``): the projector posts "no price yet", and the API path fills prices
once paid.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.adapters.amazon.client import iso_z
from engine.adapters.amazon.order_report import (
    ReportBodyError,
    ReportDocumentError,
    WaitPolicy,
    download_window,
    orders_in_chunks,
    request_window,
    validate,
    wait_report_politely,
    windows,
)
from engine.adapters.amazon.orders import SHIP_TO_STATUSES
from engine.adapters.http import ResponseTooLarge
from engine.errors import RemoteUnavailable
from engine.log.records import NewEvent
from engine.pollers.base import PollResult
from engine.pollers.notifications import fetch_order
from engine.pollers.orders import OrdersPoller

__all__ = ["BackfillConfig", "BackfillOrdersPoller"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackfillConfig:
    """``[backfill]`` (engine/config/model.py BackfillConfig)."""

    gap_threshold: timedelta = timedelta(hours=72)
    window_days: int = 30
    format: str = "xml"
    max_document_bytes: int = 4096 << 20
    report_lag: timedelta = timedelta(minutes=30)
    reports_ahead: int = 12
    page_size: int = 500
    confirm_per_cycle: int = 30  # getOrder burst [D ordersV0/2026 usage plan: 0.5 rps, 30]
    wait: WaitPolicy = field(default_factory=WaitPolicy)

    @classmethod
    def of(cls, cfg: Any) -> BackfillConfig:
        return cls(
            gap_threshold=timedelta(hours=cfg.gap_threshold_h),
            window_days=int(cfg.window_days),
            format=cfg.format,
            max_document_bytes=int(cfg.max_document_mb * (1 << 20)),
            report_lag=timedelta(seconds=cfg.report_lag_s),
            reports_ahead=int(cfg.reports_ahead),
            wait=WaitPolicy(cfg.poll_first_s, cfg.poll_max_s, cfg.wait_timeout_s),
        )


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class BackfillOrdersPoller:
    """The orders flow of one region: report backfill when needed, then ``inner``."""

    def __init__(self, inner: OrdersPoller, cfg: BackfillConfig, raw_dir: Path) -> None:
        self.inner = inner
        self.cfg = cfg
        self.client = inner.client
        self.log = inner.log
        self.name = inner.name  # the API path's bookmark (its watermark is handed over)
        self.state_name = f"amazon.orders.backfill.{inner.client.region}"
        self.raw_dir = raw_dir / inner.client.region / "order-reports"
        self._to_confirm: dict[str, None] = {}  # zero-value orders of the window being read

    async def poll_once(self) -> PollResult:
        res = PollResult()
        state = await self.log.bookmark(self.state_name)
        if not state or state.get("finished"):
            state = await self._plan(state)
        if state is not None:
            await self._run(state, res)
        await self._confirm(res)
        tail = await self.inner.poll_once()
        res.fetched += tail.fetched
        res.appended += tail.appended
        res.duplicates += tail.duplicates
        res.watermark = tail.watermark
        return res

    async def _plan(self, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        """A new run when the API path would have to cover more than the threshold."""
        api = await self.log.bookmark(self.name) or {}
        icfg = self.inner.cfg
        now = self.client.clock()
        end = now - icfg.lag
        if "watermark" in api:
            start = _t(api["watermark"]) - icfg.overlap
        else:
            start = now - icfg.initial_lookback
        if end - start <= self.cfg.gap_threshold:
            return None
        state: dict[str, Any] = {
            "start": iso_z(start),
            "end": iso_z(end),
            "format": self.cfg.format,
            "windows": [
                [iso_z(s), iso_z(e), None] for s, e in windows(start, end, self.cfg.window_days)
            ],
            "done": 0,
            "finished": False,
            "runs": int((previous or {}).get("runs", 0)) + 1,
            "confirm": list((previous or {}).get("confirm") or []),  # carried over
        }
        log.info(
            "%s: backfill of %s .. %s from %d report window(s)",
            self.name,
            state["start"],
            state["end"],
            len(state["windows"]),
        )
        await self.log.append([], bookmark=(self.state_name, state))
        return state

    async def _save(self, state: dict[str, Any]) -> None:
        await self.log.append([], bookmark=(self.state_name, state))

    async def _run(self, state: dict[str, Any], res: PollResult) -> None:
        wins: list[list[Any]] = state["windows"]
        fmt = str(state.get("format") or self.cfg.format)
        mps = self.inner.cfg.marketplace_ids
        while state["done"] < len(wins):
            i = state["done"]
            for w in wins[i : i + max(1, self.cfg.reports_ahead)]:
                if w[2] is None:
                    w[2] = await request_window(self.client, fmt, mps, _t(w[0]), _t(w[1]))
                    await self._save(state)  # the id is known before anything waits on it
            rid = wins[i][2]
            report = await wait_report_politely(self.client, rid, self.cfg.wait)
            try:
                doc = await download_window(
                    self.client, report, self.raw_dir, self.cfg.max_document_bytes
                )
                if doc is not None:  # a whole-document parse: in a worker thread (issue 18)
                    await asyncio.to_thread(validate, doc, fmt, self.client.region, mps)
            except (ReportBodyError, ResponseTooLarge) as exc:
                # The window asked too much (range refused, or a document over the cap): halve it
                # and ask again, unless it is a day or less already (then retry it as it is).
                self._split_or_forget(state, i, exc)
                await self._save(state)
                raise
            except ReportDocumentError:
                wins[i][2] = None  # that document is unusable: a new report next cycle
                await self._save(state)
                raise
            except RemoteUnavailable as exc:
                if report.get("processingStatus") not in ("DONE", "CANCELLED"):
                    wins[i][2] = None  # FATAL: request the window again next cycle
                    await self._save(state)
                raise exc
            await self._append_window(state, i, doc, fmt, res)

    def _split_or_forget(self, state: dict[str, Any], i: int, exc: Exception) -> None:
        wins: list[list[Any]] = state["windows"]
        start, end = _t(wins[i][0]), _t(wins[i][1])
        if end - start > timedelta(days=1):
            mid = start + (end - start) / 2
            mid = mid.replace(hour=0, minute=0, second=0, microsecond=0)
            if mid <= start:
                mid = start + timedelta(days=1)
            wins[i : i + 1] = [[iso_z(start), iso_z(mid), None], [iso_z(mid), iso_z(end), None]]
            log.warning("%s: window %s split after %s", self.name, wins[i][0], type(exc).__name__)
        else:
            wins[i][2] = None

    async def _append_window(
        self,
        state: dict[str, Any],
        i: int,
        doc: Any,
        fmt: str,
        res: PollResult,
    ) -> None:
        wins: list[list[Any]] = state["windows"]
        rid = str(wins[i][2])
        src = f"sp-api:{self.client.region}:report:{rid}"
        page: list[NewEvent] = []
        count = 0
        if doc is not None:
            mps = self.inner.cfg.marketplace_ids  # parsed off the loop, a page at a time
            async for bodies in orders_in_chunks(doc, fmt, self.client.region, mps):
                for body in bodies:
                    res.fetched += 1
                    count += 1
                    event = await self._event(body, src)
                    if event is not None:
                        page.append(event)
                    if len(page) >= self.cfg.page_size:
                        r = await self.log.append(page)
                        res.appended += r.appended
                        res.duplicates += r.duplicates
                        page = []
        state["done"] = i + 1
        confirm = dict.fromkeys(state.get("confirm") or [])
        confirm.update(self._to_confirm)
        state["confirm"] = list(confirm)
        self._to_confirm = {}
        last = state["done"] >= len(wins)
        if last:
            state["finished"] = True
        async with self.log.transaction() as tx:
            r = await tx.append(page)
            await tx.set_bookmark(self.state_name, state)
            if last:
                await tx.set_bookmark(self.name, await self._handover(state))
        res.appended += r.appended
        res.duplicates += r.duplicates
        log.info(
            "%s: report window %s .. %s: %d order(s)", self.name, wins[i][0], wins[i][1], count
        )

    async def _confirm(self, res: PollResult) -> None:
        """getOrder for up to ``confirm_per_cycle`` zero-value report orders (their
        IsReplacementOrder), appended with the shortened list in one transaction. Paced per
        cycle so a year's replacements never compete with the windows for getOrder."""
        state = await self.log.bookmark(self.state_name)
        todo = list((state or {}).get("confirm") or [])
        if state is None or not todo:
            return
        batch, rest = todo[: self.cfg.confirm_per_cycle], todo[self.cfg.confirm_per_cycle :]
        events = []
        for oid in batch:
            history = await self.log.history("amazon.orders", oid)
            if history and not _flag_unknown(history[-1].payload):
                continue  # the API path has read it since: its version says
            event = await fetch_order(self.inner, oid, why=self.name)
            if event is not None:
                events.append(event)
            else:  # refused: the projector keeps holding it (status shows it as awaiting)
                log.warning("%s: %s not confirmed by getOrder; held", self.name, oid)
        state["confirm"] = rest
        r = await self.log.append(events, bookmark=(self.state_name, state))
        res.fetched += len(events)
        res.appended += r.appended
        res.duplicates += r.duplicates

    async def _handover(self, state: dict[str, Any]) -> dict[str, Any]:
        """The API path's bookmark with its watermark at the run's end minus the report lag
        (its other keys kept); never moved back behind a later watermark."""
        api = dict(await self.log.bookmark(self.name) or {})
        hwm = _t(state["end"]) - self.cfg.report_lag
        if "watermark" not in api or _t(api["watermark"]) < hwm:
            api["watermark"] = iso_z(hwm)
        api.setdefault("api", self.inner.cfg.api)
        return api

    async def _event(self, body: dict[str, Any], src: str) -> NewEvent | None:
        history = await self.log.history("amazon.orders", body["order_id"])
        newest = history[-1].payload if history else None
        seen = str(newest.get("last_update") or "") if newest is not None else None
        if _zero_value(body) and (newest is None or _flag_unknown(newest)):
            # The report cannot say whether a zero-value order is a replacement [D §1.5]: the
            # projector holds it, and getOrder (IsReplacementOrder) confirms it later, paced.
            self._to_confirm.setdefault(body["order_id"], None)
        if seen is not None and seen >= str(body["last_update"] or ""):
            return None  # the log already holds this version or a later one
        if body.get("line_ids") == "weak" and not _real_ids(body, history):
            return None  # a flat row must not overwrite lines the API path keyed by real ids
        if body.get("fulfillment") == "MFN" and body.get("status") in SHIP_TO_STATUSES:
            await self.inner._pii(body)  # the API path's one ship-to call for open MFN orders
        return NewEvent("amazon.orders", "OrderFetched", body["order_id"], body, src)


def _flag_unknown(payload: dict[str, Any]) -> bool:
    return "is_replacement_order" in payload and payload["is_replacement_order"] is None


def _zero_value(body: dict[str, Any]) -> bool:
    """Every line of a report version priced, and at zero (projectors/order_keys.zero_value:
    the projector's own check; pollers do not import projectors)."""
    lines = body.get("lines") or []
    return (
        bool(lines)
        and body.get("prices") != "absent"
        and all(ln.get("item_price") is not None and Decimal(ln["item_price"]) == 0 for ln in lines)
    )


def _real_ids(body: dict[str, Any], history: list[Any]) -> bool:
    """Give a flat-file version's lines the order-item ids of the newest log version that has
    real ones (same SKU, same rank); True when the version may be appended."""
    known = next(
        (
            e.payload
            for e in reversed(history)
            if e.payload.get("line_ids") != "weak" and e.payload.get("lines")
        ),
        None,
    )
    if known is None:
        return True  # nothing keyed by real ids yet: the weak ids stand
    by_sku: dict[str, list[str]] = {}
    for ln in sorted(known["lines"], key=lambda x: str(x.get("order_item_id"))):
        by_sku.setdefault(str(ln.get("sku")), []).append(str(ln.get("order_item_id")))
    lines = body["lines"]
    rank: dict[str, int] = {}
    for ln in lines:
        sku = str(ln.get("sku"))
        ids = by_sku.get(sku, [])
        n = rank.get(sku, 0)
        if n >= len(ids):
            return False
        ln["order_item_id"] = ids[n]
        rank[sku] = n + 1
    if sum(rank.values()) != sum(len(v) for v in by_sku.values()):
        return False
    lines.sort(key=lambda x: str(x["order_item_id"]))
    body["line_ids"] = "matched"
    return True
