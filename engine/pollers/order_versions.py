"""The order versions the orders poller already holds, so a re-read needs no follow-up calls.

Each poll re-reads its overlap (``[poll] orders_overlap_s``), so an order is listed several times
per version. Its follow-up calls (v0 ``getOrderItems``; the ship-to: RDT + ``getOrderAddress``
or v2026 ``getOrder`` RECIPIENT) only repeat what the log already holds when the listed version
is the one last appended. Table ``order_versions`` (in the event log file) keeps, per order, the
(LastUpdateDate, status) of the version the poller appended last, written in the same
transaction as that event: a crash between the fetch and the append leaves neither, so the next
poll fetches again and no version is lost. A version counts as *settled* (re-reads skipped) only
when nothing a follow-up could still add is missing: not Pending (prices arrive when it is paid
[D ordersV0: Pending orders carry no prices]), every line priced (unless Canceled), and the
ship-to sealed when the poller would fetch one. A changed LastUpdateDate or status always
re-fetches. Look-ups are one primary-key query per page of listed orders. Other writers of
``amazon.orders`` (backfill reports, notifications) do not write here: their versions are
simply re-fetched once by the poller, which is the safe direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from engine.adapters.amazon.client import iso_z
from engine.adapters.amazon.orders import normalise_v0, normalise_v2026
from engine.log.ports import EventLog, Transaction

__all__ = [
    "RETENTION",
    "SCHEMA",
    "UNSETTLED_STATUSES",
    "OrderVersions",
    "listed_version",
    "order_id_of",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS order_versions (
    order_id    TEXT PRIMARY KEY,
    last_update TEXT NOT NULL,     -- Amazon LastUpdateDate of the version appended (ISO Z)
    status      TEXT NOT NULL,     -- its normalised status (Unshipped, Shipped, ...)
    api         TEXT NOT NULL,     -- the API that read it ("v0" / "2026-01-01")
    settled     INTEGER NOT NULL   -- 1: a re-read of this version needs no follow-up call
);
CREATE INDEX IF NOT EXISTS order_versions_by_update ON order_versions (last_update);
"""

# Prices (and, for MFN, the address) come with payment [D ordersV0 Order: Pending has no
# OrderTotal]; such versions are never skipped, so their re-reads still pick prices up.
UNSETTLED_STATUSES = frozenset({"Pending", "PendingAvailability"})
# A row is only compared while its order can be listed again: within the overlap behind the
# watermark. A day of margin beyond that [I]; older rows are pruned with the window's bookmark.
RETENTION = timedelta(days=1)
_CHUNK = 400  # ids per look-up (SQLite's bound-parameter limit is far above)


def listed_version(order: dict[str, Any], api: str, region: str) -> tuple[str, str] | None:
    """(last_update, status) of a listed order, normalised as its event would carry them."""
    payload = normalise_v0(order, [], region) if api == "v0" else normalise_v2026(order, region)
    last_update, status = payload.get("last_update"), payload.get("status")
    if not isinstance(last_update, str) or not isinstance(status, str):
        return None  # an order without a version stamp is always fetched
    return last_update, status


def order_id_of(order: dict[str, Any], api: str) -> str:
    """The listed order's id (v0 AmazonOrderId, v2026 orderId)."""
    return str(order["AmazonOrderId"] if api == "v0" else order["orderId"])


class OrderVersions:
    """Read and write ``order_versions`` for one poller (``api`` scopes what it trusts)."""

    def __init__(self, log: EventLog, api: str) -> None:
        self.log = log
        self.api = api
        self._ready = False

    async def ensure(self) -> None:
        if not self._ready:
            await self.log.ensure_schema(SCHEMA)
            self._ready = True

    async def settled(self, order_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """order id -> (last_update, status) of its settled version, for the ids that have one."""
        out: dict[str, tuple[str, str]] = {}
        ids = list(dict.fromkeys(order_ids))
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self.log.query(
                "SELECT order_id, last_update, status FROM order_versions "
                f"WHERE order_id IN ({marks}) AND settled = 1 AND api = ?",
                (*chunk, self.api),
            )
            out.update({str(r[0]): (str(r[1]), str(r[2])) for r in rows})
        return out

    async def record(self, tx: Transaction, rows: Iterable[tuple[str, str, str, bool]]) -> None:
        """(order id, last_update, status, settled) of the events appended in ``tx``."""
        values = [(oid, lu, st, self.api, int(ok)) for oid, lu, st, ok in rows]
        if values:
            await tx.executemany(
                "INSERT INTO order_versions (order_id, last_update, status, api, settled) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
                "last_update = excluded.last_update, status = excluded.status, "
                "api = excluded.api, settled = excluded.settled",
                values,
            )

    async def prune(self, tx: Transaction, watermark: datetime, overlap: timedelta) -> None:
        """Forget versions too old to be listed again (behind the next window's start)."""
        cutoff = watermark - overlap - RETENTION
        await tx.execute(
            "DELETE FROM order_versions WHERE last_update < ?",
            (iso_z(cutoff),),
        )
