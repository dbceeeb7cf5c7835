"""``ml-connector import settlement``: a Seller Central file is the same event as a polled one.

The files are the simulator's own settlement documents (the bytes its report download serves,
in each marketplace's locale), written to disk as a Seller Central download would be. The
command runs as a real process (exit codes, no traceback).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from engine.config import MarketplaceMap
from engine.log import SQLiteEventLog
from engine.sim.amazon.documents import settlement_file
from tests.e2e.configfile import run_cli as _cli
from tests.e2e.configfile import write_config

# Payload fields that say where a document came from (not what it settles): they differ.
ORIGIN = {"report_id", "document_sha256"}


async def _settlement_events(db: Path) -> list[Any]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return [
            e
            async for e in log.read(streams=["amazon.settlements"])
            if e.type == "SettlementFetched"
        ]


async def _head(db: Path) -> int:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return await log.head()


async def test_import_is_the_polled_event_and_never_appended_twice(make_world, tmp_path) -> None:
    async with make_world() as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        polled = {e.key: e for e in await _settlement_events(Path(cfg.engine.db))}
        settled = w.amazon.truth.settlements()
        assert len(polled) == len(settled) >= 3
        files = []
        for st in settled:
            data, _charset = settlement_file(st)
            path = tmp_path / "downloads" / f"{st.settlement_id}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            files.append(path)
        locales = {st.locale for st in settled}
        assert len(locales) >= 3, locales  # several layouts go through the import

        # A fresh log (going live): dry run appends nothing, not even a log file.
        fresh = dataclasses.replace(
            cfg, engine=dataclasses.replace(cfg.engine, db=str(tmp_path / "fresh.db"))
        )
        fresh_cfg = write_config(fresh, tmp_path / "fresh.toml")
        rc, out, err = await _cli("import", "settlement", "--config", str(fresh_cfg),
                                  "--dry-run", *map(str, files))  # fmt: skip
        assert rc == 0, err
        assert out.count("would append") == len(files) and not Path(fresh.engine.db).exists()

        rc, out, err = await _cli("import", "settlement", "--config", str(fresh_cfg),
                                  *map(str, files))  # fmt: skip
        assert rc == 0, err
        assert out.count(": appended") == len(files)
        imported = {e.key: e for e in await _settlement_events(Path(fresh.engine.db))}
        # Same identity (key) and same content as the poller's event, origin fields aside.
        assert imported.keys() == polled.keys()
        for sid, ev in imported.items():
            want = {k: v for k, v in polled[sid].payload.items() if k not in ORIGIN}
            got = {k: v for k, v in ev.payload.items() if k not in ORIGIN}
            assert got == want, sid
            assert ev.type == polled[sid].type and ev.stream == polled[sid].stream

        # Twice: nothing new.
        head = await _head(Path(fresh.engine.db))
        rc, out, err = await _cli("import", "settlement", "--config", str(fresh_cfg),
                                  *map(str, files))  # fmt: skip
        assert rc == 0, err
        assert out.count("already in the log") == len(files)
        assert await _head(Path(fresh.engine.db)) == head

        # Into the log the poller filled: the same settlements are already there.
        synced_cfg = write_config(cfg, tmp_path / "config.toml")
        head = await _head(Path(cfg.engine.db))
        rc, out, err = await _cli("import", "settlement", "--config", str(synced_cfg),
                                  *map(str, files))  # fmt: skip
        assert rc == 0, err
        assert out.count("already in the log") == len(files)
        assert await _head(Path(cfg.engine.db)) == head

        # Imported first, then polled: the poller skips them, QAD gets each document once.
        async with w.engine(fresh) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        events = await _settlement_events(Path(fresh.engine.db))
        assert sorted(e.key for e in events) == sorted(polled)  # still one event each
        refs = [inv["ar_po"] for inv in w.qad.invoices()]
        assert len(refs) == len(set(refs))


async def test_bad_file_is_a_clear_error_and_nothing_is_appended(make_world, tmp_path) -> None:
    async with make_world() as w:
        cfg = w.config()
        config = write_config(cfg, tmp_path / "config.toml")
        settled = w.amazon.truth.settlements()
        good, bad_sum, garbage = (tmp_path / n for n in ("good.txt", "bad_sum.txt", "junk.txt"))
        data, charset = settlement_file(settled[0])
        good.write_bytes(data)
        # One detail amount changed: the lines no longer sum to total-amount.
        text = data.decode(charset).split("\r\n")
        cells = text[2].split("\t")
        cells[14] = cells[14][:-1] + ("1" if cells[14][-1] != "1" else "2")
        text[2] = "\t".join(cells)
        bad_sum.write_bytes("\r\n".join(text).encode(charset))
        garbage.write_bytes(b"this is not a settlement report\r\n")

        for bad, words in ((bad_sum, "does not reconcile"), (garbage, "does not parse")):
            rc, out, err = await _cli("import", "settlement", "--config", str(config),
                                      str(good), str(bad))  # fmt: skip
            assert rc == 1, (rc, out, err)
            assert "Traceback" not in err and words in err and str(bad) in err, err
            assert "nothing was imported" in err
            assert not Path(cfg.engine.db).exists()  # not even the good file went in

        rc, out, err = await _cli("import", "settlement", "--config", str(config),
                                  str(tmp_path / "missing.txt"))  # fmt: skip
        assert rc == 1 and "Traceback" not in err and "missing.txt" in err, err


async def test_a_far_east_file_in_its_locale_charset_keeps_its_text(make_world, tmp_path) -> None:
    """An AU file (Far East region, whose fallback would be cp932) is read in the AU locale's
    cp1252: the SKU arrives as written, not silently turned into a katakana."""
    golden = Path(__file__).resolve().parents[1] / "golden" / "settlements" / "AU.txt"
    async with make_world() as w:
        cfg = w.config()
        au = MarketplaceMap(customer="AMZ-AU", currency="AUD")
        mapping = dataclasses.replace(cfg.mapping, marketplaces={"A39IBJ37TRP1C6": au})
        cfg = dataclasses.replace(cfg, mapping=mapping)
        config = write_config(cfg, tmp_path / "au.toml")
        rc, out, err = await _cli("import", "settlement", "--config", str(config), str(golden))
        assert rc == 0, (rc, out, err)
        (event,) = await _settlement_events(Path(cfg.engine.db))
        skus = {r["sku"] for r in event.payload["rows"] if r.get("sku")}
        assert "MLC-CAF\u00c9-1" in skus, skus
