"""`status` warns about LWA client secrets that expire soon, without showing any secret."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.cli import main
from engine.log import SQLiteEventLog
from engine.security.keys import generate_key, load_master_key
from engine.security.vault import AmazonCredential, Vault

SECRET = "lwa-secret-status-Pz81"
TOKEN = "Atzr|status-refresh-token-19"


@pytest.fixture
async def db(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("ML_CONNECTOR_KEY", raising=False)
    monkeypatch.delenv("ML_CONNECTOR_KEY_FILE", raising=False)
    monkeypatch.setenv("ML_CONNECTOR_VAULT", str(tmp_path / "data" / "vault.bin"))
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path):
        pass
    return path


def store(vault_path, *creds):
    vault = Vault.open(vault_path, load_master_key(), create=True)
    for cred in creds:
        vault.put(cred)
    vault.save()


def cred(name, days, *, next_secret=None):
    today = datetime.now(UTC).date()
    return AmazonCredential(
        name=name,
        client_id="amzn1.application-oa2-client.x",
        client_secret=SECRET,
        refresh_tokens={"NA": TOKEN},
        next_client_secret=next_secret,
        secret_expires=today + timedelta(days=days) if days is not None else None,
    )


def test_status_warns_about_expiring_and_expired_secrets(db, tmp_path, capsys):
    vault_path = tmp_path / "data" / "vault.bin"
    store(vault_path, cred("soon", 12), cred("gone", -2), cred("later", 90), cred("open", None))
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    soon = next(line for line in out.splitlines() if "'soon'" in line)
    assert soon.split()[0] == "WARNING" and "(12 days)" in soon and "--next-secret" in soon
    gone = next(line for line in out.splitlines() if "'gone'" in line)
    assert gone.split()[0] == "EXPIRED" and "expired" in gone
    assert "'later'" not in out and "'open'" not in out
    assert SECRET not in out and TOKEN not in out

    assert main(["status", "--db", str(db), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    levels = sorted(w["level"] for w in data["credentials"]["warnings"])
    assert data["credentials"]["checked"] and levels == ["EXPIRED", "WARNING"]


def test_expired_secret_with_a_stored_next_secret_is_a_warning(db, tmp_path, capsys):
    store(tmp_path / "data" / "vault.bin", cred("rotating", -1, next_secret="next-secret-77"))
    assert main(["status", "--db", str(db)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "'rotating'" in ln)
    assert line.split()[0] == "WARNING"


def test_status_without_vault_says_not_checked_and_bad_explicit_vault_exits_2(
    db, tmp_path, monkeypatch, capsys
):
    assert main(["status", "--db", str(db)]) == 0
    assert "not checked" in capsys.readouterr().out
    store(tmp_path / "other.bin", cred("soon", 3))
    monkeypatch.setenv("ML_CONNECTOR_KEY", base64.b64encode(generate_key()).decode())
    assert main(["status", "--db", str(db), "--vault", str(tmp_path / "other.bin")]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip().count("\n") == 0
    assert "key" in captured.err.lower(), captured.err
