"""One settlement document -> the events the log holds for it (shared by poller and import).

The settlements poller (a report fetched through the SP-API) and ``ml-connector import
settlement`` (a file downloaded from Seller Central) both go through ``read_settlement`` and
``fetched_event``, so an imported settlement is the same ``SettlementFetched`` event, keyed by
the settlement id, as a polled one. ``settlement_in_log`` is the identity check both make
before appending: a settlement already in the log (from either path) is not appended again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from engine.adapters.amazon.reports import Document
from engine.adapters.amazon.settlement import ParsedSettlement, SettlementError, SettlementReader
from engine.log.ports import EventLog
from engine.log.records import NewEvent

__all__ = [
    "CHUNK_ROWS",
    "INLINE_MAX_ROWS",
    "STREAM",
    "SettlementSource",
    "fetched_event",
    "quarantined_event",
    "read_settlement",
    "settlement_in_log",
]

STREAM = "amazon.settlements"
# Up to this many rows a settlement is one event; bigger ones (a busy seller's report holds
# 100k rows, hundreds of MB as Python objects) go in SettlementRows chunks before the header.
INLINE_MAX_ROWS = 5000
CHUNK_ROWS = 2000


def _iso(ts: Any) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


@dataclass(frozen=True, slots=True)
class SettlementSource:
    """Where a document came from and how to read it (again: big ones are read twice)."""

    doc: Document
    region: str
    report_id: str  # the SP-API report id, or "file:<sha256 prefix>" for an imported file
    source: str  # the events' source, e.g. "sp-api:EU:report:123" or "import:<file name>"
    lines: Callable[[], Iterator[str]]
    locale: str | None = None
    pick: Callable[[str], str | None] | None = None

    def reader(self) -> SettlementReader:
        return SettlementReader(self.lines(), locale=self.locale, pick=self.pick)


def read_settlement(src: SettlementSource) -> ParsedSettlement:
    """Parse and reconcile; rows kept when at most ``INLINE_MAX_ROWS`` (else ``rows`` is empty
    and ``row_count`` says how many: ``fetched_event`` reads them again in chunks). Raises
    SettlementError/ParseError (``reason_code`` "parse_error" or "unreconciled")."""
    reader = src.reader()
    kept: list[dict[str, Any]] | None = []
    try:
        for row in reader:
            if kept is not None:
                kept.append(row)
                if len(kept) > INLINE_MAX_ROWS:
                    kept = None  # big: reconcile first, then read again in chunks
        parsed = reader.finish(kept)
    except SettlementError as exc:
        exc.settlement_id = reader.summary.settlement_id if reader.summary else None
        raise
    if kept is None:
        parsed.rows = []
    return parsed


def quarantined_event(src: SettlementSource, parsed_sid: str | None, exc: Exception) -> NewEvent:
    payload = {
        "report_id": src.report_id,
        "region": src.region,
        "settlement_id": parsed_sid,
        "document_sha256": src.doc.sha256,
        "reason": str(exc),
        "reason_code": getattr(exc, "reason_code", "parse_error"),
    }
    return NewEvent(STREAM, "SettlementQuarantined", src.report_id, payload, src.source)


async def settlement_in_log(log: EventLog, settlement_id: str) -> bool:
    """True when a SettlementFetched for this settlement id is already in the log."""
    return any(e.type == "SettlementFetched" for e in await log.history(STREAM, settlement_id))


async def fetched_event(
    src: SettlementSource,
    parsed: ParsedSettlement,
    append: Callable[[list[NewEvent]], Awaitable[Any]] | None,
) -> NewEvent:
    """The ``SettlementFetched`` header of a reconciled settlement. A big one's rows are
    appended first through ``append`` as ``SettlementRows`` chunks (one transaction each; after
    a crash the same chunks dedupe); ``append=None`` (a dry run) only counts the chunks."""
    s = parsed.summary
    payload: dict[str, Any] = {
        "settlement_id": s.settlement_id,
        "region": src.region,
        "report_id": src.report_id,
        "document_sha256": src.doc.sha256,
        "locale": parsed.locale,
        "start": _iso(s.start),
        "end": _iso(s.end),
        "deposit_date": _iso(s.deposit_date),
        "total_amount": str(s.total_amount),
        "currency": s.currency,
        "row_count": parsed.row_count,
    }
    if parsed.row_count <= INLINE_MAX_ROWS:
        payload["rows"] = parsed.rows
    else:
        payload["chunks"] = await _append_chunks(src, s.settlement_id, append)
    return NewEvent(STREAM, "SettlementFetched", s.settlement_id, payload, src.source)


async def _append_chunks(
    src: SettlementSource, sid: str, append: Callable[[list[NewEvent]], Awaitable[Any]] | None
) -> int:
    rows = iter(src.reader())
    n = 0
    while True:
        # Each chunk is parsed in a worker thread (one at a time: the reader is a generator),
        # so a big settlement never stalls the event loop between two appends.
        chunk = await asyncio.to_thread(lambda: list(islice(rows, CHUNK_ROWS)))
        if not chunk:
            return n
        payload = {"settlement_id": sid, "report_id": src.report_id, "chunk": n, "rows": chunk}
        if append is not None:
            await append([NewEvent(STREAM, "SettlementRows", sid, payload, src.source)])
        n += 1
