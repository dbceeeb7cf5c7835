"""Parked records are never silent (issue 21 item 3).

Orders that use an unmapped SKU park in the projector (a record park, no command). Before the
fix `sync --once` counted only dispatcher parks, so it ended with no hint, and `status` printed
"parked 0" beside the PARKED record lines. Now one count (``Outbox.needs_attention``: parked
commands + open record parks) drives the sync hint, ``SyncReport.parked_total`` and `status`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime

from engine.commands.outbox import Outbox
from engine.log import SQLiteEventLog
from engine.security.keys import encode_key, generate_key
from engine.sim.business import sku_to_item
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault


async def _cli(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *argv,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_unmapped_sku_parks_are_counted_by_sync_and_status(make_world, tmp_path) -> None:
    full = sku_to_item()
    unmapped = sorted(full)[::2]  # half the catalogue has no QAD item: some orders must park
    partial = {k: v for k, v in full.items() if k not in unmapped}
    async with make_world(
        history_days=3, orders_per_day=6, time_scale=30.0, start=datetime.now(UTC)
    ) as w:
        cfg = w.config(sku_map=partial)
        config = write_config(cfg, tmp_path / "config.toml")
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        rc, _out, err = await _cli(
            "sync", "--once", "--config", str(config), "--vault", str(vault), env=env
        )
    # Parks are business states, not a failed run: exit 0, but never without a hint.
    assert rc == 0, err[-2000:]

    async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
        outbox = Outbox(log)
        parked = await outbox.parked()
        assert await outbox.needs_attention() == len(parked)
    record_parks = [p for p in parked if p.kind == "record" and p.projector == "orders"]
    assert record_parks, "no order used an unmapped SKU"
    assert all("MLC-" in p.reason for p in record_parks)
    total = len(parked)

    hint = re.search(r"(\d+) record\(s\) need attention \(parked\): see `ml-connector status`", err)
    assert hint, err[-2000:]
    assert int(hint.group(1)) == total

    rc, text, err = await _cli("status", "--db", cfg.engine.db, env=env)
    assert rc == 0, err
    rc, js, err = await _cli("status", "--db", cfg.engine.db, "--json", env=env)
    assert rc == 0, err
    status = json.loads(js)

    assert status["needs_attention"] == total > 0
    assert f"needs attention {total} parked" in text
    flows = {f["flow"]: f for f in status["flows"]}
    orders = flows["amazon.orders"]["commands"]
    assert orders["parked_records"] == len(record_parks)
    assert orders["parked"] == orders["parked_commands"] + orders["parked_records"]
    assert sum(f["commands"]["parked"] for f in status["flows"]) == total
    # Text and JSON agree, flow by flow: the count beside the PARKED lines includes them.
    for name, flow in flows.items():
        section = text.split(f"\n{name}\n", 1)[1].split("\n\n", 1)[0]
        shown = re.search(r"parked (\d+)", section)
        assert shown and int(shown.group(1)) == flow["commands"]["parked"], section
        assert section.count("  PARKED ") == len(flow["parked"]) == flow["commands"]["parked"]
