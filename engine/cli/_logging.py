"""Logging of the command line: text (default) or one JSON object a line for log shippers.

``--log-format json`` (or ``ML_CONNECTOR_LOG_FORMAT=json``, which the systemd unit and the
Dockerfile set) writes every line as ``{"time", "level", "logger", "message"}`` plus
``flow``/``region``/``record``/``command`` where a hook set them (engine.security.log_context)
or a call passed them in ``extra``. Both formats pass the same redaction filter, and the JSON
formatter redacts every string it writes once more (context fields and exception text too),
so a shipper never receives a token, a registered secret or a password field.

The command's own status lines (``console``) follow the format too: under a service manager
stdout and stderr both land in the journal, and a shipper expects every line to parse.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from engine.security.log_context import FIELDS, current_log_context
from engine.security.redact import install_redaction, redact

__all__ = [
    "ENV_LOG_FORMAT",
    "LOG_FORMATS",
    "JsonFormatter",
    "configure_logging",
    "console",
    "default_log_format",
]

ENV_LOG_FORMAT = "ML_CONNECTOR_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_format = "text"  # set by configure_logging; read by console()


def default_log_format() -> str:
    """The ``--log-format`` default: ``$ML_CONNECTOR_LOG_FORMAT`` if valid, else text."""
    value = os.environ.get(ENV_LOG_FORMAT, "").strip().lower()
    return value if value in LOG_FORMATS else "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        context = current_log_context()
        for key in FIELDS:
            value = getattr(record, key, None) or context.get(key)
            if value:
                entry[key] = redact(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


def _utc_iso(created: float) -> str:
    """``2026-01-02T03:04:05.678Z``: aware UTC, millisecond precision."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def configure_logging(*, verbose: bool, log_format: str = "text") -> None:
    """WARNING and up on stderr, redacted; ``-v`` adds DEBUG for the engine's own loggers only.

    Third-party loggers stay at WARNING even with ``-v``: aiosqlite logs every SQL statement with
    its parameters at DEBUG (payloads, wrapped PII data keys), aiohttp whole headers.
    """
    global _format
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {LOG_FORMATS}")
    _format = log_format
    root = logging.getLogger()
    if not root.handlers:  # a real process; under a test runner its capture handler stays
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    install_redaction(root)
    logging.getLogger("engine").setLevel(logging.DEBUG if verbose else logging.NOTSET)


def console(
    message: str,
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    logger: str = "engine.cli",
) -> None:
    """A status line of the command for the user: printed as is in text mode, a JSON log line
    (always shown, whatever the log level) in JSON mode. ``stream`` defaults to stderr."""
    out = stream if stream is not None else sys.stderr
    if _format != "json":
        print(message, file=out, flush=True)
        return
    record = logging.LogRecord(logger, level, __file__, 0, message, None, None)
    print(JsonFormatter().format(record), file=out, flush=True)
