"""The credential vault: one JSON file of AES-256-GCM sealed records, written atomically, 0600.

Layout (all binary fields base64)::

    {"format": "ml-connector-vault", "version": 1,
     "check": {"nonce": .., "ct": ..},             # sealed sorted list of record ids
     "records": {"amazon:default": {"nonce": .., "ct": ..}, "qad:default": {...}}}

Each record is sealed with its id (``kind:name``) as associated data, so swapping two records'
ciphertexts makes both fail authentication. The ``check`` record seals the list of ids: a wrong
key fails there first with a clear error (never garbage), and a removed or added record is
detected. Record names are visible in the file; everything else is encrypted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import CredentialError
from engine.security.credentials import (
    AmazonCredential,
    AwsCredential,
    Credential,
    Kind,
    QadCredential,
    SecretCredential,
)
from engine.security.keys import (
    config_dir,
    default_key_file,
    load_master_key,
    pending_key_file,  # re-exported: it lived here before keys.py needed it
)
from engine.security.redact import register_secret

__all__ = [
    "ENV_VAULT",
    "AmazonCredential",
    "AwsCredential",
    "Credential",
    "QadCredential",
    "Vault",
    "atomic_write",
    "default_vault_path",
    "open_vault",
    "pending_key_file",
]

log = logging.getLogger(__name__)

ENV_VAULT = "ML_CONNECTOR_VAULT"
_FORMAT = "ml-connector-vault"
_VERSION = 1
_NONCE = 12
_CHECK_AD = b"ml-connector vault check v1"


def default_vault_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get(ENV_VAULT)
    return Path(override).expanduser() if override else config_dir(env) / "vault.bin"


def _rid(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class Vault:
    """The decrypted view of a vault file; every change is written back atomically at once."""

    def __init__(self, path: Path, key: bytes, records: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self._aead = AESGCM(key)
        self._on_disk = self._aead  # the key the file is sealed with, as far as we know
        self._records = records  # id -> decrypted dict

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, key: bytes, *, create: bool = False) -> Vault:
        """Open ``path`` with ``key``. ``create``: a missing file is an empty vault (saved on put).

        Raises CredentialError for a missing/unreadable/damaged file or a wrong key.
        """
        p = Path(path).expanduser()
        if len(key) != 32:
            raise CredentialError("the master key must be 32 bytes")
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            if create:
                return cls(p, key, {})
            raise CredentialError(
                f"no credential vault at {p}: add credentials with "
                "`ml-connector creds set amazon|qad --name NAME`"
            ) from None
        except OSError as exc:
            raise CredentialError(
                f"cannot read credential vault {p}: {exc.strerror} (check its owner and mode 0600)"
            ) from None
        if os.name == "posix" and p.stat().st_mode & 0o077:
            log.warning("credential vault %s is readable by others; run: chmod 600 %s", p, p)
        return cls(p, key, cls._decrypt(p, key, raw))

    @staticmethod
    def _decrypt(p: Path, key: bytes, raw: bytes) -> dict[str, dict[str, Any]]:
        damaged = CredentialError(
            f"credential vault {p} is damaged or not a vault file "
            "(restore a backup or delete it and run `ml-connector creds set` again)"
        )
        try:
            doc = json.loads(raw)
            if doc.get("format") != _FORMAT:
                raise damaged
            if doc.get("version") != _VERSION:
                raise CredentialError(
                    f"credential vault {p} has version {doc.get('version')!r}; this ml-connector "
                    f"reads version {_VERSION} (upgrade ml-connector)"
                )
            check = doc["check"]
            sealed = doc["records"]
            if not isinstance(sealed, dict):
                raise damaged
        except (ValueError, KeyError, TypeError, AttributeError):
            raise damaged from None
        aead = AESGCM(key)
        try:
            ids = json.loads(_open(aead, check, _CHECK_AD))
        except InvalidTag:
            raise CredentialError(
                f"wrong master key for credential vault {p} (check ML_CONNECTOR_KEY or the key "
                "file; ML_CONNECTOR_KEY_FILE) — nothing was decrypted"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise damaged from None
        if sorted(ids) != sorted(sealed):
            raise CredentialError(
                f"credential vault {p} was modified outside ml-connector (records added or "
                "removed); restore a backup"
            )
        records: dict[str, dict[str, Any]] = {}
        for rid, box in sealed.items():
            try:
                records[rid] = json.loads(_open(aead, box, rid.encode("utf-8")))
            except InvalidTag:
                raise CredentialError(
                    f"credential vault {p}: record {rid!r} fails authentication (tampered or "
                    "swapped with another record); restore a backup or set it again"
                ) from None
            except (ValueError, KeyError, TypeError):
                raise damaged from None
        return records

    # -- reading ---------------------------------------------------------------------------

    def names(self, kind: Kind | None = None) -> list[tuple[str, str]]:
        """Sorted (kind, name) pairs, optionally of one kind."""
        out = []
        for rid in sorted(self._records):
            k, _, n = rid.partition(":")
            if kind is None or k == kind:
                out.append((k, n))
        return out

    def get_amazon(self, name: str) -> AmazonCredential:
        cred = AmazonCredential._from_dict(name, self._get("amazon", name))
        for s in cred._secrets():
            register_secret(s)
        return cred

    def get_qad(self, name: str) -> QadCredential:
        cred = QadCredential._from_dict(name, self._get("qad", name))
        for s in cred._secrets():
            register_secret(s)
        return cred

    def get_aws(self, name: str) -> AwsCredential:
        cred = AwsCredential._from_dict(name, self._get("aws", name))
        for s in cred._secrets():
            if s:
                register_secret(s)
        return cred

    def get_secret(self, name: str) -> SecretCredential:
        cred = SecretCredential._from_dict(name, self._get("secret", name))
        register_secret(cred.value)  # never printed in a log line
        return cred

    def get(self, kind: Kind, name: str) -> Credential:
        if kind == "secret":
            return self.get_secret(name)
        if kind == "aws":
            return self.get_aws(name)
        return self.get_amazon(name) if kind == "amazon" else self.get_qad(name)

    def _get(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return self._records[_rid(kind, name)]
        except KeyError:
            raise CredentialError(
                f"no {kind} credential named {name!r} in {self.path}: run "
                f"`ml-connector creds set {kind} --name {name}`"
            ) from None

    # -- writing ---------------------------------------------------------------------------

    def put(self, cred: Credential) -> None:
        """Add or replace a record and save the vault."""
        if not cred.name or ":" in cred.name or cred.name.strip() != cred.name:
            raise CredentialError(f"invalid credential name {cred.name!r} (no ':' or spaces)")
        self._records[_rid(cred.kind, cred.name)] = cred._to_dict()
        self.save()

    def delete(self, kind: Kind, name: str) -> bool:
        """Remove a record and save; False when it did not exist."""
        if self._records.pop(_rid(kind, name), None) is None:
            return False
        self.save()
        return True

    def rotate_key(self, new_key: bytes) -> None:
        """Re-encrypt every record under ``new_key`` (one atomic file replace)."""
        if len(new_key) != 32:
            raise CredentialError("the new master key must be 32 bytes")
        self._aead = AESGCM(new_key)
        self.save()

    def save(self) -> None:
        doc = {
            "format": _FORMAT,
            "version": _VERSION,
            "check": _seal(self._aead, json.dumps(sorted(self._records)).encode(), _CHECK_AD),
            "records": {
                rid: _seal(self._aead, json.dumps(rec).encode("utf-8"), rid.encode("utf-8"))
                for rid, rec in sorted(self._records.items())
            },
        }
        self._refuse_if_resealed()
        atomic_write(self.path, json.dumps(doc, indent=1).encode("utf-8"))
        self._on_disk = self._aead

    def _refuse_if_resealed(self) -> None:
        """A `creds set` prompting while `creds rotate-key` ran would otherwise write the vault
        back under the retired key, which no key file holds any more."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            _open(self._on_disk, json.loads(raw)["check"], _CHECK_AD)
        except (ValueError, KeyError, TypeError, InvalidTag):
            raise CredentialError(
                f"credential vault {self.path} changed since it was opened (re-encrypted by "
                "`creds rotate-key`?); nothing was saved: run the command again"
            ) from None


def _seal(aead: AESGCM, plain: bytes, ad: bytes) -> dict[str, str]:
    nonce = secrets.token_bytes(_NONCE)  # random: a vault rewrite re-encrypts everything
    ct = aead.encrypt(nonce, plain, ad)
    return {"nonce": base64.b64encode(nonce).decode(), "ct": base64.b64encode(ct).decode()}


def _open(aead: AESGCM, box: dict[str, str], ad: bytes) -> bytes:
    try:
        nonce = base64.b64decode(box["nonce"], validate=True)
        ct = base64.b64decode(box["ct"], validate=True)
    except binascii.Error as exc:
        raise ValueError("bad base64") from exc
    return aead.decrypt(nonce, ct, ad)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so a crash leaves the old or the new file, never a torn one.

    Temp file in the same directory (same filesystem for rename), fsync, ``os.replace``, then
    fsync the directory so the rename itself is durable.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def open_vault(path: Path, *, create: bool = False) -> Vault:
    """Open the vault with the configured master key (one-line CredentialError otherwise).

    ``create`` makes a missing vault (and, for a new vault only, a missing key file): an
    existing vault needs the key it was sealed with, so a mistyped $ML_CONNECTOR_KEY_FILE is
    refused instead of answered with a fresh key that opens nothing.
    """
    new_vault = create and not path.expanduser().exists()
    key = load_master_key(create=new_vault, forbid_dir=path.expanduser().parent)
    try:
        return Vault.open(path, key, create=create)
    except CredentialError as exc:
        pending = pending_key_file(default_key_file())
        if "wrong master key" in str(exc) and pending.exists():
            # Never suggest deleting it: the vault may already be encrypted with that key.
            raise CredentialError(
                f"{exc}; an unfinished `creds rotate-key` holds the new key in {pending}: run "
                "`ml-connector creds rotate-key` again to finish it (do not delete that file)"
            ) from None
        raise
