"""A report id from SP-API names no file: hostile ids never write outside the raw directory.

The engine stores each downloaded document under ``raw_dir/<region>/``; the name used to be the
``reportId`` as Amazon sent it, so ``../../evil`` or an absolute path wrote wherever the engine
could write. The simulator is made to publish reports under such ids (its own data, changed in
place), and the real pollers fetch them over HTTP.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
from pathlib import Path

import aiohttp
import pytest

from engine.adapters.amazon import reports
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.inventory import MfnInventoryPoller
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.sim.amazon import AmazonSimulator
from tests.amazon.conftest import make_client

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]

SAFE_FILE = re.compile(r"^[A-Za-z0-9_-]+(\.gz)?$")


@pytest.fixture
async def sim():
    async with AmazonSimulator(seed=2, time_scale=60.0, history_days=32, orders_per_day=20) as s:
        yield s


def hostile_ids(tmp_path: Path) -> list[str]:
    return [
        "../../evil",
        "../../../../../../../../" + str(tmp_path / "deep-evil").lstrip("/"),
        str(tmp_path / "abs-evil"),  # absolute: ``dest / "/x"`` is "/x"
        "..",
        "a/../../b\x00c",
        ".hidden\n-rf *",
    ]


def republish_under(sim: AmazonSimulator, region: str, hostile: str) -> str:
    """Re-list one published settlement report of ``region`` under the id ``hostile`` only;
    returns its settlement id."""
    world = sim.world
    world.sync_settlement_reports()
    orig = next(r for r in world.reports.values() if r.region == region and r.settlement_key)
    world.reports[hostile] = dataclasses.replace(orig, report_id=hostile)
    assert orig.document_id is not None
    world.documents[orig.document_id] = hostile
    orig.created = -1e12  # out of every listing window: only the hostile id is listed
    assert orig.settlement_key is not None
    seller, reg, cur, index = orig.settlement_key
    return world.settlements.get(seller, reg, cur, index).settlement_id


def files_outside(root: Path, raw: Path) -> set[Path]:
    return {
        p
        for p in root.rglob("*")
        if p.is_file() and raw not in p.parents and not p.name.startswith("e.db")
    }


@pytest.mark.parametrize("case", range(6))
async def test_hostile_settlement_report_id_is_processed_inside_raw_dir(sim, tmp_path, case):
    hostile = hostile_ids(tmp_path)[case]
    raw = tmp_path / "a" / "b" / "raw"
    sid = republish_under(sim, "NA", hostile)
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        poller = SettlementsPoller(
            make_client(sim, session, "NA"), log, SettlementsPollConfig(raw_dir=raw)
        )
        res = await poller.poll_once()
        again = await poller.poll_once()
        evs = [e async for e in log.read(streams=["amazon.settlements"])]
    assert files_outside(tmp_path, raw) == set()
    assert not Path(hostile + ".gz").exists()
    # Processed, not lost: the settlement is there under the hostile report id, once.
    mine = [e for e in evs if e.payload.get("report_id") == hostile]
    assert [(e.type, e.key) for e in mine] == [("SettlementFetched", sid)]
    assert res.quarantined == 0 and again.fetched == 0 and again.appended == 0
    # Its raw copy is one of our names, directly inside raw/NA, and is the document we parsed.
    stored = raw / "NA" / (reports.local_name(hostile) + ".gz")
    assert sorted(p.name for p in (raw / "NA").iterdir() if p.name == stored.name) == [stored.name]
    assert all(SAFE_FILE.match(p.name) for p in raw.rglob("*") if p.is_file())
    digest = hashlib.sha256(gzip.decompress(stored.read_bytes())).hexdigest()
    assert digest == mine[0].payload["document_sha256"]


async def test_hostile_listings_report_id_is_processed_inside_raw_dir(sim, tmp_path):
    """MFN flow: the id comes back from createReport and is used in getReport's path too; it
    must be sent as one encoded segment (not re-route the call) and name no file."""
    hostile = "../../evil/../" + str(tmp_path / "mfn-evil").lstrip("/")
    sim.world.new_report_id = lambda: hostile  # type: ignore[method-assign]
    raw = tmp_path / "a" / "b" / "raw"
    mp = "ATVPDKIKX0DER"
    async with aiohttp.ClientSession() as session, SQLiteEventLog.open(tmp_path / "e.db") as log:
        mfn = MfnInventoryPoller(make_client(sim, session, "NA"), log, [mp], raw_dir=raw)
        res = await mfn.poll_once()
        evs = [e async for e in log.read(streams=["amazon.inventory.mfn"])]
    assert hostile in sim.world.reports  # the simulator really issued the hostile id
    assert files_outside(tmp_path, raw) == set()
    assert res.appended == 1
    want = sim.truth.mfn_inventory(None, mp)
    assert evs[-1].payload["items"] == {k: v for k, v in want.items() if k.endswith("-M")}
    names = [p.name for p in (raw / "NA").iterdir()]
    assert names == [reports.local_name(hostile) + ".gz"]


def test_local_name_is_ours() -> None:
    for rid in ["../../evil", "/etc/passwd", "..", ".", "", "-rf", "a" * 5000, "\x00", "ü/ß"]:
        name = reports.local_name(rid)
        assert SAFE_FILE.match(name) and len(name) <= 64 + 1 + 32, rid
        assert not name.startswith(("-", "_"))
    # distinct ids that sanitise alike still get distinct files
    assert reports.local_name("a/b") != reports.local_name("a_b") != reports.local_name("a.b")
    assert reports.local_name("x" * 100 + "1") != reports.local_name("x" * 100 + "2")
