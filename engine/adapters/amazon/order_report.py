"""The All Orders report by last update, one window at a time: request, poll, download, read.

- Types [D reference §1.1]: ``GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` (preferred: it
  carries the order-item id ``AmazonOrderItemCode``) or the flat file (``format = "flat"``).
- Windows of at most 30 days aligned to UTC midnight [U/C §1.4: a wider window answers a DONE
  document "Date range exceeded ..."; off-midnight windows get rounded outward].
- ``getReport`` is polled politely: first after ``first_s``, then growing to ``max_s``, in the
  *Amazon clock's* seconds (a time-scaled simulator is polled as often per simulated minute as
  Amazon would be per real minute) [C Airbyte polls every 30 s].
- CANCELLED means "no eligible data" for these types [D §1.1]: an empty window, not a failure.
- Every failure is retriable (``RemoteUnavailable``): a FATAL report, an error text inside a
  DONE document (``ReportBodyError``), a document that does not parse (truncated, a DTD or
  entity: ``ReportDocumentError``), one over the size cap (``ResponseTooLarge``). The caller
  appends nothing from a document until it has read it whole once.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.order_report_flat import iter_flat_orders
from engine.adapters.amazon.order_report_xml import check_xml, iter_xml_orders
from engine.adapters.amazon.reports import (
    TERMINAL,
    Document,
    create_or_reuse_report,
    download_document,
)
from engine.errors import ParseError, Rejected, RemoteTimeout, RemoteUnavailable

__all__ = [
    "MAX_WINDOW",
    "REPORT_TYPES",
    "ReportBodyError",
    "ReportDocumentError",
    "WaitPolicy",
    "check_body",
    "download_window",
    "iter_orders",
    "orders_in_chunks",
    "request_window",
    "validate",
    "wait_report_politely",
    "windows",
]

REPORT_TYPES = {
    "xml": "GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL",
    "flat": "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL",
}
MAX_WINDOW = timedelta(days=30)
_HEAD_BYTES = 4096
# Error texts Amazon writes into a DONE document instead of data [C models#2591: "Date range
# exceeded. Report can be requested only upto 30 days"]; the others are [G] look-alikes.
_ERROR_TEXT = re.compile(
    r"date range exceeded|can be requested only|invalid (date|request)|an error occurred", re.I
)


class ReportBodyError(RemoteUnavailable):
    """A DONE document whose body is an error message, not data: a request error."""


class ReportDocumentError(RemoteUnavailable):
    """A document that cannot be read whole (truncated, refused XML, bad rows)."""


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """getReport polling, in seconds of the Amazon clock."""

    first_s: float = 30.0
    max_s: float = 300.0
    timeout_s: float = 7200.0


def windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """[start, end) split into windows of at most ``days`` (<= 30) days whose bounds are UTC
    midnights, except the last end (``end`` itself); the first starts at ``start``'s midnight."""
    if not 1 <= days <= MAX_WINDOW.days:
        raise ValueError("window_days must be 1..30")
    s = start.astimezone(UTC)
    cur = datetime(s.year, s.month, s.day, tzinfo=UTC)
    out: list[tuple[datetime, datetime]] = []
    while cur < end:
        nxt = min(cur + timedelta(days=days), end)
        out.append((cur, nxt))
        cur = nxt
    return out


async def request_window(
    client: AmazonClient, fmt: str, marketplace_ids: tuple[str, ...], start: datetime, end: datetime
) -> str:
    """The report id for this window: an in-progress one of the same window is reused (a
    restart between createReport and our bookmark must not request it twice)."""
    return await create_or_reuse_report(
        client, REPORT_TYPES[fmt], marketplace_ids, start=start, end=end
    )


async def wait_report_politely(
    client: AmazonClient, report_id: str, policy: WaitPolicy
) -> dict[str, Any]:
    """Poll getReport until a terminal status. Delays are Amazon-clock seconds; the real sleep
    is scaled by how fast that clock was seen to run (1x against Amazon itself)."""
    loop = asyncio.get_running_loop()
    real0, amazon0 = loop.time(), client.clock()
    delay = policy.first_s
    first = True
    while True:
        try:
            resp = await client.call(
                "getReport", "GET", f"/reports/2021-06-30/reports/{quote(report_id, safe='')}"
            )
        except Rejected as exc:
            if exc.status != 404:
                raise
            raise RemoteUnavailable(
                f"amazon: report {report_id} no longer exists", system="amazon"
            ) from exc
        rep: dict[str, Any] = resp.body if isinstance(resp.body, dict) else {}
        if rep.get("processingStatus") in TERMINAL:
            return rep
        waited = (client.clock() - amazon0).total_seconds()
        if waited > policy.timeout_s:
            raise RemoteTimeout(f"amazon: report {report_id} not done in time", system="amazon")
        real = loop.time() - real0
        speed = max(1.0, waited / real) if real > 0.05 else 1.0
        # The very first wait is short in real time: the clock's speed is not known yet.
        await asyncio.sleep(min(delay, 1.0) if first else delay / speed)
        first = False
        delay = min(policy.max_s, delay * 1.5)


async def download_window(
    client: AmazonClient, report: dict[str, Any], dest_dir: Path, max_bytes: int
) -> Document | None:
    """The DONE report's document on disk (None: CANCELLED, i.e. no eligible data)."""
    status = report.get("processingStatus")
    rid = str(report.get("reportId"))
    if status == "CANCELLED":
        return None
    if status != "DONE":
        raise RemoteUnavailable(f"amazon: order report {rid} ended {status}", system="amazon")
    doc_id = report.get("reportDocumentId")
    if not isinstance(doc_id, str) or not doc_id:
        raise RemoteUnavailable(f"amazon: DONE report {rid} has no document", system="amazon")
    return await download_document(client, doc_id, dest_dir, name=rid, max_bytes=max_bytes)


def _head(doc: Document) -> str:
    opener = gzip.open if doc.compressed else open
    try:
        with opener(doc.path, "rb") as fh:
            raw = fh.read(_HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise ReportDocumentError(f"amazon: order report unreadable ({exc})") from None
    return raw.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")


def check_body(doc: Document, fmt: str) -> None:
    """ReportBodyError when the document is an error text instead of a report."""
    head = _head(doc)
    first = head.splitlines()[0] if head else ""
    # XML: anything but markup is no report (an XML-wrapped error fails the parser's root
    # check). Flat: the header row names amazon-order-id.
    looks_ok = head.startswith("<") if fmt == "xml" else "amazon-order-id" in first.lower()
    if looks_ok:
        return
    shown = re.sub(r"[^\x20-\x7e]+", " ", head[:200]).strip() or "(empty)"
    kind = "a date-range error" if _ERROR_TEXT.search(head[:500]) else "no report"
    raise ReportBodyError(f"amazon: order report document is {kind}: {shown!r}", system="amazon")


def iter_orders(
    doc: Document, fmt: str, region: str, marketplace_ids: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Normalised payloads; a ParseError becomes the retriable ReportDocumentError."""
    reader = iter_xml_orders if fmt == "xml" else iter_flat_orders
    try:
        yield from reader(doc, region, marketplace_ids)
    except ParseError as exc:
        raise ReportDocumentError(f"amazon: order report refused: {exc}", system="amazon") from None


def validate(doc: Document, fmt: str, region: str, marketplace_ids: tuple[str, ...]) -> None:
    """Check the whole document (constant memory) before anything is appended from it: its
    body (an error text?), then XML: well-formed, no DTD/entity, not cut short (expat only);
    flat: every row read. A bad value inside a well-formed XML order is found while appending:
    the pages before it stay (valid orders), the window is not marked done and is re-read."""
    check_body(doc, fmt)
    try:
        if fmt == "xml":
            check_xml(doc)
            return
    except ParseError as exc:
        raise ReportDocumentError(f"amazon: order report refused: {exc}", system="amazon") from None
    for _ in iter_orders(doc, fmt, region, marketplace_ids):
        pass


async def orders_in_chunks(
    doc: Document, fmt: str, region: str, marketplace_ids: tuple[str, ...], size: int = 500
) -> AsyncIterator[list[dict[str, Any]]]:
    """``iter_orders`` in lists of up to ``size``, each parsed in a worker thread (one at a
    time: the parser is a generator), so a big report never stalls the event loop (issue 18)."""
    orders = iter_orders(doc, fmt, region, marketplace_ids)
    while chunk := await asyncio.to_thread(lambda: list(islice(orders, max(1, size)))):
        yield chunk
