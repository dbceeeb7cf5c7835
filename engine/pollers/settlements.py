"""Settlements poller: list settlement reports, fetch each new one once, one event per settlement.

Settlements above ``INLINE_MAX_ROWS`` rows are reconciled first, then their rows are appended as
``SettlementRows`` chunks ahead of the ``SettlementFetched`` header (which then has ``chunks``
instead of ``rows``), so memory stays bounded by a chunk, not by the seller's volume.

A document that cannot be parsed or does not reconcile becomes a ``SettlementQuarantined`` event
(nothing of it is applied). Processed report ids and settlement ids live in the bookmark, written
in the same transaction as the event, so a settlement listed under two report ids is appended once;
a settlement already in the log (``import settlement`` of a Seller Central file) is skipped too.
Parsing and the events themselves are shared with the import (engine/pollers/settlement_events.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.document_text import peek_settlement_currency
from engine.adapters.amazon.reports import Document, download_document, list_reports, open_text
from engine.adapters.amazon.settlement import MAX_LINE_CHARS, SettlementError
from engine.adapters.amazon.settlement_locale import charset_for, locale_picker
from engine.config import MarketplaceMap, PollConfig
from engine.errors import ParseError, RemoteUnavailable
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult
from engine.pollers.settlement_events import (
    SettlementSource,
    fetched_event,
    quarantined_event,
    read_settlement,
    settlement_in_log,
)

__all__ = ["SETTLEMENT_REPORT_TYPE", "SettlementsPollConfig", "SettlementsPoller"]

log = logging.getLogger(__name__)

SETTLEMENT_REPORT_TYPE = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"


@dataclass(frozen=True, slots=True)
class SettlementsPollConfig:
    """Where raw documents go and how far back to list."""

    raw_dir: Path = Path("raw/amazon")
    lookback: timedelta = timedelta(days=89)  # reports are retained 90 days
    locale: str | None = None  # force a layout; None = by the marketplaces' locale
    page_size: int = 100  # getReports pageSize (1-100)
    # [mapping.marketplaces]: their currencies and settlement_locale pick a document's layout.
    marketplaces: Mapping[str, MarketplaceMap] = field(default_factory=dict)

    @classmethod
    def from_poll(
        cls,
        poll: PollConfig,
        raw_dir: Path,
        marketplaces: Mapping[str, MarketplaceMap] | None = None,
    ) -> SettlementsPollConfig:
        """From config.toml's ``[poll]``; ``raw_dir`` is resolved by the caller."""
        return cls(
            raw_dir=raw_dir,
            lookback=timedelta(days=poll.settlements_lookback_days),
            marketplaces=dict(marketplaces or {}),
        )


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
        doc_id = rep.get("reportDocumentId")
        if not isinstance(doc_id, str) or not doc_id:
            raise RemoteUnavailable(f"amazon: DONE report {rid!r} has no document", system="amazon")
        # A failed download raises: the report stays unprocessed and is retried next poll. The
        # file name is derived from ``rid`` by ``download_document``, never ``rid`` itself.
        doc = await download_document(self.client, doc_id, self.cfg.raw_dir / region, name=rid)
        src = SettlementSource(
            doc,
            region,
            rid,
            f"sp-api:{region}:report:{rid}",
            lambda: self._lines(doc),
            locale=self.cfg.locale,
            pick=locale_picker(self.cfg.marketplaces, region),
        )
        try:
            # Parsing a busy seller's report takes seconds of CPU: a worker thread keeps every
            # other flow (and the dispatcher) running meanwhile.
            parsed = await asyncio.to_thread(read_settlement, src)
        except (SettlementError, ParseError) as exc:
            log.warning("amazon %s: settlement report %r quarantined: %s", region, rid, exc)
            return quarantined_event(src, getattr(exc, "settlement_id", None), exc)
        sid = parsed.summary.settlement_id
        if sid in seen or await settlement_in_log(self.log, sid):
            return None  # already appended (another report document, or imported from a file)
        return await fetched_event(src, parsed, self.log.append)

    def _lines(self, doc: Document) -> Iterator[str]:
        # Capped: an over-long line is refused while read (the settlement is quarantined).
        # A document without a charset that is not UTF-8 is read in the marketplace locale's
        # legacy charset (settlement_locales), not guessed from the region alone.
        region = self.client.region
        currency = peek_settlement_currency(doc)
        legacy = charset_for(self.cfg.marketplaces, region, currency, self.cfg.locale)
        return open_text(doc, region=region, max_line=MAX_LINE_CHARS, fallback=legacy)
