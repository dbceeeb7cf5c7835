"""Reports API 2021-06-30 and the pre-signed document download URL."""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from engine.sim.amazon.common import (
    CALLER_KEY,
    BadInput,
    csv_param,
    error,
    iso,
    json_response,
    parse_time,
)
from engine.sim.amazon.documents import LOCALES, settlement_file, tsv
from engine.sim.amazon.order_reports import (
    ORDER_REPORT_TYPES,
    prepare,
    stream_document,
    window,
)
from engine.sim.amazon.world import DOC_URL_TTL, SETTLEMENT_TYPE, WORLD_KEY, Report, World

__all__ = ["DOCUMENT_ROUTE", "REPORT_ROUTES"]

CREATABLE = ("GET_MERCHANT_LISTINGS_ALL_DATA", *sorted(ORDER_REPORT_TYPES))
_NOT_ALLOWED = {SETTLEMENT_TYPE: 1118, "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE": 1117}
RETENTION = 90 * 86400.0


def _report_json(r: Report, now: float) -> dict[str, Any]:
    status = r.status(now)
    body: dict[str, Any] = {
        "reportId": r.report_id,
        "reportType": r.report_type,
        "marketplaceIds": list(r.marketplace_ids),
        "createdTime": iso(r.created),
        "processingStatus": status,
    }
    if r.data_start is not None:
        body["dataStartTime"] = iso(r.data_start)
    if r.data_end is not None:
        body["dataEndTime"] = iso(r.data_end)
    if status != "IN_QUEUE":
        body["processingStartTime"] = iso(r.created + (0 if r.settlement_key else 10))
    if status in ("DONE", "FATAL", "CANCELLED"):
        body["processingEndTime"] = iso(r.created + (0 if r.settlement_key else r.ready_after))
    if status == "DONE" and r.document_id:
        body["reportDocumentId"] = r.document_id
    return body


def _visible(world: World, request: web.Request) -> list[Report]:
    caller = request[CALLER_KEY]
    world.sync_settlement_reports()
    now = world.now()
    return [
        r
        for r in world.reports.values()
        if r.seller == caller.seller and r.region == caller.region and r.created <= now
    ]


async def create_report(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    try:
        spec = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadInput(details="The request body is not valid JSON.") from None
    rtype = spec.get("reportType") if isinstance(spec, dict) else None
    mps = spec.get("marketplaceIds") if isinstance(spec, dict) else None
    if not isinstance(rtype, str) or not isinstance(mps, list) or not 1 <= len(mps) <= 25:
        raise BadInput(details="reportType and 1-25 marketplaceIds are required.")
    if rtype in _NOT_ALLOWED:
        raise BadInput(f"Request for report type {_NOT_ALLOWED[rtype]} is not allowed at this time")
    if rtype not in CREATABLE:
        raise BadInput(f"Report type {rtype} is not supported by the simulator.")
    allowed = world.configs[caller.seller].marketplace_ids(caller.region)
    bad = [m for m in mps if m not in allowed]
    if bad:
        raise BadInput(f"Invalid marketplaceIds: {', '.join(map(str, bad))}")
    now = world.now()
    start = parse_time(spec.get("dataStartTime"), "dataStartTime")
    end = parse_time(spec.get("dataEndTime"), "dataEndTime")
    all_orders = rtype in ORDER_REPORT_TYPES
    if all_orders:
        start, end = window(start, end, now)
    outcome = "DONE"
    fault = world.faults.take(("report_outcome",), "createReport", caller.region)
    if fault is not None:
        outcome = fault.outcome
    elif not all_orders and world.report_rules.too_soon(
        world.reports.values(), caller.seller, rtype, mps, now
    ):
        # Requested too often [C docs#1329, docs#1604]; threshold [U]. The four All Orders
        # reports "are not subject to this limitation" [D] (order_reports.py).
        outcome = "CANCELLED"
    rid = world.new_report_id()
    report = Report(
        rid,
        rtype,
        caller.seller,
        caller.region,
        tuple(mps),
        now,
        start,
        end,
        outcome,
        options=dict(spec.get("reportOptions") or {}),
    )
    if all_orders:
        prepare(world, report)  # may turn DONE into CANCELLED (no eligible data)
    if report.outcome == "DONE":
        report.document_id = f"amzn1.spdoc.1.4.{caller.region.lower()}.{rid}.T{int(now)}"
        world.documents[report.document_id] = rid
    world.reports[rid] = report
    return json_response({"reportId": rid}, 202)


async def get_reports(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    now = world.now()
    q = request.query
    token = q.get("nextToken")
    if token:
        if len(q) > 1:  # Amazon: nextToken must be the only parameter
            raise BadInput(details="nextToken must be the only parameter when it is present.")
        ids, offset, size = world.paging.resolve(token, now)
    else:
        types = csv_param(request, "reportTypes")
        if not 1 <= len(types) <= 10:
            raise BadInput(details="reportTypes (1-10) is required unless nextToken is given.")
        size_raw = q.get("pageSize", "10")
        if not size_raw.isdigit() or not 1 <= int(size_raw) <= 100:
            raise BadInput(details="pageSize must be between 1 and 100.")
        size = int(size_raw)
        statuses = set(csv_param(request, "processingStatuses"))
        mps = set(csv_param(request, "marketplaceIds"))
        since = parse_time(q.get("createdSince"), "createdSince") or now - RETENTION
        until = parse_time(q.get("createdUntil"), "createdUntil") or now
        since = max(since, now - RETENTION)
        hits = []
        for r in _visible(world, request):
            if r.report_type not in types or not since <= r.created <= until:
                continue
            if statuses and r.status(now) not in statuses:
                continue
            # settlement reports ignore marketplaceIds (they span several marketplaces)
            if mps and r.report_type != SETTLEMENT_TYPE and not mps & set(r.marketplace_ids):
                continue
            hits.append(r)
        hits.sort(key=lambda r: r.created, reverse=True)
        ids, offset = [r.report_id for r in hits], 0
    page = [world.reports[i] for i in ids[offset : offset + size]]
    caller = request[CALLER_KEY]
    if offset > 0 and world.faults.take(("duplicate_page_item",), "getReports", caller.region):
        page.insert(0, world.reports[ids[offset - 1]])  # Amazon's listings do repeat ids
    body: dict[str, Any] = {"reports": [_report_json(r, now) for r in page]}
    if offset + size < len(ids):
        body["nextToken"] = world.paging.issue((ids, offset + size, size), now + 3600)
    return json_response(body)


def _find(world: World, request: web.Request) -> Report | None:
    world.sync_settlement_reports()
    r = world.reports.get(request.match_info["reportId"])
    caller = request[CALLER_KEY]
    if r is None or r.seller != caller.seller or r.region != caller.region:
        return None
    return r if r.created <= world.now() else None


async def get_report(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    r = _find(world, request)
    if r is None:
        return error(404, "NotFound", "Report not found.")
    return json_response(_report_json(r, world.now()))


async def cancel_report(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    r = _find(world, request)
    if r is None:
        return error(404, "NotFound", "Report not found.")
    if r.status(world.now()) != "IN_QUEUE":
        raise BadInput("Only reports IN_QUEUE can be cancelled.")
    r.cancelled_at = world.now()
    return web.Response(status=200)


async def get_report_document(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    doc_id = request.match_info["reportDocumentId"]
    world.sync_settlement_reports()
    rid = world.documents.get(doc_id)
    r = world.reports.get(rid) if rid else None
    now = world.now()
    if (
        r is None
        or r.seller != caller.seller
        or r.region != caller.region
        or r.status(now) != "DONE"
    ):
        return error(404, "NotFound", "Report document not found.")
    issued = int(now)
    ce = request.query.get("enableContentEncodingUrlHeader") == "true"
    url = (
        f"{world.base_url}/__sim/documents/{quote(doc_id, safe='')}?X-Amz-Date={issued}"
        f"&X-Amz-Expires={int(DOC_URL_TTL)}&ce={int(ce)}"
        f"&X-Amz-Signature={world.sign(doc_id, issued)}"
    )
    body: dict[str, Any] = {"reportDocumentId": doc_id, "url": url}
    if not ce:
        body["compressionAlgorithm"] = "GZIP"
    return json_response(body)


def render(world: World, r: Report) -> tuple[bytes, str]:
    """The document's text encoded, and its charset."""
    if r.settlement_key is not None:
        seller, region, cur, index = r.settlement_key
        return settlement_file(world.settlements.get(seller, region, cur, index))
    from engine.sim.amazon.listings import listings_report
    from engine.sim.amazon.sellers import marketplace

    mp = marketplace(r.marketplace_ids[0])
    charset = {"JP": "cp932", "US": "UTF-8", "CA": "UTF-8"}.get(mp.country if mp else "", "Cp1252")
    if r.report_type == "GET_MERCHANT_LISTINGS_ALL_DATA":
        return tsv(listings_report(world, r)).encode(charset), charset
    raise ValueError(f"no flat renderer for {r.report_type}")  # order reports stream


async def download(request: web.Request) -> web.StreamResponse:
    """Pre-signed URL: no SP-API headers, expires 300 s (sim) after getReportDocument."""
    world: World = request.app[WORLD_KEY]
    doc_id = request.match_info["doc"]
    q = request.query
    try:
        issued = int(q["X-Amz-Date"])
        valid = q["X-Amz-Signature"] == world.sign(doc_id, issued)
    except (KeyError, ValueError):
        valid = False
    rid = world.documents.get(doc_id)
    if not valid or rid is None:
        return _s3_error("AccessDenied", "Access Denied")
    if (hop := world.faults.take(("redirect",), "downloadDocument", None)) is not None:
        raise web.HTTPFound(hop.location or request.rel_url)
    expired = world.faults.take(("expire_url",), "downloadDocument", None) is not None
    if expired or world.now() > issued + DOC_URL_TTL:
        return _s3_error("AccessDenied", "Request has expired")
    report = world.reports[rid]
    if report.report_type in ORDER_REPORT_TYPES:
        return await stream_document(
            request,
            world,
            report,
            content_encoding=q.get("ce") == "1",
            charsetless=world.report_rules.without_charset(doc_id),
            truncate=world.faults.take(("truncate",), "downloadDocument", None) is not None,
        )
    data, charset = render(world, world.reports[rid])
    packed = gzip.compress(data, mtime=0)
    headers = {"Content-Type": f"text/plain; charset={charset}"}
    if world.report_rules.without_charset(doc_id):
        headers["Content-Type"] = "text/plain"  # S3 often omits it [C] (report_rules.py)
    if q.get("ce") == "1":
        headers["Content-Encoding"] = "gzip"
    if world.faults.take(("truncate",), "downloadDocument", None) is not None:
        # The storage host dies half-way: Content-Length announces the whole file.
        return _TruncatedDocument(body=packed, headers=headers)
    return web.Response(body=packed, headers=headers)


class _TruncatedDocument(web.Response):
    async def write_eof(self, data: bytes = b"") -> None:
        body = self.body if isinstance(self.body, bytes) else b""
        await self.write(body[: len(body) // 2])
        if self._req is not None and self._req.transport is not None:
            self._req.transport.close()


def _s3_error(code: str, message: str) -> web.Response:
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    )
    return web.Response(status=403, text=xml, content_type="application/xml")


REPORT_ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/reports/2021-06-30/reports", create_report, "createReport"),
    ("GET", "/reports/2021-06-30/reports", get_reports, "getReports"),
    ("GET", "/reports/2021-06-30/reports/{reportId}", get_report, "getReport"),
    ("DELETE", "/reports/2021-06-30/reports/{reportId}", cancel_report, "cancelReport"),
    (
        "GET",
        "/reports/2021-06-30/documents/{reportDocumentId}",
        get_report_document,
        "getReportDocument",
    ),
]
DOCUMENT_ROUTE = ("GET", "/__sim/documents/{doc}", download)
_ = LOCALES
