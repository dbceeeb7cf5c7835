"""`-v` debug logging is ours and redacted: no SQL, payloads, secrets or key material on stderr.

Before the fix, `-v` turned on DEBUG at the root logger, so aiosqlite logged every statement with
its parameters (event payloads, wrapped PII data keys) and the master key could decrypt them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.security.keys import encode_key, generate_key
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault


async def test_verbose_sync_logs_no_payload_secret_or_key(make_world, tmp_path) -> None:
    async with make_world(
        history_days=3, orders_per_day=6, time_scale=30.0, start=datetime.now(UTC)
    ) as w:
        cfg = w.config()
        config = write_config(cfg, tmp_path / "config.toml")
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "-v", "sync", "--once",
            "--config", str(config), "--vault", str(vault),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(120):
            _out, err_bytes = await proc.communicate()
        err = err_bytes.decode()
        assert proc.returncode == 0, err[-2000:]

    assert " engine." in err, "-v shows the engine's own log lines"
    # Everything the run created is this user's only (umask 077 at start-up, db made 0600).
    db = Path(cfg.engine.db)
    made = [p for p in db.parent.rglob("*") if p.name.startswith(db.name) or "raw" in p.parts]
    assert any(p.is_dir() and p.name == "raw" for p in made), made
    loose = {str(p): oct(p.stat().st_mode & 0o777) for p in made if p.stat().st_mode & 0o077}
    assert loose == {}, loose
    with sqlite3.connect(cfg.engine.db) as con:
        wrapped = [bytes(r[0]) for r in con.execute("SELECT wrapped FROM pii_keys") if r[0]]
        some_payload = con.execute("SELECT payload FROM events LIMIT 1").fetchone()
    forbidden = {
        "SQL from aiosqlite": "aiosqlite",
        "an SQL statement": "INSERT INTO",
        "a client secret": w.account.client_secret,
        "the QAD password": w.qad.password,
        "the master key": encode_key(key),
        "a buyer address": "Sample Street",
    }
    forbidden |= {f"refresh token {r}": t for r, t in w.account.refresh_tokens.items()}
    forbidden |= {f"wrapped PII key {i}": base64.b64encode(b).decode() for i, b in
                  enumerate(wrapped)}  # fmt: skip
    forbidden |= {f"wrapped PII key {i} (hex)": b.hex() for i, b in enumerate(wrapped)}
    if some_payload is not None:
        forbidden["an event payload"] = bytes(some_payload[0])[:40].decode("utf-8", "replace")
    leaked = [what for what, text in forbidden.items() if text and text in err]
    assert leaked == [], leaked
