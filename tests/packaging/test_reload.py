"""SIGHUP (the unit's ExecReload) on a real `ml-connector run` against both simulators.

A config that does not load is refused and the engine keeps running on the old one; a good one
is taken over in the same process (drained, opened again); SIGTERM then still stops it cleanly
with exit 0 and the posts made before and after the reload are there, none twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from datetime import UTC, datetime

from engine.security.keys import encode_key, generate_key
from engine.sim.qad.snapshot import snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())


async def _until(lines: list[str], text: str, proc: asyncio.subprocess.Process, n: int = 1) -> None:
    async with asyncio.timeout(60):
        while sum(text in ln for ln in lines) < n:
            assert proc.returncode is None, "".join(lines)
            await asyncio.sleep(0.05)


async def test_sighup_refuses_a_bad_config_and_takes_over_a_good_one(make_world, tmp_path):
    async with make_world(history_days=2, orders_per_day=6, start=datetime.now(UTC)) as w:
        cfg = w.config()
        config = write_config(cfg, tmp_path / "config.toml")
        good = config.read_text()
        vault = _vault(w, tmp_path / "vault.bin", key := generate_key())
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "run", "--config", str(config), "--vault", str(vault),
            "--drain", "5", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out: list[str] = []
        err: list[str] = []
        readers = [
            asyncio.create_task(_collect(proc.stdout, out)),  # type: ignore[arg-type]
            asyncio.create_task(_collect(proc.stderr, err)),  # type: ignore[arg-type]
        ]
        try:
            await _until(out, "ml-connector running on", proc)
            async with asyncio.timeout(60):
                while not w.qad.sales_orders():
                    await asyncio.sleep(0.05)

            assert "[poll]\n" in good
            config.write_text(good.replace("[poll]\n", "[poll]\nbogus = 1\n"))  # a typo
            proc.send_signal(signal.SIGHUP)
            await _until(err, "config reload refused", proc)
            assert "unknown key poll.bogus" in "".join(err), err
            await asyncio.sleep(1.0)
            assert proc.returncode is None, "a bad config must not stop the running engine"

            faster = dataclasses.replace(cfg, poll=dataclasses.replace(cfg.poll, orders_every_s=7))
            write_config(faster, config)
            proc.send_signal(signal.SIGHUP)
            await _until(out, "config reloaded from", proc)
            await _until(out, "ml-connector running on", proc, n=2)

            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.wait()
            await asyncio.gather(*readers)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        stdout, stderr = "".join(out), "".join(err)
        assert proc.returncode == 0, stderr[-2000:]
        assert "Traceback" not in stderr, stderr[-2000:]
        assert stdout.rstrip().endswith("stopped cleanly"), stdout
        assert snapshot(w.qad.state_file()).duplicate_count == 0
