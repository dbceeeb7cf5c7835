"""The status page as an aiohttp application: ``build_app(ctx)``.

Server-rendered HTML from jinja2 templates (engine/web/templates, autoescape on: every value
from remote data, SKUs and Amazon/QAD messages included, is escaped), inline CSS only, no
script and no external asset, so it works offline and on a phone. Pages read the event log
through ops functions (``collect_status``, ``flow_states``, ``collect_audit``, the operator
views); actions go through ``engine.ops.parked_actions`` (engine/web/actions.py).

Headers on every response: a strict Content-Security-Policy (no script at all, forms to self),
``X-Frame-Options: DENY``, ``nosniff``, ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from engine.ops.metrics import metrics_routes
from engine.web import actions, pages
from engine.web.auth import SESSIONS, Sessions, auth_middleware
from engine.web.context import CTX, ENV, WebContext, environment

__all__ = ["CSP", "WebContext", "build_app"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc)
        raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Cache-Control", "no-store")


def build_app(ctx: WebContext, *, extra_routes: Sequence[web.RouteDef] = ()) -> web.Application:
    """The page's routes plus ``extra_routes`` (public: only secret-free, read-only ones)."""
    sessions = Sessions(ctx.token)
    app = web.Application(
        middlewares=[_headers, auth_middleware(sessions)],
        client_max_size=64 * 1024,  # forms only
    )
    app[SESSIONS] = sessions
    app[CTX] = ctx
    app[ENV] = environment()
    app.add_routes(pages.ROUTES)
    app.add_routes(actions.ROUTES)
    # GET /metrics (W2's prometheus_client exposition): public like /healthz, no ids or secrets
    app.add_routes(metrics_routes(ctx.log, ctx.metrics, ctx.poll))
    app.add_routes(list(extra_routes))
    return app
