"""Reports 2021-06-30: create (or reuse an in-progress one), poll with backoff, download, decode.

Documents are streamed to disk (constant memory) as the original bytes, kept as the raw copy, and
read back through gunzip + the charset from the download's ``Content-Type``.
"""

from __future__ import annotations

import asyncio
import codecs
import gzip
import hashlib
import io
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from engine.adapters.amazon.client import AmazonClient, iso_z
from engine.adapters.http import error_for_status, map_http_errors
from engine.errors import ParseError, Rejected, RemoteTimeout, RemoteUnavailable

__all__ = [
    "TERMINAL",
    "Document",
    "create_or_reuse_report",
    "download_document",
    "list_reports",
    "open_text",
    "wait_report",
]

URL_TRIES = 3  # fresh pre-signed URLs per download before the flow waits a cycle
TERMINAL = frozenset({"DONE", "CANCELLED", "FATAL"})
_CHARSET_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
    "iso-8859-1": "cp1252",  # Amazon's "ISO-8859-1" files contain cp1252 characters
    "latin1": "cp1252",
}
_REGION_FALLBACK = {"FE": "cp932", "NA": "cp1252", "EU": "cp1252"}


@dataclass(frozen=True, slots=True)
class Document:
    """A downloaded report document on disk."""

    path: Path
    compressed: bool
    charset: str | None  # from Content-Type, Python codec name, None if the server gave none
    sha256: str  # of the decoded (gunzipped) bytes
    size: int  # decoded bytes


async def list_reports(
    client: AmazonClient,
    report_types: Sequence[str],
    *,
    statuses: Sequence[str] = (),
    created_since: datetime | None = None,
    page_size: int = 100,
) -> AsyncIterator[dict[str, Any]]:
    """getReports, all pages, deduplicated by reportId (a report can repeat across pages)."""
    params = [("reportTypes", ",".join(report_types)), ("pageSize", str(page_size))]
    if statuses:
        params.append(("processingStatuses", ",".join(statuses)))
    if created_since is not None:
        params.append(("createdSince", iso_z(created_since)))
    seen: set[str] = set()
    async for body in client.paginate(
        "getReports", "/reports/2021-06-30/reports", params, "reports"
    ):
        for rep in body.get("reports") or []:
            rid = str(rep.get("reportId"))
            if rid not in seen:
                seen.add(rid)
                yield rep


async def create_or_reuse_report(
    client: AmazonClient,
    report_type: str,
    marketplace_ids: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """The id of an in-progress report of this type/marketplaces/window, else a new one."""
    async for rep in list_reports(client, [report_type], statuses=("IN_QUEUE", "IN_PROGRESS")):
        if sorted(rep.get("marketplaceIds") or []) != sorted(marketplace_ids):
            continue
        if start is not None and rep.get("dataStartTime") != iso_z(start):
            continue
        if end is not None and rep.get("dataEndTime") != iso_z(end):
            continue
        return str(rep["reportId"])
    body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": list(marketplace_ids)}
    if start is not None:
        body["dataStartTime"] = iso_z(start)
    if end is not None:
        body["dataEndTime"] = iso_z(end)
    resp = await client.call("createReport", "POST", "/reports/2021-06-30/reports", json=body)
    return str(resp.body["reportId"])


async def wait_report(
    client: AmazonClient,
    report_id: str,
    *,
    first_delay: float = 0.5,
    max_delay: float = 60.0,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Poll getReport with growing delays until a terminal status; returns the report."""
    delay = first_delay
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            resp = await client.call("getReport", "GET", f"/reports/2021-06-30/reports/{report_id}")
        except Rejected as exc:
            if exc.status != 404:
                raise
            # The report vanished (expired, or the service lost it): the flow retries next
            # cycle with a new report instead of failing the whole sync.
            raise RemoteUnavailable(
                f"amazon: report {report_id} no longer exists", system="amazon"
            ) from exc
        rep: dict[str, Any] = resp.body
        if rep.get("processingStatus") in TERMINAL:
            return rep
        if loop.time() + delay > deadline:
            raise RemoteTimeout(f"amazon: report {report_id} not done in time", system="amazon")
        await asyncio.sleep(delay)
        delay = min(max_delay, delay * 1.6)


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.I)
    if not m:
        return None
    name = m.group(1).lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


async def download_document(
    client: AmazonClient, document_id: str, dest_dir: Path, *, name: str | None = None
) -> Document:
    """getReportDocument, then download at once (the URL expires after 5 min) to ``dest_dir``.

    Stored as received (``.gz`` when compressed); returns the checksum of the decoded bytes.
    """
    for _ in range(URL_TRIES):
        resp = await client.call(
            "getReportDocument", "GET", f"/reports/2021-06-30/documents/{document_id}"
        )
        url = str(resp.body["url"])
        compressed = str(resp.body.get("compressionAlgorithm") or "").upper() == "GZIP"
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / f"{name or document_id}{'.gz' if compressed else ''}"
        tmp = path.with_suffix(path.suffix + ".part")
        timeout = aiohttp.ClientTimeout(total=300, sock_read=60)
        # A pre-signed URL: no SP-API headers (the token must not leak to the storage host).
        async with map_http_errors("amazon"), client.session.get(url, timeout=timeout) as r:
            if r.status == 403:
                continue  # the URL expired (5 min) before we got to it: ask for a fresh one
            if r.status != 200:
                raise error_for_status(r.status, "report document download failed", system="amazon")
            charset = _charset(r.headers.get("Content-Type"))
            with tmp.open("wb") as fh:
                async for chunk in r.content.iter_chunked(1 << 16):
                    fh.write(chunk)
            break
    else:
        raise RemoteUnavailable(
            f"amazon: report document {document_id} URL refused {URL_TRIES} times (403)",
            system="amazon",
        )
    h = hashlib.sha256()
    size = 0
    try:
        with _raw_reader(tmp, compressed) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        tmp.unlink(missing_ok=True)
        raise RemoteUnavailable(f"amazon: report document {document_id} corrupt ({exc})") from exc
    tmp.replace(path)
    return Document(path, compressed, charset, h.hexdigest(), size)


def _raw_reader(path: Path, compressed: bool) -> BinaryIO:
    if compressed:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def open_text(doc: Document, *, region: str = "NA") -> Iterator[str]:
    """Decoded lines of a document (streamed). Charset: Content-Type, BOM, then region fallback."""
    with _raw_reader(doc.path, doc.compressed) as raw:
        head = raw.read(4)
        raw.seek(0)
        if head.startswith(codecs.BOM_UTF8):
            enc = "utf-8-sig"
        elif doc.charset is not None:
            enc = "utf-8-sig" if doc.charset == "utf-8" else doc.charset
        else:
            enc = _sniff(doc, region)
        text = io.TextIOWrapper(raw, encoding=enc, errors="strict", newline="")
        try:
            yield from text
        except UnicodeDecodeError as exc:
            raise ParseError(f"document not decodable as {enc}: {exc.reason}") from None
        finally:
            # An abandoned generator (the parser raised early) may be closed by the garbage
            # collector after the file itself: detaching would then raise in a finalizer.
            if not raw.closed:
                text.detach()


def _sniff(doc: Document, region: str) -> str:
    """No charset given: UTF-8 if the whole file decodes as UTF-8, else the region's legacy one."""
    dec = codecs.getincrementaldecoder("utf-8")()
    with _raw_reader(doc.path, doc.compressed) as raw:
        try:
            while chunk := raw.read(1 << 20):
                dec.decode(chunk)
            dec.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            return _REGION_FALLBACK.get(region, "cp1252")
