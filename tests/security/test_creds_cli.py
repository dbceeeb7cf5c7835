"""`ml-connector creds`: secrets only from stdin/prompt, list shows no secrets, exit 2 errors."""

import io
import json
import os
import stat
import subprocess
import sys

import pytest

from engine.cli import build_parser, main
from engine.security.keys import load_master_key
from engine.security.vault import Vault

SECRET = "lwa-client-secret-Q9x7"
TOKEN_NA = "Atzr|na-refresh-token-77"
TOKEN_EU = "Atzr|eu-refresh-token-88"
PASSWORD = "qad-password-Zk41"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("ML_CONNECTOR_KEY", raising=False)
    monkeypatch.delenv("ML_CONNECTOR_KEY_FILE", raising=False)
    vault = tmp_path / "data" / "vault.bin"
    monkeypatch.setenv("ML_CONNECTOR_VAULT", str(vault))
    return vault


def feed(monkeypatch, text):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_set_amazon_lines_then_second_region_and_qad_json(env, monkeypatch, capsys):
    feed(monkeypatch, f"amzn1.application-oa2-client.x\n{SECRET}\n{TOKEN_NA}\n")
    assert main(["creds", "set", "amazon", "--name", "shop", "--seller-id", "A1S"]) == 0
    feed(monkeypatch, f"\n{TOKEN_EU}\n")  # empty secret keeps the stored one
    args = ["creds", "set", "amazon", "--name", "shop", "--region", "EU", "--client-id", "cid"]
    assert main(args) == 0
    qad = {
        "tenant_url": "https://acme.qad.com/clouderp",
        "username": "mfg",
        "password": PASSWORD,
        "domain": "10USA",
        "entity": "10USACO",
    }
    feed(monkeypatch, json.dumps(qad))
    assert main(["creds", "set", "qad", "--name", "erp"]) == 0
    vault = Vault.open(env, load_master_key())
    cred = vault.get_amazon("shop")
    assert cred.client_secret == SECRET and cred.client_id == "cid"
    assert dict(cred.refresh_tokens) == {"NA": TOKEN_NA, "EU": TOKEN_EU}
    assert vault.get_qad("erp").password == PASSWORD
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["creds", "list"]) == 0
    listed = capsys.readouterr().out
    assert "shop" in listed and "NA,EU" in listed and "acme.qad.com" in listed
    for s in (SECRET, TOKEN_NA, TOKEN_EU, PASSWORD, "refresh-token"):
        assert s not in listed
    assert main(["creds", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {"shop", "erp"}
    assert PASSWORD not in json.dumps(rows)


def test_no_secret_options_exist_in_argv():
    """The parser has no option that could carry a secret on the command line."""
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["creds", "set", "amazon", "--client-secret", "x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["creds", "set", "qad", "--password", "x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["creds", "set", "amazon", "--refresh-token", "Atzr|x"])


def test_bad_input_is_one_line_exit_2(env, monkeypatch, capsys):
    feed(monkeypatch, "cid\nsecret\nnot-a-token\n")
    assert main(["creds", "set", "amazon"]) == 2
    err = capsys.readouterr().err
    assert "Atzr|" in err and err.count("\n") == 1 and "secret" not in err.replace("client", "")
    feed(monkeypatch, '{"tenant_url": "http://acme.example/clouderp"}')
    assert main(["creds", "set", "qad"]) == 2
    assert "https" in capsys.readouterr().err


def test_missing_and_wrong_key_vault_exit_2(env, monkeypatch, capsys):
    assert main(["creds", "list"]) == 2
    err = capsys.readouterr().err
    assert "creds set" in err and err.count("\n") == 1 and "Traceback" not in err
    feed(
        monkeypatch,
        json.dumps({"client_id": "c", "client_secret": SECRET, "refresh_token": TOKEN_NA}),
    )
    assert main(["creds", "set", "amazon"]) == 0
    monkeypatch.setenv("ML_CONNECTOR_KEY", "AAAA" * 11)  # 33 bytes -> malformed
    assert main(["creds", "list"]) == 2
    assert "33 bytes" in capsys.readouterr().err
    env.write_bytes(b"\x00garbage")
    monkeypatch.delenv("ML_CONNECTOR_KEY")
    assert main(["creds", "list"]) == 2
    assert "damaged" in capsys.readouterr().err


def test_delete_and_rotate_key(env, monkeypatch, capsys, tmp_path):
    feed(
        monkeypatch,
        json.dumps({"client_id": "c", "client_secret": SECRET, "refresh_token": TOKEN_NA}),
    )
    assert main(["creds", "set", "amazon", "--name", "a"]) == 0
    feed(
        monkeypatch,
        json.dumps({"client_id": "c", "client_secret": SECRET, "refresh_token": TOKEN_NA}),
    )
    assert main(["creds", "set", "amazon", "--name", "b"]) == 0
    old_key = load_master_key()
    with pytest.raises(SystemExit) as ei:  # must say --db or --skip-pii
        main(["creds", "rotate-key"])
    assert ei.value.code == 2
    capsys.readouterr()
    assert main(["creds", "rotate-key", "--skip-pii"]) == 0
    out = capsys.readouterr().out
    new_key = load_master_key()
    assert new_key != old_key and "master.key" in out
    assert Vault.open(env, new_key).get_amazon("a").client_secret == SECRET
    assert main(["creds", "delete", "amazon", "--name", "a"]) == 0
    assert main(["creds", "delete", "amazon", "--name", "a"]) == 2
    assert [n for _, n in Vault.open(env, new_key).names()] == ["b"]


def test_secret_never_in_argv_of_real_process(env, tmp_path):
    """Run the real console entry point: the secret travels on stdin only."""
    payload = json.dumps({"client_id": "c", "client_secret": SECRET, "refresh_token": TOKEN_NA})
    cmd = [sys.executable, "-m", "engine", "creds", "set", "amazon", "--name", "p"]
    assert SECRET not in " ".join(cmd)
    proc = subprocess.run(
        cmd, input=payload, capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET.encode() not in env.read_bytes()
