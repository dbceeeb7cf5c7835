"""Master key: env, key file created 0600 on first use, malformed keys, never beside the vault."""

import base64
import stat

import pytest

from engine.errors import CredentialError
from engine.security.keys import encode_key, generate_key, load_master_key


def test_env_key_wins(tmp_path):
    key = generate_key()
    env = {"ML_CONNECTOR_KEY": encode_key(key), "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_master_key(env) == key
    assert not list(tmp_path.iterdir())


def test_key_file_created_0600_once(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    k1 = load_master_key(env)
    path = tmp_path / "ml-connector-keys" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(env) == k1 and len(k1) == 32


def test_key_file_override(tmp_path):
    path = tmp_path / "keys" / "k"
    env = {"ML_CONNECTOR_KEY_FILE": str(path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    key = load_master_key(env)
    assert base64.b64decode(path.read_text()) == key


@pytest.mark.parametrize(
    "value, match",
    [("not base64!!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
)
def test_malformed_key_is_clear(value, match):
    with pytest.raises(CredentialError, match=match):
        load_master_key({"ML_CONNECTOR_KEY": value})


def test_missing_key_without_create(tmp_path):
    with pytest.raises(CredentialError, match="no master key"):
        load_master_key({"XDG_CONFIG_HOME": str(tmp_path)}, create=False)


def test_key_file_beside_vault_refused(tmp_path):
    env = {"ML_CONNECTOR_KEY_FILE": str(tmp_path / "master.key")}
    with pytest.raises(CredentialError, match="same directory as the vault"):
        load_master_key(env, forbid_dir=tmp_path)
