"""`--log-format json`: a real `sync --once` against both simulators, as a log shipper sees it.

Every line the process writes (stderr logs and its stdout summary) must parse as one JSON
object with time (aware UTC), level, logger and message; poller lines carry flow and region,
command lines their record key; no secret (LWA client secret, refresh tokens, QAD password,
master key) and no buyer PII from the simulator (names, street, phone, e-mail) appears.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.cli._logging import JsonFormatter, console
from engine.security.keys import encode_key, generate_key
from engine.security.log_context import log_context, log_context_for
from engine.security.redact import register_secret
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault

# Buyer PII as the simulator writes it (engine/sim/amazon/order_bodies.py).
BUYER_PII = {
    "a buyer name": re.compile(r"Buyer \d{4}"),
    "a street": re.compile(r"Sample Street"),
    "a phone number": re.compile(r"\+1 555 \d"),
    "a buyer e-mail": re.compile(r"@marketplace\.amazon\.com"),
}


def _parse_lines(text: str, stream: str) -> list[dict[str, Any]]:
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{stream} line {n} is not JSON: {line[:300]!r}")
        assert isinstance(entry, dict), (stream, n, line)
        for key in ("time", "level", "logger", "message"):
            assert isinstance(entry.get(key), str), (stream, n, key, line)
        stamp = datetime.fromisoformat(entry["time"])
        assert stamp.utcoffset() == timedelta(0), entry["time"]
        assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=10), entry["time"]
        entries.append(entry)
    return entries


async def test_sync_once_json_lines_carry_flow_and_no_secret_or_pii(make_world, tmp_path) -> None:
    async with make_world(
        history_days=3, orders_per_day=6, time_scale=30.0, start=datetime.now(UTC)
    ) as w:
        cfg = w.config()
        config = write_config(cfg, tmp_path / "config.toml")
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "--log-format", "json", "-v", "sync", "--once",
            "--config", str(config), "--vault", str(vault),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(120):
            out_bytes, err_bytes = await proc.communicate()
        out, err = out_bytes.decode(), err_bytes.decode()
        assert proc.returncode == 0, err[-2000:]
        assert w.qad.sales_orders(), "the pass posted orders (else the log proves little)"

    logs = _parse_lines(err, "stderr")
    summary = _parse_lines(out, "stdout")
    assert any(e["message"].startswith("sync: ") for e in summary), summary
    assert len(logs) > 10, "with -v the engine logs its work"
    polled = [e for e in logs if e.get("flow") == "orders"]
    assert polled and all(e.get("region") in ("NA", "EU", "FE") for e in polled), polled[:3]
    assert {e["region"] for e in logs if e.get("flow") == "settlements"} >= {"NA"}
    # qad.items has no region; a dispatch line names the record (an order id) it is about.
    assert all("region" not in e for e in logs if e.get("flow") == "qad.items")
    dispatched = [e for e in logs if e.get("flow") == "dispatch" and e.get("record")]
    assert dispatched, "command lines carry their record key"
    assert all(e.get("command") for e in dispatched), dispatched[:3]

    forbidden = {
        "the LWA client secret": w.account.client_secret,
        "the QAD password": w.qad.password,
        "the master key": encode_key(key),
    }
    forbidden |= {f"refresh token {r}": t for r, t in w.account.refresh_tokens.items()}
    text = out + err
    leaked = [what for what, value in forbidden.items() if value and value in text]
    leaked += [what for what, pattern in BUYER_PII.items() if pattern.search(text)]
    assert leaked == [], leaked


def test_json_formatter_redacts_message_context_and_exception(capsys) -> None:
    secret = "s3cr3t-client-value-" + os.urandom(4).hex()
    register_secret(secret)
    record = logging.LogRecord("engine.x", logging.ERROR, __file__, 1, "post %s", (secret,), None)
    try:
        raise RuntimeError(f"echoed {secret} and refresh_token=Atzr|abc")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    with log_context(flow="orders", region="EU", record=f"rec-{secret}"):
        line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert secret not in line and "Atzr|abc" not in line, line
    assert entry["flow"] == "orders" and entry["region"] == "EU"
    assert entry["message"] == "post ***" and entry["record"] == "rec-***"
    assert "RuntimeError" in entry["exception"]
    assert "\n" not in line  # one line, whatever the traceback


def test_log_context_for_replaces_the_surrounding_fields() -> None:
    with log_context(flow="orders", region="NA"):
        ctx = log_context_for(flow="dispatch", record="114-1")
    record = logging.LogRecord("engine.x", logging.INFO, __file__, 1, "m", None, None)
    entry = json.loads(ctx.run(JsonFormatter().format, record))
    assert entry.get("flow") == "dispatch" and entry.get("record") == "114-1"
    assert "region" not in entry  # a dispatch does not inherit the poller's region
    with pytest.raises(ValueError, match="unknown log context"):
        log_context_for(buyer="x")


def test_console_writes_plain_text_by_default(capsys) -> None:
    console("hello there", stream=sys.stdout)
    assert capsys.readouterr().out == "hello there\n"
