"""Inventory pollers: FBA quantities and MFN quantities, one snapshot per marketplace.

Each snapshot carries a per-marketplace monotonic ``snapshot`` number (kept in the bookmark), so
two consecutive snapshots are two events: the projector needs two to be sure a SKU has vanished.

Only complete snapshots are appended. A listings report that ends CANCELLED (Amazon cancels
reports requested too often [C docs#1329, docs#1604], and for "no data" [D]) or FATAL, or an FBA
listing whose paging broke, means "stock unknown": nothing is appended, so no adjustment and no
"missing" count can come from it, and the marketplace is marked degraded in the bookmark (reason,
since when, how often) until its next complete snapshot. ``status`` reads that from the event
log, so another process sees it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.inventory import fba_snapshot, mfn_quantities
from engine.adapters.amazon.reports import (
    download_document,
    open_text,
    recent_or_new_report,
    wait_report,
)
from engine.errors import RemoteError, RemoteUnavailable
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult

__all__ = ["FbaInventoryPoller", "MfnInventoryPoller", "SnapshotUnknown"]

log = logging.getLogger(__name__)

MFN_REPORT_TYPE = "GET_MERCHANT_LISTINGS_ALL_DATA"
DEGRADED = "degraded"  # bookmark key: marketplace -> {reason, since, last, times}
SOURCES = "sources"  # bookmark key: marketplace -> the report id of its last snapshot


class SnapshotUnknown(Exception):
    """Amazon answered, but with no usable snapshot (report CANCELLED/FATAL): stock unknown.

    ``error``: also a poll error of this cycle (FATAL); CANCELLED is an expected answer."""

    def __init__(self, reason: str, *, error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class Snapshot:
    items: dict[str, int]
    source: str | None = None  # e.g. the report id it was read from


class _SnapshotPoller:
    stream = ""
    type = ""
    kind = ""

    def __init__(self, client: AmazonClient, log: EventLog, marketplace_ids: Sequence[str]) -> None:
        self.client = client
        self.log = log
        self.marketplace_ids = tuple(marketplace_ids)
        self.name = f"amazon.inventory.{self.kind}.{client.region}"

    async def _items(self, marketplace_id: str, state: dict[str, Any]) -> Snapshot | None:
        """The marketplace's complete snapshot; None: nothing new since the last one."""
        raise NotImplementedError

    async def poll_once(self) -> PollResult:
        """One snapshot per marketplace, each appended with the bumped counter."""
        res = PollResult()
        for mp in self.marketplace_ids:
            state = await self.log.bookmark(self.name) or {}
            try:
                snap = await self._items(mp, state)
            except SnapshotUnknown as exc:
                await self._degrade(state, mp, exc.reason)
                if exc.error:
                    raise RemoteUnavailable(f"amazon: {exc.reason}", system="amazon") from None
                continue
            except RemoteError as exc:
                await self._degrade(state, mp, f"{type(exc).__name__}: {exc}")
                raise
            if snap is None:
                continue
            seq = int(state.get(mp, 0)) + 1
            payload = {
                "marketplace_id": mp,
                "region": self.client.region,
                "snapshot": seq,
                "items": dict(sorted(snap.items.items())),
            }
            new_state = {**state, mp: seq}
            degraded = {k: v for k, v in dict(state.get(DEGRADED) or {}).items() if k != mp}
            new_state[DEGRADED] = degraded
            if snap.source is not None:
                new_state[SOURCES] = {**dict(state.get(SOURCES) or {}), mp: snap.source}
            ev = NewEvent(self.stream, self.type, mp, payload, f"sp-api:{self.client.region}")
            r = await self.log.append([ev], bookmark=(self.name, new_state))
            res.fetched += len(snap.items)
            res.appended += r.appended
            res.duplicates += r.duplicates
        return res

    async def _degrade(self, state: dict[str, Any], mp: str, reason: str) -> None:
        """Record (restart-safe, in the bookmark) that ``mp``'s stock is unknown, and why."""
        now = self.client.clock().isoformat()
        degraded = dict(state.get(DEGRADED) or {})
        entry = degraded.get(mp)
        prior: dict[str, Any] = entry if isinstance(entry, dict) else {}
        degraded[mp] = {
            "reason": reason[:300],
            "since": prior.get("since") or now,
            "last": now,
            "times": int(prior.get("times") or 0) + 1,
        }
        await self.log.append([], bookmark=(self.name, {**state, DEGRADED: degraded}))
        log.warning(
            "amazon %s %s inventory of %s degraded (stock unknown, nothing aligned): %s",
            self.client.region,
            self.kind,
            mp,
            reason,
        )


class FbaInventoryPoller(_SnapshotPoller):
    """``amazon.inventory.fba`` / ``FbaInventorySnapshot`` from getInventorySummaries."""

    stream = "amazon.inventory.fba"
    type = "FbaInventorySnapshot"
    kind = "fba"

    def __init__(
        self,
        client: AmazonClient,
        log: EventLog,
        marketplace_ids: Sequence[str],
        basis: str = "fulfillable",
    ) -> None:
        super().__init__(client, log, marketplace_ids)
        self.basis = basis

    async def _items(self, marketplace_id: str, state: dict[str, Any]) -> Snapshot | None:
        return Snapshot(await fba_snapshot(self.client, marketplace_id, basis=self.basis))


class MfnInventoryPoller(_SnapshotPoller):
    """``amazon.inventory.mfn`` / ``MfnInventorySnapshot`` from GET_MERCHANT_LISTINGS_ALL_DATA.

    A report of this type requested less than ``min_interval_s`` ago (by anyone: Amazon's
    cooldown is per seller [C docs#1604]) is reused instead of requesting another; when that is
    the report of the last snapshot, there is nothing new and nothing is appended, so one report
    never counts as two observations.
    """

    stream = "amazon.inventory.mfn"
    type = "MfnInventorySnapshot"
    kind = "mfn"

    def __init__(
        self,
        client: AmazonClient,
        log: EventLog,
        marketplace_ids: Sequence[str],
        raw_dir: Path = Path("raw/amazon"),
        report_timeout_s: float = 1800.0,
        min_interval_s: float = 0.0,
    ) -> None:
        super().__init__(client, log, marketplace_ids)
        self.raw_dir = raw_dir
        self.report_timeout_s = report_timeout_s
        self.min_interval_s = min_interval_s

    async def _items(self, marketplace_id: str, state: dict[str, Any]) -> Snapshot | None:
        rid = await recent_or_new_report(
            self.client, MFN_REPORT_TYPE, [marketplace_id], min_interval_s=self.min_interval_s
        )
        if dict(state.get(SOURCES) or {}).get(marketplace_id) == rid:
            return None  # the report of the last snapshot: no new observation
        rep = await wait_report(self.client, rid, timeout=self.report_timeout_s)
        status = rep.get("processingStatus")
        if status in ("CANCELLED", "FATAL"):
            raise SnapshotUnknown(
                f"listings report {rid} ended {status} (Amazon cancels reports requested too "
                "often); merchant stock unknown this cycle",
                error=status == "FATAL",
            )
        doc_id = rep.get("reportDocumentId")
        if status != "DONE" or not isinstance(doc_id, str) or not doc_id:
            raise RemoteUnavailable(
                f"amazon: listings report {rid!r} ended {status!r}", system="amazon"
            )
        # ``rid`` is Amazon's: download_document derives a safe file name from it.
        raw = self.raw_dir / self.client.region
        doc = await download_document(self.client, doc_id, raw, name=rid)
        return Snapshot(mfn_quantities(open_text(doc, region=self.client.region)), rid)
