"""Inventory pollers: FBA fulfillable quantities and MFN quantities, one snapshot per marketplace.

Each snapshot carries a per-marketplace monotonic ``snapshot`` number (kept in the bookmark), so
two identical consecutive snapshots are still two events: the projector needs two snapshots to be
sure a SKU has vanished.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.inventory import fba_snapshot, mfn_quantities
from engine.adapters.amazon.reports import (
    create_or_reuse_report,
    download_document,
    open_text,
    wait_report,
)
from engine.errors import RemoteUnavailable
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult

__all__ = ["FbaInventoryPoller", "MfnInventoryPoller"]

MFN_REPORT_TYPE = "GET_MERCHANT_LISTINGS_ALL_DATA"


class _SnapshotPoller:
    stream = ""
    type = ""
    kind = ""

    def __init__(self, client: AmazonClient, log: EventLog, marketplace_ids: Sequence[str]) -> None:
        self.client = client
        self.log = log
        self.marketplace_ids = tuple(marketplace_ids)
        self.name = f"amazon.inventory.{self.kind}.{client.region}"

    async def _items(self, marketplace_id: str) -> dict[str, int]:
        raise NotImplementedError

    async def poll_once(self) -> PollResult:
        """One snapshot per marketplace, each appended with the bumped counter."""
        res = PollResult()
        for mp in self.marketplace_ids:
            items = await self._items(mp)
            state = await self.log.bookmark(self.name) or {}
            seq = int(state.get(mp, 0)) + 1
            payload = {
                "marketplace_id": mp,
                "region": self.client.region,
                "snapshot": seq,
                "items": dict(sorted(items.items())),
            }
            ev = NewEvent(self.stream, self.type, mp, payload, f"sp-api:{self.client.region}")
            r = await self.log.append([ev], bookmark=(self.name, {**state, mp: seq}))
            res.fetched += len(items)
            res.appended += r.appended
            res.duplicates += r.duplicates
        return res


class FbaInventoryPoller(_SnapshotPoller):
    """``amazon.inventory.fba`` / ``FbaInventorySnapshot`` from getInventorySummaries."""

    stream = "amazon.inventory.fba"
    type = "FbaInventorySnapshot"
    kind = "fba"

    async def _items(self, marketplace_id: str) -> dict[str, int]:
        return await fba_snapshot(self.client, marketplace_id)


class MfnInventoryPoller(_SnapshotPoller):
    """``amazon.inventory.mfn`` / ``MfnInventorySnapshot`` from GET_MERCHANT_LISTINGS_ALL_DATA."""

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
    ) -> None:
        super().__init__(client, log, marketplace_ids)
        self.raw_dir = raw_dir
        self.report_timeout_s = report_timeout_s

    async def _items(self, marketplace_id: str) -> dict[str, int]:
        rid = await create_or_reuse_report(self.client, MFN_REPORT_TYPE, [marketplace_id])
        rep = await wait_report(self.client, rid, timeout=self.report_timeout_s)
        status = rep.get("processingStatus")
        if status == "CANCELLED":
            return {}  # CANCELLED also means "no data"
        doc_id = rep.get("reportDocumentId")
        if status != "DONE" or not isinstance(doc_id, str) or not doc_id:
            raise RemoteUnavailable(
                f"amazon: listings report {rid!r} ended {status!r}", system="amazon"
            )
        # ``rid`` is Amazon's: download_document derives a safe file name from it.
        raw = self.raw_dir / self.client.region
        doc = await download_document(self.client, doc_id, raw, name=rid)
        return mfn_quantities(open_text(doc, region=self.client.region))
