"""The aiohttp application and ``AmazonSimulator``, the async context manager tests use."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from engine.sim.amazon.clock import SimClock
from engine.sim.amazon.common import (
    CALLER_KEY,
    BadInput,
    Caller,
    PagingTokens,
    csv_param,
    error,
    json_response,
)
from engine.sim.amazon.faults import FaultInjector
from engine.sim.amazon.inventory import INVENTORY_ROUTES
from engine.sim.amazon.listing_rules import ListingRules
from engine.sim.amazon.listings import LISTINGS_ROUTES
from engine.sim.amazon.notifications_api import NOTIFICATION_ROUTES
from engine.sim.amazon.roles import canonical_role
from engine.sim.amazon.routes_misc import MISC_ROUTES, lwa_token
from engine.sim.amazon.routes_orders import ORDER_ROUTES, path_matches
from engine.sim.amazon.routes_reports import DOCUMENT_ROUTE, REPORT_ROUTES
from engine.sim.amazon.sellers import REGIONS, SellerConfig, SellerCredentials
from engine.sim.amazon.truth import Truth
from engine.sim.amazon.world import PREFIX_KEY, REGION_KEY, WORLD_KEY, World

__all__ = ["DEFAULT_START", "AmazonSimulator", "build_app"]

DEFAULT_START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ROUTES = ORDER_ROUTES + REPORT_ROUTES + INVENTORY_ROUTES + LISTINGS_ROUTES + MISC_ROUTES
ROUTES += NOTIFICATION_ROUTES
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DENIED = "Access to requested resource is denied."


def _operation(request: web.Request) -> str:
    return getattr(request.match_info.route.handler, "sp_operation", "unknown")


@web.middleware
async def sp_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, auth (LWA/RDT, expiry, region), usage plans and the SP-API error envelope."""
    world: World = request.config_dict[WORLD_KEY]
    region: str = request.app[REGION_KEY]
    op = _operation(request)
    faults = world.faults
    if (rule := faults.take(("latency",), op, region)) is not None:
        await asyncio.sleep(rule.delay)
    if faults.take(("drop",), op, region) is not None:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    token = request.headers.get("x-amz-access-token")
    if not token:
        return error(403, "Unauthorized", _DENIED, "Access token is missing in the request header.")
    grant = world.grants.get(token)
    if grant is None:
        return error(
            403,
            "Unauthorized",
            _DENIED,
            "The access token you provided is revoked, malformed or invalid.",
        )
    if world.now() >= grant.expires_at or faults.take(("expire_token",), op, region):
        return error(403, "Unauthorized", _DENIED, "The access token you provided has expired.")
    if grant.scope is None and grant.region != region:  # grantless tokens: any region
        return error(
            403,
            "Unauthorized",
            _DENIED,
            "The access token is not valid for this region's endpoint.",
        )
    path = request.path[len(request.app[PREFIX_KEY]) :]
    if grant.rdt is not None and not any(
        m == request.method and path_matches(p, path) for m, p, _ in grant.rdt
    ):
        return error(
            403, "Unauthorized", _DENIED, "The Restricted Data Token does not cover this resource."
        )
    request[CALLER_KEY] = Caller(grant.seller, region, grant.rdt)
    # Roles before the usage plan: a refused call is Amazon's 403 (roles.py) [D role mappings].
    if not world.roles.allows(grant.seller, op, await _report_types(request, world, op)):
        return world.roles.refusal()
    overrides = world.configs[grant.seller].rate_overrides
    key = world.rate_key(grant.seller, region) if grant.scope is None else f"app:{region}"
    if faults.take(("throttle",), op, region) or not world.plans.allow(key, op, overrides):
        return error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
    if (rule := faults.take(("status",), op, region)) is not None:
        return error(
            rule.status,
            "InternalFailure" if rule.status < 503 else "ServiceUnavailable",
            "We encountered an internal error. Please try again.",
        )
    paging = any(k in request.query for k in ("NextToken", "nextToken", "paginationToken"))
    if paging and faults.take(("expire_next_token",), op, region):
        return error(400, "InvalidInput", "The NextToken has expired.")
    if paging and faults.take(("undecodable_next_token",), op, region):
        return error(400, "InvalidInput", PagingTokens.DECODE_ERROR)
    try:
        resp = await handler(request)
    except BadInput as exc:
        resp = error(exc.status, exc.code, exc.message, exc.details)
    if resp.status < 300 or resp.status in (400, 404):
        resp.headers["x-amzn-RateLimit-Limit"] = world.plans.header_rate(op, overrides)
    if isinstance(resp, web.Response) and faults.take(("truncate",), op, region):
        return _truncated(resp)
    return resp


async def _report_types(request: web.Request, world: World, op: str) -> list[str]:
    """The report types a Reports API call touches (their roles decide, roles.py)."""
    if op == "getReports" and "nextToken" not in request.query:
        return csv_param(request, "reportTypes")  # a next page was checked on the first
    if op == "createReport":
        try:
            spec = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return []  # the handler answers 400
        rtype = spec.get("reportType") if isinstance(spec, dict) else None
        return [rtype] if isinstance(rtype, str) else []
    if op in ("getReport", "cancelReport"):
        report = world.reports.get(request.match_info.get("reportId", ""))
        return [report.report_type] if report is not None else []
    if op == "getReportDocument":
        rid = world.documents.get(request.match_info.get("reportDocumentId", ""))
        report = world.reports.get(rid or "")
        return [report.report_type] if report is not None else []
    return []


class _TruncatedResponse(web.Response):
    async def write_eof(self, data: bytes = b"") -> None:
        body = self.body if isinstance(self.body, bytes) else b""
        await self.write(body[: len(body) // 2])
        if self._req is not None and self._req.transport is not None:
            self._req.transport.close()


def _truncated(resp: web.Response) -> web.Response:
    body = resp.body if isinstance(resp.body, bytes) else b""
    out = _TruncatedResponse(status=resp.status, headers=resp.headers)
    out.body = body
    return out


async def _request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())


def _control_routes(world: World) -> list[web.RouteDef]:
    async def add_fault(request: web.Request) -> web.Response:
        spec = await request.json()
        try:
            rid = world.faults.add(**spec)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"id": rid})

    async def list_faults(request: web.Request) -> web.Response:
        return json_response([r.as_dict() for r in world.faults.rules])

    async def clear_faults(request: web.Request) -> web.Response:
        world.faults.clear()
        return json_response({})

    async def credentials(request: web.Request) -> web.Response:
        # The first seller's demo credentials (derived from --seed), for
        # `creds set amazon --from-sim URL`: every region's refresh token and the seller id.
        s = world.creds[0]
        return json_response(
            {
                "client_id": s.client_id,
                "client_secret": s.client_secret,
                "seller_id": s.seller_id,
                "refresh_tokens": {r: rc.refresh_token for r, rc in s.regions.items()},
            }
        )

    async def clock(request: web.Request) -> web.Response:
        return json_response(
            {"now": world.now_dt().isoformat(), "timeScale": world.clock.time_scale}
        )

    async def advance(request: web.Request) -> web.Response:
        spec = await request.json()
        world.advance(timedelta(seconds=float(spec["seconds"])))
        return await clock(request)

    async def roles(request: web.Request) -> web.Response:
        return json_response({"roles": world.roles.as_dict()})

    async def change_roles(request: web.Request) -> web.Response:
        """``{"seller": 0, "grant": [...], "revoke": [...]}``: the seller (re)authorises."""
        spec = await request.json()
        try:
            seller = int(spec.get("seller", 0))
            if not 0 <= seller < len(world.configs):
                raise ValueError(f"no seller {seller}")
            world.roles.grant(seller, *spec.get("grant", ()))
            world.roles.revoke(seller, *spec.get("revoke", ()))
        except (TypeError, ValueError, AttributeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return await roles(request)

    return [
        web.get("/__sim/roles", roles),
        web.post("/__sim/roles", change_roles),
        web.post("/__sim/faults", add_fault),
        web.get("/__sim/faults", list_faults),
        web.delete("/__sim/faults", clear_faults),
        web.get("/__sim/credentials", credentials),
        web.get("/__sim/clock", clock),
        web.post("/__sim/clock/advance", advance),
    ]


def build_app(world: World) -> web.Application:
    app = web.Application()
    app[WORLD_KEY] = world
    app.on_response_prepare.append(_request_id)
    app.router.add_post("/auth/o2/token", lwa_token)
    method, path, handler = DOCUMENT_ROUTE
    app.router.add_route(method, path, handler)
    app.add_routes(_control_routes(world))
    for region in REGIONS:
        sub = web.Application(middlewares=[sp_middleware])
        sub[WORLD_KEY] = world
        sub[REGION_KEY] = region
        sub[PREFIX_KEY] = "/" + region.lower()
        for method, path, handler, op in ROUTES:
            handler.sp_operation = op
            sub.router.add_route(method, path, handler)
        app.add_subapp(sub[PREFIX_KEY], sub)
    return app


class AmazonSimulator:
    """``async with AmazonSimulator(seed=1) as sim:`` serves SP-API + LWA on 127.0.0.1."""

    def __init__(
        self,
        *,
        seed: int = 1,
        time_scale: float = 1.0,
        history_days: int = 28,
        orders_per_day: int = 40,
        rate_limits: bool = True,
        sellers: list[SellerConfig] | None = None,
        port: int = 0,
        total_orders: int | None = None,
        start: datetime | None = None,
        host: str = "127.0.0.1",
        lines_per_order: int | None = None,
        roles: Mapping[int, Iterable[str]] | None = None,
        denied_roles: Iterable[str] = (),
        operation_roles: Mapping[str, Iterable[str]] | None = None,
        report_type_roles: Mapping[str, Iterable[str]] | None = None,
        role_denied_message: str | None = None,
        listing_delay_s: float | None = None,
        listing_rules: ListingRules | None = None,
        report_cooldown_s: float = 600.0,
        charsetless_share: float = 0.25,
        paging_filters_must_match: bool = True,
        order_report_lag_s: float = 1800.0,
        order_report_processing_s: float = 60.0,
        split_line_share: float = 0.0,
    ) -> None:
        """``roles``: granted SP-API roles per seller index (default: SellerConfig.roles, i.e.
        every role); ``denied_roles``: taken from every seller; ``operation_roles`` /
        ``report_type_roles`` override the role a call needs (engine/sim/amazon/roles.py);
        ``role_denied_message``: the 403's message (``roles.FORBIDDEN`` is the other one seen)."""
        self.clock = SimClock(start or DEFAULT_START, time_scale)
        self.world = World(
            seed=seed,
            clock=self.clock,
            sellers=sellers or [SellerConfig()],
            history_days=history_days,
            orders_per_day=orders_per_day,
            total_orders=total_orders,
            rate_limits=rate_limits,
            lines_per_order=lines_per_order,
            split_line_share=split_line_share,
            roles={i: {canonical_role(r) for r in given} for i, given in (roles or {}).items()},
            role_options={
                "operation_roles": operation_roles,
                "report_type_roles": report_type_roles,
                "message": role_denied_message,
            },
        )
        for i in range(len(self.world.configs)):
            self.world.roles.revoke(i, *denied_roles)
        # Listings: the rules (listing_rules.py) and the delay until an ACCEPTED submission
        # shows, in simulated seconds (default 300: "a few minutes" [C docs#2167]).
        rules = listing_rules or ListingRules()
        if listing_delay_s is not None:
            rules = replace(rules, delay_s=listing_delay_s)
        self.world.listing_rules = rules
        # Reports: "requested too often" ends CANCELLED within ``report_cooldown_s`` sim seconds
        # (threshold unpublished [U]); ``charsetless_share`` of downloads omit the charset [C].
        self.world.report_rules.cooldown_s = report_cooldown_s
        self.world.report_rules.charsetless_share = charsetless_share
        self.world.paging_rules.filters_must_match = paging_filters_must_match
        # All Orders reports (order_reports.py): an order shows up to ``order_report_lag_s``
        # late [D "up to 30 minutes"]; processing takes ``order_report_processing_s`` [G];
        # ``split_line_share`` of AFN lines with qty >= 2 are two lines of one SKU (data.py).
        self.world.order_report_lag_s = order_report_lag_s
        self.world.order_report_processing_s = order_report_processing_s
        self.truth = Truth(self.world)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def sellers(self) -> list[SellerCredentials]:
        return self.world.creds

    @property
    def faults(self) -> FaultInjector:
        return self.world.faults

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def lwa_url(self) -> str:
        return f"{self.base_url}/auth/o2/token"

    def endpoint(self, region: str) -> str:
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}")
        return f"{self.base_url}/{region.lower()}"

    def advance(self, delta: timedelta) -> None:
        self.world.advance(delta)

    def grant_role(self, role: str, seller: int = 0) -> None:
        """The seller authorises the app again with ``role`` (takes effect on the next call)."""
        self.world.roles.grant(seller, role)

    def revoke_role(self, role: str, seller: int = 0) -> None:
        self.world.roles.revoke(seller, role)

    def set_participating(self, marketplace_id: str, participating: bool, seller: int = 0) -> None:
        """getMarketplaceParticipations' ``isParticipating`` for one marketplace."""
        off = self.world.not_participating[seller]
        if participating:
            off.discard(marketplace_id)
        else:
            off.add(marketplace_id)

    async def start(self) -> None:
        self.world.book.ensure(self.world.now())
        app = build_app(self.world)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.world.base_url = self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AmazonSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


_ = Any
