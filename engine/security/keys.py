"""The master key: 32 random bytes from ``ML_CONNECTOR_KEY`` (base64) or a 0600 key file.

The key file lives in its own directory (``~/.config/ml-connector-keys/master.key``), never
beside the vault (``~/.config/ml-connector/vault.bin``) or the event log: whoever copies the data
directory must not get the key with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from engine.errors import CredentialError

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "KEY_BYTES",
    "config_dir",
    "decode_key",
    "default_key_file",
    "encode_key",
    "generate_key",
    "load_master_key",
    "write_key_file",
]

ENV_KEY = "ML_CONNECTOR_KEY"
ENV_KEY_FILE = "ML_CONNECTOR_KEY_FILE"
KEY_BYTES = 32


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ml-connector`` or ``~/.config/ml-connector``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ml-connector"


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get(ENV_KEY_FILE)
    if override:
        return Path(override).expanduser()
    return config_dir(env).with_name("ml-connector-keys") / "master.key"


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, where: str) -> bytes:
    """Decode a base64 key; ``where`` names its origin for the error message."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(
            f"master key from {where} is not valid base64 "
            f"(expected base64 of {KEY_BYTES} random bytes)"
        ) from None
    if len(key) != KEY_BYTES:
        raise CredentialError(
            f"master key from {where} is {len(key)} bytes, expected {KEY_BYTES} "
            "(generate one with: python -c 'import os,base64;"
            "print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` with mode 0600 (fails if it exists: never overwrite a key silently)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_master_key(
    env: Mapping[str, str] | None = None,
    *,
    create: bool = True,
    forbid_dir: Path | None = None,
) -> bytes:
    """Return the master key.

    Order: ``ML_CONNECTOR_KEY`` (base64), else the key file (``ML_CONNECTOR_KEY_FILE`` or the
    config dir), created with mode 0600 when missing and ``create`` is true. ``forbid_dir`` is the
    data directory (the vault's): a key file there is refused.
    """
    env = os.environ if env is None else env
    raw = env.get(ENV_KEY)
    if raw:
        return decode_key(raw, where=f"${ENV_KEY}")
    path = default_key_file(env)
    if forbid_dir is not None and path.resolve().parent == forbid_dir.resolve():
        raise CredentialError(
            f"key file {path} is in the same directory as the vault; "
            f"keep it elsewhere (set ${ENV_KEY_FILE}) so a copy of the data does not carry its key"
        )
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        if not create:
            raise CredentialError(
                f"no master key: set ${ENV_KEY} or create {path} "
                "(run `ml-connector creds set ...` once to create it)"
            ) from None
        key = generate_key()
        try:
            write_key_file(path, key)
        except FileExistsError:  # another process created it first: use theirs
            return load_master_key(env, create=False, forbid_dir=forbid_dir)
        except OSError as exc:
            raise CredentialError(f"cannot create key file {path}: {exc.strerror}") from None
        return key
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII"
        raise CredentialError(f"cannot read key file {path}: {reason}") from None
    return decode_key(text, where=str(path))
