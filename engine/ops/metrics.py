"""Prometheus metrics of one engine, with the official ``prometheus_client``.

Each ``Metrics`` has its own ``CollectorRegistry`` (never the process-global default), so
several engines in one process, or the tests, never share or collide on a series.

Two sources, one exposition:
- in-process, as things happen (``Metrics`` is the ``engine.observe.Observer`` of the SP-API
  clients, the QAD transport and the dispatcher): SP-API and QAD calls by operation and outcome
  with their latency, dispatch attempts by command kind and outcome;
- from the event log at scrape time (``exposition(log)``, either backend), so ``serve --db``
  beside a running engine shows the same: events appended per stream, order freshness, parked
  items and commands per flow and state, each flow's last successful poll and state (the
  shared rule of engine/ops/flow_state.py), the log head.

Naming follows https://prometheus.io/docs/practices/naming [D]: prefix ``mlc_``, base units
(seconds), ``_total`` on counters (prometheus_client adds it), labels from closed vocabularies
only (flow, region, operation, method, outcome, kind, state): never an order id, SKU or URL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from engine import __version__
from engine.commands.outbox import Outbox
from engine.config.model import PollConfig
from engine.dispatch.listing_handlers import VERIFY_KIND
from engine.log import EventLog
from engine.observe import RemoteCall
from engine.ops.flow_state import STATES, flow_states
from engine.ops.status import FLOWS

__all__ = ["CONTENT_TYPE", "METRIC_NAMES", "Metrics", "metrics_routes"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Remote calls take milliseconds to tens of seconds (a report document, a slow QAD commit);
# the client's defaults stop at 10 s, so wider buckets [D prometheus_client docs; I values].
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Order freshness (Amazon LastUpdateDate -> posted to QAD): minutes to a day [I].
FRESHNESS_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)

# Every metric this module exposes (the README table lists them with their labels).
METRIC_NAMES = (
    "mlc_spapi_requests_total",
    "mlc_spapi_throttled_total",
    "mlc_spapi_request_duration_seconds",
    "mlc_qad_requests_total",
    "mlc_qad_request_duration_seconds",
    "mlc_dispatch_attempts_total",
    "mlc_dispatch_duration_seconds",
    "mlc_events_appended_total",
    "mlc_order_freshness_seconds",
    "mlc_log_head_position",
    "mlc_commands",
    "mlc_parked_items",
    "mlc_flow_last_success_timestamp_seconds",
    "mlc_flow_state",
    "mlc_build_info",
)


class _Snapshot(Collector):
    """The gauges read from the event log at the last refresh, as metric families."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)

    def describe(self) -> Iterable[Metric]:
        return []  # no fixed set before the first refresh; never registered twice anyway


class Metrics:
    """One engine's metrics (see module doc); also its ``Observer``."""

    def __init__(self, poll: PollConfig | None = None) -> None:
        self.poll = poll or PollConfig()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.spapi_requests = Counter(
            "mlc_spapi_requests",
            "SP-API HTTP requests (each try) by region, operation and outcome",
            ["region", "operation", "outcome"],
            registry=r,
        )
        self.spapi_throttled = Counter(
            "mlc_spapi_throttled",
            "SP-API answers 429 (throttled) by region and operation",
            ["region", "operation"],
            registry=r,
        )
        self.spapi_duration = Histogram(
            "mlc_spapi_request_duration_seconds",
            "SP-API request latency by region and operation",
            ["region", "operation"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.qad_requests = Counter(
            "mlc_qad_requests",
            "QAD HTTP requests by method, [qad.paths] key and outcome",
            ["method", "operation", "outcome"],
            registry=r,
        )
        self.qad_duration = Histogram(
            "mlc_qad_request_duration_seconds",
            "QAD request latency by method and [qad.paths] key",
            ["method", "operation"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.dispatch_attempts = Counter(
            "mlc_dispatch_attempts",
            "Outbox command attempts by command kind and outcome (ok, exists, retry, parked...)",
            ["kind", "outcome"],
            registry=r,
        )
        self.dispatch_duration = Histogram(
            "mlc_dispatch_duration_seconds",
            "Time one command attempt took, after its rate limiter let it go",
            ["kind"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.events_appended = Counter(
            "mlc_events_appended",
            "Events appended to the event log, by stream (counted from the log since start)",
            ["stream"],
            registry=r,
        )
        self.freshness = Histogram(
            "mlc_order_freshness_seconds",
            "Age of an Amazon order version (LastUpdateDate) when it reached QAD",
            ["region"],
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self._snapshot = _Snapshot()
        r.register(self._snapshot)
        self._events_after = 0  # events counted up to this position
        self._samples = SamplePager()  # which order_freshness rows were observed
        self._lock = asyncio.Lock()

    # -- Observer (engine.observe) ----------------------------------------------------------

    def remote_call(self, call: RemoteCall) -> None:
        if call.system == "amazon":
            self.spapi_requests.labels(call.region, call.operation, call.outcome).inc()
            if call.outcome == "throttled":
                self.spapi_throttled.labels(call.region, call.operation).inc()
            self.spapi_duration.labels(call.region, call.operation).observe(call.seconds)
        else:
            self.qad_requests.labels(call.method, call.operation, call.outcome).inc()
            self.qad_duration.labels(call.method, call.operation).observe(call.seconds)

    def command_attempt(self, kind: str, outcome: str, seconds: float) -> None:
        self.dispatch_attempts.labels(kind, outcome).inc()
        self.dispatch_duration.labels(kind).observe(seconds)

    # -- exposition ---------------------------------------------------------------------------

    async def exposition(self, log: EventLog | None, now: datetime | None = None) -> bytes:
        """The text exposition format (``CONTENT_TYPE``), the log-derived parts read first."""
        async with self._lock:  # two scrapes at once must not count the same events twice
            if log is not None:
                await self.refresh(log, now)
            return generate_latest(self.registry)

    async def refresh(self, log: EventLog, now: datetime | None = None) -> None:
        """Read the log-derived counters (new events, new freshness samples) and gauges."""
        # Positions are safe to page by on both backends: an append takes its positions under
        # the log's write lock (SQLite's writer, PostgreSQL's head row) and commits before the
        # next append gets any, so no committed position ever appears behind one already read.
        rows = await log.query(
            "SELECT stream, count(*), max(position) FROM events WHERE position > ? GROUP BY stream",
            (self._events_after,),
        )
        for stream, n, last in rows:
            self.events_appended.labels(stream).inc(int(n))
            self._events_after = max(self._events_after, int(last))
        if "order_freshness" in await log.tables():
            # SQLite: the rowid (the sample_id column of a new table is that rowid; a table from
            # before the column keeps its shape and its rowid). PostgreSQL: the identity column.
            column = "rowid" if log.capabilities.backend == "sqlite" else "sample_id"
            samples = await log.query(
                f"SELECT {column}, region, seconds FROM order_freshness WHERE {column} > ? "
                f"ORDER BY {column}",
                (self._samples.floor,),
            )
            in_order = log.capabilities.backend == "sqlite"
            for _sample, region, seconds in self._samples.new(samples, in_order=in_order):
                self.freshness.labels(region).observe(max(0.0, float(seconds)))
        self._snapshot.families = list(await self._gauges(log, now))

    async def _gauges(self, log: EventLog, now: datetime | None) -> Iterator[Metric]:
        head = GaugeMetricFamily("mlc_log_head_position", "Position of the newest event")
        head.add_metric([], float(await log.head()))
        info = InfoMetricFamily("mlc_build", "ml-connector version")
        info.add_metric([], {"version": __version__})
        commands = GaugeMetricFamily(
            "mlc_commands",
            "Outbox commands by flow and state (pending, sent, skipped, parked)",
            labels=["flow", "state"],
        )
        parked = GaugeMetricFamily(
            "mlc_parked_items",
            "What needs a human, by flow: parked commands and parked records",
            labels=["flow", "what"],
        )
        outbox = Outbox(log)
        if await outbox.has_tables():
            by_flow = _command_states((await outbox.counts()).by_kind)
            items = await outbox.parked()
        else:
            by_flow, items = {}, []
        for flow in FLOWS:
            for state, n in sorted(by_flow.get(flow.name, {}).items()):
                commands.add_metric([flow.name, state], float(n))
            records = sum(1 for i in items if i.kind == "record" and i.projector == flow.projector)
            held = by_flow.get(flow.name, {}).get("parked", 0)
            parked.add_metric([flow.name, "command"], float(held))
            parked.add_metric([flow.name, "record"], float(records))
        last = GaugeMetricFamily(
            "mlc_flow_last_success_timestamp_seconds",
            "Unix time of each flow's last successful poll (alert on time() minus this)",
            labels=["flow", "region"],
        )
        states = GaugeMetricFamily(
            "mlc_flow_state",
            "1 for each flow's current state (healthy, late, failing, paused, ...), else 0",
            labels=["flow", "region", "state"],
        )
        for row in await flow_states(log, self.poll, now):
            name = row.flow.partition(":")[0]
            if row.last_success is not None:
                last.add_metric([name, row.region], row.last_success.timestamp())
            for s in STATES:
                states.add_metric([name, row.region, s], 1.0 if s == row.state else 0.0)
        return iter([head, info, commands, parked, last, states])


_SENT = ("ok", "exists")
_PENDING = ("new", "retry", "unknown", "requeued", "verifying")


def _command_states(by_kind: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """flow -> {pending, sent, skipped, parked: count} (the grouping ``status`` uses)."""
    out: dict[str, dict[str, int]] = {}
    for kind, states in by_kind.items():
        if kind == VERIFY_KIND:
            continue  # read-backs of listing patches, not commands of their own (as status)
        flow = next((f.name for f in FLOWS if kind.startswith(f.kinds)), None)
        if flow is None:
            continue
        acc = out.setdefault(flow, {"pending": 0, "sent": 0, "skipped": 0, "parked": 0})
        for st, n in states.items():
            key = "sent" if st in _SENT else "pending" if st in _PENDING else st
            if key in acc:
                acc[key] += n
    return out


class SamplePager:
    """Which ``order_freshness`` rows (by id) a scrape has already observed, so each sample
    lands in the histogram once even when ids do not become visible in id order.

    SQLite has one writer and a new rowid is max+1 inside its write transaction, so ids commit
    in order and "id > last seen" never skips one. On PostgreSQL several worker processes may
    insert samples: an identity value is taken at insert time and shows at commit, so a
    transaction holding id 7 can commit after one holding id 8 has been read. Paging past 8
    would lose 7 for good, so a missing id below the newest one seen is a gap, held open (the
    query still reads from below it; rows already seen are skipped) for ``settle_s``: longer
    than an attempt-group transaction lasts. A gap that never fills is given up after that: a
    rolled-back insert, or ``INSERT ... ON CONFLICT DO NOTHING`` on a re-post, burns its id.
    Chosen over "accept the loss" because a histogram count that silently drifts from the
    table's count is exactly what the scrape tests compare, and over reading by time because
    posted_at is the Amazon clock (a simulator's may jump), not commit order.
    """

    def __init__(
        self,
        settle_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        lookback: int = 1000,
    ) -> None:
        self.settle_s = settle_s
        self.clock = clock
        # At the first read, ids this close below the oldest row are gaps too (inserts in
        # flight while this process started: at most the workers' open attempt groups); older
        # ones are pruned history, never waited for one by one.
        self.lookback = lookback
        self.floor = 0  # every id <= floor was observed, or given up on
        self._seen: set[int] = set()  # ids above floor already observed
        self._gaps: dict[int, float] = {}  # ids above floor still missing -> when first missed
        self._started = False

    def new(
        self, rows: Sequence[tuple[Any, ...]], *, in_order: bool = False
    ) -> list[tuple[Any, ...]]:
        """Of ``rows`` (id first, all above ``floor``, ascending), the ones not seen before.
        ``in_order``: ids are known to commit in order (SQLite), so there is no gap to wait for
        and no row is read twice."""
        if in_order:
            self.floor = max([self.floor, *(int(r[0]) for r in rows)])
            return list(rows)
        if not self._started and rows:
            self.floor = max(0, int(rows[0][0]) - 1 - self.lookback)
        self._started = self._started or bool(rows)
        fresh = [r for r in rows if int(r[0]) not in self._seen]
        self._seen.update(int(r[0]) for r in fresh)
        for r in fresh:
            self._gaps.pop(int(r[0]), None)
        now = self.clock()
        top = max(self._seen, default=self.floor)
        for missing in range(self.floor + 1, top):
            if missing not in self._seen:
                self._gaps.setdefault(missing, now)
        self._gaps = {i: t for i, t in self._gaps.items() if now - t <= self.settle_s}
        self.floor = min(self._gaps, default=top + 1) - 1
        self._seen = {i for i in self._seen if i > self.floor}
        return fresh


def metrics_routes(
    log: EventLog, metrics: Metrics | None = None, poll: PollConfig | None = None
) -> Sequence[web.RouteDef]:
    """``GET /metrics`` for the web app (engine/web): the running engine's ``metrics`` under
    ``run``; a fresh registry under ``serve --db`` (its counters start at the log's contents)."""
    m = metrics or Metrics(poll)

    async def handler(_request: web.Request) -> web.Response:
        body = await m.exposition(log)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return [web.get("/metrics", handler)]
