"""What ``ml-connector qad discover`` does: check every tenant-profile key against one tenant.

It logs in, reads the tenant's metadata (``qad.paths.entity_metadata``; a tenant without it is
checked by probes only), probes every entity path and browse the way the engine's start-up probe
does (``engine.ops.qad_probes``) and reports, per key of ``[qad.paths]``, ``[qad.browses]`` and
``[qad.fields]``: ``found``, ``missing`` (with the tenant's own name when the metadata gives one),
``ambiguous`` or ``unverified`` (nothing could check it without writing). It only reads.

Names are matched on the classic QAD schema every generation shares: a key's ``db`` metadata
(engine/config/qad_profile.py) against an entry's ``table`` or a field's ``dbField``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from engine.adapters.qad.settings import QadSettings
from engine.adapters.qad.transport import Transport
from engine.config import Config
from engine.config.qad_profile import QadBrowses, QadFields, QadPaths, evidence_of
from engine.errors import ConfigError, RemoteUnavailable
from engine.ops.discover_fields import check_fields
from engine.ops.qad_metadata import Metadata, parse_metadata
from engine.ops.qad_probes import login, probe_browse, probe_path, read_json

__all__ = ["NO_METADATA", "STATUSES", "Discovery", "KeyReport", "discover"]

STATUSES = ("found", "missing", "ambiguous", "unverified")
SECTIONS: dict[str, type] = {"paths": QadPaths, "browses": QadBrowses, "fields": QadFields}
NO_METADATA = "tenant exposes no metadata; probes only"


@dataclass(frozen=True, slots=True)
class KeyReport:
    """One profile key: what is configured, how sure the default is, what the tenant said."""

    section: str  # paths | browses | fields
    key: str
    value: str  # as configured
    evidence: str  # D | C | I | G (of the default)
    status: str  # one of STATUSES
    probed: str  # what was asked (a GET, or where in the metadata)
    detail: str  # what came back
    resolved: str = ""  # the tenant's name for a missing key, when the metadata gives one

    @property
    def config_key(self) -> str:
        return f"qad.{self.section}.{self.key}"


@dataclass(frozen=True, slots=True)
class Discovery:
    tenant: str
    metadata: str  # what the metadata read gave, or NO_METADATA
    keys: tuple[KeyReport, ...]

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.keys) for s in STATUSES}

    @property
    def needs_attention(self) -> bool:
        """Something is missing or ambiguous (unverified keys cannot be checked by reading)."""
        return any(r.status in ("missing", "ambiguous") for r in self.keys)

    def fragment(self) -> str:
        """TOML for every missing key the metadata resolved; "" when there is none."""
        out: list[str] = []
        for section in SECTIONS:
            rows = [r for r in self.keys if r.section == section and r.status == "missing"]
            rows = [r for r in rows if r.resolved]
            if rows:
                out += ["", f"[qad.{section}]"]
                out += [f"{r.key} = {json.dumps(r.resolved)}" for r in rows]
        if not out:
            return ""
        head = [
            f"# ml-connector qad discover: the names {self.tenant} uses for missing keys.",
            "# Paste into config.toml (merge into a [qad.*] table that is already there).",
        ]
        return "\n".join(head + out) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "metadata": self.metadata,
            "counts": self.counts(),
            "keys": [{**dataclasses.asdict(r), "config_key": r.config_key} for r in self.keys],
            "fragment": self.fragment(),
        }


async def discover(cfg: Config, settings: QadSettings) -> Discovery:
    """Log in and check every profile key. Raises EngineError for login/connection failures."""
    timeout = aiohttp.ClientTimeout(total=max(settings.request_timeout_s * 4, 30.0))
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            transport = await login(session, settings)
            return await _Run(settings, transport, _site(cfg)).run()
    except aiohttp.ClientError as exc:  # the transport maps these; a last line of defence
        raise RemoteUnavailable(
            f"qad {settings.tenant_url}: {type(exc).__name__}", system="qad"
        ) from exc


def _site(cfg: Config) -> str:
    """A site to ask the blank unplanned-receipt record for (the first mapped marketplace's)."""
    return next((m.site for m in cfg.mapping.marketplaces.values() if m.site), "")


def _db(section: type, key: str, what: str = "db") -> str:
    """A key's profile metadata: its classic ``db`` name, or ``why`` (a browse's description)."""
    return str(next(f for f in dataclasses.fields(section) if f.name == key).metadata.get(what, ""))


def valid(section: str, key: str, value: str) -> bool:
    """Would ``[qad.<section>] key = value`` load? (a resolved name must paste cleanly)"""
    f = next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == key)
    try:
        f.metadata["check"](value, f"qad.{section}.{key}")
    except ConfigError:
        return False
    return True


class _Run:
    def __init__(self, settings: QadSettings, transport: Transport, site: str) -> None:
        self.s = settings
        self.t = transport
        self.site = site
        self.dom = settings.domain
        self.meta: Metadata | None = None
        self.out: dict[tuple[str, str], KeyReport] = {}
        self.effective: dict[str, str | None] = {}  # entity path key -> the path that answers

    def put(
        self, section: str, key: str, status: str, probed: str, detail: str, resolved: str = ""
    ) -> None:
        value = str(getattr(getattr(self.s, section), key))
        if resolved and (resolved == value or not valid(section, key, resolved)):
            resolved = ""
        evidence = evidence_of(SECTIONS[section], key)
        report = KeyReport(section, key, value, evidence, status, probed, detail, resolved)
        self.out[(section, key)] = report

    async def run(self) -> Discovery:
        note = await self._metadata()
        self._login()
        await self._entity_paths()
        await self._validate_step()
        self._views()
        await self._browses()
        # The blank record is asked for with the tenant's own names of domain and site.
        first = check_fields(self.s, self.meta, ("", None))
        names = {k: first[k][3] or getattr(self.s.fields, k) for k in ("domain", "site")}
        tree = await self._blank_tree(names["domain"], names["site"])
        for key, args in check_fields(self.s, self.meta, tree).items():
            self.put("fields", key, *args)
        ordered = tuple(
            self.out[(name, f.name)]
            for name, cls in SECTIONS.items()
            for f in dataclasses.fields(cls)
        )
        return Discovery(self.t.base, note, ordered)

    # -- platform paths -------------------------------------------------------------------------

    async def _metadata(self) -> str:
        path = self.s.paths.entity_metadata
        status, _, doc = await read_json(self.t, path, {})
        self.meta = parse_metadata(doc) if status == 200 else None
        probed = f"GET {path}"
        if self.meta is not None:
            self.put(
                "paths", "entity_metadata", "found", probed, f"HTTP 200: {self.meta.summary()}"
            )
            return f"{path}: {self.meta.summary()}"
        why = "answer not readable as metadata" if status == 200 else f"HTTP {status}"
        detail = f"{why}: {NO_METADATA} (only `qad discover` reads this key)"
        self.put("paths", "entity_metadata", "unverified", probed, detail)
        return NO_METADATA if status != 200 else f"{why}: {NO_METADATA}"

    def _login(self) -> None:
        p = self.s.paths
        self.put("paths", "token_endpoint", "found", f"POST {p.token_endpoint}", "login succeeded")
        if self.s.client_id:
            detail = "not called: [qad] client_id is set"
            self.put("paths", "security_control", "unverified", "-", detail)
        else:
            probed = f"GET {p.security_control} (Basic)"
            self.put("paths", "security_control", "found", probed, "answered the client id")

    # -- entity paths and views -----------------------------------------------------------------

    async def _entity_paths(self) -> None:
        for key, path in self.s.paths.entity_paths().items():
            probe = await probe_path(self.t, key, path, self.dom, self.s.fields.domain)
            db = _db(QadPaths, key)
            cands = self.meta.paths_on(db) if self.meta and db else []
            if probe.present:
                self.effective[key] = path
                other = [c for c in cands if c != path]
                note = f"; the metadata lists {', '.join(other)} on {db}" if other else ""
                self.put("paths", key, "found", probe.probed, probe.answer + note)
                continue
            self.effective[key] = None
            if probe.status != 404:
                self.put("paths", key, "unverified", probe.probed, probe.answer)
                continue
            detail, resolved = probe.answer, ""
            if len(cands) == 1:
                again = await probe_path(self.t, key, cands[0], self.dom, self.s.fields.domain)
                detail += f"; the metadata names {cands[0]} on {db} ({again.answer})"
                if again.present:
                    resolved = cands[0]
                    self.effective[key] = resolved
            elif cands:
                detail += f"; the metadata lists several on {db}: {', '.join(cands)}"
            elif self.meta is not None and db:
                detail += f"; the metadata has no entity on {db}"
            self.put("paths", key, "missing", probe.probed, detail, resolved)

    async def _validate_step(self) -> None:
        key, step = "unplanned_validate_step", self.s.paths.unplanned_validate_step
        owners = ("unplanned_receives", "unplanned_issues")
        bases = [self.effective.get(o) for o in owners]
        if None in bases:
            lost = next(o for o, b in zip(owners, bases, strict=True) if b is None)
            self.put(
                "paths", key, "unverified", "-", f"its entity path qad.paths.{lost} is missing"
            )
            return
        under = [b for b in bases if b is not None]
        probes = [
            await probe_path(self.t, key, f"{b}/{step}", self.dom, self.s.fields.domain)
            for b in under
        ]
        probed = "; ".join(p.probed for p in probes)
        answers = ", ".join(p.answer for p in probes)
        if all(p.present for p in probes):
            self.put("paths", key, "found", probed, answers)
            return
        if not any(p.status == 404 for p in probes):
            self.put("paths", key, "unverified", probed, answers)
            return
        db = _db(QadPaths, key)
        steps = [_step_of(c, under) for c in (self.meta.paths_on(db) if self.meta else [])]
        steps = list(dict.fromkeys(steps))
        resolved = ""
        if len(steps) == 1:
            again = [
                await probe_path(self.t, key, f"{b}/{steps[0]}", self.dom, self.s.fields.domain)
                for b in under
            ]
            answers += f"; the metadata names {steps[0]} ({', '.join(a.answer for a in again)})"
            resolved = steps[0] if all(a.present for a in again) else ""
        elif steps:
            answers += f"; the metadata lists several: {', '.join(steps)}"
        self.put("paths", key, "missing", probed, answers, resolved)

    def _views(self) -> None:
        paths = self.s.paths
        for key, owner in QadPaths.VIEW_OF.items():
            value = getattr(paths, key)
            table = _db(QadPaths, owner)
            if self.meta is None:
                detail = "no metadata: a viewUri is checked by the first write only"
                self.put("paths", key, "unverified", "-", detail)
                continue
            views = self.meta.views_on(table)
            probed = f"metadata entity on {table} (qad.paths.{owner})"
            if value in views:
                self.put("paths", key, "found", probed, f"viewUri {value}")
            elif len(views) == 1:
                self.put(
                    "paths", key, "missing", probed, f"the metadata names {views[0]}", views[0]
                )
            elif views:
                self.put("paths", key, "ambiguous", probed, f"several: {', '.join(views)}")
            else:
                self.put("paths", key, "unverified", probed, f"no viewUri given on {table}")

    # -- browses and their columns --------------------------------------------------------------

    async def _browses(self) -> None:
        b, path = self.s.browses, self.s.paths.browses
        statuses: list[int] = []
        # Report-only browses too (posting_line): discover lists every key of the profile.
        for key, bid in b.browse_ids(reports=True).items():
            wanted = b.columns_of(key)
            probe = await probe_browse(self.t, path, b, key)
            statuses.append(probe.status)
            db, why = _db(QadBrowses, key), _db(QadBrowses, key, "why")
            col_dbs = {_db(QadBrowses, ck) for ck in wanted}
            meta = self.meta
            listed = meta.browse(bid) if meta else None
            cands = meta.browses_on(db, col_dbs, why) if meta else []
            other = [c for c in cands if c.browse_id != bid]
            effective, row, status, resolved = bid, probe.row, "", ""
            if not probe.answered:
                detail = probe.answer
                status = "missing" if probe.status == 404 else "unverified"
            elif probe.row is not None:
                status, detail = "found", "answered 1 row"
                if probe.lookup == "proven":
                    detail += "; look-up proven (filtered by the row's value, found it again)"
                elif probe.lookup == "failed":
                    status = "ambiguous"
                    detail += f"; look-up NOT proven: {probe.lookup_probed} returned no row"
            elif listed is not None:
                status, detail = "found", "answered no rows (no data yet); listed in the metadata"
            else:
                status = "ambiguous"
                detail = "answered no rows (unknown browse id, or no data yet)"
            if status != "found" and listed is None and len(other) == 1:
                c = other[0]
                status, resolved, effective = "missing", c.browse_id, c.browse_id
                detail += f"; the metadata lists {c.browse_id} ({c.description}) on {db}"
                row = (await probe_browse(self.t, path, b, key, c.browse_id, {})).row
            elif status != "found" and other:
                detail += f"; the metadata lists on {db}: {', '.join(c.browse_id for c in other)}"
            self.put("browses", key, status, probe.probed, detail, resolved)
            # Columns are checked against a row, or the metadata of the browse that answers.
            known = bool(resolved) or probe.row is not None or listed is not None
            self._columns(key, effective if known else None, row)
            if key == "on_hand" and row is not None and not self.site:
                # No mapped site in config: any site that holds stock will do for the blank record.
                site = self.out[("browses", "on_hand_site_column")]
                self.site = str(row.get(site.resolved or site.value) or "")
        self._browse_service(statuses)

    def _browse_service(self, statuses: list[int]) -> None:
        probed = f"GET {self.s.paths.browses} (every browse above)"
        if 200 in statuses:
            self.put("paths", "browses", "found", probed, "answered HTTP 200")
        elif statuses and all(s == 404 for s in statuses):
            self.put("paths", "browses", "missing", probed, "every browse answered HTTP 404")
        else:
            answers = ", ".join(sorted({str(s) for s in statuses}))
            self.put("paths", "browses", "unverified", probed, f"answered HTTP {answers}")

    def _columns(
        self, browse_key: str, browse_id: str | None, row: Mapping[str, Any] | None
    ) -> None:
        for key, column in self.s.browses.columns_of(browse_key).items():
            db = _db(QadBrowses, key)
            if browse_id is None:
                detail = f"its browse qad.browses.{browse_key} gave no row nor metadata to check"
                self.put("browses", key, "unverified", "-", detail)
                continue
            bmeta = self.meta.browse(browse_id) if self.meta else None
            named = (
                list(dict.fromkeys(c.name for c in bmeta.columns if c.db == db)) if bmeta else []
            )
            if row is not None and db in row and not named:
                named = [db]  # browse columns are classically keyed table.field
            if row is not None:
                have, probed = sorted(row), f"row of {browse_id}"
            elif bmeta is not None:
                have, probed = [c.name for c in bmeta.columns], f"metadata of {browse_id}"
            else:
                detail = "no row and no metadata to check the column against"
                self.put("browses", key, "unverified", f"browse {browse_id}", detail)
                continue
            if column in have:
                self.put("browses", key, "found", probed, "one of its columns")
                continue
            resolved = named[0] if len(named) == 1 else ""
            detail = (
                f"not a column; the column on {db} is {resolved}"
                if resolved
                else f"not a column (it has: {', '.join(have)})"
            )
            self.put("browses", key, "missing", probed, detail, resolved)

    # -- the unplanned-receipt tree -------------------------------------------------------------

    async def _blank_tree(self, domain_field: str, site_field: str) -> tuple[str, Any]:
        """(what was asked, the JSON) of the blank record the unplanned-receipt init hands out
        (a GET, as the receipt screen does; it posts nothing); it names the tree's own fields."""
        base = self.effective.get("unplanned_receives")
        if base is None:
            return "", None
        params = {domain_field: self.dom, **({site_field: self.site} if self.site else {})}
        probed = f"GET {base}?" + "&".join(f"{k}={v}" for k, v in params.items())
        status, _, doc = await read_json(self.t, base, params)
        return probed, doc if status == 200 else None


def _step_of(path: str, bases: list[str]) -> str:
    """The step of a metadata path: ``api/erp/unplannedReceives/validateX`` -> ``validateX``."""
    for base in bases:
        if path.startswith(base + "/"):
            return path[len(base) + 1 :]
    return path.rsplit("/", 1)[-1]
