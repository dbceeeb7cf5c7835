"""Credential vault: round trip, wrong key, swapped/tampered records, mode 0600, atomic writes."""

import json
import os
import stat
from datetime import date

import pytest

from engine.errors import CredentialError
from engine.security import vault as vault_mod
from engine.security.keys import generate_key
from engine.security.vault import AmazonCredential, QadCredential, Vault

SECRET = "lwa-secret-Zq81xx"
NEXT = "lwa-next-secret-Yq72"
RT_NA = "Atzr|IwEBI-na-refresh-TOKEN"
RT_EU = "Atzr|IwEBI-eu-refresh-TOKEN"
PASSWORD = "qad-Pa55w0rd!"


def amazon(name="default"):
    return AmazonCredential(
        name=name,
        client_id="amzn1.application-oa2-client.abc",
        client_secret=SECRET,
        refresh_tokens={"NA": RT_NA, "EU": RT_EU},
        seller_id="A1SELLER",
        next_client_secret=NEXT,
        secret_expires=date(2026, 9, 1),
    )


def qad(name="default"):
    return QadCredential(
        name=name,
        tenant_url="https://acme.qad.com/clouderp/",
        username="mfg@acme",
        password=PASSWORD,
        domain="10USA",
        entity="10USACO",
    )


def test_round_trip_and_nothing_in_clear(tmp_path):
    key = generate_key()
    path = tmp_path / "v" / "vault.bin"
    v = Vault.open(path, key, create=True)
    v.put(amazon())
    v.put(amazon("eu-shop"))
    v.put(qad())
    raw = path.read_bytes()
    for s in (SECRET, NEXT, RT_NA, RT_EU, PASSWORD, "mfg@acme", "A1SELLER"):
        assert s.encode() not in raw
    again = Vault.open(path, key)
    assert again.names() == [("amazon", "default"), ("amazon", "eu-shop"), ("qad", "default")]
    a = again.get_amazon("default")
    assert a == amazon()
    assert a.refresh_token("EU") == RT_EU and a.regions == ("NA", "EU")
    assert a.secret_expires == date(2026, 9, 1)
    q = again.get_qad("default")
    assert q.tenant_url == "https://acme.qad.com/clouderp" and q.password == PASSWORD


def test_repr_hides_secrets():
    text = repr(amazon()) + repr(qad()) + str(amazon()) + str(qad())
    for s in (SECRET, NEXT, RT_NA, RT_EU, PASSWORD):
        assert s not in text
    assert "amzn1.application-oa2-client.abc" in text  # non-secret fields stay visible


def test_wrong_key_is_a_clear_error(tmp_path):
    path = tmp_path / "vault.bin"
    Vault.open(path, generate_key(), create=True).put(qad())
    with pytest.raises(CredentialError, match="wrong master key") as ei:
        Vault.open(path, generate_key())
    assert PASSWORD not in str(ei.value)


def test_swapped_records_are_rejected(tmp_path):
    key = generate_key()
    path = tmp_path / "vault.bin"
    v = Vault.open(path, key, create=True)
    v.put(amazon("a"))
    v.put(amazon("b"))
    doc = json.loads(path.read_bytes())
    recs = doc["records"]
    recs["amazon:a"], recs["amazon:b"] = recs["amazon:b"], recs["amazon:a"]
    path.write_text(json.dumps(doc))
    with pytest.raises(CredentialError, match="fails authentication"):
        Vault.open(path, key)


def test_removed_record_and_flipped_bit_detected(tmp_path):
    key = generate_key()
    path = tmp_path / "vault.bin"
    v = Vault.open(path, key, create=True)
    v.put(amazon("a"))
    v.put(qad("q"))
    good = path.read_bytes()
    doc = json.loads(good)
    del doc["records"]["qad:q"]
    path.write_text(json.dumps(doc))
    with pytest.raises(CredentialError, match="modified outside"):
        Vault.open(path, key)
    doc = json.loads(good)
    ct = bytearray(doc["records"]["qad:q"]["ct"].encode())
    ct[5] = ord("A") if ct[5] != ord("A") else ord("B")
    doc["records"]["qad:q"]["ct"] = ct.decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(CredentialError, match="fails authentication"):
        Vault.open(path, key)


@pytest.mark.parametrize("content", [b"", b"garbage\x00", b'{"format": "x"}', b"[1,2]"])
def test_damaged_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "vault.bin"
    path.write_bytes(content)
    with pytest.raises(CredentialError, match="damaged or not a vault"):
        Vault.open(path, generate_key())


def test_missing_vault_and_missing_record_name_the_fix(tmp_path):
    with pytest.raises(CredentialError, match="creds set"):
        Vault.open(tmp_path / "none.bin", generate_key())
    v = Vault.open(tmp_path / "v.bin", generate_key(), create=True)
    with pytest.raises(CredentialError, match="creds set qad --name prod"):
        v.get_qad("prod")


def test_file_mode_is_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "vault.bin"
        Vault.open(path, generate_key(), create=True).put(qad())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch):
    key = generate_key()
    path = tmp_path / "vault.bin"
    v = Vault.open(path, key, create=True)
    v.put(qad("one"))
    before = path.read_bytes()
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(vault_mod.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))

    def crash(src, dst):
        raise OSError(5, "simulated crash before rename")

    monkeypatch.setattr(vault_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        v.put(qad("two"))
    assert synced, "data must be fsynced before the rename"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.bin"]  # no temp left behind
    monkeypatch.undo()
    assert Vault.open(path, key).names() == [("qad", "one")]


def test_rotate_key_reencrypts_everything(tmp_path):
    old, new = generate_key(), generate_key()
    path = tmp_path / "vault.bin"
    v = Vault.open(path, old, create=True)
    v.put(amazon())
    v.put(qad())
    v.rotate_key(new)
    with pytest.raises(CredentialError, match="wrong master key"):
        Vault.open(path, old)
    again = Vault.open(path, new)
    assert again.get_amazon("default") == amazon() and again.get_qad("default") == qad()


def test_delete(tmp_path):
    key = generate_key()
    path = tmp_path / "vault.bin"
    v = Vault.open(path, key, create=True)
    v.put(qad())
    assert v.delete("qad", "default") is True
    assert v.delete("qad", "default") is False
    assert Vault.open(path, key).names() == []


def test_invalid_records_are_refused():
    with pytest.raises(CredentialError, match="user:password"):
        QadCredential("x", "https://u:p@acme.com", "u", "p", "d", "e")
    with pytest.raises(CredentialError, match="region"):
        AmazonCredential("x", "id", "sec", {"XX": "Atzr|t"})
