"""The QAD Adaptive ERP tenant simulator: an aiohttp server on loopback, one or more tenants.

Strict by default: it serves QAD's flows as public evidence shows them (each flow module says
how well evidenced its shapes are: ``sales_orders``, ``unplanned``, ``finance``, ``items``,
``browses``, ``metadata``) and rejects every record, path or step outside them. Shapes [C]:
``oauth/token``, ``api/qracore/securityControl``, ``api/qracore/browses`` and
``api/erp/<entityPlural>`` with the ``submitResult`` envelope. Simulator-only control lives
under ``{tenant}/__sim/``.

This module is the HTTP edge: tenant, faults, authentication, the tenant's names
(``names.Renames``), domain context, routing; each flow module handles canonical names only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

import engine.sim.qad.auth as auth
import engine.sim.qad.control as control
from engine.sim.qad.faults import FaultPlan
from engine.sim.qad.metadata import entity_metadatas
from engine.sim.qad.names import UNKNOWN, VALUE_PARAMS, RenamedAway, Renames
from engine.sim.qad.reads import TenantReads
from engine.sim.qad.routes import ROUTES, Route
from engine.sim.qad.store import ENTITY, BusinessError, Store, default_open_range
from engine.sim.qad.wire import Call, HttpError, business_error, errors, json_response

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "NOACCESS_USER", "QadSimulator"]

DEMO_USER, DEMO_PASSWORD, NOACCESS_USER = auth.DEMO_USER, auth.DEMO_PASSWORD, auth.NOACCESS_USER
METADATA_PATH = "api/qracore/entitymetadatas"
UNKNOWN_BROWSE = ("empty", "404")


class QadSimulator(TenantReads):
    """``async with QadSimulator(path) as qad:`` serves tenants on ``qad.tenant_url(name)``.

    ``renames`` (canonical name -> the tenant's name, see ``names``) makes it a tenant that
    spells paths, browses, columns and fields differently; ``unknown_browse`` is what an
    unknown browse id answers ("empty": 200 with no rows, or "404"); ``metadata=False`` makes
    ``api/qracore/entitymetadatas`` answer 404, as on a tenant that does not expose it.
    """

    username = DEMO_USER
    password = DEMO_PASSWORD
    noaccess_username = NOACCESS_USER
    client_id = auth.CLIENT_ID

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
        renames: Mapping[str, str] | None = None,
        unknown_browse: str = "empty",
        metadata: bool = True,
    ) -> None:
        if not tenants:
            raise ValueError("at least one tenant")
        if unknown_browse not in UNKNOWN_BROWSE:
            raise ValueError(f"unknown_browse must be one of {UNKNOWN_BROWSE}")
        self.state_path = Path(state_path)
        self.port = port
        self.tenant_names = tenants
        self.token_ttl_s = token_ttl_s
        start, end = default_open_range()
        self._open = (open_from or start, open_to or end)
        self.renames = Renames(renames)
        self.faults = FaultPlan(seed)
        self.stats: dict[str, int] = {"password_grants": 0, "refresh_grants": 0, "unauthorized": 0}
        self.requests: list[tuple[str, str]] = []  # (method, path as sent) log for tests
        self._tenants: dict[str, auth.Tenant] = {}
        self._routes: dict[str, Route] = dict(ROUTES)
        if metadata:
            self._routes[METADATA_PATH] = Route({"GET": entity_metadatas})
        self._options = {"unknown_browse": unknown_browse, "renames": self.renames}
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
            self._tenants[name] = auth.Tenant(name, store)
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

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        tenant = self._tenants.get(request.match_info["tenant"])
        if tenant is None:
            return errors(404, "Not found")
        tail = "/" + request.match_info["tail"]
        body = await request.text() if request.can_read_body else ""
        self.requests.append((request.method, tail))
        if tail.startswith("/__sim/"):
            return await control.control(tenant, self.faults, request, tail, body)
        # Faults match the path as sent (the tenant's spelling).
        rule = self.faults.match(tenant=tenant.name, method=request.method, path=tail, body=body)
        if rule is not None:
            early = await control.before_fault(rule, tenant, request)
            if early is not None:
                return early
        response = await self._route(tenant, request, tail, body)
        if rule is not None:
            return await control.after_fault(rule, request, response, self._stopping)
        return response

    async def _route(
        self, tenant: auth.Tenant, request: web.Request, tail: str, body_text: str
    ) -> web.Response:
        path = self.renames.inbound_path(tail.strip("/"))
        if path is None:
            return errors(404, "Not found")
        if path == "oauth/token":
            if request.method != "POST":
                return errors(405, "Method not allowed")
            return await auth.token(
                tenant, request, now=self._now(), ttl_s=self.token_ttl_s, stats=self.stats
            )
        if not path.startswith("api/"):
            return errors(404, "Not found")
        user = auth.user_of(tenant, request, self._now)
        if user is None:
            self.stats["unauthorized"] += 1
            return errors(401, "Full authentication is required to access this resource")
        if path == "api/qracore/securityControl":
            return auth.security_control(request)
        route = self._routes.get(path)
        if route is None:
            return errors(404, "Not found")
        handler = route.methods.get(request.method)
        if handler is None:
            return errors(405, "Method not allowed")
        try:
            call = self._call(tenant, request, path, route, user, body_text)
            reply = handler(call)
        except HttpError as exc:
            field = self.renames.outbound(exc.field)
            message = exc.message.replace(UNKNOWN, "")
            if field != exc.field:
                message = message.replace(exc.field, field)
            return errors(exc.status, message, field)
        except RenamedAway as exc:
            return business_error(exc)
        except BusinessError as exc:
            field, message = self.renames.outbound_error(exc)
            exc.message = message
            return business_error(exc, field)
        except (KeyError, TypeError, ValueError) as exc:  # a record of the wrong shape
            return business_error(BusinessError("", f"Invalid record: {exc}"))
        out = reply.body
        if reply.translate and isinstance(out, dict) and "data" in out:
            out = {**out, "data": self.renames.outbound_keys(out["data"])}
        return json_response(out, reply.status)

    def _call(
        self,
        tenant: auth.Tenant,
        request: web.Request,
        path: str,
        route: Route,
        user: str,
        body_text: str,
    ) -> Call:
        """The request in canonical names, its domain checked; raises HttpError/BusinessError."""
        query: dict[str, str] = {}
        filters: list[str] = []
        for raw_name, value in request.query.items():
            name = self.renames.inbound(raw_name)
            if name is None:
                continue  # renamed away: the tenant does not know this parameter
            if name == "filter":
                filters.append(self.renames.inbound_filter(value))
            elif name not in query:
                query[name] = self.renames.inbound_value(value) if name in VALUE_PARAMS else value
        domain = self._domain(request, query, user, erp=path.startswith("api/erp/"))
        view = query.get("viewUri")
        if view and route.view and view != route.view:
            raise HttpError(400, f"Unknown viewUri {view}", "viewUri")
        body: Any = None
        if body_text:
            try:
                body = json.loads(body_text, parse_float=Decimal)
            except ValueError:
                raise HttpError(400, "Request body is not valid JSON") from None
            body = self.renames.inbound_keys(body)
        return Call(
            request.method, path, query, tuple(filters), body, domain, tenant.store, self._options
        )

    def _domain(
        self, request: web.Request, query: Mapping[str, str], user: str, *, erp: bool
    ) -> str:
        """The call's domain: ``domainCode`` (required on api/erp calls [C]) and the
        ``x-qad-workspace-id: <domain>_<entity>`` header [C] must both be the user's."""
        workspace = request.headers.get("x-qad-workspace-id", "")
        head_domain, _, entity = workspace.partition("_")
        domain = query.get("domainCode", "")
        if erp and not domain:
            raise HttpError(400, "Missing key field domainCode", "domainCode")
        allowed = auth.USERS[user]
        for d in {domain, head_domain} - {""}:
            if d not in allowed:
                raise HttpError(403, "Access is denied")
        if not allowed or (entity and entity != ENTITY):
            raise HttpError(403, "Access is denied")
        return domain or head_domain or allowed[0]
