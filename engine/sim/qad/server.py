"""The QAD Adaptive ERP tenant simulator: an aiohttp server on loopback, one or more tenants.

Shapes follow the QAD reference (section 7): ``/oauth/token``, ``/api/qracore/securityControl``,
``/api/qracore/browses`` and ``/api/erp/<entityPlural>`` with the ``submitResult`` envelope.
Simulator-only control lives under ``{tenant}/__sim/``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from engine.sim.qad.browses import BrowseError, apply_filters, rows_for
from engine.sim.qad.faults import FaultPlan, FaultRule
from engine.sim.qad.store import (
    DOMAIN,
    ENTITY,
    BusinessError,
    Store,
    dec,
    default_open_range,
)

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "NOACCESS_USER", "QadSimulator"]

DEMO_USER = "mfg@qad.com"
DEMO_PASSWORD = "qad-sim"  # noqa: S105 - a published demo credential of a local simulator
NOACCESS_USER = "noaccess@qad.com"
CLIENT_ID = "sim-client"
SO_URI = "urn:be:com.qad.sales.salesorder.ISalesOrderHeader"
USERS: dict[str, tuple[str, ...]] = {DEMO_USER: (DOMAIN,), NOACCESS_USER: ()}


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))  # exact decimal as a JSON number
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, default=_default), status=status, content_type="application/json"
    )


def _errors(status: int, message: str, field: str = "") -> web.Response:
    err = {"severity": 1, "code": str(status), "message": message, "fieldName": field}
    return _json({"errors": [err]}, status)


def _submit_error(exc: BusinessError) -> web.Response:
    err = {"fieldName": exc.field, "message": exc.message, "code": exc.code, "value": exc.value}
    return _json({"submitResult": {"success": False, "errorSeverity": 1, "errors": [err]}})


def _ok(plural: str, records: list[dict[str, Any]]) -> web.Response:
    return _json(
        {
            "data": {plural: records},
            "submitResult": {"success": True, "errorSeverity": 0, "errors": []},
        }
    )


def _qdate(iso: str) -> str:
    return f"{iso}T00:00:00.000Z" if iso else ""


@dataclass(slots=True)
class _Tenant:
    name: str
    store: Store
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # access -> user, expiry
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> user


class _Truncated(web.Response):
    """Announces the full Content-Length, sends half of the body, closes the connection."""

    @classmethod
    def of(cls, resp: web.StreamResponse) -> web.StreamResponse:
        if not isinstance(resp, web.Response) or not isinstance(resp.body, bytes):
            return resp
        out = cls(status=resp.status, headers=resp.headers)
        out.body = resp.body
        return out

    async def write_eof(self, data: bytes = b"") -> None:
        body = self.body if isinstance(self.body, bytes) else b""
        await self.write(body[: len(body) // 2])
        if self._req is not None and self._req.transport is not None:
            self._req.transport.close()


class QadSimulator:
    """``async with QadSimulator(path) as qad:`` serves tenants on ``qad.tenant_url(name)``."""

    username = DEMO_USER
    password = DEMO_PASSWORD
    noaccess_username = NOACCESS_USER
    client_id = CLIENT_ID

    def __init__(
        self,
        state_path: str | Path,
        *,
        port: int = 0,
        tenants: tuple[str, ...] = ("clouderp",),
        seed: int = 0,
        token_ttl_s: float = 3600.0,
        open_from: date | None = None,
        open_to: date | None = None,
    ) -> None:
        if not tenants:
            raise ValueError("at least one tenant")
        self.state_path = Path(state_path)
        self.port = port
        self.tenant_names = tenants
        self.token_ttl_s = token_ttl_s
        start, end = default_open_range()
        self._open = (open_from or start, open_to or end)
        self.faults = FaultPlan(seed)
        self.stats: dict[str, int] = {"password_grants": 0, "refresh_grants": 0, "unauthorized": 0}
        self.requests: list[tuple[str, str]] = []  # (method, path) log for tests
        self._tenants: dict[str, _Tenant] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._clock_offset = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def state_file(self, tenant: str | None = None) -> Path:
        name = tenant or self.tenant_names[0]
        if name == self.tenant_names[0]:
            return self.state_path
        p = self.state_path
        return p.with_name(f"{p.stem}-{name}{p.suffix}")

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        for name in self.tenant_names:
            store = Store(self.state_file(name), open_from=self._open[0], open_to=self._open[1])
            self._tenants[name] = _Tenant(name, store)
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tenant}/{tail:.*}", self._handle)
        # Short shutdown: a stalled fault handler must not hold the test for long.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for t in self._tenants.values():
            t.store.close()
        self._tenants.clear()

    async def __aenter__(self) -> QadSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tenant_url(self, name: str | None = None) -> str:
        name = name or self.tenant_names[0]
        if name not in self.tenant_names:
            raise KeyError(f"no tenant {name!r}; tenants are {self.tenant_names}")
        return f"{self.base_url}/{name}"

    # -- Python control + read helpers ----------------------------------------------------------

    def _store(self, tenant: str | None) -> Store:
        return self._tenants[tenant or self.tenant_names[0]].store

    def expire_tokens(self, tenant: str | None = None) -> None:
        """Invalidate every issued access token (refresh tokens stay valid)."""
        for t in self._tenants.values():
            if tenant is None or t.name == tenant:
                t.tokens.clear()

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator's token clock forward (tokens expire without waiting)."""
        self._clock_offset += seconds

    def close_period(self, year: int, period: int, tenant: str | None = None) -> None:
        self._store(tenant).set_period_closed(year, period, True)

    def query(
        self, sql: str, params: tuple[Any, ...] = (), tenant: str | None = None
    ) -> list[dict[str, Any]]:
        return self._store(tenant).query(sql, params)

    def sales_orders(self, tenant: str | None = None) -> list[dict[str, Any]]:
        st = self._store(tenant)
        return [
            so
            for r in st.query("SELECT so_nbr FROM so_mstr ORDER BY so_nbr")
            if (so := st.sales_order(r["so_nbr"])) is not None
        ]

    def sales_order(self, so_nbr: str, tenant: str | None = None) -> dict[str, Any] | None:
        return self._store(tenant).sales_order(so_nbr)

    def invoices(self, tenant: str | None = None) -> list[dict[str, Any]]:
        st = self._store(tenant)
        return [
            inv
            for r in st.query("SELECT ar_nbr FROM ar_mstr ORDER BY ar_nbr")
            if (inv := st.invoice(r["ar_nbr"])) is not None
        ]

    def journal_entries(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Manual journal entries (one dict per voucher, lines from gltr_hist)."""
        st = self._store(tenant)
        rows = st.query(
            "SELECT DISTINCT gltr_voucher FROM gltr_hist WHERE gltr_doc_typ='JL' "
            "ORDER BY gltr_voucher"
        )
        return [je for r in rows if (je := st.journal(str(r["gltr_voucher"]))) is not None]

    def gl_lines(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._store(tenant).query("SELECT * FROM gltr_hist ORDER BY gltr_voucher, gltr_line")

    def tr_hist(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return self._store(tenant).query("SELECT * FROM tr_hist ORDER BY tr_trnbr")

    def on_hand(self, item: str, site: str, tenant: str | None = None) -> Decimal:
        row = self._store(tenant).one(
            "SELECT in_qty_oh FROM in_mstr WHERE in_part=? AND in_site=?", (item, site)
        )
        return row["in_qty_oh"] if row else Decimal(0)

    # -- HTTP -----------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        tenant = self._tenants.get(request.match_info["tenant"])
        if tenant is None:
            return _errors(404, "Not found")
        tail = "/" + request.match_info["tail"]
        body = await request.text() if request.can_read_body else ""
        self.requests.append((request.method, tail))
        if tail.startswith("/__sim/"):
            return await self._control(tenant, request, tail, body)
        rule = self.faults.match(tenant=tenant.name, method=request.method, path=tail, body=body)
        if rule is not None:
            early = await self._pre_fault(rule, tenant, request)
            if early is not None:
                return early
        response = await self._route(tenant, request, tail, body)
        if rule is not None and rule.kind == "commit_then_stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), rule.delay_s or 3600.0)
        if rule is not None and rule.kind == "commit_then_drop" and request.transport is not None:
            request.transport.abort()
        if rule is not None and rule.kind == "commit_then_truncate":
            return _Truncated.of(response)
        return response

    async def _pre_fault(
        self, rule: FaultRule, tenant: _Tenant, request: web.Request
    ) -> web.StreamResponse | None:
        if rule.kind == "status":
            if rule.status >= 500:
                return web.Response(status=rule.status, text="Internal Server Error")
            return _errors(rule.status, rule.message or "Injected fault")
        if rule.kind == "drop" and request.transport is not None:
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if rule.kind == "latency":
            await asyncio.sleep(rule.delay_s)
        elif rule.kind == "expire_tokens":
            tenant.tokens.clear()
        elif rule.kind == "business_error" and request.method == "POST":
            return _submit_error(BusinessError("", rule.message or "Injected business error"))
        return None

    async def _control(
        self, tenant: _Tenant, request: web.Request, tail: str, body: str
    ) -> web.Response:
        if tail == "/__sim/health":
            return _json(
                {"status": "ok", "tenant": tenant.name, "domains": [DOMAIN], "version": "sim-1"}
            )
        if tail == "/__sim/faults":
            if request.method == "GET":
                return _json({"faults": [r.to_json() for r in self.faults.rules]})
            if request.method == "DELETE":
                self.faults.clear()
                return _json({"faults": []})
            if request.method == "POST":
                try:
                    specs = json.loads(body or "{}").get("faults", [])
                    added = [self.faults.add_json(s) for s in specs]
                except (ValueError, TypeError, AttributeError) as exc:
                    return _errors(400, str(exc))
                return _json({"faults": [r.to_json() for r in added]})
        if tail == "/__sim/expireTokens" and request.method == "POST":
            tenant.tokens.clear()
            return _json({"ok": True})
        return _errors(404, "Not found")

    # auth --------------------------------------------------------------------------------------

    def _issue(self, tenant: _Tenant, user: str) -> web.Response:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        tenant.tokens[access] = (user, self._now() + self.token_ttl_s)
        tenant.refresh[refresh] = user
        return _json(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": int(self.token_ttl_s),
                "scope": "read write",
            }
        )

    async def _token(self, tenant: _Tenant, request: web.Request) -> web.Response:
        form: Mapping[str, str] = dict(request.query)
        if request.content_type == "application/x-www-form-urlencoded":
            form = {**form, **{k: str(v) for k, v in (await request.post()).items()}}
        bad = _json({"error": "invalid_grant", "error_description": "Bad credentials"}, 401)
        if form.get("client_id") != CLIENT_ID:
            return _json({"error": "invalid_client", "error_description": "Unknown client"}, 401)
        grant = form.get("grant_type")
        if grant == "password":
            user = form.get("username", "")
            if user not in USERS or not secrets.compare_digest(
                form.get("password", ""), DEMO_PASSWORD
            ):
                return bad
            self.stats["password_grants"] += 1
            return self._issue(tenant, user)
        if grant == "refresh_token":
            user_or_none = tenant.refresh.pop(form.get("refresh_token", ""), None)
            if user_or_none is None:
                return _json(
                    {"error": "invalid_grant", "error_description": "Invalid refresh token"}, 401
                )
            self.stats["refresh_grants"] += 1
            return self._issue(tenant, user_or_none)
        return _json({"error": "unsupported_grant_type"}, 400)

    def _basic_user(self, header: str) -> str | None:
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, pw = raw.partition(":")
        if user in USERS and secrets.compare_digest(pw, DEMO_PASSWORD):
            return user
        return None

    def _user(self, tenant: _Tenant, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            return self._basic_user(header)
        if header.startswith("Bearer "):
            found = tenant.tokens.get(header[7:].strip())
            if found is None:
                return None
            user, expiry = found
            if self._now() >= expiry:
                tenant.tokens.pop(header[7:].strip(), None)
                return None
            return user
        return None

    def _context(self, request: web.Request, body: Any) -> tuple[str, str]:
        ws = request.headers.get("x-qad-workspace-id", "")
        if ws:
            domain, _, entity = ws.partition("_")
            return domain, entity or ENTITY
        domain = request.query.get("domainCode", "")
        if not domain and isinstance(body, dict):
            for recs in body.values():
                if isinstance(recs, list) and recs and isinstance(recs[0], dict):
                    domain = str(recs[0].get("domainCode") or "")
                    break
        return domain or DOMAIN, ENTITY

    # routing -----------------------------------------------------------------------------------

    async def _route(
        self, tenant: _Tenant, request: web.Request, tail: str, body_text: str
    ) -> web.Response:
        if tail == "/oauth/token" and request.method == "POST":
            return await self._token(tenant, request)
        if not tail.startswith("/api/"):
            return _errors(404, "Not found")
        user = self._user(tenant, request)
        if user is None:
            self.stats["unauthorized"] += 1
            return _errors(401, "Full authentication is required to access this resource")
        if tail == "/api/qracore/securityControl":
            if not request.headers.get("Authorization", "").startswith("Basic "):
                return _errors(401, "Basic authentication required")
            return _json(
                {
                    "data": {
                        "securityControls": [
                            {"clientId": CLIENT_ID, "sessionLength": 480, "timeoutMinutes": 60}
                        ]
                    }
                }
            )
        body: Any = None
        if body_text:
            try:
                body = json.loads(body_text, parse_float=Decimal)
            except ValueError:
                return _errors(400, "Request body is not valid JSON")
        domain, entity = self._context(request, body)
        if domain not in USERS[user] or entity != ENTITY:
            return _errors(403, "Access is denied")
        store = tenant.store
        if tail.rstrip("/") == "/api/qracore/browses/totalCount":
            return self._browse(store, request, count_only=True)
        if tail == "/api/qracore/browses":
            return self._browse(store, request, count_only=False)
        if tail.startswith("/api/erp/"):
            entity_name = tail[len("/api/erp/") :]
            if request.method == "GET":
                return self._erp_get(store, entity_name, request)
            if request.method == "POST":
                if not isinstance(body, dict):
                    return _errors(400, "Request body must be a JSON object")
                return self._erp_post(store, entity_name, body)
            return _errors(405, "Method not allowed")
        return _errors(404, "Not found")

    def _browse(self, store: Store, request: web.Request, *, count_only: bool) -> web.Response:
        q = request.query
        browse_id = q.get("browseId", "")
        if not browse_id:
            return _errors(400, "Missing browseId", "browseId")
        try:
            filters = q.getall("filter", [])
            rows = apply_filters(rows_for(browse_id, store, filters), filters)
        except BrowseError as exc:
            return _errors(exc.status, str(exc))
        if count_only:
            return _json({"data": {"totalCount": len(rows)}})
        try:
            page = max(1, int(q.get("page", "1")))
            size = min(1000, max(1, int(q.get("pageSize", "50"))))
        except ValueError:
            return _errors(400, "page and pageSize must be integers")
        chunk = rows[(page - 1) * size : page * size]
        more = "true" if page * size < len(rows) else "false"
        return _json({"data": chunk, "auxillaryData": {"HasMoreParams": more}})

    # entities ----------------------------------------------------------------------------------

    def _so_json(self, so: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "uri": f"{SO_URI}:{so['so_domain']}.{so['so_nbr']}",
            "salesOrderNumber": so["so_nbr"],
            "domainCode": so["so_domain"],
            "soldToCustomerCode": so["so_cust"],
            "billToCustomerCode": so["so_bill"],
            "shipToCustomerCode": so["so_ship"],
            "siteCode": so["so_site"],
            "currencyCode": so["so_curr"],
            "orderDate": _qdate(so["so_ord_date"]),
            "dueDate": _qdate(so["so_due_date"]),
            "creditTermsCode": so["so_cr_terms"],
            "customerPurchaseOrder": so["so_po"],
            "channel": so["so_channel"],
            "status": "cancelled" if so["so_stat"] == "X" else "open",
            "concurrencyHash": so["so_hash"],
            "salesOrderLines": [
                {
                    "salesOrderLine": ln["sod_line"],
                    "itemCode": ln["sod_part"],
                    "siteCode": ln["sod_site"],
                    "quantityOrdered": ln["sod_qty_ord"],
                    "unitOfMeasure": ln["sod_um"],
                    "listPrice": ln["sod_list_pr"],
                    "netPrice": ln["sod_price"],
                    "dueDate": _qdate(ln["sod_due_date"]),
                }
                for ln in so["lines"]
            ],
        }

    def _item_json(self, r: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "uri": f"urn:be:com.qad.base.item.IItem:{r['pt_domain']}.{r['pt_part']}",
            "itemCode": r["pt_part"],
            "description": r["pt_desc1"],
            "description2": r["pt_desc2"],
            "unitOfMeasure": r["pt_um"],
            "productLine": r["pt_prod_line"],
            "itemType": r["pt_part_type"],
            "itemStatus": r["pt_status"],
            "listPrice": r["pt_price"],
            "domainCode": r["pt_domain"],
        }

    def _invoice_json(self, inv: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "invoiceNumber": inv["ar_nbr"],
            "domainCode": inv["ar_domain"],
            "entityCode": inv["ar_entity"],
            "customerCode": inv["ar_cust"],
            "reference": inv["ar_po"],
            "invoiceDate": inv["ar_date"],
            "postingDate": inv["ar_effdate"],
            "dueDate": inv["ar_due_date"],
            "daybookCode": inv["ar_dy_code"],
            "currencyCode": inv["ar_curr"],
            "description": inv["ar_desc"],
            "amountTC": inv["ar_amt"],
            "voucher": inv["ar_voucher"],
            "postingYear": inv["ar_year"],
            "postingPeriod": inv["ar_per"],
            "lines": [
                {
                    "glAccount": ln["ard_acct"],
                    "subAccount": ln["ard_sub"],
                    "costCenter": ln["ard_cc"],
                    "amountTC": ln["ard_amt"],
                    "description": ln["ard_desc"],
                }
                for ln in inv["lines"]
            ],
        }

    def _journal_json(self, je: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "voucher": je["gltr_voucher"],
            "domainCode": DOMAIN,
            "entityCode": je["gltr_entity"],
            "daybookCode": je["gltr_dy_code"],
            "postingDate": je["gltr_eff_dt"],
            "reference": je["gltr_doc"],
            "postingYear": je["gltr_year"],
            "postingPeriod": je["gltr_per"],
            "lines": [
                {
                    "glAccount": ln["gltr_acc"],
                    "subAccount": ln["gltr_sub"],
                    "costCenter": ln["gltr_ctr"],
                    "currencyCode": ln["gltr_curr"],
                    "debitTC": ln["gltr_amt"] if ln["gltr_amt"] > 0 else Decimal(0),
                    "creditTC": -ln["gltr_amt"] if ln["gltr_amt"] < 0 else Decimal(0),
                    "description": ln["gltr_desc"],
                }
                for ln in je["lines"]
            ],
        }

    def _erp_get(self, store: Store, name: str, request: web.Request) -> web.Response:
        q = request.query

        def need(*keys: str) -> str | None:
            for k in keys:
                if not q.get(k):
                    return k
            return None

        if name in ("salesOrders", "salesOrderHeaders"):
            if missing := need("salesOrderNumber"):
                return _errors(400, f"Missing key field {missing}", missing)
            so = store.sales_order(q["salesOrderNumber"])
            return _json({"data": {name: [self._so_json(so)] if so else []}})
        if name == "items":
            if missing := need("itemCode"):
                return _errors(400, f"Missing key field {missing}", missing)
            row = store.one("SELECT * FROM pt_mstr WHERE pt_part=?", (q["itemCode"],))
            return _json({"data": {"items": [self._item_json(row)] if row else []}})
        if name == "inventoryBalances":
            if missing := need("siteCode", "itemCode"):
                return _errors(400, f"Missing key field {missing}", missing)
            item, site = q["itemCode"], q["siteCode"]
            tot = store.one("SELECT * FROM in_mstr WHERE in_part=? AND in_site=?", (item, site))
            if tot is None:
                return _json({"data": {"inventoryBalances": []}})
            locs = store.query(
                "SELECT * FROM ld_det WHERE ld_part=? AND ld_site=? ORDER BY ld_loc, ld_lot",
                (item, site),
            )
            rec = {
                "itemCode": item,
                "siteCode": site,
                "quantityOnHand": tot["in_qty_oh"],
                "quantityAvailable": tot["in_qty_avail"],
                "quantityAllocated": tot["in_qty_all"],
                "locations": [
                    {
                        "location": ld["ld_loc"],
                        "lotSerial": ld["ld_lot"],
                        "reference": ld["ld_ref"],
                        "inventoryStatusCode": ld["ld_status"],
                        "quantityOnHand": ld["ld_qty_oh"],
                    }
                    for ld in locs
                ],
            }
            return _json({"data": {"inventoryBalances": [rec]}})
        if name == "customerInvoices":
            if q.get("reference"):
                inv = store.invoice(q["reference"], by="reference")
            elif q.get("invoiceNumber"):
                inv = store.invoice(q["invoiceNumber"])
            else:
                return _errors(400, "Missing key field invoiceNumber", "invoiceNumber")
            return _json({"data": {"customerInvoices": [self._invoice_json(inv)] if inv else []}})
        if name == "journalEntries":
            if q.get("reference"):
                je = store.journal(q["reference"], by="reference")
            elif q.get("voucher"):
                je = store.journal(q["voucher"])
            else:
                return _errors(400, "Missing key field voucher", "voucher")
            return _json({"data": {"journalEntries": [self._journal_json(je)] if je else []}})
        if name in ("unplannedReceives", "unplannedIssues"):
            # Real tenants answer a blank header + detail (the 3-step UI flow's first step).
            blank = {
                "domainCode": DOMAIN,
                "siteCode": "",
                "effectiveDate": "",
                "reference": "",
                "remarks": "",
                "unplannedProcessorDetailV2s": [
                    {"itemCode": "", "transactionQuantity": 0, "location": "", "lotSerial": ""}
                ],
            }
            return _json({"data": {"unplannedProcessorHeaderV2s": [blank]}})
        return _errors(404, f"Entity {name!r} not found")

    def _erp_post(self, store: Store, name: str, body: Mapping[str, Any]) -> web.Response:
        plural = {
            "salesOrderHeaders": "salesOrderHeaders",
            "items": "items",
            "unplannedReceives": "unplannedProcessorHeaderV2s",
            "unplannedIssues": "unplannedProcessorHeaderV2s",
            "customerInvoices": "customerInvoices",
            "journalEntries": "journalEntries",
        }.get(name)
        if plural is None:
            return _errors(404, f"Entity {name!r} not found")
        records = body.get(plural)
        if not isinstance(records, list) or not records:
            return _errors(400, f"Missing {plural}", plural)
        if not all(isinstance(r, dict) for r in records):
            return _errors(400, f"{plural} entries must be objects", plural)
        out: list[dict[str, Any]] = []
        try:
            for rec in records:
                out.append(self._write_one(store, name, rec))
        except BusinessError as exc:
            return _submit_error(exc)
        except (KeyError, TypeError, ValueError) as exc:
            return _submit_error(BusinessError("", f"Invalid record: {exc}"))
        return _ok(plural, out)

    def _write_one(self, store: Store, name: str, rec: Mapping[str, Any]) -> dict[str, Any]:
        op = str(rec.get("dataOperation") or "C").upper()
        if name == "salesOrderHeaders":
            nbr = store.update_sales_order(rec) if op == "U" else store.create_sales_order(rec)
            so = store.sales_order(nbr)
            assert so is not None
            return self._so_json(so)
        if name == "items":
            return self._write_item(store, rec, op)
        if name in ("unplannedReceives", "unplannedIssues"):
            trnbrs = store.unplanned(rec, issue=name == "unplannedIssues")
            return {**rec, "transactionNumbers": trnbrs}
        if name == "customerInvoices":
            result = store.create_invoice(rec)
            inv = store.invoice(result["invoiceNumber"])
            assert inv is not None
            return self._invoice_json(inv)
        result = store.create_journal(rec)
        je = store.journal(str(result["voucher"]))
        assert je is not None
        return self._journal_json(je)

    def _write_item(self, store: Store, rec: Mapping[str, Any], op: str) -> dict[str, Any]:
        code = str(rec.get("itemCode") or "")
        if not code:
            raise BusinessError("itemCode", "Item code is mandatory")
        exists = store.one("SELECT * FROM pt_mstr WHERE pt_part=?", (code,))
        if op == "C" and exists:
            raise BusinessError("itemCode", f"Item {code} already exists", code, "SIM-102")
        if op == "U" and not exists:
            raise BusinessError("itemCode", f"Item {code!r} does not exist", code, "SIM-101")
        price = dec(rec.get("listPrice", exists["pt_price"] if exists else 0), "listPrice")
        values = (
            DOMAIN,
            code,
            str(rec.get("description") or (exists or {}).get("pt_desc1") or ""),
            str(rec.get("description2") or (exists or {}).get("pt_desc2") or ""),
            str(rec.get("unitOfMeasure") or (exists or {}).get("pt_um") or "EA"),
            str(rec.get("productLine") or (exists or {}).get("pt_prod_line") or ""),
            str(price),
            str(rec.get("itemStatus") or (exists or {}).get("pt_status") or "ACTIVE"),
            str(rec.get("itemType") or (exists or {}).get("pt_part_type") or "FG"),
        )
        store.db.execute("INSERT OR REPLACE INTO pt_mstr VALUES (?,?,?,?,?,?,?,?,?)", values)
        row = store.one("SELECT * FROM pt_mstr WHERE pt_part=?", (code,))
        assert row is not None
        return self._item_json(row)
