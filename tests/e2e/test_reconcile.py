"""``ml-connector reconcile`` over HTTP: the documents QAD holds, read back through its browses.

After a sync every settlement reconciles and every settled order matches its QAD sales order
(exit 0). Then QAD's books are damaged behind the engine's back (the QAD simulator's state
database edited directly, as a user editing or deleting a document in QAD would): an invoice
amount, a deleted journal, a journal line moved to a wrong account and two line amounts changed
without changing the journal's total debit (only the line check can see it), a sales order
price and a deleted sales order. reconcile names each one and exits 1, in every format; the
HTML is one self-contained file with the tables.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.config import Config, DispatchConfig
from engine.ops.reconcile import reconcile_config
from engine.ops.reconcile_render import render_csv, render_html
from tests.e2e.configfile import run_cli as _cli
from tests.e2e.configfile import write_config
from tests.web.conftest import page

RECONCILED = re.compile(r'<a href="/record\?key=(\w+)">.*?<strong class="rc-(\w+)">', re.S)


async def _reconciled_on_page(cfg: Config) -> dict[str, str]:
    """Settlement id -> the reconciled state the status page's settlements list shows."""
    async with page(cfg) as client:
        r = await client.get("/settlements")
        html = await r.text()
    assert r.status == 200, html
    rows = html.split("<tr>")[2:]  # after the header row
    return {m.group(1): m.group(2) for row in rows if (m := RECONCILED.search(row))}


WRONG_ACCOUNT = "6199"


def _edit_qad(state: Path, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(state) as db:
        assert db.execute(sql, params).rowcount >= 1, sql


def _one(state: Path, sql: str, params: tuple[object, ...]) -> Any:
    with sqlite3.connect(state) as db:
        row = db.execute(sql, params).fetchone()
    assert row is not None, sql
    return row


def _settled_orders(settled: list[Any]) -> dict[str, Decimal]:
    """Amazon order id -> Σ ItemPrice + Promotion of its Order rows (orders never refunded; in
    currencies with cents, so that a price 1 higher is a variance of -1.00 per unit)."""
    sales: dict[str, Decimal] = {}
    refunded = {r.order_id for st in settled for r in st.rows if r.adjustment_id}
    for st in settled:
        for r in st.rows if st.currency != "JPY" else ():
            if r.transaction_type == "Order" and r.amount_type in ("ItemPrice", "Promotion"):
                sales[r.order_id] = sales.get(r.order_id, Decimal(0)) + r.amount
    return {oid: v for oid, v in sales.items() if v > 0 and oid not in refunded}


async def test_reconcile_all_ok_then_names_every_damage(make_world, tmp_path) -> None:
    async with make_world(orders_per_day=3) as w:
        # The simulator needs no pacing: QAD's default 10 requests/s would make this a minute.
        cfg = w.config(base=Config(dispatch=DispatchConfig(qad_rate_per_s=0)))
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0
        config = write_config(cfg, tmp_path / "config.toml")
        settled = w.amazon.truth.settlements()
        assert len(settled) >= 3
        base = ("reconcile", "--config", str(config), "--demo-credentials")

        t0 = time.monotonic()
        rc, out, err = await _cli(*base)
        took = time.monotonic() - t0
        assert rc == 0, (out, err)
        for st in settled:
            assert re.search(rf"^{st.settlement_id}\s.*\sok$", out, re.M), (st.settlement_id, out)
        assert f"{len(settled)} ok, 0 missing, 0 different, 0 parked" in out
        orders = _settled_orders(settled)
        assert len(orders) >= 10
        m = re.search(r"^Orders: (\d+) matched, 0 variance, 0 no_invoice", out, re.M)
        assert m and int(m.group(1)) >= len(orders), out
        # Totals per currency equal Amazon's deposits; the reserve still held is Amazon's.
        tail = out.rsplit("Totals:", 1)[1]
        for cur in {st.currency for st in settled}:
            total = sum((st.total for st in settled if st.currency == cur), Decimal(0))
            assert f"{total} {cur}" in tail, (cur, total)
            last = [st for st in settled if st.currency == cur][-1]
            assert f"{last.reserve} {cur}" in tail.split("reserve held", 1)[1], (cur, out)
        assert "Per fee type" in out and "Per marketplace" in out and "Reserve" in out
        assert took < 30, took
        # The run is recorded: the status page's settlements show it, row by row.
        shown = await _reconciled_on_page(cfg)
        assert shown == {st.settlement_id: "ok" for st in settled}, shown

        # Damage. (A zero settlement posts no invoice: A and C are picked among paying ones.)
        paying = [st for st in settled if st.total > 0]
        a, c = paying[:2]
        b = next(st for st in settled if st not in (a, c))
        state = w.qad.state_file()
        ref_a, ref_b, ref_c = (f"AMZ-STL-{st.settlement_id}" for st in (a, b, c))
        _edit_qad(state, "UPDATE ar_mstr SET ar_amt = ? WHERE ar_po = ?",
                  (str(a.total + Decimal("0.01")), ref_a))  # fmt: skip
        _edit_qad(state, "DELETE FROM gltr_hist WHERE gltr_doc = ?", (ref_b,))
        jl = "gltr_doc = ? AND gltr_doc_typ = 'JL'"
        # C: advertising booked to a wrong account, and 1.00 moved from the clearing (deposit)
        # line to the subscription fee: the entry stays balanced with the same total debit.
        _edit_qad(state, f"UPDATE gltr_hist SET gltr_acc = ? WHERE {jl} AND gltr_acc = '6140'",
                  (WRONG_ACCOUNT, ref_c))  # fmt: skip
        for acc, delta, like in (("6120", 1, "%Subscription%"), ("1250", -1, "%")):
            voucher, line, amt = _one(
                state, f"SELECT gltr_voucher, gltr_line, gltr_amt FROM gltr_hist WHERE {jl} "
                "AND gltr_acc = ? AND gltr_desc LIKE ?", (ref_c, acc, like),
            )  # fmt: skip
            assert Decimal(amt) > 0  # both debit lines
            _edit_qad(state, "UPDATE gltr_hist SET gltr_amt = ? WHERE gltr_voucher = ? "
                      "AND gltr_line = ?", (str(Decimal(amt) + delta), voucher, line))  # fmt: skip
        variant, gone = list(orders)[:2]
        so_of = "(SELECT so_nbr FROM so_mstr WHERE so_po = ?)"
        nbr, line, qty, price = _one(
            state, f"SELECT sod_nbr, sod_line, sod_qty_ord, sod_price FROM sod_det "
            f"WHERE sod_nbr = {so_of} ORDER BY sod_line", (variant,),
        )  # fmt: skip
        _edit_qad(state, "UPDATE sod_det SET sod_price = ? WHERE sod_nbr = ? AND sod_line = ?",
                  (str(Decimal(price) + 1), nbr, line))  # fmt: skip
        _edit_qad(state, f"DELETE FROM sod_det WHERE sod_nbr = {so_of}", (gone,))
        _edit_qad(state, "DELETE FROM so_mstr WHERE so_po = ?", (gone,))

        rc, out, err = await _cli(*base)
        assert rc == 1, (out, err)
        assert re.search(rf"^{a.settlement_id}\s.*\sdifferent$", out, re.M), out
        assert re.search(rf"{ref_a}\s+different\s+\(amount expected", out)
        assert re.search(rf"^{b.settlement_id}\s.*\smissing$", out, re.M), out
        assert re.search(rf"journal\s+{ref_b}\s+missing", out), out
        assert re.search(rf"^{c.settlement_id}\s.*\sdifferent$", out, re.M), out
        # The header agrees (date, total debit); the lines name the damage.
        assert re.search(rf"journal\s+{ref_c}\s+different$", out, re.M), out
        assert re.search(
            r"line 6140\s+Cost of Advertising/TransactionTotalAmount\s+missing", out
        ), out
        assert re.search(rf"line {WRONG_ACCOUNT}\s+Cost of Advertising/\S+\s+unexpected", out), out
        assert re.search(r"line 6120\s+\S*Subscription Fee\s+different\s+\(expected -", out), out
        assert re.search(r"line 1250\s+Amazon settlement \d+ deposit\s+different", out), out
        for st in settled:
            if st not in (a, b, c):
                assert re.search(rf"^{st.settlement_id}\s.*\sok$", out, re.M)
        variance = -Decimal(qty) * 1
        assert re.search(rf"^  {variant}\s+Order\s.*\svariance {variance:.2f}$", out, re.M), out
        assert re.search(rf"^  {gone}\s+Order\s.*QAD - \(none\)\s+no_invoice ", out, re.M), out
        assert re.search(r"^Orders: \d+ matched, 1 variance, 1 no_invoice", out, re.M), out
        assert "NOT ok" in err and "2 NOT matched" in err and "Traceback" not in err
        shown = await _reconciled_on_page(cfg)
        assert shown[a.settlement_id] == shown[c.settlement_id] == "different", shown
        assert shown[b.settlement_id] == "missing", shown
        # --no-record leaves the page's copy as it was
        await _cli(*base, "--no-record", "--since", "2999-01-01")
        assert await _reconciled_on_page(cfg) == shown

        # The same damaged books, read once in-process, in the other two formats.
        damaged = await reconcile_config(cfg, demo=True)
        assert not damaged.clean
        rows = list(csv.DictReader(io.StringIO(render_csv(damaged))))
        bad = {(r["record"], r["settlement_id"], r["document"], r["document_status"])
               for r in rows if r["document_status"] not in ("ok", "matched")}  # fmt: skip
        line_bad = {(r["account"], r["document_status"]) for r in rows
                    if r["record"] == "journal_line" and r["document_status"] != "ok"}  # fmt: skip
        assert line_bad == {("6140", "missing"), (WRONG_ACCOUNT, "unexpected"),
                            ("6120", "different"), ("1250", "different")}  # fmt: skip
        assert {x for x in bad if x[0] == "document"} == {
            ("document", a.settlement_id, "invoice", "different"),
            ("document", b.settlement_id, "journal", "missing"),
            ("document", c.settlement_id, "journal", "different"),
        }
        by_order = {r["reference"]: r for r in rows if r["record"] == "order"}
        assert by_order[variant]["document_status"] == "variance"
        assert Decimal(by_order[variant]["difference"]) == variance
        assert Decimal(by_order[variant]["expected"]) == orders[variant]
        assert by_order[gone]["document_status"] == "no_invoice"
        assert by_order[gone]["found"] == "" and by_order[gone]["qad_document"] == ""
        reserve = [r for r in rows if r["record"] == "reserve"]
        assert len(reserve) == len(settled)

        html = render_html(damaged)
        assert html.startswith("<!DOCTYPE html>") and '<table id="settlements">' in html
        for table in ("journal-lines", "orders", "reserve"):
            assert f'<table id="{table}">' in html
        for st in settled:
            assert f"<td>{st.settlement_id}</td>" in html
        for status in ("different", "missing", "unexpected", "variance", "no_invoice"):
            assert re.search(rf'class="{status}">{status}<', html), status
        # Self-contained: nothing loaded from elsewhere.
        assert not re.search(r"<(script|link|img|iframe)\b|src=|@import|url\(", html, re.I)

        # --since after every settlement: nothing to check, all ok; --out writes the file.
        html_file = tmp_path / "recon.html"
        rc, out, err = await _cli(*base, "--since", "2999-01-01", "--format", "html",
                                  "--out", str(html_file))  # fmt: skip
        assert rc == 0 and out == "", err
        assert "0 settlements" in err and html_file.read_text(encoding="utf-8").startswith("<!")
