"""What a log line is about: the flow, region, record and command kind being worked on.

A contextvar, so the hooks stay one line where work starts (a poller's task, a command's
task) and every log call below them, in any module, carries the same fields without passing
them around. The JSON log format (``ml-connector --log-format json``) writes them as keys; a
single call can also give them with ``extra={"record": ...}``.

Only identifiers belong here (flow names, regions, order ids, SKUs, settlement ids, command
kinds): never a buyer's name or address, never a secret. The values are redacted again by the
formatter, like the message, in case an identifier ever echoes something secret.

Lives beside the log redaction in ``security`` so pollers, dispatch and ops may all import it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

__all__ = ["FIELDS", "current_log_context", "log_context", "log_context_for", "poller_fields"]

# The keys a log line may carry, in the order the JSON formatter writes them.
FIELDS: tuple[str, ...] = ("flow", "region", "record", "command")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "ml_connector_log_context", default=_EMPTY
)


def _clean(fields: Mapping[str, str | None]) -> Mapping[str, str]:
    unknown = set(fields) - set(FIELDS)
    if unknown:  # a typo would silently drop the field from every line
        raise ValueError(f"unknown log context field(s) {sorted(unknown)}; known: {FIELDS}")
    return MappingProxyType({k: v for k, v in fields.items() if v})


def current_log_context() -> Mapping[str, str]:
    """The fields set for the code running now (empty outside any hook)."""
    return _CONTEXT.get()


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Within the block, log lines carry ``fields`` added to the surrounding ones."""
    token = _CONTEXT.set(_clean({**_CONTEXT.get(), **fields}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def log_context_for(**fields: str | None) -> contextvars.Context:
    """A copy of the current context with exactly ``fields`` (the surrounding ones replaced),
    for ``asyncio.create_task(coro, context=...)``: a task started per poller or per command
    says everything it is about, and a dispatch started from inside a poller's loop does not
    inherit that poller's region."""
    ctx = contextvars.copy_context()
    ctx.run(_CONTEXT.set, _clean(fields))
    return ctx


def poller_fields(name: str) -> dict[str, str | None]:
    """``orders:NA`` -> flow ``orders``, region ``NA``; ``qad.items`` has no region."""
    flow, _, region = name.partition(":")
    return {"flow": flow, "region": region or None}
