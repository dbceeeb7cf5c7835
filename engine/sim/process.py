"""Run a simulator in its own spawned process (benchmarks measure the engine's cost apart).

``with SimulatorProcess(serve_amazon, {"seed": 1}) as info:`` starts the child, returns what it
reports once listening (URLs, demo credentials), and on exit stops it and collects the child's
own CPU seconds in ``cpu_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import resource
import time
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["SimulatorProcess", "serve_amazon", "serve_qad"]


def _until_stopped(conn: Any, info: dict[str, Any]) -> Any:
    conn.send(info)
    return asyncio.get_running_loop().run_in_executor(None, conn.recv)


def _send_cpu(conn: Any) -> None:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    conn.send(ru.ru_utime + ru.ru_stime)


def serve_amazon(conn: Any, kwargs: dict[str, Any]) -> None:
    """Child target: an AmazonSimulator(**kwargs) until the parent says stop."""
    from engine.sim.amazon import AmazonSimulator

    async def main() -> None:
        async with AmazonSimulator(**kwargs) as sim:
            s = sim.sellers[0]
            info = {
                "base": sim.base_url,
                "lwa": sim.lwa_url,
                "client_id": s.client_id,
                "client_secret": s.client_secret,
                "tokens": {r: c.refresh_token for r, c in s.regions.items()},
                "mps": list(s.regions["NA"].marketplace_ids) if "NA" in s.regions else [],
                "seller_id": s.seller_id,
                "name": s.name,
                "now": sim.clock.now().isoformat(),
                "at": time.time(),
                "scale": sim.clock.time_scale,
            }
            await _until_stopped(conn, info)

    warnings.simplefilter("ignore")
    asyncio.run(main())
    _send_cpu(conn)


def serve_qad(conn: Any, state: str) -> None:
    """Child target: a QadSimulator on the state file ``state`` until the parent says stop."""
    from engine.sim.qad import QadSimulator

    async def main() -> None:
        async with QadSimulator(state) as qad:
            info = {
                "url": qad.tenant_url(),
                "user": qad.username,
                "password": qad.password,
                "state": str(qad.state_file()),
            }
            await _until_stopped(conn, info)

    warnings.simplefilter("ignore")
    asyncio.run(main())
    _send_cpu(conn)


class SimulatorProcess:
    """A spawned child that reports once when ready and stops on "stop"."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.cpu_s = 0.0  # the child's own CPU seconds, reported when it stops

    def __enter__(self) -> dict[str, Any]:
        self.proc.start()
        info: dict[str, Any] = self.parent.recv()
        return info

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.parent.send("stop")
            if self.parent.poll(15):
                self.cpu_s = float(self.parent.recv())
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
