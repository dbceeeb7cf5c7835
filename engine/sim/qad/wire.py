"""What a flow handler receives and answers, and QAD's JSON envelopes.

Handlers speak canonical names only (the tenant-profile defaults); the HTTP edge
(``server.py`` with ``names.Renames``) translates a renamed tenant's spelling both ways.

Envelopes [C] (public clients and QAD's own sample): write success ``{"data": {...},
"submitResult": {"success": true, ...}}``; business failure HTTP 200 ``submitResult.success=false``
with ``errors[{fieldName, message, code}]``; gateway errors a bare ``{"errors": [{severity, code,
message, fieldName}]}`` with the HTTP status as ``code``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from engine.sim.qad.store import Store
from engine.sim.qad.store.core import BusinessError

__all__ = [
    "Call",
    "Handler",
    "HttpError",
    "Reply",
    "business_error",
    "errors",
    "json_response",
    "qdate",
    "written",
]


class HttpError(Exception):
    """A gateway-level error: HTTP ``status`` with the bare ``errors`` envelope."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def missing_key(name: str) -> HttpError:
    """A keyed GET without its key [C: HTTP 400]; the message wording is [G]."""
    return HttpError(400, f"Missing key field {name}", name)


@dataclass(frozen=True, slots=True)
class Call:
    """One request in canonical names: path without leading slash, first value per query name,
    every ``filter=`` spec, the parsed JSON body (None without one)."""

    method: str
    path: str
    query: Mapping[str, str]
    filters: tuple[str, ...]
    body: Any
    domain: str
    store: Store
    options: Mapping[str, Any] = field(default_factory=dict)

    def need(self, *names: str) -> tuple[str, ...]:
        """The values of required query keys; HTTP 400 naming the first one missing."""
        for n in names:
            if not self.query.get(n):
                raise missing_key(n)
        return tuple(self.query[n] for n in names)


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer. ``translate``: the edge renames the keys under ``data``."""

    body: Any
    status: int = 200
    translate: bool = True


Handler = Callable[[Call], Reply]


def written(plural: str, records: list[dict[str, Any]]) -> Reply:
    return Reply(
        {
            "data": {plural: records},
            "submitResult": {"success": True, "errorSeverity": 0, "errors": []},
        }
    )


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))  # exact decimal as a JSON number
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, default=_default), status=status, content_type="application/json"
    )


def errors(status: int, message: str, field: str = "") -> web.Response:
    err = {"severity": 1, "code": str(status), "message": message, "fieldName": field}
    return json_response({"errors": [err]}, status)


def business_error(exc: BusinessError, field: str | None = None) -> web.Response:
    err = {
        "fieldName": exc.field if field is None else field,
        "message": exc.message,
        "code": exc.code,
    }
    return json_response({"submitResult": {"success": False, "errorSeverity": 1, "errors": [err]}})


def qdate(iso: str) -> str:
    """QAD's date-time spelling of a date [C]: ``YYYY-MM-DDT00:00:00.000Z``."""
    return f"{iso}T00:00:00.000Z" if iso else ""
