"""`ml-connector run` as a real process: SIGTERM mid-dispatch exits 0 cleanly, nothing is lost.

The simulators run in this test's event loop; the engine runs in a subprocess with a vault
(master key from ML_CONNECTOR_KEY), exactly as on a small VM. The engine reads the real clock,
so the Amazon simulator starts now; it runs x30 (reports take 45 simulated seconds) and is
therefore a few simulated minutes ahead of the engine, which only delays what it fetches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.log import SQLiteEventLog
from engine.security.keys import encode_key, generate_key
from engine.security.vault import AmazonCredential, QadCredential, Vault
from engine.sim.business import sku_to_item
from engine.sim.qad.snapshot import snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_sync import assert_orders_match, latest_orders


def _vault(w: Any, path: Path, key: bytes) -> Path:
    vault = Vault.open(path, key, create=True)
    vault.put(
        AmazonCredential(
            name="default",
            client_id=w.account.client_id,
            client_secret=w.account.client_secret,
            refresh_tokens=dict(w.account.refresh_tokens),
            seller_id=w.account.seller_id,
        )
    )
    vault.put(
        QadCredential(
            name="default",
            tenant_url=w.qad.tenant_url(),
            username=w.qad.username,
            password=w.qad.password,
            domain="10USA",
            entity="10USACO",
        )
    )
    vault.save()
    return path


async def _cli(env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *argv,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_run_stops_cleanly_on_sigterm_and_sync_once_finishes_without_duplicates(
    make_world, tmp_path
):
    start = datetime.now(UTC)
    async with make_world(history_days=4, orders_per_day=8, time_scale=30.0, start=start) as w:
        cfg = w.config()
        # Default QAD rate (10/s): the posts take a few seconds, so SIGTERM lands mid-dispatch.
        cfg = dataclasses.replace(cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_burst=2))
        config = write_config(cfg, tmp_path / "config.toml")
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        common = ["--config", str(config), "--vault", str(vault)]

        proc = await _cli(env, "run", *common, "--drain", "5")
        try:
            async with asyncio.timeout(60):
                while not w.qad.sales_orders():
                    assert proc.returncode is None, await proc.stderr.read()  # type: ignore[union-attr]
                    await asyncio.sleep(0.05)
            posted_at_signal = len(w.qad.sales_orders())
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):  # drain 5 s + shutdown
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        stdout, stderr = out.decode(), err.decode()
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        assert "stopped cleanly" in stdout

        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            [(total,)] = await log.query("SELECT count(*) FROM commands")
            [(done,)] = await log.query(
                "SELECT count(*) FROM commands c JOIN attempts a ON a.id = (SELECT max(id) FROM "
                "attempts WHERE command_id = c.command_id) WHERE a.outcome IN ('ok','exists',"
                "'skipped')"
            )
        # It was stopped part-way (otherwise this test proves nothing about the shutdown).
        assert posted_at_signal >= 1 and done < total, (posted_at_signal, done, total)

        sync = await _cli(env, "sync", *common, "--once")
        async with asyncio.timeout(60):
            out, err = await sync.communicate()
        assert sync.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()

        snap = snapshot(w.qad.state_file())
        assert snap.duplicate_count == 0, snap.duplicates
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            left = await log.query(
                "SELECT c.command_id, a.outcome FROM commands c LEFT JOIN attempts a ON a.id = "
                "(SELECT max(id) FROM attempts WHERE command_id = c.command_id) "
                "WHERE a.outcome IS NULL OR a.outcome NOT IN ('ok','exists','skipped')"
            )
        assert left == []  # everything finished, nothing parked
        assert_orders_match(w, await latest_orders(cfg.engine.db))
        item = sku_to_item()
        for sku, qty in w.amazon.truth.fba_inventory(None, "ATVPDKIKX0DER").items():
            assert w.qad.on_hand(item[sku], "10-FBA") == qty, sku
