"""A listing patch refused by Amazon parks; after the fix `replay --parked --config` posts it once.

The replay wires the SP-API clients from the vault's Amazon credential (real HTTP against the
Amazon simulator, which runs on the real clock because the CLI signs with it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.cli import main as cli_main
from engine.log import SQLiteEventLog
from engine.security.keys import encode_key, generate_key
from engine.sim.business import catalog
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault

KIND = "amazon.listing.patch"


async def _outcomes(db: str, sku: str) -> dict[str, list[str]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        rows = await log.query(
            "SELECT c.command_id, a.outcome FROM commands c JOIN attempts a USING (command_id) "
            "WHERE c.kind = ? AND c.record_key = ? ORDER BY a.id",
            (KIND, sku),
        )
    out: dict[str, list[str]] = {}
    for cid, outcome in rows:
        out.setdefault(cid, []).append(outcome)
    return out


def _price(listing: dict[str, object]) -> Decimal:
    attrs = listing["attributes"]
    assert isinstance(attrs, dict)
    [offer] = [  # the US offer for every buyer (the listing also has B2B and other stores)
        o
        for o in attrs["purchasable_offer"]
        if o["marketplace_id"] == "ATVPDKIKX0DER" and o.get("audience", "ALL") == "ALL"
    ]
    return Decimal(str(offer["our_price"][0]["schedule"][0]["value_with_tax"]))


async def test_parked_listing_patch_is_posted_by_replay_parked_with_config(
    make_world, tmp_path, monkeypatch, capsys
):
    start = datetime.now(UTC)
    async with make_world(history_days=4, orders_per_day=2, time_scale=30.0, start=start) as w:
        cfg = w.config()
        item = catalog()[3]
        db = cfg.engine.db
        async with w.engine(cfg) as eng:
            await eng.sync_once()  # baseline: the first item version patches nothing
            new_price = (item.list_price + Decimal("2.50")).quantize(Decimal("0.01"))
            w.qad.query(
                "UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?",
                (str(new_price), item.item_code),
            )
            w.amazon.faults.add("status", operation="patchListingsItem", status=400, count=None)
            await eng.sync_once()
            parked = [p for p in await eng.outbox.parked() if p.command_id.startswith(KIND)]
        assert len(parked) == 1, parked
        [(cid, outcomes)] = (await _outcomes(db, item.sku)).items()
        assert cid == parked[0].command_id and outcomes == ["parked"]
        assert _price(w.amazon.truth.listings()[item.sku]) == item.list_price

        w.amazon.faults.clear()  # the listing problem is fixed in Seller Central
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
        config = write_config(cfg, tmp_path / "config.toml")
        argv = ["replay", "--db", db, "--parked", "--config", str(config), "--vault", str(vault)]
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "re-queued 1 command(s)" in out and "still parked" not in out, out

        # Posted exactly once, and Amazon shows the new price once it applied the submission.
        assert await _outcomes(db, item.sku) == {cid: ["parked", "requeued", "ok"]}
        w.amazon.advance(timedelta(minutes=10))  # past the simulated apply delay
        assert _price(w.amazon.truth.listings()[item.sku]) == new_price

        # Nothing left: a second replay re-queues and posts nothing.
        rc = await asyncio.to_thread(cli_main, argv)
        assert rc == 0 and "nothing to replay" in capsys.readouterr().out
        assert await _outcomes(db, item.sku) == {cid: ["parked", "requeued", "ok"]}
