"""The status page's POST handlers: login/logout and the parked-item actions.

Every action checks the session's CSRF token first (``check_csrf``), runs one at a time
(``WebContext.action_lock``), goes through ``engine.ops.parked_actions`` (the code of ``replay
--parked``), records who (the operator name from the form, else "operator", plus the client
address) and when in the audit trail, then redirects back (POST-redirect-GET) with a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiohttp import web

from engine.errors import ConfigError, StoreBusy
from engine.log import EventLog
from engine.ops.parked_actions import (
    ActionResult,
    clean_text,
    dismiss_command,
    dismiss_record,
    retry_parked,
)
from engine.web.auth import SESSION_KEY, SESSIONS, check_csrf, session_of
from engine.web.context import CTX, Dispatch, WebContext, render

__all__ = ["ROUTES"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
LOGIN_FAILURE_DELAY_S = 0.5  # slows guessing; the token is 256 bits anyway
READ_ONLY = (
    "read-only view: another process (the engine) holds this event log; use the page "
    "`ml-connector run` serves ([web] bind) for actions\n"
)


def _who(request: web.Request, form: dict[str, str]) -> str:
    name = clean_text(form.get("operator", ""), 60) or "operator"
    return f"{name} from {request.remote or '?'}"


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    check_csrf(request, form.get("csrf", ""))
    return form


def _back(request: web.Request, message: str, to: str = "/parked") -> web.Response:
    s = session_of(request)
    s.flash = [*s.flash[-9:], message]  # shown by the next page; bounded for API-only clients
    return web.Response(status=303, headers={"Location": to})


@asynccontextmanager
async def _writing(ctx: WebContext) -> AsyncIterator[tuple[EventLog, Dispatch | None]]:
    """One action at a time, with the writing log (and dispatch) the context opens."""
    if ctx.actions is None:
        raise web.HTTPConflict(text=READ_ONLY)
    async with ctx.action_lock, AsyncExitStack() as stack:
        try:
            log_, dispatch = await stack.enter_async_context(ctx.actions())
        except StoreBusy:
            raise web.HTTPConflict(text=READ_ONLY) from None
        yield log_, dispatch


def _summary(result: ActionResult, ctx: WebContext) -> str:
    if not result.ids:
        return "nothing re-queued: no matching parked command (already retried?)"
    head = f"re-queued {len(result.ids)} command(s)"
    if result.counts is None:
        return f"{head}; {ctx.dispatch_note}"
    done = {k: v for k, v in result.counts.as_dict().items() if v and k != "attempted"}
    text = f"{head}; dispatched: " + (", ".join(f"{k} {v}" for k, v in done.items()) or "nothing")
    if result.still_parked:
        text += f"; {len(result.still_parked)} parked again: {result.still_parked[0][1]}"
    return text


@routes.post("/actions/retry")
async def retry_one(request: web.Request) -> web.Response:
    form = await _form(request)
    ctx = request.app[CTX]
    async with _writing(ctx) as (log_, dispatch):
        result = await retry_parked(
            log_,
            who=_who(request, form),
            command_ids=[form.get("command_id", "")],
            dispatch=dispatch,
        )
    log.info("status page: retry %s by %s", result.ids, _who(request, form))
    return _back(request, _summary(result, ctx))


@routes.post("/actions/retry-reason")
async def retry_reason(request: web.Request) -> web.Response:
    form = await _form(request)
    ctx = request.app[CTX]
    async with _writing(ctx) as (log_, dispatch):
        result = await retry_parked(
            log_, who=_who(request, form), reason=form.get("reason", ""), dispatch=dispatch
        )
    log.info("status page: retry %d by reason, by %s", len(result.ids), _who(request, form))
    return _back(request, _summary(result, ctx))


@routes.post("/actions/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    form = await _form(request)
    ctx = request.app[CTX]
    who, note = _who(request, form), form.get("note", "")
    try:
        async with _writing(ctx) as (log_, _dispatch):
            if form.get("what") == "command":
                done = await dismiss_command(log_, form.get("command_id", ""), who=who, note=note)
            else:
                done = await dismiss_record(
                    log_,
                    form.get("projector", ""),
                    form.get("record_key", ""),
                    who=who,
                    note=note,
                )
    except ConfigError as exc:
        return _back(request, str(exc))
    return _back(request, "dismissed (kept in the audit trail)" if done else "not parked any more")


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return await render(request, "login.html", failed=False)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await _form(request)
    ctx = request.app[CTX]
    sessions = request.app[SESSIONS]
    if ctx.token is None or sessions.token_ok(form.get("token", "")):
        request[SESSION_KEY] = sessions.login(session_of(request))
        return web.Response(status=303, headers={"Location": "/"})
    await asyncio.sleep(LOGIN_FAILURE_DELAY_S)
    log.warning("status page: wrong access token from %s", request.remote)
    return await render(request, "login.html", http_status=401, failed=True)


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await _form(request)
    sessions = request.app[SESSIONS]
    sessions.logout(session_of(request))
    return web.Response(
        status=303, headers={"Location": "/login" if request.app[CTX].token else "/"}
    )


ROUTES = list(routes)
