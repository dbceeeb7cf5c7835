"""Masking of tokens and secrets in log records and messages.

LWA tokens have recognisable prefixes (``Atza|`` access, ``Atzr|`` refresh, ``Atz.sprdt|``
restricted data tokens); bearer headers and common JSON/form secret fields are masked by pattern.
Anything else secret (client secrets, passwords) is registered by value when the vault hands it
out, so even an exception text that echoes it is masked.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["MASK", "RedactingFilter", "install_redaction", "redact", "register_secret"]

MASK = "***"
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(Atz(?:a|r|\.sprdt)\|)[^\s\"',;&]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\bBearer\s+)[^\s\"',;]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\bBasic\s+)[A-Za-z0-9+/=]{8,}"), r"\1" + MASK),
    (
        re.compile(
            r"(?i)([\"']?(?:access_token|refresh_token|client_secret|password|x-amz-access-token"
            r"|authorization)[\"']?\s*[:=]\s*[\"']?)(?!Bearer\s|Basic\s)([^\s\"',;&}]+)"
        ),
        r"\1" + MASK,
    ),
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in redacted text from now on (process-wide)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with tokens, bearer values and registered secrets masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with ``redact`` before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; leave the record as is
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Format once, redacted; handlers reuse exc_text instead of formatting again.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach one RedactingFilter to every handler of ``logger`` (root by default); idempotent.

    Filters on handlers (not loggers) also see records propagated from child loggers.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                break
        else:
            handler.addFilter(RedactingFilter())
    existing = [f for f in target.filters if isinstance(f, RedactingFilter)]
    if existing:
        return existing[0]
    flt = RedactingFilter()
    target.addFilter(flt)
    return flt
