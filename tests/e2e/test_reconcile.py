"""``ml-connector reconcile`` over HTTP: the documents QAD holds, read back through its browses.

After a sync every settlement reconciles (exit 0). Then QAD's books are damaged behind the
engine's back (the QAD simulator's state database edited directly, as a user editing or
deleting a document in QAD would): reconcile names the settlement and the document and exits 1,
in every format; the HTML is one self-contained file with the table.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

from tests.e2e.configfile import run_cli as _cli
from tests.e2e.configfile import write_config


def _edit_qad(state: Path, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(state) as db:
        assert db.execute(sql, params).rowcount >= 1, sql


async def test_reconcile_all_ok_then_names_a_damaged_document(make_world, tmp_path) -> None:
    async with make_world() as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0
        config = write_config(cfg, tmp_path / "config.toml")
        settled = w.amazon.truth.settlements()
        assert len(settled) >= 3
        base = ("reconcile", "--config", str(config), "--demo-credentials")

        rc, out, err = await _cli(*base)
        assert rc == 0, (out, err)
        for st in settled:
            assert re.search(rf"^{st.settlement_id}\s.*\sok$", out, re.M), (st.settlement_id, out)
        assert f"{len(settled)} ok, 0 missing, 0 different, 0 parked" in out
        # Totals per currency equal Amazon's deposits.
        for cur in {st.currency for st in settled}:
            total = sum((st.total for st in settled if st.currency == cur), Decimal(0))
            assert f"{total} {cur}" in out.rsplit("Totals:", 1)[1], (cur, total)
        assert "Per fee type" in out and "Per marketplace" in out

        # Damage: one invoice's amount changed in QAD, another settlement's journal deleted.
        # (A zero settlement posts no invoice, so both are picked among the paying ones.)
        changed, deleted = [st for st in settled if st.total > 0][:2]
        state = w.qad.state_file()
        amount = str(changed.total + Decimal("0.01"))
        ref_changed, ref_deleted = (f"AMZ-STL-{st.settlement_id}" for st in (changed, deleted))
        _edit_qad(state, "UPDATE ar_mstr SET ar_amt = ? WHERE ar_po = ?", (amount, ref_changed))
        _edit_qad(state, "DELETE FROM gltr_hist WHERE gltr_doc = ?", (ref_deleted,))

        rc, out, err = await _cli(*base)
        assert rc == 1, (out, err)
        assert re.search(rf"^{changed.settlement_id}\s.*\sdifferent$", out, re.M), out
        assert re.search(rf"AMZ-STL-{changed.settlement_id}\s+different\s+\(amount expected", out)
        assert re.search(rf"^{deleted.settlement_id}\s.*\smissing$", out, re.M), out
        assert re.search(rf"journal\s+AMZ-STL-{deleted.settlement_id}\s+missing", out), out
        others = [st for st in settled if st not in (changed, deleted)]
        for st in others:
            assert re.search(rf"^{st.settlement_id}\s.*\sok$", out, re.M)
        assert "NOT ok" in err and "Traceback" not in err

        rc, out, err = await _cli(*base, "--format", "csv")
        assert rc == 1
        rows = list(csv.DictReader(io.StringIO(out)))
        bad = {(r["settlement_id"], r["document"], r["document_status"]) for r in rows
               if r["document_status"] != "ok"}  # fmt: skip
        assert bad == {
            (changed.settlement_id, "invoice", "different"),
            (deleted.settlement_id, "journal", "missing"),
        }

        html_file = tmp_path / "recon.html"
        rc, out, err = await _cli(*base, "--format", "html", "--out", str(html_file))
        assert rc == 1 and out == ""
        html = html_file.read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and '<table id="settlements">' in html
        for st in settled:
            assert f"<td>{st.settlement_id}</td>" in html
        assert re.search(r'class="different">different<', html)
        assert re.search(r'class="missing">missing<', html)
        # Self-contained: nothing loaded from elsewhere.
        assert not re.search(r"<(script|link|img|iframe)\b|src=|@import|url\(", html, re.I)

        # --since after every settlement: nothing to check, all ok.
        rc, out, err = await _cli(*base, "--since", "2999-01-01")
        assert rc == 0 and "0 settlements" in out.replace("Totals: 0 settlements", "0 settlements")
