"""`creds rotate-key` killed at every step: a rerun always finishes, no key is ever lost.

Each case runs the real command in a subprocess with the test hook ML_CONNECTOR_TEST_CRASH_AT
(engine.ops.rotate_key: os._exit(137) right after the named step), then checks what every other
command sees in that state, reruns the same command and checks that every credential and every
PII data key is readable under exactly one master key, and not under the retired one.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CredentialError
from engine.log.records import NewEvent
from engine.log.sqlite import SQLiteEventLog
from engine.ops.rotate_key import CRASH_ENV
from engine.security.credentials import AmazonCredential, QadCredential
from engine.security.keys import (
    decode_key,
    encode_key,
    generate_key,
    load_master_key,
    write_key_file,
)
from engine.security.pii import PiiSealer
from engine.security.vault import Vault

ROOT = Path(__file__).resolve().parents[2]
SECRET = "lwa-secret-rot-5521"
PASSWORD = "qad-password-rot-9913"
ADDRESS = {"Name": "Ada Rotator", "AddressLine1": "1 Key Lane", "City": "Cipher"}
FILE_STEPS = [
    "validated",
    "pending-written",
    "journal-written",
    "pii-rewrapped",
    "vault-rotated",
    "key-replaced",
]
ENV_STEPS = [*FILE_STEPS[:5], "env-recorded"]


@dataclass
class World:
    env: dict[str, str]
    key_file: Path
    vault: Path
    old: bytes
    dbs: list[Path]
    envelopes: dict[Path, list[dict[str, Any]]] = field(default_factory=dict)
    purged: dict[Path, dict[str, Any]] = field(default_factory=dict)

    @property
    def pending(self) -> Path:
        return self.key_file.with_name("master.key.new")

    @property
    def journal(self) -> Path:
        return self.key_file.with_name("master.key.rotation")

    def rotate_args(self) -> list[str]:
        return ["creds", "rotate-key", *(a for db in self.dbs for a in ("--db", str(db)))]


def cli(w: World, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(w.env)
    if crash is not None:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def seed_db(db: Path, key: bytes, orders: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        purged = await sealer.seal(f"{db.stem}-purged", ADDRESS)
        await sealer.purge(datetime.now(UTC))  # a tombstone must survive rotation as one
        envs = [await sealer.seal(f"{db.stem}-order-{i}", ADDRESS) for i in range(orders)]
        await log.append(
            [NewEvent("amazon.orders", "OrderFetched", e["rk"], {"addr": e}) for e in envs]
        )
    return envs, purged


async def make_world(tmp_path: Path, *, env_key: bool, dbs: int = 2) -> World:
    key_file = tmp_path / "keys" / "master.key"
    vault = tmp_path / "data" / "vault.bin"
    old = generate_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR")}
    env |= {
        "ML_CONNECTOR_KEY_FILE": str(key_file),
        "ML_CONNECTOR_VAULT": str(vault),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    if env_key:
        env["ML_CONNECTOR_KEY"] = encode_key(old)
    else:
        write_key_file(key_file, old)
    v = Vault.open(vault, old, create=True)
    v.put(AmazonCredential("a", "client-a", SECRET, {"NA": "Atzr|na-token"}))
    v.put(QadCredential("q", "https://acme.qad.com/clouderp", "u", PASSWORD, "10USA", "10USACO"))
    w = World(env, key_file, vault, old, [tmp_path / "data" / f"log{i}.db" for i in range(dbs)])
    for i, db in enumerate(w.dbs):
        w.envelopes[db], w.purged[db] = await seed_db(db, old, 3 + i)
    return w


async def readable_with(w: World, key: bytes) -> None:
    """Every credential and every PII envelope opens with ``key`` (purged ones stay purged)."""
    vault = Vault.open(w.vault, key)
    assert vault.get_amazon("a").client_secret == SECRET
    assert vault.get_qad("q").password == PASSWORD
    for db in w.dbs:
        async with SQLiteEventLog.open(db, readonly=True) as log:
            sealer = PiiSealer.from_log(log, key)
            for env in w.envelopes[db]:
                assert await sealer.open(env) == ADDRESS
            assert await sealer.open(w.purged[db]) is None


async def unreadable_with(w: World, key: bytes) -> None:
    with pytest.raises(CredentialError, match="wrong master key"):
        Vault.open(w.vault, key)
    for db in w.dbs:
        async with SQLiteEventLog.open(db, readonly=True) as log:
            sealer = PiiSealer.from_log(log, key)
            for env in w.envelopes[db]:
                with pytest.raises(CredentialError, match="cannot be unwrapped"):
                    await sealer.open(env)


async def one_key_in_effect(w: World) -> bytes:
    """Rotation finished: no leftovers, the configured key reads everything, the old one nothing."""
    assert not w.pending.exists() and not w.journal.exists()
    key = load_master_key(w.env, create=False)  # refuses while any rotation is unfinished
    assert key != w.old
    if "ML_CONNECTOR_KEY" not in w.env:
        assert stat.S_IMODE(w.key_file.stat().st_mode) == 0o600
    await readable_with(w, key)
    await unreadable_with(w, w.old)
    return key


def refusal(w: World) -> str:
    """What every other command (sync, creds, purge-pii) is told in the current state."""
    with pytest.raises(CredentialError) as ei:
        load_master_key(w.env, create=False)
    return str(ei.value)


@pytest.mark.parametrize("step", FILE_STEPS)
async def test_key_file_rotation_killed_at_each_step_finishes_on_rerun(tmp_path, step):
    w = await make_world(tmp_path, env_key=False)
    crashed = cli(w, *w.rotate_args(), crash=step)
    assert crashed.returncode == 137, crashed.stderr
    if step == "validated":  # nothing written: the old key is still the only one
        assert not w.pending.exists() and not w.journal.exists()
        assert load_master_key(w.env, create=False) == w.old
        await readable_with(w, w.old)
    elif step == "key-replaced":  # the rename is the commit: only the journal is left over
        assert not w.pending.exists() and w.journal.exists()
        await readable_with(w, load_master_key(w.env, create=False))
    else:
        message = refusal(w)
        assert "rotate-key" in message and "do not delete" in message
        assert all(str(db) in message for db in w.dbs) or step == "pending-written"
        assert decode_key(w.pending.read_text(), where="test") != w.old
        if step == "pii-rewrapped":  # a real command: exit 2, one line, advice that keeps keys
            listed = cli(w, "creds", "list")
            assert listed.returncode == 2 and listed.stderr.count("\n") == 1, listed.stderr
            assert "do not delete" in listed.stderr and "rotate-key --vault" in listed.stderr
    rerun = cli(w, *w.rotate_args())
    assert rerun.returncode == 0, rerun.stderr
    new = await one_key_in_effect(w)
    if step not in ("validated", "key-replaced"):
        assert "finishing an interrupted" in rerun.stdout
    assert encode_key(new) not in rerun.stdout + crashed.stdout  # a key file's key is never shown


async def test_rerun_covers_the_interrupted_event_logs_even_with_skip_pii(tmp_path):
    w = await make_world(tmp_path, env_key=False)
    assert cli(w, *w.rotate_args(), crash="pii-rewrapped").returncode == 137  # log0 done only
    rerun = cli(w, "creds", "rotate-key", "--skip-pii")
    assert rerun.returncode == 0, rerun.stderr
    assert all(f"in {db}" in rerun.stdout for db in w.dbs)
    await one_key_in_effect(w)


async def test_kill_inside_the_rewrap_transaction_changes_nothing(tmp_path):
    """SIGKILL-equivalent after the UPDATEs ran but before COMMIT: every PII key still old."""
    w = await make_world(tmp_path, env_key=False, dbs=1)
    script = (
        "import os, sys\n"
        "from engine.log import sqlite as s\n"
        "real = s._SQLiteTransaction.executemany\n"
        "async def die(self, sql, rows):\n"
        "    await real(self, sql, rows)\n"
        "    if 'pii_keys' in sql:\n"
        "        # executemany is deferred: one more hop runs the UPDATEs, then dies pre-COMMIT\n"
        "        await self._hop(lambda conn: os._exit(137))\n"
        "s._SQLiteTransaction.executemany = die\n"
        "from engine.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, *w.rotate_args()],
        env=w.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 137, proc.stderr
    async with SQLiteEventLog.open(w.dbs[0]) as log:  # a writer open recovers the WAL
        sealer = PiiSealer.from_log(log, w.old)
        for env in w.envelopes[w.dbs[0]]:
            assert await sealer.open(env) == ADDRESS
    Vault.open(w.vault, w.old)
    assert cli(w, *w.rotate_args()).returncode == 0
    await one_key_in_effect(w)


def shown_key(stdout: str) -> str | None:
    m = re.search(r"New master key \(shown once; also kept in .*?\): (\S+)", stdout)
    return m.group(1) if m else None


@pytest.mark.parametrize("step", ENV_STEPS)
async def test_env_key_rotation_killed_at_each_step_then_operator_switches(tmp_path, step):
    w = await make_world(tmp_path, env_key=True)
    assert not w.key_file.exists()
    crashed = cli(w, *w.rotate_args(), crash=step)
    assert crashed.returncode == 137, crashed.stderr
    if step != "validated":
        message = refusal(w)
        assert "do not delete" in message or "retired master key" in message
    rerun = cli(w, *w.rotate_args())
    assert rerun.returncode == 0, rerun.stderr
    assert not w.key_file.exists()  # nothing is written where the variable is meant to be used
    new_text = w.pending.read_text().strip()
    if step == "env-recorded":  # journal already says so: the rerun points to the file instead
        assert shown_key(rerun.stdout) is None and str(w.pending) in rerun.stdout
    else:
        assert shown_key(rerun.stdout) == new_text
    # Everything is under the new key now; the old variable is refused with the right advice.
    new = decode_key(new_text, where="test")
    await readable_with(w, new)
    message = refusal(w)
    assert "retired master key" in message and str(w.pending) in message
    # The operator stores the new key: it works at once; one more rerun drops the pending file.
    w.env["ML_CONNECTOR_KEY"] = new_text
    assert load_master_key(w.env, create=False) == new
    if step == "env-recorded":  # also kill that last rerun between its two removals
        crashed = cli(w, *w.rotate_args(), crash="pending-removed")
        assert crashed.returncode == 137 and not w.pending.exists() and w.journal.exists()
    done = cli(w, *w.rotate_args())
    assert done.returncode == 0 and "complete" in done.stdout, done.stderr
    assert await one_key_in_effect(w) == new


async def test_env_key_switched_too_early_is_refused_then_finishes(tmp_path):
    w = await make_world(tmp_path, env_key=True)
    assert cli(w, *w.rotate_args(), crash="pii-rewrapped").returncode == 137
    w.env["ML_CONNECTOR_KEY"] = w.pending.read_text().strip()  # before the vault moved
    assert "set it back" in refusal(w)
    early = cli(w, *w.rotate_args())
    assert early.returncode == 2 and "set it back to the previous key" in early.stderr
    assert w.pending.exists()
    w.env["ML_CONNECTOR_KEY"] = encode_key(w.old)
    again = cli(w, *w.rotate_args())
    assert again.returncode == 0 and shown_key(again.stdout), again.stderr
    w.env["ML_CONNECTOR_KEY"] = shown_key(again.stdout) or ""
    assert cli(w, *w.rotate_args()).returncode == 0
    await one_key_in_effect(w)
