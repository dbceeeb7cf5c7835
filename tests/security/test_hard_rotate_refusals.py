"""`creds rotate-key` refuses, with one line and nothing changed, whatever it cannot do safely:
an event log in use by a sync, a second rotation, a PII key it could not move, a file that is no
event log, a wrong key. And a pending key deleted by hand is caught before data is lost.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CredentialError
from engine.log.sqlite import SQLiteEventLog
from engine.ops.rotate_key import CRASH_ENV
from engine.security.credentials import QadCredential
from engine.security.keys import encode_key, generate_key, load_master_key, write_key_file
from engine.security.pii import PiiSealer
from engine.security.vault import Vault

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = {"Name": "Bea Refusal", "City": "Lockton"}


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.key_file = tmp_path / "keys" / "master.key"
        self.vault = tmp_path / "data" / "vault.bin"
        self.db = tmp_path / "data" / "log.db"
        self.old = generate_key()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR")}
        self.env |= {
            "ML_CONNECTOR_KEY_FILE": str(self.key_file),
            "ML_CONNECTOR_VAULT": str(self.vault),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        }
        write_key_file(self.key_file, self.old)
        v = Vault.open(self.vault, self.old, create=True)
        v.put(QadCredential("q", "https://acme.qad.com/clouderp", "u", "pw-77", "10USA", "E"))
        self.envelopes: list[dict[str, Any]] = []

    async def seed(self) -> World:
        async with SQLiteEventLog.open(self.db) as log:
            sealer = PiiSealer.from_log(log, self.old)
            await sealer.ensure_schema()
            self.envelopes = [await sealer.seal(f"order-{i}", ADDRESS) for i in range(3)]
        return self

    def rotate(self, *extra: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env) | ({CRASH_ENV: crash} if crash else {})
        return subprocess.run(
            [sys.executable, "-m", "engine", "creds", "rotate-key", *extra],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def snapshot(self) -> tuple[object, ...]:
        """Every byte that holds a key or a credential (lock files excluded: they hold nothing)."""
        rows: list[tuple[Any, ...]] = []
        if self.db.exists():
            conn = sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True)
            with conn:
                rows = conn.execute("SELECT * FROM pii_keys ORDER BY key_id").fetchall()
            conn.close()
        files = sorted(p.name for p in self.key_file.parent.iterdir() if p.suffix != ".lock")
        return (self.key_file.read_bytes(), self.vault.read_bytes(), rows, files)


def assert_refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0 and proc.stdout == "", proc
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    for word in words:
        assert word in proc.stderr, proc.stderr


async def test_refused_while_a_sync_holds_the_writer_lock(tmp_path):
    w = await World(tmp_path).seed()
    before = w.snapshot()
    async with SQLiteEventLog.open(w.db):  # what `sync`/`run` hold for their whole run
        proc = w.rotate("--db", str(w.db))
    assert_refused(proc, "in use by another ml-connector process", "nothing changed")
    assert proc.returncode == 1
    assert w.snapshot() == before
    assert load_master_key(w.env, create=False) == w.old
    assert w.rotate("--db", str(w.db)).returncode == 0  # once the sync is gone it works


async def test_a_second_rotation_is_refused(tmp_path):
    w = await World(tmp_path).seed()
    before = w.snapshot()
    fd = os.open(w.key_file.with_name("master.key.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = w.rotate("--db", str(w.db))
    finally:
        os.close(fd)
    assert_refused(proc, "another `creds rotate-key` is running")
    assert w.snapshot() == before


async def test_a_pii_key_under_a_discarded_master_key_is_refused_before_writing(tmp_path):
    """The state the old defect left behind: rotating on top of it must not bury it deeper."""
    w = await World(tmp_path).seed()
    async with SQLiteEventLog.open(w.db) as log:
        await PiiSealer.from_log(log, generate_key()).seal("order-orphan", ADDRESS)
    before = w.snapshot()
    proc = w.rotate("--db", str(w.db))
    assert_refused(proc, "wrapped by neither", "nothing changed")
    assert proc.returncode == 2
    assert w.snapshot() == before


@pytest.mark.parametrize("kind", ["missing", "foreign"])
async def test_a_db_that_is_no_event_log_is_refused_and_left_alone(tmp_path, kind):
    w = await World(tmp_path).seed()
    target = tmp_path / "data" / "other.db"
    if kind == "foreign":
        conn = sqlite3.connect(target)
        conn.execute("CREATE TABLE notes (t TEXT)")
        conn.commit()
        conn.close()
    raw = target.read_bytes() if target.exists() else None
    before = w.snapshot()
    proc = w.rotate("--db", str(w.db), "--db", str(target))
    assert_refused(proc, str(target), "nothing changed")
    assert proc.returncode == 2
    assert w.snapshot() == before
    assert (target.read_bytes() if target.exists() else None) == raw
    assert not target.with_name("other.db.lock").exists()  # never even opened as a writer


async def test_a_wrong_key_is_refused_before_writing(tmp_path):
    w = await World(tmp_path).seed()
    w.env["ML_CONNECTOR_KEY"] = encode_key(generate_key())
    before = w.snapshot()
    assert_refused(w.rotate("--db", str(w.db)), "wrong master key")
    assert w.snapshot() == before


async def test_pending_key_deleted_by_hand_is_caught_and_restoring_it_finishes(tmp_path):
    w = await World(tmp_path).seed()
    pending = w.key_file.with_name("master.key.new")
    assert w.rotate("--db", str(w.db), crash="pii-rewrapped").returncode == 137
    saved = pending.read_bytes()
    pending.unlink()  # what the old advice told operators to do
    proc = w.rotate("--db", str(w.db))
    assert_refused(proc, "is missing", "restore that file")
    pending.write_bytes(saved)
    pending.chmod(0o600)
    assert w.rotate("--db", str(w.db)).returncode == 0
    new = load_master_key(w.env, create=False)
    assert new != w.old
    async with SQLiteEventLog.open(w.db, readonly=True) as log:
        sealer = PiiSealer.from_log(log, new)
        assert [await sealer.open(e) for e in w.envelopes] == [ADDRESS] * 3


async def test_pending_key_deleted_before_it_was_used_is_harmless(tmp_path):
    w = await World(tmp_path).seed()
    assert w.rotate("--db", str(w.db), crash="journal-written").returncode == 137
    w.key_file.with_name("master.key.new").unlink()
    assert w.rotate("--db", str(w.db)).returncode == 0  # nothing used it: a fresh rotation
    assert not w.key_file.with_name("master.key.rotation").exists()
    new = load_master_key(w.env, create=False)
    assert new != w.old
    assert Vault.open(w.vault, new).get_qad("q").password == "pw-77"


async def test_a_vault_opened_before_the_rotation_is_not_saved_under_the_retired_key(tmp_path):
    """`creds set` prompting in one terminal while `rotate-key` runs in another."""
    w = await World(tmp_path).seed()
    prompting = Vault.open(w.vault, w.old)
    assert w.rotate("--db", str(w.db)).returncode == 0
    with pytest.raises(CredentialError, match="changed since it was opened"):
        prompting.put(QadCredential("late", "https://acme.qad.com/clouderp", "u", "p", "D", "E"))
    new = load_master_key(w.env, create=False)
    assert Vault.open(w.vault, new).names() == [("qad", "q")]
