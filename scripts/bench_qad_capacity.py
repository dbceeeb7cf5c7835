"""The QAD simulator's own capacity for the sales orders of a bench run (used by bench_e2e.py).

A fresh QAD simulator (its own process and state file) is fed the very sales-order commands the
engine derived in the run, by a tight client: an aiohttp session and the engine's QAD adapter
(look-up by reference, then the header/line-grid post: the same requests the dispatcher makes),
``concurrency`` at a time, and nothing else: no event log, outbox, projection or attempt
records. Its orders/s is the ceiling the engine's dispatch could reach on this machine [I]: the
adapter builds and parses the same requests the engine must, so the engine is compared with the
simulator plus the unavoidable HTTP work, not with a raw socket replay (which would be faster).
Ship-to envelopes are opened with the run's own PII keys, as the engine does.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sqlite3
import time
from pathlib import Path
from typing import Any

SALES_ORDER = "qad.sales_order.create"


def sales_order_commands(db: Path) -> list[tuple[str, str, str, bytes]]:
    """(command id, record key, reference, body) of the run's sales-order creates, in order."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT command_id, record_key, reference, body FROM commands WHERE kind = ? "
            "ORDER BY seq",
            (SALES_ORDER,),
        ).fetchall()
    finally:
        con.close()
    return [(str(a), str(b), str(c), bytes(d)) for a, b, c, d in rows]


def _child(conn: Any, spec: dict[str, Any]) -> None:
    import resource

    result = asyncio.run(_post_all(spec))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_s"] = ru.ru_utime + ru.ru_stime
    conn.send(result)


async def _post_all(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    import orjson

    from engine.adapters.qad.client import QadClient
    from engine.adapters.qad.settings import QadSettings
    from engine.commands.vocabulary import Command
    from engine.dispatch.handlers import qad_handlers
    from engine.log.sqlite import SQLiteEventLog
    from engine.security.pii import PiiSealer

    qad = spec["qad"]
    settings = QadSettings(tenant_url=qad["url"], username=qad["user"], password=qad["password"])
    commands = [
        Command(cid, SALES_ORDER, "qad", rk, ref, cid, orjson.loads(body))
        for cid, rk, ref, body in sales_order_commands(Path(spec["db"]))
    ]
    outcomes: dict[str, int] = {}
    async with (
        SQLiteEventLog.open(spec["db"], readonly=True) as log,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        client = QadClient(session, settings)
        await client.start()
        handler = qad_handlers(client, sealer=PiiSealer.from_log(log, bytes(32)))[SALES_ORDER]
        # Always the look-up + post path (``perform``), even where the engine may skip the
        # look-up; an older tree's handler is the coroutine function itself.
        perform: Any = getattr(handler, "perform", handler)
        queue: asyncio.Queue[Command] = asyncio.Queue()
        for cmd in commands:
            queue.put_nowait(cmd)

        async def worker() -> None:
            while not queue.empty():
                cmd = queue.get_nowait()
                outcome = await perform(cmd, False)
                outcomes[outcome.outcome] = outcomes.get(outcome.outcome, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        secs = time.perf_counter() - t0
    return {"sales_orders": len(commands), "seconds": secs, "outcomes": outcomes}


def measure(db: Path, state: Path, concurrency: int) -> dict[str, Any]:
    """Post the run's sales orders into a fresh QAD simulator on ``state``; orders/s etc."""
    from engine.sim.process import SimulatorProcess, serve_qad

    with SimulatorProcess(serve_qad, str(state)) as qad:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_child, args=(child, {"db": str(db), "qad": qad, "concurrency": concurrency})
        )
        proc.start()
        child.close()
        try:
            res: dict[str, Any] = parent.recv()
        except EOFError:
            proc.join()
            raise RuntimeError(f"the capacity client died (exit code {proc.exitcode})") from None
        proc.join(30)
    n, secs = res["sales_orders"], res["seconds"]
    return {
        "qad_sim_capacity_sales_orders": n,
        "qad_sim_capacity_orders_per_s": round(n / secs, 1) if secs > 0 else 0.0,
        "qad_sim_capacity_outcomes": res["outcomes"],
        "qad_sim_capacity_client_cpu_ms_per_order": round(
            res["client_cpu_s"] * 1000 / max(n, 1), 3
        ),
    }
