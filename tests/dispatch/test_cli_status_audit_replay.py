"""status / audit / replay CLI over a real log file and the QAD simulator (real HTTP)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engine.cli import main
from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Park
from engine.dispatch.handlers import qad_handlers
from engine.log import NewEvent, SQLiteEventLog

from .conftest import ITEMS, add, make_dispatcher, so_create, so_update

ENVELOPE = {"pii": 1, "kid": "p1.abc", "rk": "ORD-1", "nonce": "bm9uY2U=", "ct": "c2VjcmV0"}


async def seed(qad, client, path: Path) -> None:
    async with SQLiteEventLog.open(path) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        await _seed(qad, client, outbox)


async def _seed(qad, client, outbox: Outbox) -> None:
    log = outbox.log
    order = {
        "order_id": "ORD-1",
        "status": "Unshipped",
        "order_total": "19.98",
        "ship_to": ENVELOPE,
        "pii": "sealed",
        "lines": [{"sku": "MLC-1000-F"}],
        "BuyerEmail": "jane@example.com",
    }
    await log.append(
        [NewEvent("amazon.orders", "OrderFetched", "ORD-1", order)],
        bookmark=("amazon.orders.NA", {"last_update": "2026-03-01T10:00:00Z"}),
    )
    await log.append(
        [NewEvent("amazon.orders", "OrderFetched", "ORD-1", {**order, "status": "Shipped"})]
    )
    await log.append(
        [NewEvent("amazon.orders", "OrderFetched", "ORD-BAD", {"order_id": "ORD-BAD"})]
    )
    create = so_create("ORD-1", (ITEMS[0], "2", "9.99"))
    create = create.__class__(
        **{**{f: getattr(create, f) for f in create.__slots__}, "positions": (1,)}
    )
    await add(
        outbox,
        create,
        so_update("ORD-1", 1, "3", "9.99"),
        so_create("ORD-BAD", (ITEMS[0], "1", "5.00")),
        projector="orders",
    )
    async with log.transaction() as tx:
        await outbox.add_park(
            tx, Park("ORD-UNMAPPED", 3, "unmapped SKU MLC-9999 (no QAD item)"), "orders"
        )
        await tx.set_tracking("projector:orders", 2)
    qad.faults.add(
        "business_error",
        reference="ORD-BAD",
        times=0,
        message="Item 10-1000 is on hold for customer AMZ-US",
    )
    await make_dispatcher(outbox, qad_handlers(client)).run_until_idle(timeout_s=10)


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_status_audit_and_replay(qad, client, tmp_path, capsys):
    db = str(tmp_path / "events.db")
    await seed(qad, client, Path(db))

    assert await cli("status", "--db", db) == 0
    out = capsys.readouterr().out
    assert "amazon.orders" in out and "amazon.settlements" in out and "amazon.listings" in out
    assert "amazon.orders.NA: last_update=2026-03-01T10:00:00Z" in out
    assert "lag            1 event(s) not projected" in out
    # parked counts what needs a human: the ORD-BAD command and the ORD-UNMAPPED record.
    assert "pending 0  sent 2  skipped 0  parked 2 (1 command(s), 1 record(s))" in out
    assert "needs attention 2 parked" in out
    assert "Item 10-1000 is on hold for customer AMZ-US" in out
    assert "record ORD-UNMAPPED: unmapped SKU MLC-9999" in out
    assert "jane@example.com" not in out and "c2VjcmV0" not in out

    assert await cli("status", "--db", db, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    orders = status["flows"][0]
    assert orders["commands"]["parked"] == 2 and orders["events"] == 3
    assert orders["commands"]["parked_commands"] == 1 and status["needs_attention"] == 2

    assert await cli("audit", "--db", db, "ORD-1") == 0
    out = capsys.readouterr().out
    so_nbr = next(so["so_nbr"] for so in qad.sales_orders() if so["so_po"] == "ORD-1")
    assert "v1 #1 amazon.orders/OrderFetched" in out and "v2 #2" in out
    assert "qad.sales_order.create ref=ORD-1 [ok] -> QAD document " + so_nbr in out
    assert "qad.sales_order.update ref=ORD-1 [ok]" in out
    assert "request:  sales order ref=ORD-1 customer=AMZ-US" in out
    assert "ship_to=[sealed]" in out
    assert "jane@example.com" not in out and "c2VjcmV0" not in out and "p1.abc" not in out

    assert await cli("audit", "--db", db, "--json", "ORD-1") == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["events"][0]["payload"]["ship_to"] == "[sealed]"
    assert audit["events"][0]["payload"]["BuyerEmail"] == "[redacted]"
    assert [c["state"] for c in audit["commands"]] == ["ok", "ok"]
    assert audit["commands"][0]["document"] == so_nbr

    assert await cli("audit", "--db", db, "ORD-UNMAPPED") == 0
    assert "[OPEN] orders at #3: unmapped SKU MLC-9999" in capsys.readouterr().out
    assert await cli("audit", "--db", db, "NOPE") == 1
    capsys.readouterr()

    # Replay with --config while QAD still rejects: re-parked, exit 1; fixed: posted, exit 0.
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[qad]\ntenant_url = "{qad.tenant_url()}"\n'
        "[dispatch]\nretry_base_s = 0.02\nretry_cap_s = 0.1\nmax_attempts = 3\ntimeout_s = 5.0\n"
    )
    assert (
        await cli("replay", "--db", db, "--parked", "--config", str(cfg), "--demo-credentials") == 1
    )
    out = capsys.readouterr().out
    assert "re-queued 1 command(s)" in out and "still parked" in out
    qad.faults.clear()
    assert (
        await cli("replay", "--db", db, "--parked", "--config", str(cfg), "--demo-credentials") == 0
    )
    assert "dispatched: ok 1" in capsys.readouterr().out
    assert len([so for so in qad.sales_orders() if so["so_po"] == "ORD-BAD"]) == 1
    assert await cli("replay", "--db", db, "--parked") == 0
    assert "nothing to replay" in capsys.readouterr().out

    # --command without --config only re-queues; an unknown id is a usage error.
    cid = audit["commands"][0]["command_id"]
    assert await cli("replay", "--db", db, "--command", cid) == 0
    assert "pending now" in capsys.readouterr().out
    assert await cli("replay", "--db", db, "--command", "no-such-id") == 2
    assert "no command" in capsys.readouterr().err


async def test_status_on_a_log_without_outbox_and_missing_file(tmp_path, capsys):
    db = tmp_path / "e.db"
    async with SQLiteEventLog.open(db) as log:
        await log.append([NewEvent("amazon.settlements", "SettlementFetched", "S1", {"x": 1})])
    assert await cli("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "no commands yet" in out and "events         1" in out
    assert await cli("status", "--db", str(tmp_path / "missing.db")) == 2
    assert "not found" in capsys.readouterr().err
