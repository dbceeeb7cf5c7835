"""``sync --once`` overlaps its phases (issue 18): the dispatcher posts to QAD while a poller is
still polling, the commands of one record still go one at a time in seq order, and the pass
still ends with everything posted and no duplicate."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter, defaultdict
from typing import Any

import pytest

from engine.commands.vocabulary import Command
from engine.dispatch.handlers import Handler
from engine.ops.engine import Engine
from engine.sim.qad.snapshot import snapshot
from tests.e2e.conftest import make_world as make_world  # the fixture, re-exported

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


class Watch:
    """Wraps every handler: records each record's commands in the order they start, and the
    most of one record's commands ever in flight at once."""

    def __init__(self, eng: Engine) -> None:
        self.started: dict[str, list[str]] = defaultdict(list)
        self.inflight: Counter[str] = Counter()
        self.max_inflight = 0
        self.posts = 0
        eng.dispatcher.handlers = {
            kind: self._wrap(h) for kind, h in eng.dispatcher.handlers.items()
        }

    def _wrap(self, h: Handler) -> Handler:
        async def around(cmd: Command, call: Any) -> Any:
            self.started[cmd.record_key].append(cmd.command_id)
            self.inflight[cmd.record_key] += 1
            self.max_inflight = max(self.max_inflight, self.inflight[cmd.record_key])
            try:
                await asyncio.sleep(0.01)  # a slower post: overlaps would show
                return await call()
            finally:
                self.inflight[cmd.record_key] -= 1
                self.posts += 1

        async def perform(cmd: Command, uncertain: bool) -> Any:
            return await around(cmd, lambda: h.perform(cmd, uncertain))

        unsent = h.perform_unsent

        async def perform_unsent(cmd: Command) -> Any:
            assert unsent is not None
            return await around(cmd, lambda: unsent(cmd))

        return dataclasses.replace(
            h, perform=perform, perform_unsent=perform_unsent if unsent else None
        )


def _gate_poller(eng: Engine, name: str, opened: list[str]) -> None:
    """The poller ``name`` starts only once QAD accepted a post of this pass (or 30 s passed,
    which the test then fails on): a strictly sequential pass never posts before polling ends."""
    poller = eng.pollers[name]
    inner = poller.poll_once

    async def gated() -> Any:
        for _ in range(600):
            rows = await eng.log.query("SELECT count(*) FROM attempts WHERE outcome = 'ok'")
            if rows[0][0]:
                opened.append("posted while polling")
                break
            await asyncio.sleep(0.05)
        return await inner()

    poller.poll_once = gated


async def test_dispatch_posts_while_pollers_still_poll_with_record_order_kept(
    make_world: Any,
) -> None:
    async with make_world(history_days=20, orders_per_day=2) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            watch = Watch(eng)
            gated = [n for n in eng.pollers if n.startswith("settlements")]
            opened: list[str] = []
            for name in gated:
                _gate_poller(eng, name, opened)
            report = await asyncio.wait_for(eng.sync_once(dispatch_timeout_s=60.0), 120)
            # QAD took posts before polling ended
            assert opened == ["posted while polling"] * len(gated)
            assert not report.poll_errors
            assert sum(report.polled[n].fetched for n in gated) > 0  # they ran, afterwards
            # Everything that can be posted was posted: nothing left due, nothing new unsent.
            assert await eng.outbox.pending() == []
            assert report.dispatched.get("ok", 0) > 0
            rows = await eng.log.query(
                "SELECT c.record_key, c.command_id, c.seq FROM commands c ORDER BY c.seq"
            )
            seq = {cid: s for _, cid, s in rows}
            multi = [k for k, ids in watch.started.items() if len(ids) > 1]
            for key, ids in watch.started.items():
                firsts = list(dict.fromkeys(ids))  # a retried command starts again later
                assert [seq[c] for c in firsts] == sorted(seq[c] for c in firsts), key
            assert watch.max_inflight == 1  # never two commands of one record at once
            assert multi, "the world should give some record more than one command"
            # The settlements of the gated poller were projected and posted in the same pass.
            kinds = await eng.log.query(
                "SELECT count(*) FROM commands c JOIN attempts a ON a.command_id = c.command_id "
                "WHERE c.kind LIKE 'qad.invoice.%' AND a.outcome = 'ok'"
            )
            assert kinds[0][0] > 0
            # Within the engine's lifetime: the QAD simulator's state file holds every document.
            books = snapshot(w.qad.state_file())
        assert books.duplicate_count == 0
        assert len(books.sales_orders) > 0
