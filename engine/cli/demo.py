"""``ml-connector demo``: both simulators in-process, a few weeks of business synced into QAD."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.qad.settings import QadSettings
from engine.errors import ConfigError
from engine.log.sqlite import SQLiteEventLog
from engine.ops.demo_config import simulator_config
from engine.ops.engine import Engine
from engine.sim.business import catalog


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="sync a simulated Amazon seller into a simulated QAD tenant (start here)",
        description="Start the SP-API and QAD simulators on 127.0.0.1, generate a seeded "
        "business of a few weeks (orders in 5 marketplaces and 3 regions, settlements, FBA and "
        "merchant stock), sync it into QAD under Amazon's real usage plans (time-scaled), change "
        "an item in QAD and push it to the Amazon listing, and print a summary. Files (event log, "
        "QAD state) go to --dir so you can inspect them afterwards with `ml-connector status`.",
    )
    p.add_argument("--dir", help="folder for the demo's SQLite files (default: a temp folder)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated business")
    p.add_argument("--days", type=int, default=28, help="days of history (default 28)")
    p.add_argument("--orders-per-day", type=int, default=25, help="orders per day (default 25)")
    p.add_argument(
        "--time-scale", type=float, default=600.0, help="simulated seconds per real second"
    )
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.days < 15 or args.days > 80:
        raise ConfigError("--days must be between 15 and 80 (a settlement closes every 14 days)")
    if args.orders_per_day < 1 or args.time_scale <= 0:
        raise ConfigError("--orders-per-day and --time-scale must be positive")
    if args.dir:
        workdir = Path(args.dir)
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "events.db").exists():
            raise ConfigError(f"{workdir} already holds a demo (events.db); pick an empty --dir")
        return asyncio.run(_demo(workdir, args))
    with tempfile.TemporaryDirectory(prefix="ml-connector-demo-") as tmp:
        return asyncio.run(_demo(Path(tmp), args))


async def _demo(workdir: Path, args: argparse.Namespace) -> int:
    from engine.sim.amazon import AmazonSimulator
    from engine.sim.qad import QadSimulator

    started = time.monotonic()
    _say(f"ml-connector demo: files in {workdir}")
    async with (
        AmazonSimulator(
            seed=args.seed,
            time_scale=args.time_scale,
            history_days=args.days,
            orders_per_day=args.orders_per_day,
            rate_limits=True,
        ) as amazon,
        QadSimulator(workdir / "qad-state.db") as qad,
    ):
        _say(
            f"  Amazon SP-API simulator  {amazon.base_url}  (usage plans on, x{args.time_scale:g})"
        )
        _say(f"  QAD tenant simulator     {qad.tenant_url()}")
        cfg = simulator_config(
            workdir / "events.db",
            amazon_base=amazon.base_url,
            lwa_url=amazon.lwa_url,
            qad_url=qad.tenant_url(),
        )
        seller = amazon.sellers[0]
        account = AmazonAccount(
            client_id=seller.client_id,
            client_secret=seller.client_secret,
            refresh_tokens={r: c.refresh_token for r, c in seller.regions.items()},
            seller_id=seller.seller_id,
            name=seller.name,
        )
        qad_settings = QadSettings(
            tenant_url=qad.tenant_url(), username=qad.username, password=qad.password
        )
        async with Engine.open(
            cfg,
            amazon_account=account,
            qad_settings=qad_settings,
            master_key=os.urandom(32),  # demo only: addresses sealed under a throwaway key
            amazon_clock=amazon.clock.now,
            listing_verify_s=600.0,
        ) as eng:
            _say("[1/3] syncing Amazon -> QAD")
            await eng.sync_once(progress=lambda m: _say(f"      {m}"))
            item = catalog()[1]
            new_price = (item.list_price + Decimal("1.00")).quantize(Decimal("0.01"))
            _say(f"[2/3] QAD item {item.item_code} list price {item.list_price} -> {new_price}")
            _change_item_price(qad.state_file(), item.item_code, new_price)
            _say("[3/3] syncing the catalog change QAD -> Amazon listing")
            await eng.sync_once(progress=lambda m: _say(f"      {m}"))
            counts = await eng.outbox.counts()
            parked = await eng.outbox.parked()
        await _summary(cfg.engine.db, qad, amazon, item.sku, counts, parked)
    _say(
        f"done in {time.monotonic() - started:.0f} s. Inspect: ml-connector status --db "
        f"{workdir / 'events.db'}"
        if args.dir
        else f"done in {time.monotonic() - started:.0f} s"
    )
    return 0


def _change_item_price(state: Path, item: str, price: Decimal) -> None:
    # Stands in for a user editing the item master in QAD.
    con = sqlite3.connect(state)
    with con:
        con.execute("UPDATE pt_mstr SET pt_price = ? WHERE pt_part = ?", (str(price), item))
    con.close()


async def _summary(
    db: str, qad: Any, amazon: Any, sku: str, counts: Any, parked: list[Any]
) -> None:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        stats = await log.stats()
    streams = stats["streams"]
    orders = sum(streams.get("amazon.orders", {}).values())
    n_orders = len({r[0] for r in await _keys(db, "amazon.orders")})
    sos = qad.sales_orders()
    invoices = qad.invoices()
    journals = qad.journal_entries()
    recon = []
    for inv in invoices:
        lines = qad.query(
            "SELECT gltr_amt, gltr_acc FROM gltr_hist WHERE gltr_doc = ? AND gltr_doc_typ = 'JL'",
            (inv["ar_po"],),
        )
        balanced = sum(Decimal(str(x["gltr_amt"])) for x in lines) == 0
        deposit = sum(Decimal(str(x["gltr_amt"])) for x in lines if x["gltr_acc"] == "1250")
        recon.append(
            (inv["ar_po"], inv["ar_curr"], inv["ar_amt"], balanced and deposit == inv["ar_amt"])
        )
    adjustments = [t for t in qad.tr_hist() if t["tr_type"] in ("RCT-UNP", "ISS-UNP")]
    listing = amazon.truth.listings().get(sku, {})
    w = sys.stdout.write
    w("\nSummary\n")
    w(f"  Amazon orders fetched         {n_orders:>6}  ({orders} versions in the log)\n")
    w(f"  QAD sales orders              {len(sos):>6}\n")
    w(f"  Settlements -> invoices       {len(invoices):>6}  journals {len(journals)}\n")
    for ref, cur, amt, ok in recon:
        w(f"    {ref:<28} {cur} {amt:>12}  {'reconciled' if ok else 'NOT RECONCILED'}\n")
    w(f"  Inventory adjustments         {len(adjustments):>6}  (FBA site aligned to Amazon)\n")
    patched = _listing_patches(counts)
    w(f"  Listings patched              {patched:>6}  {sku}: {_price_of(listing)}\n")
    w(f"  Parked                        {len(parked):>6}\n")
    for p in parked[:10]:
        w(f"    {p.record_key}: {p.reason}\n")


async def _keys(db: str, stream: str) -> list[tuple[Any, ...]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return await log.query("SELECT DISTINCT key FROM events WHERE stream = ?", (stream,))


def _listing_patches(counts: Any) -> int:
    by_kind = getattr(counts, "by_kind", None) or {}
    entry = by_kind.get("amazon.listing.patch", {}) if isinstance(by_kind, dict) else {}
    return int(entry.get("ok", 0)) + int(entry.get("exists", 0)) if isinstance(entry, dict) else 0


def _price_of(listing: dict[str, Any]) -> str:
    try:
        offer = listing["attributes"]["purchasable_offer"][0]
        return f"price now {offer['our_price'][0]['schedule'][0]['value_with_tax']}"
    except (KeyError, IndexError, TypeError):
        return "listing unchanged"
