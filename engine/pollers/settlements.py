"""Settlements poller: list settlement reports, fetch each new one once, one event per settlement.

Settlements above ``INLINE_MAX_ROWS`` rows are reconciled first, then their rows are appended as
``SettlementRows`` chunks ahead of the ``SettlementFetched`` header (which then has ``chunks``
instead of ``rows``), so memory stays bounded by a chunk, not by the seller's volume.

A document that cannot be parsed or does not reconcile becomes a ``SettlementQuarantined`` event
(nothing of it is applied). Processed report ids and settlement ids live in the bookmark, written
in the same transaction as the event, so a settlement listed under two report ids is appended once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.reports import Document, download_document, list_reports, open_text
from engine.adapters.amazon.settlement import MAX_LINE_CHARS, SettlementError, SettlementReader
from engine.config import PollConfig
from engine.errors import ParseError, RemoteUnavailable
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult

__all__ = ["SETTLEMENT_REPORT_TYPE", "SettlementsPollConfig", "SettlementsPoller"]

log = logging.getLogger(__name__)

SETTLEMENT_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
# Up to this many rows a settlement is one event; bigger ones (a busy seller's report holds
# 100k rows, hundreds of MB as Python objects) go in SettlementRows chunks before the header.
INLINE_MAX_ROWS = 5000
CHUNK_ROWS = 2000


def _iso(ts: Any) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


@dataclass(frozen=True, slots=True)
class SettlementsPollConfig:
    """Where raw documents go and how far back to list."""

    raw_dir: Path = Path("raw/amazon")
    lookback: timedelta = timedelta(days=89)  # reports are retained 90 days
    locale: str | None = None  # force a layout; None = detect per document
    page_size: int = 100  # getReports pageSize (1-100)

    @classmethod
    def from_poll(cls, poll: PollConfig, raw_dir: Path) -> SettlementsPollConfig:
        """From config.toml's ``[poll]``; ``raw_dir`` is resolved by the caller."""
        return cls(raw_dir=raw_dir, lookback=timedelta(days=poll.settlements_lookback_days))


class SettlementsPoller:
    """Fetch new settlement reports of one region."""

    # A report is held whole while parsed (100k rows at a busy seller): the engine runs heavy
    # pollers one at a time so peak memory stays at one report.
    heavy = True

    def __init__(self, client: AmazonClient, log: EventLog, cfg: SettlementsPollConfig) -> None:
        self.client = client
        self.log = log
        self.cfg = cfg
        self.name = f"amazon.settlements.{client.region}"

    async def poll_once(self) -> PollResult:
        """List DONE settlement reports and process the ones not seen before."""
        res = PollResult()
        state = await self.log.bookmark(self.name) or {}
        reports_done: list[str] = list(state.get("reports", []))
        settlements: list[str] = list(state.get("settlements", []))
        since = self.client.clock() - self.cfg.lookback
        todo = [
            rep
            async for rep in list_reports(
                self.client,
                [SETTLEMENT_REPORT_TYPE],
                statuses=("DONE",),
                created_since=since,
                page_size=self.cfg.page_size,
            )
            if str(rep["reportId"]) not in reports_done
        ]
        todo.sort(key=lambda r: str(r.get("createdTime", "")))
        for rep in todo:
            rid = str(rep["reportId"])
            event = await self._process(rep, settlements)
            reports_done.append(rid)
            res.fetched += 1
            events: list[NewEvent] = []
            if event is not None:
                events.append(event)
                if event.type == "SettlementFetched":
                    settlements.append(event.key)
                else:
                    res.quarantined += 1
            # Keep the bookmark bounded: the listing only reaches back 90 days anyway.
            bm = {"reports": reports_done[-2000:], "settlements": settlements[-2000:]}
            r = await self.log.append(events, bookmark=(self.name, bm))
            res.appended += r.appended
            res.duplicates += r.duplicates
        return res

    async def _process(self, rep: dict[str, Any], seen: list[str]) -> NewEvent | None:
        rid = str(rep["reportId"])
        region = self.client.region
        src = f"sp-api:{region}:report:{rid}"
        doc_id = rep.get("reportDocumentId")
        if not isinstance(doc_id, str) or not doc_id:
            raise RemoteUnavailable(f"amazon: DONE report {rid!r} has no document", system="amazon")
        # A failed download raises: the report stays unprocessed and is retried next poll. The
        # file name is derived from ``rid`` by ``download_document``, never ``rid`` itself.
        doc = await download_document(self.client, doc_id, self.cfg.raw_dir / region, name=rid)
        reader = SettlementReader(self._lines(doc), locale=self.cfg.locale)
        try:
            kept: list[dict[str, Any]] | None = []
            for row in reader:
                if kept is not None:
                    kept.append(row)
                    if len(kept) > INLINE_MAX_ROWS:
                        kept = None  # big: reconcile first, then read again in chunks
            parsed = reader.finish(kept)
        except (SettlementError, ParseError) as exc:
            reason_code = getattr(exc, "reason_code", "parse_error")
            sid = reader.summary.settlement_id if reader.summary else None
            log.warning("amazon %s: settlement report %r quarantined: %s", region, rid, exc)
            payload = {
                "report_id": rid,
                "region": region,
                "settlement_id": sid,
                "document_sha256": doc.sha256,
                "reason": str(exc),
                "reason_code": reason_code,
            }
            return NewEvent("amazon.settlements", "SettlementQuarantined", rid, payload, src)
        s = parsed.summary
        if s.settlement_id in seen:
            return None  # same settlement already appended from another report document
        payload = {
            "settlement_id": s.settlement_id,
            "region": region,
            "report_id": rid,
            "document_sha256": doc.sha256,
            "locale": parsed.locale,
            "start": _iso(s.start),
            "end": _iso(s.end),
            "deposit_date": _iso(s.deposit_date),
            "total_amount": str(s.total_amount),
            "currency": s.currency,
            "row_count": parsed.row_count,
        }
        if kept is not None:
            payload["rows"] = parsed.rows
        else:
            payload["chunks"] = await self._append_chunks(doc, rid, s.settlement_id, src)
        return NewEvent("amazon.settlements", "SettlementFetched", s.settlement_id, payload, src)

    async def _append_chunks(self, doc: Document, rid: str, sid: str, src: str) -> int:
        """Append a reconciled big settlement's rows as ``SettlementRows`` events, one chunk
        per transaction, so neither this process nor the projector ever holds the whole report.
        The header (``SettlementFetched`` with ``chunks``) follows with the bookmark; after a
        crash in between, the report is read again and the same chunks dedupe in the log."""
        reader = SettlementReader(self._lines(doc), locale=self.cfg.locale)
        chunk: list[dict[str, Any]] = []
        n = 0
        for row in reader:
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                await self._append_chunk(rid, sid, src, n, chunk)
                n, chunk = n + 1, []
        if chunk:
            await self._append_chunk(rid, sid, src, n, chunk)
            n += 1
        return n

    def _lines(self, doc: Document) -> Iterator[str]:
        # Capped: an over-long line is refused while read (the settlement is quarantined).
        return open_text(doc, region=self.client.region, max_line=MAX_LINE_CHARS)

    async def _append_chunk(
        self, rid: str, sid: str, src: str, index: int, rows: list[dict[str, Any]]
    ) -> None:
        payload = {"settlement_id": sid, "report_id": rid, "chunk": index, "rows": rows}
        await self.log.append([NewEvent("amazon.settlements", "SettlementRows", sid, payload, src)])
