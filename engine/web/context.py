"""What the status page's handlers share: ``WebContext`` (the log, config, token, dispatch),
the jinja2 environment (autoescape on, StrictUndefined) and ``render``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from engine.config import Config
from engine.config.model import PollConfig
from engine.dispatch.dispatcher import RunCounts
from engine.log import EventLog
from engine.web.auth import session_of

__all__ = ["CTX", "ENV", "ActionOpener", "Dispatch", "WebContext", "environment", "render"]

Dispatch = Callable[[], Awaitable[RunCounts]]
TEMPLATES = Path(__file__).parent / "templates"


# Opens what an action writes with: the writing event log and, when the page can post at
# once (``serve --config``), a dispatch callable; None = the running engine posts later.
ActionOpener = Callable[[], AbstractAsyncContextManager[tuple[EventLog, Dispatch | None]]]


@dataclass(slots=True)
class WebContext:
    """What the page serves from: ``log`` for reading (may be a read-only connection) and
    ``actions`` to write (None: a read-only page). ``dispatch_now`` says whether a retry posts
    at once; otherwise ``dispatch_note`` tells the operator when it will be posted."""

    log: EventLog
    poll: PollConfig = field(default_factory=PollConfig)
    cfg: Config | None = None
    token: str | None = None
    actions: ActionOpener | None = None
    dispatch_now: bool = False
    dispatch_note: str = "the running engine posts re-queued commands on its next cycle"
    expected_flows: tuple[str, ...] = ()  # the running engine's pollers (Pending until polled)
    metrics: Any = None  # engine.ops.metrics.Metrics of the running engine, if any
    mode: str = "serve"  # "run" | "serve": shown in the footer
    action_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


CTX = web.AppKey("ctx", WebContext)
ENV = web.AppKey("jinja", jinja2.Environment)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _when(value: Any) -> str:
    """A stored timestamp (ISO text or datetime) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value in (None, ""):
        return "-"
    try:
        t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: Any) -> str:
    return "n/a" if value is None else _age(float(value))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(age=_age, when=_when, seconds=_seconds)
    return env


async def render(
    request: web.Request, template: str, http_status: int = 200, **values: Any
) -> web.Response:
    ctx = request.app[CTX]
    s = session_of(request)
    flash, s.flash = s.flash, []
    html = await asyncio.to_thread(
        request.app[ENV].get_template(template).render,
        csrf=s.csrf,
        flash=flash,
        login=ctx.token is not None,
        mode=ctx.mode,
        writable=ctx.actions is not None,
        now=datetime.now(UTC),
        **values,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=http_status)
