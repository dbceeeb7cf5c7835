"""The page's guards: a non-loopback bind without a token never starts; with a token every
request needs it (header or login form); every POST needs the session's CSRF token; hostile
text from Amazon or QAD is escaped, never markup."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Park
from engine.config import Config
from engine.config.web import is_loopback, parse_bind
from engine.errors import ConfigError, CredentialError
from engine.log import SQLiteEventLog
from engine.security.keys import encode_key, generate_key
from engine.security.vault import SecretCredential, Vault
from engine.web.server import load_token, serve_context, serving
from tests.web.conftest import csrf_of, page, parked_world

TOKEN = "t0ken-" + "x" * 40
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bind_rules() -> None:
    assert parse_bind("127.0.0.1:8700") == ("127.0.0.1", 8700)
    assert parse_bind("[::1]:9") == ("::1", 9)
    for bad in ("8700", "host:", "a b:80", "127.0.0.1:0", "1.2.3.4:99999", "[zz]:80"):
        with pytest.raises(ConfigError):
            parse_bind(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("box.lan")


def test_a_flood_of_anonymous_sessions_keeps_the_logged_in_one() -> None:
    from engine.web.auth import MAX_SESSIONS, Sessions

    store = Sessions(TOKEN)
    operator = store.login(store.new())
    for _ in range(MAX_SESSIONS * 2):
        store.new()
    assert store.get(operator.sid) is operator
    assert store.token_ok(TOKEN) and not store.token_ok(TOKEN + "x") and not store.token_ok("")


async def test_non_loopback_without_a_token_refuses_to_start(tmp_path: Path, monkeypatch) -> None:
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
    vault_path = tmp_path / "vault.bin"
    Vault.open(vault_path, key, create=True).save()
    assert load_token(Config(), "127.0.0.1:8700", vault_path) is None  # loopback: none needed
    with pytest.raises(CredentialError, match="needs an access token"):
        load_token(Config(), "0.0.0.0:8700", vault_path)
    vault = Vault.open(vault_path, key)
    vault.put(SecretCredential("web", TOKEN))
    assert load_token(Config(), "0.0.0.0:8700", vault_path) == TOKEN

    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(db) as log:
        await log.append([], bookmark=("x", {"a": 1}))
    async with serve_context(db, None, None) as ctx:
        with pytest.raises(ConfigError, match="not loopback"):
            async with serving(ctx, f"0.0.0.0:{_free_port()}"):
                pass

    # The CLI: exit 2, one line, nothing listening.
    env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(generate_key())}
    empty = tmp_path / "empty-vault.bin"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "serve", "--db", str(db), "--vault", str(empty),
        "--bind", f"0.0.0.0:{_free_port()}",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 2, (out, err)
    assert b"needs an access token" in err and b"Traceback" not in err


async def test_token_is_required_on_every_request(make_world) -> None:
    async with parked_world(make_world) as (_w, cfg), page(cfg, token=TOKEN) as client:
        r = await client.get("/", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
        assert (await client.get("/parked", allow_redirects=False)).status == 303
        r = await client.get("/", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        r = await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status == 200 and "amazon.orders" in await r.text()
        assert (await client.post("/actions/retry", data={"csrf": "x"})).status == 401
        # /healthz and /metrics stay public (no ids, no secrets in them).
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/metrics")).status == 200

        # The login form: CSRF-checked, wrong token 401, right token a new session cookie.
        login = await (await client.get("/login")).text()
        token = csrf_of(login)
        assert (await client.post("/login", data={"token": TOKEN})).status == 403
        r = await client.post("/login", data={"csrf": token, "token": TOKEN[:-1] + "y"})
        assert r.status == 401 and "Wrong access token" in await r.text()
        before = client.session.cookie_jar.filter_cookies(client.make_url("/"))["mlc_session"]
        r = await client.post("/login", data={"csrf": token, "token": TOKEN}, allow_redirects=False)
        assert r.status == 303
        cookie = r.cookies["mlc_session"]
        assert cookie.value != before.value  # a fresh session id on login
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        r = await client.get("/parked")
        assert r.status == 200 and "Parked and failed" in await r.text()
        # Logging out ends the session.
        token = csrf_of(await r.text())
        await client.post("/logout", data={"csrf": token})
        assert (await client.get("/", allow_redirects=False)).status == 303


async def test_posts_without_the_csrf_token_are_refused(make_world) -> None:
    async with parked_world(make_world) as (_w, cfg), page(cfg) as client:
        html = await (await client.get("/parked")).text()
        token = csrf_of(html)
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            [(before,)] = await log.query("SELECT count(*) FROM attempts")
            parked = [p.command_id for p in await Outbox(log).parked() if p.kind == "command"]
        target = {"command_id": parked[0]}
        assert (await client.post("/actions/retry", data=target)).status == 403
        r = await client.post("/actions/retry", data={**target, "csrf": token + "x"})
        assert r.status == 403
        r = await client.post(
            "/actions/retry",
            data={**target, "csrf": token},
            headers={"Origin": "http://evil.example"},
        )
        assert r.status == 403
        # Another browser (no session cookie) cannot reuse this session's token.
        async with aiohttp.ClientSession() as other:
            r = await other.post(client.make_url("/actions/retry"), data={**target, "csrf": token})
            assert r.status == 403
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            [(after,)] = await log.query("SELECT count(*) FROM attempts")
        assert after == before  # nothing was re-queued


async def test_hostile_remote_text_is_escaped(make_world) -> None:
    # QAD's error text (remote) lands in the park reason; an Amazon SKU in a record park.
    async with parked_world(make_world, message=f"period closed {HOSTILE}") as (_w, cfg):
        async with SQLiteEventLog.open(Path(cfg.engine.db)) as log:
            outbox = Outbox(log)
            async with log.transaction() as tx:
                await outbox.add_park(tx, Park(HOSTILE, 1, f"unmapped SKU {HOSTILE}"), "orders")
        async with page(cfg) as client:
            pages = ["/", "/flow/amazon.orders", "/parked", "/settlements", "/inventory"]
            for path in pages:
                r = await client.get(path)
                html = await r.text()
                assert r.status == 200, path
                assert "<script" not in html and "<img" not in html, path
            parked = await (await client.get("/parked")).text()
            assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in parked
            r = await client.get("/record", params={"key": HOSTILE})
            story = await r.text()
            assert r.status == 200 and "<script" not in story and "&lt;script&gt;" in story
