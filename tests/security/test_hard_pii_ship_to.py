"""Buyer PII has one use: the QAD ship-to of a merchant-fulfilled order still to be shipped.

Over real HTTP (Amazon and QAD simulators) and a real SQLite event log:
- the address is requested only for MFN orders while Unshipped/PartiallyShipped, once per order
  however often the order is re-read (each sync re-reads a 6-hour overlap), never for FBA, and
  never with ``[orders] ship_to = false``; counted on the wire (aiohttp trace of every request);
- it is carried sealed in the log (the same envelope on every later version) and in the sales
  order command (the envelope, never plain text); the dispatcher's handler decrypts it right
  before the post, so the QAD sales order of the MFN order carries the ship-to;
- neither the event log file nor its WAL holds the buyer's name or street in plain text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest

from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.qad import QadClient
from engine.adapters.qad.models import PostResult, SalesOrder, SalesOrderUpdate
from engine.commands.outbox import Outbox
from engine.dispatch.handlers import qad_handlers
from engine.log.records import StoredEvent
from engine.log.sqlite import SQLiteEventLog
from engine.ops.demo import simulator_config
from engine.pollers.orders import OrdersPollConfig, OrdersPoller
from engine.projectors.mapping import Mapper
from engine.projectors.orders import OrdersProjector
from engine.projectors.runner import ProjectionRunner
from engine.security.keys import generate_key
from engine.security.pii import PiiSealer, is_envelope
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator
from tests.amazon.conftest import make_client
from tests.dispatch.conftest import make_dispatcher, qad_settings

if TYPE_CHECKING:
    from engine.adapters.qad.models import ShipTo

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]

# getOrder (2026-01-01, includedData=RECIPIENT) or getOrderAddress (v0): the two PII requests.
PII_PATH = re.compile(r"/orders/(?:2026-01-01/orders/([^/]+)|v0/orders/([^/]+)/address)$")
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
TO_SHIP = frozenset({"Unshipped", "PartiallyShipped"})
SYNCS = 4


class Wire:
    """Every request a session sends (method, path) and every body chunk, via aiohttp's trace."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []

    def config(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()

        async def start(_s: Any, _c: Any, params: aiohttp.TraceRequestStartParams) -> None:
            self.requests.append((params.method, params.url.path))

        async def chunk(_s: Any, _c: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            self.bodies.append(params.chunk)

        tc.on_request_start.append(start)
        tc.on_request_chunk_sent.append(chunk)
        return tc

    def pii_calls(self) -> Counter[str]:
        """Order id -> address requests sent for it."""
        found = (PII_PATH.search(path) for _, path in self.requests)
        return Counter(m.group(1) or m.group(2) for m in found if m)

    def rdt_calls(self) -> int:
        return sum(path.endswith(RDT_PATH) for _, path in self.requests)


class RecordingQad(QadClient):
    """The real QAD client (real HTTP to the simulator), remembering what the handlers gave it."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.orders: list[SalesOrder] = []
        self.updates: list[SalesOrderUpdate] = []

    async def post_sales_order(self, so: SalesOrder) -> PostResult:
        self.orders.append(so)
        return await super().post_sales_order(so)

    async def update_sales_order(self, upd: SalesOrderUpdate) -> PostResult:
        self.updates.append(upd)
        return await super().update_sales_order(upd)


@dataclass
class Run:
    amazon: AmazonSimulator
    log: SQLiteEventLog
    sealer: PiiSealer
    poller: OrdersPoller
    wire: Wire
    db: Path
    fetched: int = 0
    pending_at_start: set[str] = field(default_factory=set)

    async def syncs(self, n: int = SYNCS) -> None:
        for _ in range(n):
            self.fetched += (await self.poller.poll_once()).fetched
            self.amazon.advance(timedelta(hours=1))

    async def versions(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        async for e in self.log.read(streams=["amazon.orders"]):
            out.setdefault(e.key, []).append(e.payload)
        return out


MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2")


@asynccontextmanager
async def run(tmp_path: Path, *, api: str = "2026-01-01", **cfg_kw: Any) -> AsyncIterator[Run]:
    # time_scale 1: Amazon's clock moves by the syncs' explicit hours, so seed 2 has an MFN
    # order still Pending at the first sync (its ship-to arrives after the create).
    amazon = AmazonSimulator(
        seed=2, time_scale=1.0, history_days=2, orders_per_day=80, rate_limits=False
    )
    wire = Wire()
    db = tmp_path / "events.db"
    async with (
        amazon,
        aiohttp.ClientSession(trace_configs=[wire.config()]) as session,
        SQLiteEventLog.open(db) as log,
    ):
        sealer = PiiSealer.from_log(log, generate_key())
        await sealer.ensure_schema()
        cfg = OrdersPollConfig(
            marketplace_ids=MARKETPLACES,
            api=api,
            initial_lookback=timedelta(days=2),
            overlap=timedelta(hours=6),  # every sync re-reads the last 6 hours of orders
            **cfg_kw,
        )
        now = amazon.world.now()
        pending = {
            o.order_id
            for o in amazon.truth.orders()
            if o.channel == "MFN" and o.status(now) == "Pending" and o.purchased < now - 200
        }
        client = make_client(amazon, session, limits=BucketRegistry(enabled=False))
        poller = OrdersPoller(client, log, cfg, sealer)
        yield Run(amazon, log, sealer, poller, wire, db, pending_at_start=pending)


def needing_ship_to(versions: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {
        oid
        for oid, vs in versions.items()
        if any(v["fulfillment"] == "MFN" and v["status"] in TO_SHIP for v in vs)
    }


def on_disk(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
async def test_address_fetched_once_per_unshipped_mfn_order_never_for_fba(
    tmp_path: Path, api: str
) -> None:
    async with run(tmp_path, api=api) as r:
        await r.syncs()
        versions = await r.versions()
    calls = r.wire.pii_calls()
    needs = needing_ship_to(versions)
    fba = {oid for oid, vs in versions.items() if vs[0]["fulfillment"] == "AFN"}
    assert needs and fba and r.fetched > len(versions)  # orders were re-read
    assert {oid: calls[oid] for oid in fba if calls[oid]} == {}  # FBA: zero
    assert {oid: n for oid, n in calls.items() if oid not in needs} == {}  # shipped/pending: 0
    assert {oid: calls[oid] for oid in needs if calls[oid] != 1} == {}  # exactly one each
    if api == "v0":
        assert 1 <= r.wire.rdt_calls() <= SYNCS  # one cached RDT per token lifetime at most
    # Carried sealed: every version after the fetch holds the very same envelope.
    for oid in needs:
        vs = versions[oid]
        first = next(i for i, v in enumerate(vs) if v["pii"] == "sealed")
        envs = [v["ship_to"] for v in vs[first:]]
        assert is_envelope(envs[0]) and all(e == envs[0] for e in envs), oid
        assert all(v["pii"] == "sealed" for v in vs[first:]), oid
    # One data key per order, dated by the order's PurchaseDate (what purge-pii ages).
    async with SQLiteEventLog.open(r.db, readonly=True) as log:
        keys = await log.query("SELECT key_id, record_date FROM pii_keys")
    dates = {PiiSealer.key_id(oid): versions[oid][0]["purchase_date"] for oid in needs}
    assert {kid: d[:19] for kid, d in keys} == {kid: d[:19] for kid, d in dates.items()}


async def test_ship_to_false_never_asks_amazon_for_an_address(tmp_path: Path) -> None:
    async with run(tmp_path, ship_to=False) as r:
        await r.syncs()
        versions = await r.versions()
        assert await r.log.query("SELECT count(*) FROM pii_keys") == [(0,)]
    assert needing_ship_to(versions)  # there were orders that would have needed it
    assert r.wire.pii_calls() == Counter() and r.wire.rdt_calls() == 0
    assert all(
        v["pii"] != "sealed" and v["ship_to"] is None for vs in versions.values() for v in vs
    )


async def test_qad_sales_order_of_the_mfn_order_carries_the_ship_to(tmp_path: Path) -> None:
    async with (
        run(tmp_path) as r,
        QadSimulator(tmp_path / "qad.db", seed=3) as qad,
        aiohttp.ClientSession() as qad_session,
    ):
        await r.syncs()
        cfg = simulator_config(
            r.db, amazon_base=r.amazon.base_url, lwa_url=r.amazon.lwa_url, qad_url=qad.tenant_url()
        )
        outbox = Outbox(r.log)
        await outbox.ensure()
        projected = await ProjectionRunner(
            r.log, outbox, [OrdersProjector(Mapper(cfg.mapping))]
        ).run_once()
        assert projected > 0
        client = RecordingQad(qad_session, qad_settings(qad))
        await client.start()
        # What engine/ops/engine.py must wire: the log's sealer into the QAD handlers.
        dispatcher = make_dispatcher(outbox, qad_handlers(client, sealer=r.sealer))
        await dispatcher.run_until_idle(timeout_s=30)
        versions = await r.versions()
        plain = {}
        for oid in needing_ship_to(versions):
            sealed = next(v["ship_to"] for v in versions[oid] if v["pii"] == "sealed")
            plain[oid] = await r.sealer.open(sealed, record_key=oid)
        bodies = [orjson.loads(b) for (b,) in await r.log.query("SELECT body FROM commands")]
        attempts = [req for (req,) in await r.log.query("SELECT request FROM attempts")]
        so_refs = {so["so_po"] for so in qad.sales_orders()}
        raw = on_disk(r.db)  # the log still open: its WAL too

    assert plain and all(p is not None and p["name"] for p in plain.values())
    ship_tos: dict[str, ShipTo] = {}
    for so in client.orders:
        if so.ship_to is not None:
            ship_tos[so.reference] = so.ship_to
    for upd in client.updates:
        if upd.ship_to is not None:
            assert upd.reference not in ship_tos  # one ship-to per order: create or update
            ship_tos[upd.reference] = upd.ship_to
    # Every MFN order that needed a ship-to and is in QAD got exactly its buyer's address ...
    assert set(ship_tos) == set(plain) & so_refs and ship_tos
    for oid, st in ship_tos.items():
        p = plain[oid]
        assert p is not None
        assert st.name == p["name"] and st.address_lines == (p["address_line1"],), oid
        assert (st.city, st.postal_code, st.country_code) == (
            p["city"],
            p["postal_code"],
            p["country_code"],
        )
    # ... including the order first seen Pending: its address came with the update.
    late = r.pending_at_start & set(ship_tos)
    assert late, "seed 2 should hold an MFN order Pending at the first sync"
    assert late <= {u.reference for u in client.updates if u.ship_to is not None}
    # FBA orders never carry one.
    fba = {oid for oid, vs in versions.items() if vs[0]["fulfillment"] == "AFN"}
    assert fba & so_refs and not fba & set(ship_tos)
    # The commands carry the envelope, never the address; the summaries only say "sealed".
    carried = [b["ship_to"] for b in bodies if "ship_to" in b]
    assert len(carried) == len(ship_tos) and all(is_envelope(e) for e in carried)
    assert sum("ship_to=sealed" in a for a in attempts) == len(ship_tos)
    # No plain-text name or street anywhere in the event log file or its WAL (open, closed).
    raw += on_disk(r.db)
    for p in plain.values():
        assert p is not None
        assert p["name"].encode() not in raw and p["address_line1"].encode() not in raw
    assert b"Sample Street" not in raw and b"Buyer " not in raw


async def test_the_ship_to_reaches_qad_on_the_wire(tmp_path: Path) -> None:
    qad_wire = Wire()
    async with (
        run(tmp_path) as r,
        QadSimulator(tmp_path / "qad.db", seed=3) as qad,
        aiohttp.ClientSession(trace_configs=[qad_wire.config()]) as qad_session,
    ):
        await r.syncs(2)
        cfg = simulator_config(
            r.db, amazon_base=r.amazon.base_url, lwa_url=r.amazon.lwa_url, qad_url=qad.tenant_url()
        )
        outbox = Outbox(r.log)
        await outbox.ensure()
        await ProjectionRunner(r.log, outbox, [OrdersProjector(Mapper(cfg.mapping))]).run_once()
        async with QadClient(qad_session, qad_settings(qad)) as client:
            await make_dispatcher(outbox, qad_handlers(client, sealer=r.sealer)).run_until_idle(
                timeout_s=30
            )
    posted = b"".join(qad_wire.bodies)
    assert b'"shipToAddress"' in posted and b"Sample Street" in posted


def test_projector_puts_a_late_ship_to_into_one_update_and_never_for_fba() -> None:
    from datetime import UTC, datetime

    from engine.config.model import MappingConfig, MarketplaceMap

    mapper = Mapper(
        MappingConfig(
            sku={"S1": "10-1000"},
            marketplaces={"M1": MarketplaceMap(customer="AMZ-US", currency="USD")},
        )
    )
    proj = OrdersProjector(mapper)
    env = {"pii": 1, "kid": PiiSealer.key_id("O1"), "rk": "O1", "nonce": "bg==", "ct": "Yw=="}
    line = {"order_item_id": "1", "sku": "S1", "quantity": 1, "unit_price": None}
    base = {"order_id": "O1", "marketplace_id": "M1", "purchase_date": "2026-03-01T10:00:00Z"}

    def event(pos: int, **payload: Any) -> StoredEvent:
        body = {**base, "ship_to": None, "pii": "not_needed", **payload}
        return StoredEvent(
            pos, "amazon.orders", "OrderFetched", "O1", "d", body, "t", datetime.now(UTC)
        )

    state: dict[str, Any] = {}
    steps = [
        event(1, status="Pending", fulfillment="MFN", lines=[line]),
        event(
            2,
            status="Unshipped",
            fulfillment="MFN",
            lines=[{**line, "unit_price": "9.99"}],
            ship_to=env,
            pii="sealed",
        ),
        event(
            3,
            status="Shipped",
            fulfillment="MFN",
            lines=[{**line, "unit_price": "9.99"}],
            ship_to=env,
            pii="sealed",
        ),
    ]
    commands = []
    for ev in steps:
        out = proj.project(ev, state)
        state.update(out.state)
        commands += out.commands
    assert [c.kind for c in commands] == ["qad.sales_order.create", "qad.sales_order.update"]
    assert "ship_to" not in commands[0].body and commands[1].body["ship_to"] == env
    # Created already with the address (Unshipped first): in the create, no update for it.
    state = {}
    out = proj.project(steps[1], state)
    assert [c.body.get("ship_to") for c in out.commands] == [env]
    # FBA: an envelope in an AFN order (should never exist) still never reaches a command.
    state = {}
    fba = event(1, status="Unshipped", fulfillment="AFN", lines=[line], ship_to=env, pii="sealed")
    assert all("ship_to" not in c.body for c in proj.project(fba, state).commands)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("throttle", {"count": 4}), ("drop", {"count": 2}), ("truncate", {"count": 2}),
     ("status", {"status": 503, "count": 3})],
)  # fmt: skip
async def test_ship_to_fetch_survives_transient_faults_exactly_once(
    tmp_path: Path, kind: str, options: dict[str, Any]
) -> None:
    """The address call under 429 storms, drops, truncation and 5xx (the fault matrix's world
    has no unshipped merchant order, so the ship-to path is exercised here): every fault fires,
    every order that needs an address ends with exactly one sealed address, none twice."""
    async with run(tmp_path) as r:
        r.amazon.faults.add(kind, operation="getOrder2026", **options)
        await r.syncs()
        versions = await r.versions()
        left = [rule for rule in r.amazon.faults.rules if rule.operation == "getOrder2026"]
    assert left == [], f"fault never (fully) fired: {left}"
    needs = needing_ship_to(versions)
    assert needs
    for oid in needs:
        sealed = [v["ship_to"] for v in versions[oid] if v["pii"] == "sealed"]
        assert sealed and all(e == sealed[0] for e in sealed), oid
