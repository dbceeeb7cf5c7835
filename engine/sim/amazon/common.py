"""Shared HTTP helpers: the SP-API error envelope, parameters, URL-safety-testing paging tokens."""

from __future__ import annotations

import base64
import itertools
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "INVALID_INPUT",
    "BadInput",
    "Caller",
    "PagingTokens",
    "csv_param",
    "error",
    "iso",
    "json_response",
    "parse_time",
    "two_minute_rule",
]

INVALID_INPUT = "The input you have submitted is not valid. Please check your input and try again."


class BadInput(Exception):
    """Raised by handlers; the middleware answers 400 InvalidInput with this message."""

    def __init__(
        self,
        message: str = INVALID_INPUT,
        code: str = "InvalidInput",
        status: int = 400,
        details: str = "",
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.details = message, code, status, details


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: resolved from the access token by the middleware."""

    seller: int  # index into the simulator's sellers
    region: str
    rdt: tuple[tuple[str, str, tuple[str, ...]], ...] | None  # (method, path, dataElements)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error(status: int, code: str, message: str, details: str = "") -> web.Response:
    return json_response(
        {"errors": [{"code": code, "message": message, "details": details}]}, status
    )


def iso(t: float | datetime) -> str:
    d = t if isinstance(t, datetime) else datetime.fromtimestamp(t, UTC)
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None, name: str) -> float | None:
    """ISO-8601 with offset or Z; a malformed value is InvalidInput like Amazon's."""
    if value is None or value == "":
        return None
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"Invalid date-time field(s) [{name}].") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def csv_param(request: web.Request, name: str) -> list[str]:
    raw = request.query.getall(name, [])
    return [p for v in raw for p in v.split(",") if p]


class PagingTokens:
    """Server-side paging state behind opaque tokens that always contain ``+``, ``/`` and ``=``.

    A client that forgets to URL-encode them (``+`` becomes a space) or double-encodes them gets
    the documented 400 "We could not decode your NextToken...".
    """

    DECODE_ERROR = (
        "We could not decode your NextToken. Possible reasons include: a transmission error, "
        "improper quoting or a truncation problem."
    )

    def __init__(self, limit: int = 2000) -> None:
        self._states: dict[str, tuple[float, Any]] = {}
        self._ids = itertools.count(1)
        self._limit = limit

    def issue(self, state: Any, expires_at: float) -> str:
        raw = b"\xfb\xff\xbf" + next(self._ids).to_bytes(4, "big") + os.urandom(6)
        token = base64.b64encode(raw).decode()  # 13 bytes -> "+/+/....==" (standard alphabet)
        self._states[token] = (expires_at, state)
        if len(self._states) > self._limit:  # forget the oldest chains
            for key in list(self._states)[: self._limit // 4]:
                del self._states[key]
        return token

    def resolve(self, token: str, now: float, expired_message: str | None = None) -> Any:
        entry = self._states.get(token)
        if entry is None:
            raise BadInput(self.DECODE_ERROR)
        expires_at, state = entry
        if now > expires_at:
            raise BadInput(expired_message or "The NextToken has expired.")
        return state


def two_minute_rule(before: float | None, now: float, name: str) -> None:
    if before is not None and before > now - 120:
        raise BadInput(details=f"{name} must be no later than 2 minutes before the request time.")


CALLER_KEY = web.RequestKey("caller", Caller)
