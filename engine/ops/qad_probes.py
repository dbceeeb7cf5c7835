"""Read-only probes of a QAD tenant's profile names, shared by ``qad discover`` and ``ping``.

What counts as present follows the wire contract every QAD side shares: an entity path answers a
bare ``GET <path>?domainCode=D`` with 200, 400 (exists, its key is missing) or 405 (exists, it is
write-only); 404 means the tenant has no such path. A browse answers page 1 of size 1; since a
real tenant answers an unknown browse id with 200 and no rows, only a row proves a browse id, and
only a filtered read that finds that row again proves a look-up column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from engine.adapters.qad.browsing import browse_params
from engine.adapters.qad.probe import PRESENT
from engine.adapters.qad.settings import QadSettings
from engine.adapters.qad.transport import Transport, loads
from engine.config.qad_profile import QadBrowses
from engine.errors import AuthError, RetriableRemoteError

__all__ = [
    "LOOKUP_COLUMN",
    "PRESENT",
    "BrowseProbe",
    "PathProbe",
    "first_line",
    "login",
    "probe_browse",
    "probe_path",
    "read_json",
]

TRIES = 3  # a busy tenant (429, 5xx) says nothing about a name: ask again, briefly
LOOKUP_COLUMN = QadBrowses.LOOKUP_COLUMNS


def first_line(raw: bytes | str, limit: int = 160) -> str:
    """The first line of an answer, short enough for one report line."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else ""


async def login(session: aiohttp.ClientSession, settings: QadSettings) -> Transport:
    """A logged-in transport (token endpoint, and securityControl when no client id is set)."""
    transport = Transport(session, settings, settings.validated_url())
    for attempt in range(TRIES):
        try:
            await transport.token()
            return transport
        except RetriableRemoteError:
            if attempt == TRIES - 1:
                raise
            await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


async def _get(
    t: Transport, rel: str, params: Mapping[str, str] | list[tuple[str, str]]
) -> tuple[int, bytes]:
    """One GET; 429/5xx retried; 401/403 come back as a status (the report names the rights)."""
    for attempt in range(TRIES):
        try:
            status, raw, _ = await t.send("GET", rel, params=params)
        except AuthError as exc:
            return exc.status or 403, str(exc).encode()
        if (status != 429 and status < 500) or attempt == TRIES - 1:
            return status, raw
        await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


async def read_json(
    t: Transport, rel: str, params: Mapping[str, str] | list[tuple[str, str]]
) -> tuple[int, bytes, Any]:
    """GET ``rel``: status, raw body, and the parsed JSON of a 200 answer (None otherwise)."""
    status, raw = await _get(t, rel, params)
    doc: Any = None
    if status == 200:
        try:
            doc = loads(raw)
        except ValueError:
            doc = None
    return status, raw, doc


@dataclass(frozen=True, slots=True)
class PathProbe:
    """``GET <path>?domainCode=D`` of one entity path."""

    key: str
    path: str
    status: int
    body: str  # first line of the answer
    query: str

    @property
    def present(self) -> bool:
        return self.status in PRESENT

    @property
    def probed(self) -> str:
        return f"GET {self.path}?{self.query}"

    @property
    def answer(self) -> str:
        """``HTTP 404 Not found``; the body only when it explains a failure."""
        text = f"HTTP {self.status}"
        return f"{text} {self.body}" if self.body and not self.present else text


async def probe_path(
    t: Transport, key: str, path: str, domain: str, domain_field: str = "domainCode"
) -> PathProbe:
    """``domain_field`` is ``[qad.fields] domain``: api/erp calls carry it as a query parameter."""
    status, raw = await _get(t, path, {domain_field: domain})
    return PathProbe(key, path, status, _error_line(raw), f"{domain_field}={domain}")


def _error_line(raw: bytes) -> str:
    """QAD's error message when the body is an error envelope, else its first line."""
    try:
        doc = loads(raw)
    except ValueError:
        return first_line(raw)
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return first_line(str(errors[0].get("message", "")))
    return ""


@dataclass(frozen=True, slots=True)
class BrowseProbe:
    """Page 1 (size 1) of one browse; the columns the engine reads; the look-up proof."""

    key: str
    browse_id: str
    status: int  # 0: a 200 answer that is not JSON
    body: str
    probed: str
    row: dict[str, Any] | None = None  # the first row; None: an error or no rows
    missing_columns: dict[str, str] = field(default_factory=dict)  # column key -> column
    lookup: str = ""  # "" not a look-up (or not checkable), "proven", "failed"
    lookup_probed: str = ""

    @property
    def answered(self) -> bool:
        return self.status == 200

    @property
    def answer(self) -> str:
        """``HTTP 404 Not found``, or why a 200 answer could not be read (status 0)."""
        return self.body if self.status == 0 else f"HTTP {self.status} {self.body}".strip()

    @property
    def columns(self) -> list[str]:
        return sorted(self.row) if self.row is not None else []


def _rows(doc: Any) -> list[dict[str, Any]]:
    rows = doc.get("data") if isinstance(doc, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _page(browse_id: str, size: int, filters: list[str]) -> list[tuple[str, str]]:
    return browse_params(browse_id, 1, size, filters)


async def probe_browse(
    t: Transport,
    browses_path: str,
    browses: QadBrowses,
    key: str,
    browse_id: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> BrowseProbe:
    """Probe browse ``key`` (or ``browse_id`` in its place) against the columns it must have."""
    bid = browse_id or getattr(browses, key)
    wanted = dict(columns if columns is not None else browses.columns_of(key))
    probed = f"GET {browses_path}?browseId={bid}&page=1&pageSize=1"
    status, raw, doc = await read_json(t, browses_path, _page(bid, 1, []))
    if status != 200:
        return BrowseProbe(key, bid, status, _error_line(raw), probed)
    if doc is None:
        return BrowseProbe(key, bid, 0, "HTTP 200, not JSON: " + first_line(raw), probed)
    rows = _rows(doc)
    if not rows:
        return BrowseProbe(key, bid, status, "", probed)
    row = rows[0]
    missing = {ck: col for ck, col in wanted.items() if col not in row}
    lookup, lookup_probed = "", ""
    column_key = LOOKUP_COLUMN.get(key, "")
    column = wanted.get(column_key, "")
    if column and column not in missing.values() and row.get(column) not in (None, ""):
        value = str(row[column])
        flt = f"{column},eq,{value},literal"
        lookup_probed = f"{probed}&filter={flt}"
        f_status, _, f_doc = await read_json(t, browses_path, _page(bid, 2, [flt]))
        lookup = "proven" if f_status == 200 and _rows(f_doc) else "failed"
    return BrowseProbe(key, bid, status, "", probed, row, missing, lookup, lookup_probed)
