"""The simulators restart in the middle of a sync.

QAD keeps its books in its SQLite state file (a new process on the same file and port); the
Amazon simulator comes back with the same seed on the same port, its clock resumed where it was
(same day, so the same business), but every access token it had issued is gone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator
from tests.faults.conftest import SIM, assert_same_books, faulted_run


async def _sync_with_restart(w: Any, cfg: Any, after_s: float, restart: Any) -> None:
    async with w.engine(cfg) as eng:
        task = asyncio.create_task(eng.sync_once(dispatch_timeout_s=30.0))
        await asyncio.sleep(after_s)
        await restart()
        try:
            await task
        except Exception as exc:
            pytest.fail(f"sync crashed on a restart: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("after_s", [0.05, 0.3, 0.8])
async def test_amazon_simulator_restarts(make_world, ref_books, after_s) -> None:
    ref = await ref_books()
    async with make_world() as w:
        old = w.amazon

        async def restart() -> None:
            now, port = old.clock.now(), old.port
            await old.stop()
            await asyncio.sleep(0.2)
            w.amazon = AmazonSimulator(**{**SIM, "start": now, "port": port})
            await w.amazon.start()

        try:
            await _sync_with_restart(w, w.config(), after_s, restart)
            await faulted_run(w, ref, passes=None)
        finally:
            if w.amazon is not old:
                await w.amazon.stop()


@pytest.mark.parametrize("after_s", [0.3, 0.8, 1.0])
async def test_qad_simulator_restarts(make_world, ref_books, after_s) -> None:
    ref = await ref_books()
    async with make_world() as w:
        old = w.qad

        async def restart() -> None:
            await old.close()
            await asyncio.sleep(0.2)
            w.qad = QadSimulator(old.state_path, port=old.port)
            await w.qad.start()

        try:
            await _sync_with_restart(w, w.config(), after_s, restart)
            await faulted_run(w, ref, passes=None)
        finally:
            if w.qad is not old:
                await w.qad.close()
        assert_same_books(ref, w.books())
