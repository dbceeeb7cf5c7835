"""Simulator-only surface: ``{tenant}/__sim/`` control endpoints and injected faults.

Nothing here imitates QAD; it lets tests and the crash harness steer a running simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from engine.sim.qad.auth import DEMO_PASSWORD, DEMO_USER, Tenant
from engine.sim.qad.faults import FaultPlan, FaultRule
from engine.sim.qad.store import DOMAIN, ENTITY
from engine.sim.qad.store.core import BusinessError
from engine.sim.qad.wire import business_error, errors, json_response

__all__ = ["after_fault", "before_fault", "control"]


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


async def before_fault(
    rule: FaultRule, tenant: Tenant, request: web.Request
) -> web.StreamResponse | None:
    """Faults that act before the request is handled; a response ends the request."""
    if rule.kind == "status":
        if rule.status >= 500:
            return web.Response(status=rule.status, text="Internal Server Error")
        return errors(rule.status, rule.message or "Injected fault")
    if rule.kind == "drop" and request.transport is not None:
        request.transport.abort()
        return web.Response(status=500)  # never reaches the client
    if rule.kind == "latency":
        await asyncio.sleep(rule.delay_s)
    elif rule.kind == "expire_tokens":
        tenant.tokens.clear()
    elif rule.kind == "business_error" and request.method == "POST":
        return business_error(BusinessError("", rule.message or "Injected business error"))
    return None


async def after_fault(
    rule: FaultRule,
    request: web.Request,
    response: web.StreamResponse,
    stopping: asyncio.Event,
) -> web.StreamResponse:
    """Faults that act once the request has been handled (and committed)."""
    if rule.kind == "commit_then_stall":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), rule.delay_s or 3600.0)
    if rule.kind == "commit_then_drop" and request.transport is not None:
        request.transport.abort()
    if rule.kind == "commit_then_truncate":
        return _Truncated.of(response)
    return response


async def control(
    tenant: Tenant, faults: FaultPlan, request: web.Request, tail: str, body: str
) -> web.Response:
    """``__sim/health``, ``__sim/credentials``, ``__sim/faults`` (GET/POST/DELETE),
    ``__sim/expireTokens``."""
    if tail == "/__sim/health":
        return json_response(
            {"status": "ok", "tenant": tenant.name, "domains": [DOMAIN], "version": "sim-2"}
        )
    if tail == "/__sim/credentials" and request.method == "GET":
        # The published demo login, for `creds set qad --from-sim URL` (loopback only there).
        tenant_url = f"{request.url.origin()}{request.path.removesuffix(tail)}"
        return json_response(
            {
                "tenant_url": tenant_url,
                "username": DEMO_USER,
                "password": DEMO_PASSWORD,
                "domain": DOMAIN,
                "entity": ENTITY,
            }
        )
    if tail == "/__sim/faults":
        if request.method == "GET":
            return json_response({"faults": [r.to_json() for r in faults.rules]})
        if request.method == "DELETE":
            faults.clear()
            return json_response({"faults": []})
        if request.method == "POST":
            try:
                specs = json.loads(body or "{}").get("faults", [])
                added = [faults.add_json(s) for s in specs]
            except (ValueError, TypeError, AttributeError) as exc:
                return errors(400, str(exc))
            return json_response({"faults": [r.to_json() for r in added]})
    if tail == "/__sim/expireTokens" and request.method == "POST":
        tenant.tokens.clear()
        return json_response({"ok": True})
    return errors(404, "Not found")
