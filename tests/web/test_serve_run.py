"""The page as real processes: `ml-connector run` with [web] bind serves it beside the engine;
`serve --new-token` + `serve --bind 0.0.0.0:P` requires the token; SIGTERM stops both (exit 0).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from engine.config.web import WebConfig
from engine.security.keys import encode_key, generate_key
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault
from tests.web.conftest import CLOSED, csrf_of

COMMAND = re.compile(r'name="command_id" value="(qad\.sales_order\.create:[^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _cli(env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *argv,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _get_until(url: str, want: str, proc: Any, headers: dict[str, str] | None = None) -> str:
    async with aiohttp.ClientSession() as http, asyncio.timeout(60):
        while True:
            assert proc.returncode is None, await proc.stderr.read()
            try:
                async with http.get(url, headers=headers or {}) as r:
                    text = await r.text()
                    if r.status == 200 and want in text:
                        return text
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


async def _stop(proc: Any) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return out.decode(), err.decode()


async def test_run_serves_the_page_and_refuses_an_open_bind_without_token(
    make_world, tmp_path: Path
) -> None:
    port = _free_port()
    async with make_world(
        history_days=2, orders_per_day=3, time_scale=30.0, start=datetime.now(UTC)
    ) as w:
        cfg = w.config()
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}

        # Open to the network without a token in the vault: refused before anything opens.
        open_cfg = dataclasses.replace(cfg, web=WebConfig(bind=f"0.0.0.0:{port}"))
        config = write_config(open_cfg, tmp_path / "open.toml")
        proc = await _cli(env, "run", "--config", str(config), "--vault", str(vault))
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
        assert proc.returncode == 2 and b"needs an access token" in err, (out, err)
        assert not Path(cfg.engine.db).exists()  # the engine never opened the log

        # The page under `run`: QAD refuses posts first (parked), then a retry clicked on the
        # page is posted by the engine's next cycle (orders every 2 s here).
        config = write_config(
            dataclasses.replace(
                cfg,
                web=WebConfig(bind=f"127.0.0.1:{port}"),
                poll=dataclasses.replace(cfg.poll, orders_every_s=2.0),
            ),
            tmp_path / "config.toml",
        )
        w.qad.faults.add("business_error", path="api/erp/", method="POST", message=CLOSED, times=0)
        proc = await _cli(env, "run", "--config", str(config), "--vault", str(vault))
        base = f"http://127.0.0.1:{port}/"
        try:
            html = await _get_until(base, 'data-flow="orders:NA"', proc)
            assert "Served by <code>ml-connector run</code>" in html
            await _get_until(base, "Healthy", proc)
            parked = await _get_until(f"{base}parked", "qad.sales_order.create", proc)
            w.qad.faults.clear()
            # unsafe=True: aiohttp's jar keeps cookies of an IP host only when told to
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(f"{base}healthz") as r:
                    assert r.status == 200 and (await r.json())["status"] == "ok"
                async with http.get(f"{base}parked") as r:  # this session's cookie + token
                    parked = await r.text()
                command_id = COMMAND.search(parked)
                assert command_id, parked
                form = {"csrf": csrf_of(parked), "command_id": command_id.group(1)}
                async with http.post(f"{base}actions/retry", data=form) as r:
                    text = await r.text()
                    assert r.status == 200 and "re-queued 1 command(s)" in text, text
                    assert "next cycle" in text
            async with asyncio.timeout(30):
                while not w.qad.sales_orders():
                    assert proc.returncode is None
                    await asyncio.sleep(0.1)
        finally:
            _out, err_text = await _stop(proc)
        assert proc.returncode == 0, err_text
        assert "Traceback" not in err_text, err_text


async def test_serve_with_a_token_from_the_vault(tmp_path: Path) -> None:
    key = generate_key()
    env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
    vault = tmp_path / "vault.bin"
    proc = await _cli(env, "serve", "--new-token", "--vault", str(vault))
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err
    token = out.decode().strip()
    assert len(token) >= 40 and token.encode() not in err

    from engine.log import SQLiteEventLog

    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(db) as log:
        await log.append([], bookmark=("qad.items", {"items": 0}))
    port = _free_port()
    proc = await _cli(
        env, "serve", "--db", str(db), "--vault", str(vault), "--bind", f"0.0.0.0:{port}"
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        await _get_until(url, "Overview", proc, {"Authorization": f"Bearer {token}"})
        async with aiohttp.ClientSession() as http:
            async with http.get(url, allow_redirects=False) as r:
                assert r.status == 303  # to /login
            async with http.get(url, headers={"Authorization": "Bearer nope"}) as r:
                assert r.status == 401
    finally:
        out_text, err_text = await _stop(proc)
    assert proc.returncode == 0, err_text
    assert token not in out_text + err_text  # never logged
