"""The master key: 32 random bytes from ``ML_CONNECTOR_KEY`` (base64) or a 0600 key file.

The key file lives in its own directory (``~/.config/ml-connector-keys/master.key``), never
beside the vault (``~/.config/ml-connector/vault.bin``) or the event log: whoever copies the data
directory must not get the key with it.

``creds rotate-key`` (``engine.ops.rotate_key``) leaves two files beside the key file while it
runs: ``master.key.new`` (the pending new key) and ``master.key.rotation`` (its journal). While
the pending key exists some data may already be encrypted with it, so ``load_master_key`` refuses
to hand out a key until the rotation is finished, with advice that never loses either key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CredentialError

__all__ = [
    "AWAITING_ENV",
    "ENV_KEY",
    "ENV_KEY_FILE",
    "KEY_BYTES",
    "STARTED",
    "RotationJournal",
    "config_dir",
    "decode_key",
    "default_key_file",
    "encode_key",
    "fsync_dir",
    "generate_key",
    "key_id",
    "load_master_key",
    "pending_key_file",
    "read_pending_key",
    "rotation_journal",
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
    fsync_dir(path.parent)  # the new name itself must survive a power cut, not only the bytes


def fsync_dir(path: Path) -> None:
    """Make a rename/create/unlink in directory ``path`` durable (best effort off POSIX)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def key_id(key: bytes) -> str:
    """A public fingerprint of a master key: the journal names keys without holding them."""
    return hashlib.sha256(b"ml-connector master key id:" + key).hexdigest()[:16]


# -- rotation state ----------------------------------------------------------------------------

STARTED = "started"  # the pending key may wrap some data: finish by running rotate-key again
AWAITING_ENV = "awaiting-env"  # all data is under the pending key; $ML_CONNECTOR_KEY still old


def pending_key_file(key_file: Path) -> Path:
    """Where ``creds rotate-key`` keeps the new master key until it replaces ``key_file``."""
    return key_file.with_name(key_file.name + ".new")


def rotation_journal(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".rotation")


@dataclass(frozen=True, slots=True)
class RotationJournal:
    """What an unfinished rotation was doing, so a rerun covers the same vault and event logs."""

    state: str
    old_key_id: str
    new_key_id: str
    vault: str
    dbs: tuple[str, ...]

    def command(self) -> str:
        """The exact command that finishes this rotation."""
        which = " ".join(f"--db {db}" for db in self.dbs) or "--skip-pii"
        return f"ml-connector creds rotate-key --vault {self.vault} {which}"

    def dumps(self) -> bytes:
        doc = {
            "format": "ml-connector-key-rotation",
            "state": self.state,
            "old_key_id": self.old_key_id,
            "new_key_id": self.new_key_id,
            "vault": self.vault,
            "dbs": list(self.dbs),
        }
        return json.dumps(doc, indent=1).encode("utf-8")

    @classmethod
    def read(cls, key_file: Path) -> RotationJournal | None:
        """The journal beside ``key_file``; None when absent. CredentialError when damaged."""
        path = rotation_journal(key_file)
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != "ml-connector-key-rotation":
                raise ValueError("format")
            return cls(
                state=str(doc["state"]),
                old_key_id=str(doc["old_key_id"]),
                new_key_id=str(doc["new_key_id"]),
                vault=str(doc["vault"]),
                dbs=tuple(str(d) for d in doc["dbs"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise CredentialError(
                f"rotation journal {path} is damaged; keep {pending_key_file(key_file)} and run "
                "`ml-connector creds rotate-key` with the --db options of the interrupted run"
            ) from None


def read_pending_key(key_file: Path) -> bytes | None:
    """The pending new master key of an unfinished rotation, or None."""
    pending = pending_key_file(key_file)
    try:
        text = pending.read_text("ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII"
        raise CredentialError(f"cannot read pending key file {pending}: {reason}") from None
    return decode_key(text, where=str(pending))


def _refuse_unfinished_rotation(key_file: Path, env_key: bytes | None) -> None:
    """Raise unless no rotation is pending (or, with $ML_CONNECTOR_KEY, it already holds the new
    key of a finished one). Handing out either key mid-rotation would let a sync read PII keys
    that are wrapped by the other one, or wrap new ones with a key about to be discarded."""
    pending = pending_key_file(key_file)
    if not pending.exists():
        return
    journal = RotationJournal.read(key_file)
    finish = (
        f"`{journal.command()}`"
        if journal is not None
        else "`ml-connector creds rotate-key` with the --db options of the interrupted run"
    )
    keep = f"do not delete {pending}: data may already be encrypted with it"
    env_id = key_id(env_key) if env_key is not None else None
    if journal is not None and journal.state == AWAITING_ENV and env_id is not None:
        if env_id == journal.new_key_id:
            return  # the operator stored the new key: it is the one in effect
        raise CredentialError(
            f"${ENV_KEY} holds the retired master key: `creds rotate-key` moved everything to the "
            f"new key in {pending}; set ${ENV_KEY} to that file's contents, then run {finish} "
            "once more to remove the file"
        )
    if journal is not None and env_id is not None and env_id == journal.new_key_id:
        raise CredentialError(
            f"${ENV_KEY} already holds the new key of an unfinished `creds rotate-key`; set it "
            f"back to the previous key and run {finish} to finish it ({keep})"
        )
    raise CredentialError(
        f"a `creds rotate-key` is running or was interrupted (new master key in {pending}): "
        f"wait for it, or run {finish} to finish it; {keep}"
    )


def load_master_key(
    env: Mapping[str, str] | None = None,
    *,
    create: bool = True,
    forbid_dir: Path | None = None,
    allow_pending: bool = False,
) -> bytes:
    """Return the master key.

    Order: ``ML_CONNECTOR_KEY`` (base64), else the key file (``ML_CONNECTOR_KEY_FILE`` or the
    config dir), created with mode 0600 when missing and ``create`` is true. ``forbid_dir`` is the
    data directory (the vault's): a key file there is refused. While a ``creds rotate-key`` is
    unfinished a CredentialError says how to finish it; only the rotation itself passes
    ``allow_pending`` to get the current (old) key.
    """
    env = os.environ if env is None else env
    path = default_key_file(env)
    raw = env.get(ENV_KEY)
    if raw:
        key = decode_key(raw, where=f"${ENV_KEY}")
        if not allow_pending:
            _refuse_unfinished_rotation(path, key)
        return key
    if not allow_pending:
        _refuse_unfinished_rotation(path, None)
    if forbid_dir is not None and path.resolve().parent == forbid_dir.resolve():
        raise CredentialError(
            f"key file {path} is in the same directory as the vault; "
            f"keep it elsewhere (set ${ENV_KEY_FILE}) so a copy of the data does not carry its key"
        )
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        if not create:
            if env.get(ENV_KEY_FILE):
                raise CredentialError(
                    f"key file {path} (from ${ENV_KEY_FILE}) does not exist: check the variable "
                    f"for a typo, or set ${ENV_KEY}; nothing was created"
                ) from None
            raise CredentialError(
                f"no master key: key file {path} does not exist; set ${ENV_KEY}, or run "
                "`ml-connector creds set ...` once to create it"
            ) from None
        key = generate_key()
        try:
            write_key_file(path, key)
        except FileExistsError:  # another process created it first: use theirs
            return load_master_key(
                env, create=False, forbid_dir=forbid_dir, allow_pending=allow_pending
            )
        except OSError as exc:
            raise CredentialError(f"cannot create key file {path}: {exc.strerror}") from None
        return key
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII"
        raise CredentialError(f"cannot read key file {path}: {reason}") from None
    return decode_key(text, where=str(path))
