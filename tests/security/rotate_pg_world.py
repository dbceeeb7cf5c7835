"""The world of the PostgreSQL rotate-key tests (tests/security/test_rotate_key_postgres*.py):
a key file, a vault and an event log holding sealed records (and a purged one) under the old key,
and the checks that every record opens with one key and with no other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CredentialError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.ops.rotate_key import Rotation, rotate_master_key
from engine.security.credentials import QadCredential
from engine.security.keys import generate_key, write_key_file
from engine.security.pii import MasterKeyRotated, PiiSealer
from engine.security.pii_keys_postgres import ROTATED
from engine.security.vault import Vault

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = {"Name": "Rosalind Fencepost", "AddressLine1": "7 Rewrap Row", "City": "Lockport"}
PASSWORD = "qad-pw-fence-4471"
RECORDS = ("o-1", "o-2", "o-3")


@dataclass
class World:
    target: str  # an SQLite file or a PostgreSQL DSN
    key_file: Path
    vault: Path
    env: dict[str, str]
    old: bytes
    envelopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    purged: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> Path:
        return self.key_file.with_name("master.key.new")

    @property
    def journal(self) -> Path:
        return self.key_file.with_name("master.key.rotation")

    @property
    def postgres(self) -> bool:
        return self.target.startswith("postgresql://")


def order(envelope: dict[str, Any]) -> NewEvent:
    return NewEvent("amazon.orders", "OrderFetched", envelope["rk"], {"ship_to": envelope})


async def make_world(tmp_path: Path, target: str) -> World:
    key_file = tmp_path / "keys" / "master.key"
    vault = tmp_path / "data" / "vault.bin"
    vault.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR")}
    env |= {
        "ML_CONNECTOR_KEY_FILE": str(key_file),
        "ML_CONNECTOR_VAULT": str(vault),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    w = World(target, key_file, vault, env, generate_key())
    write_key_file(key_file, w.old)
    Vault.open(vault, w.old, create=True).put(
        QadCredential("q", "https://acme.qad.com/clouderp", "u", PASSWORD, "10USA", "10USACO")
    )
    async with open_event_log(target) as log:
        sealer = PiiSealer.from_log(log, w.old)
        await sealer.ensure_schema()
        w.purged = await sealer.seal("o-purged", ADDRESS)
        await sealer.purge(datetime.now(UTC))  # a tombstone must stay one
        for rk in RECORDS:
            w.envelopes[rk] = await sealer.seal(rk, ADDRESS)
        await log.append([order(e) for e in [w.purged, *w.envelopes.values()]])
    return w


async def rotate(w: World) -> Rotation:
    return await rotate_master_key(w.vault, [w.target], w.env)


async def opens_all(w: World, key: bytes) -> None:
    """Every record opens with ``key``; the purged one stays purged."""
    async with open_event_log(w.target, readonly=True) as log:
        sealer = PiiSealer.from_log(log, key)
        for envelope in w.envelopes.values():
            assert await sealer.open(envelope) == ADDRESS
        assert await sealer.open(w.purged) is None


async def refused_all(w: World, key: bytes) -> None:
    """No record opens with ``key``: a clear error, never a wrong plaintext."""
    async with open_event_log(w.target, readonly=True) as log:
        sealer = PiiSealer.from_log(log, key)
        for envelope in w.envelopes.values():
            if w.postgres:  # pii_master says why
                with pytest.raises(MasterKeyRotated) as refused:
                    await sealer.open(envelope)
                assert str(refused.value) == ROTATED
            else:
                with pytest.raises(CredentialError, match="cannot be unwrapped"):
                    await sealer.open(envelope)


async def stored_keys(log: EventLog) -> list[tuple[Any, ...]]:
    return await log.query("SELECT key_id, wrapped FROM pii_keys ORDER BY key_id")


async def fence(log: EventLog) -> list[tuple[Any, ...]]:
    return await log.query("SELECT fingerprint FROM pii_master")
