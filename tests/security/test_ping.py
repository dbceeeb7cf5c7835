"""`ml-connector ping` against both simulators: ok table, every failure kind with its fix."""

import asyncio
import io
import logging
import re
from datetime import date

import pytest

from engine.cli import main
from engine.cli.ping import render
from engine.config import parse_config
from engine.config.qad_profile import QadBrowses, QadFields, QadPaths
from engine.ops.ping import run_checks
from engine.security.keys import encode_key, generate_key
from engine.security.vault import AmazonCredential, QadCredential, Vault
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator

US, DE, FR = "ATVPDKIKX0DER", "A1PA6795UKMFR9", "A13V1IB3VIYZZH"


@pytest.fixture
async def sims(tmp_path):
    async with (
        AmazonSimulator(seed=1, history_days=1, orders_per_day=2) as amazon,
        QadSimulator(tmp_path / "qad.db", seed=1) as qad,
    ):
        yield amazon, qad


def amazon_cred(sim, name="demo", **kw):
    s = sim.sellers[0]
    fields = {
        "client_id": s.client_id,
        "client_secret": s.client_secret,
        "refresh_tokens": {r: c.refresh_token for r, c in s.regions.items()},
        "seller_id": s.seller_id,
    }
    fields.update(kw)
    return AmazonCredential(name=name, **fields)


def qad_cred(qad, name="erp", **kw):
    fields = {
        "tenant_url": qad.tenant_url(),
        "username": qad.username,
        "password": qad.password,
        "domain": "10USA",
        "entity": "10USACO",
    }
    fields.update(kw)
    return QadCredential(name=name, **fields)


def config(amazon, marketplaces=(US, DE), amazon_name="demo", qad_name="erp"):
    mps = ", ".join(f'"{m}"' for m in marketplaces)
    return (
        f'[amazon]\ncredential = "{amazon_name}"\n'
        f'endpoint = "{amazon.base_url}/{{region}}"\nlwa_url = "{amazon.lwa_url}"\n'
        f"marketplaces = [{mps}]\n"
        f'[qad]\ncredential = "{qad_name}"\n'
    )


def secrets_of(amazon, qad):
    s = amazon.sellers[0]
    return [s.client_secret, qad.password, *(c.refresh_token for c in s.regions.values())]


async def test_ping_all_ok_through_cli(sims, tmp_path, monkeypatch, capsys, caplog):
    amazon, qad = sims
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
    vault_path = tmp_path / "vault.bin"
    vault = Vault.open(vault_path, key, create=True)
    vault.put(amazon_cred(amazon))
    vault.put(qad_cred(qad))
    cfg = tmp_path / "config.toml"
    cfg.write_text(config(amazon))
    caplog.set_level(logging.DEBUG)
    rc = await asyncio.to_thread(main, ["ping", "--config", str(cfg), "--vault", str(vault_path)])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    assert "FAILED" not in out.out
    for region in ("NA", "EU", "FE"):
        assert f"demo {region}" in out.out
    assert "LWA token" in out.out and "getMarketplaceParticipations" in out.out
    assert US in out.out and "logged in as" in out.out and "path sales_order_headers" in out.out
    everything = out.out + out.err + caplog.text
    for secret in secrets_of(amazon, qad):
        assert secret not in everything


async def test_ping_failures_have_reason_and_fix(sims, tmp_path):
    amazon, qad = sims
    key = generate_key()
    vault = Vault.open(tmp_path / "vault.bin", key, create=True)
    s = amazon.sellers[0]
    # EU slot holds the NA token (valid only in NA); current secret is stale, next one is right.
    tokens = {"NA": s.regions["NA"].refresh_token, "EU": s.regions["NA"].refresh_token}
    vault.put(
        amazon_cred(
            amazon,
            client_secret="stale-secret-000",
            next_client_secret=s.client_secret,
            refresh_tokens=tokens,
            secret_expires=date(2026, 1, 10),
        )
    )
    vault.put(qad_cred(qad, password="wrong-password-1"))
    qad.faults.add("status", path="/api/erp/journalEntries", status=404, times=0)
    cfg = parse_config(
        {
            "amazon": {
                "credential": "demo",
                "endpoint": f"{amazon.base_url}/{{region}}",
                "lwa_url": amazon.lwa_url,
                "marketplaces": [US, FR],
            },
            "qad": {"credential": "erp"},
        }
    )
    checks = await run_checks(cfg, vault, timeout_s=5, today=date(2026, 1, 1))
    rows = {(c.target, c.step): c for c in checks}
    expiry = rows[("demo", "client secret expiry")]
    assert expiry.status == "warn" and "2026-01-10" in expiry.detail
    na_token = rows[("demo NA", "LWA token")]
    assert na_token.status == "warn" and "NEXT" in na_token.detail
    assert rows[("demo NA", "getMarketplaceParticipations")].status == "ok"
    # LWA itself is global; the SP-API call in the EU refuses a token of an NA authorisation.
    eu = rows[("demo EU", "getMarketplaceParticipations")]
    assert eu.status == "FAILED" and "--region EU" in eu.fix
    qad_login = next(c for c in checks if c.system == "qad")
    assert qad_login.step == "login" and qad_login.status == "FAILED"
    assert "creds set qad --name erp" in qad_login.fix
    text = io.StringIO()
    render(checks, text)
    assert "fix:" in text.getvalue() and "failed" in text.getvalue()
    for secret in ["stale-secret-000", "wrong-password-1", *secrets_of(amazon, qad)]:
        assert secret not in text.getvalue()

    # Right password now: the faulted path is reported with the config key to fix.
    vault.put(qad_cred(qad))
    checks = await run_checks(cfg, vault, only="qad", timeout_s=5)
    bad = [c for c in checks if c.status == "FAILED"]
    assert [c.step for c in bad] == ["path journal_entries"]
    assert "qad.paths.journal_entries" in bad[0].fix
    assert sum(c.status == "ok" for c in checks) >= 5
    # Every key a fix names exists in the tenant profile (tests/qad/test_ping_profile.py has
    # the profile cases: empty browses, wrong columns, a renamed tenant).
    profile = {"paths": QadPaths(), "browses": QadBrowses(), "fields": QadFields()}
    for c in checks:
        for section, key in re.findall(r"qad\.(paths|browses|fields)\.([a-z_]+)", c.fix):
            assert hasattr(profile[section], key), c.fix

    # Marketplace not participating in the EU with a correct EU token.
    vault.put(amazon_cred(amazon))
    cfg2 = parse_config(
        {
            "amazon": {
                "credential": "demo",
                "endpoint": f"{amazon.base_url}/{{region}}",
                "lwa_url": amazon.lwa_url,
                "marketplaces": [US, FR],
            },
        }
    )
    checks = await run_checks(cfg2, vault, only="amazon", timeout_s=5)
    eu_mp = next(c for c in checks if c.target == "demo EU" and c.step.startswith("getMarket"))
    assert eu_mp.status == "FAILED" and FR in eu_mp.detail


async def test_ping_unreachable_and_missing_credential(tmp_path, monkeypatch, capsys):
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
    vault_path = tmp_path / "vault.bin"
    vault = Vault.open(vault_path, key, create=True)
    vault.put(QadCredential("erp", "http://127.0.0.1:9/clouderp", "u", "p4ssw0rd", "10USA", "E"))
    cfg = tmp_path / "config.toml"
    cfg.write_text('[qad]\ncredential = "erp"\n')
    args = ["ping", "--config", str(cfg), "--vault", str(vault_path), "--only", "qad"]
    rc = await asyncio.to_thread(main, [*args, "--timeout", "2"])
    out = capsys.readouterr().out
    assert rc == 1 and "FAILED" in out and "cannot reach" in out
    rc = await asyncio.to_thread(main, ["ping", "--config", str(cfg), "--vault", str(vault_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "creds set amazon --name default" in err and err.count("\n") == 1
