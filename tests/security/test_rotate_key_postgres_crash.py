"""`creds rotate-key` on a PostgreSQL event log, interrupted: a rerun always finishes.

The order is event logs, then vault, then key file (engine/ops/rotate_key.py says why). A crash
between the database step and the vault step (raised), a failure inside the database step's
transaction (raised before COMMIT), and a kill (the CRASH_ENV hook, os._exit) after each step:
every state is recoverable with the keys on disk, and the same command run again ends with
every record and the vault under the new key and nothing under the old one. With the key in
``$ML_CONNECTOR_KEY`` the fence moves in the first run, before the operator switches.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CredentialError
from engine.log.opening import open_event_log
from engine.ops.rotate_key import CRASH_ENV, STEPS
from engine.security import pii_keys_postgres
from engine.security.keys import decode_key, encode_key, load_master_key
from engine.security.pii import MasterKeyRotated, PiiSealer
from engine.security.pii_keys_postgres import master_fingerprint
from engine.security.vault import Vault
from tests.security.rotate_pg_world import (
    ADDRESS,
    PASSWORD,
    RECORDS,
    ROOT,
    World,
    fence,
    make_world,
    opens_all,
    refused_all,
    rotate,
)


async def test_a_crash_between_the_database_and_the_vault_step_is_finished_by_a_rerun(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world(tmp_path, pg_dsn)
    real = Vault.rotate_key

    def crash(self: Vault, new_key: bytes) -> None:
        raise RuntimeError("simulated crash after the database step")

    monkeypatch.setattr(Vault, "rotate_key", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        await rotate(w)
    monkeypatch.setattr(Vault, "rotate_key", real)
    new = decode_key(w.pending.read_text(), where="test")
    # In between: the log (and its fence) under the new key, the vault under the old one; both
    # keys on disk, and no command gets a key until the rotation is finished.
    await opens_all(w, new)
    await refused_all(w, w.old)
    assert Vault.open(w.vault, w.old).get_qad("q").password == PASSWORD
    with pytest.raises(CredentialError, match="wrong master key"):
        Vault.open(w.vault, new)
    with pytest.raises(CredentialError, match="rotate-key"):
        load_master_key(w.env, create=False)
    done = await rotate(w)  # the same command again
    assert done.outcome == "replaced" and done.resumed
    assert done.rewrapped == {pg_dsn: len(RECORDS)}
    assert load_master_key(w.env, create=False) == new
    assert not w.pending.exists() and not w.journal.exists()
    await opens_all(w, new)
    await refused_all(w, w.old)
    assert Vault.open(w.vault, new).get_qad("q").password == PASSWORD
    with pytest.raises(CredentialError, match="wrong master key"):
        Vault.open(w.vault, w.old)


async def test_a_failure_inside_the_database_step_moves_nothing_and_a_rerun_finishes(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world(tmp_path, pg_dsn)
    real = pii_keys_postgres._set_master

    async def fail(tx: Any, fingerprint: str) -> None:  # every UPDATE ran, no COMMIT yet
        raise RuntimeError("simulated crash inside the rewrap transaction")

    monkeypatch.setattr(pii_keys_postgres, "_set_master", fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        await rotate(w)
    monkeypatch.setattr(pii_keys_postgres, "_set_master", real)
    await opens_all(w, w.old)  # rolled back: every key and the fence still under the old key
    async with open_event_log(pg_dsn) as engine_log:  # so engines keep sealing meanwhile
        assert await fence(engine_log) == [(master_fingerprint(w.old),)]
        engine = PiiSealer.from_log(engine_log, w.old)
        w.envelopes["o-meanwhile"] = await engine.seal("o-meanwhile", ADDRESS)
    done = await rotate(w)
    assert done.resumed and done.rewrapped == {pg_dsn: len(RECORDS) + 1}
    await opens_all(w, load_master_key(w.env, create=False))
    await refused_all(w, w.old)


FILE_STEPS = STEPS[: STEPS.index("key-replaced") + 1]


def cli(w: World, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(w.env) | ({CRASH_ENV: crash} if crash else {})
    return subprocess.run(
        [sys.executable, "-m", "engine", "creds", "rotate-key", "--db", w.target],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("step", FILE_STEPS)
async def test_killed_after_each_step_a_rerun_finishes(
    tmp_path: Path, pg_dsn: str, step: str
) -> None:
    w = await make_world(tmp_path, pg_dsn)
    crashed = cli(w, crash=step)
    assert crashed.returncode == 137, crashed.stderr
    fenced = STEPS.index(step) >= STEPS.index("pii-rewrapped")
    async with open_event_log(pg_dsn) as engine_log:
        engine = PiiSealer.from_log(engine_log, w.old)  # an engine on another machine
        if fenced:
            with pytest.raises(MasterKeyRotated):
                await engine.seal("o-meanwhile", ADDRESS)
        else:  # the fence has not moved: it goes on, and the rerun covers its new key
            w.envelopes["o-meanwhile"] = await engine.seal("o-meanwhile", ADDRESS)
    rerun = cli(w)
    assert rerun.returncode == 0, rerun.stderr
    if step != "key-replaced":  # else the key file already holds the new key: nothing to move
        assert f"rewrapped {len(w.envelopes)} PII data keys in {pg_dsn}" in rerun.stdout
    new = load_master_key(w.env, create=False)
    assert new != w.old and not w.pending.exists() and not w.journal.exists()
    await opens_all(w, new)
    await refused_all(w, w.old)
    assert Vault.open(w.vault, new).get_qad("q").password == PASSWORD


async def test_with_the_key_in_the_environment_the_fence_moves_before_the_operator_switches(
    tmp_path: Path, pg_dsn: str
) -> None:
    w = await make_world(tmp_path, pg_dsn)
    w.key_file.unlink()
    w.env["ML_CONNECTOR_KEY"] = encode_key(w.old)
    done = await rotate(w)
    assert done.outcome == "awaiting-env" and done.new_key is not None
    new = done.new_key
    await opens_all(w, new)  # everything, the fence included, is under the new key already
    await refused_all(w, w.old)
    w.env["ML_CONNECTOR_KEY"] = encode_key(new)  # the operator, on every machine
    finished = await rotate(w)
    assert finished.outcome == "finished" and not w.pending.exists()
    assert load_master_key(w.env, create=False) == new
    async with open_event_log(pg_dsn) as engine_log:
        assert await fence(engine_log) == [(master_fingerprint(new),)]
        restarted = PiiSealer.from_log(engine_log, new)
        assert await restarted.open(await restarted.seal("o-after", ADDRESS)) == ADDRESS
