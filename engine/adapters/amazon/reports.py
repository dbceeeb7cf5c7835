"""Reports 2021-06-30: create (or reuse an in-progress one), poll with backoff, download, decode.

Documents are streamed to disk (constant memory) as the original bytes, kept as the raw copy, and
read back through gunzip + the charset from the download's ``Content-Type``.

Everything in a report answer is untrusted: ids are percent-encoded into API paths and never used
as file names (``local_name``); the document URL and each redirect must be https (``http`` only
to loopback, the simulator); downloads are capped (``MAX_DOCUMENT_BYTES``, ``MAX_DECODED_BYTES``)
and lines too (``open_text``'s ``max_line``), so a hostile answer can neither write outside the
raw directory nor exhaust disk or memory.
"""

from __future__ import annotations

import asyncio
import codecs
import gzip
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from engine.adapters.amazon.client import AmazonClient, iso_z
from engine.adapters.amazon.document_text import MAX_LINE_CHARS, Document, open_binary, open_text
from engine.adapters.http import (
    ResponseTooLarge,
    error_for_status,
    get_following_redirects,
    map_http_errors,
)
from engine.errors import Rejected, RemoteTimeout, RemoteUnavailable

__all__ = [
    "MAX_DECODED_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_LINE_CHARS",
    "TERMINAL",
    "Document",
    "create_or_reuse_report",
    "download_document",
    "list_reports",
    "local_name",
    "open_text",
    "recent_or_new_report",
    "wait_report",
]

log = logging.getLogger(__name__)

URL_TRIES = 3  # fresh pre-signed URLs per download before the flow waits a cycle
# Real settlement/listings documents are a few hundred MB at most; far bigger is hostile or broken.
MAX_DOCUMENT_BYTES = 4 << 30  # as downloaded (and stored)
MAX_DECODED_BYTES = 16 << 30  # after gunzip: a gzip bomb is refused, not hashed for hours
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
            rid = rep.get("reportId") if isinstance(rep, dict) else None
            if not isinstance(rid, str) or not rid:
                log.warning("amazon: getReports listed a report without a usable reportId")
                continue
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


async def recent_or_new_report(
    client: AmazonClient,
    report_type: str,
    marketplace_ids: Sequence[str],
    *,
    min_interval_s: float = 0.0,
) -> str:
    """The newest DONE or in-progress report of this type/marketplaces created less than
    ``min_interval_s`` ago (by the client's clock), else ``create_or_reuse_report``.

    Amazon cancels reports of a type requested too often [C docs#1329, docs#1604]; the threshold
    is not published [U], so this is the client's own, configurable, interval. CANCELLED/FATAL
    reports are not reused (they carry no data).
    """
    if min_interval_s > 0:
        since = client.clock() - timedelta(seconds=min_interval_s)
        wanted = sorted(marketplace_ids)
        best: tuple[datetime, str] | None = None
        async for rep in list_reports(
            client,
            [report_type],
            statuses=("DONE", "IN_QUEUE", "IN_PROGRESS"),
            created_since=since,
        ):
            if sorted(rep.get("marketplaceIds") or []) != wanted:
                continue
            created = _created(rep)
            if created is not None and created >= since and (best is None or created > best[0]):
                best = (created, str(rep["reportId"]))
        if best is not None:
            return best[1]
    return await create_or_reuse_report(client, report_type, marketplace_ids)


def _created(rep: dict[str, Any]) -> datetime | None:
    raw = rep.get("createdTime")
    try:
        ts = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


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
            resp = await client.call(
                "getReport", "GET", f"/reports/2021-06-30/reports/{_seg(report_id)}"
            )
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


def _seg(remote_id: str) -> str:
    """A remote id as one URL path segment: ``../`` or ``?`` in it must not re-route the call."""
    return quote(remote_id, safe="")


def local_name(remote_id: str) -> str:
    """Our own file name for a remote id: ``[A-Za-z0-9_-]``, at most 64 readable characters
    plus a hash of the whole id, so distinct ids never share a file and none can name a path
    (``/``, ``..``, NUL) or a hidden/option-like file (leading ``.``/``-``)."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", remote_id)[:64].strip("_-") or "doc"
    digest = hashlib.sha256(remote_id.encode("utf-8", "backslashreplace")).hexdigest()[:32]
    return f"{readable}-{digest}"


def _inside(dest_dir: Path, file_name: str) -> Path:
    """``dest_dir / file_name``, verified to stay directly inside ``dest_dir`` (symlinks too)."""
    root = dest_dir.resolve()
    path = (root / file_name).resolve()
    if path.parent != root:
        raise RemoteUnavailable(f"amazon: refused a document path outside {root}", system="amazon")
    return path


async def download_document(
    client: AmazonClient,
    document_id: str,
    dest_dir: Path,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
) -> Document:
    """getReportDocument, then download at once (the URL expires after 5 min) to ``dest_dir``.

    Stored as received (``.gz`` when compressed) under ``local_name(name or document_id)``;
    returns the checksum of the decoded bytes. Over ``max_bytes`` (default
    ``MAX_DOCUMENT_BYTES``) downloaded or ``MAX_DECODED_BYTES`` decoded: ResponseTooLarge, and
    nothing is left on disk. A refused URL or redirect: ``UnsafeUrl``. Both are retriable: the
    report stays unprocessed and the next cycle asks for a fresh URL.
    """
    limit = MAX_DOCUMENT_BYTES if max_bytes is None else max_bytes
    dest_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(URL_TRIES):
        resp = await client.call(
            "getReportDocument", "GET", f"/reports/2021-06-30/documents/{_seg(document_id)}"
        )
        body = resp.body if isinstance(resp.body, dict) else {}
        url = body.get("url")
        if not isinstance(url, str):
            raise RemoteUnavailable("amazon: getReportDocument gave no URL", system="amazon")
        compressed = str(body.get("compressionAlgorithm") or "").upper() == "GZIP"
        path = _inside(dest_dir, local_name(name or document_id) + (".gz" if compressed else ""))
        tmp = _inside(dest_dir, path.name + ".part")
        timeout = aiohttp.ClientTimeout(total=300, sock_read=60)
        # A pre-signed URL: no SP-API headers (the token must not leak to the storage host).
        async with (
            map_http_errors("amazon"),
            get_following_redirects(client.session, url, system="amazon", timeout=timeout) as r,
        ):
            if r.status == 403:
                continue  # the URL expired (5 min) before we got to it: ask for a fresh one
            if r.status != 200:
                raise error_for_status(r.status, "report document download failed", system="amazon")
            charset = _charset(r.headers.get("Content-Type"))
            await _save(r, tmp, limit)
            break
    else:
        raise RemoteUnavailable(
            f"amazon: report document URL refused {URL_TRIES} times (403)", system="amazon"
        )
    h = hashlib.sha256()
    size = 0
    try:
        with open_binary(tmp, compressed) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if size > MAX_DECODED_BYTES:
                    raise ResponseTooLarge(
                        f"amazon: report document decodes to over {MAX_DECODED_BYTES} bytes",
                        system="amazon",
                    )
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        tmp.unlink(missing_ok=True)
        raise RemoteUnavailable(f"amazon: report document corrupt ({exc})") from exc
    except ResponseTooLarge:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return Document(path, compressed, charset, h.hexdigest(), size)


async def _save(r: aiohttp.ClientResponse, tmp: Path, limit: int) -> None:
    """Stream the body to ``tmp``, at most ``limit`` bytes; on any failure ``tmp`` is removed."""
    announced = r.content_length
    if announced is not None and announced > limit:
        raise ResponseTooLarge(
            f"amazon: report document of {announced} bytes exceeds the {limit}-byte cap",
            system="amazon",
        )
    written = 0
    try:
        with tmp.open("wb") as fh:
            async for chunk in r.content.iter_chunked(1 << 16):
                written += len(chunk)
                if written > limit:
                    raise ResponseTooLarge(
                        f"amazon: report document exceeds the {limit}-byte cap", system="amazon"
                    )
                fh.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a truncated or refused download must not linger
        raise
