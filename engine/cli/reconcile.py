"""``ml-connector reconcile --config F [--since DATE] [--format text|csv|html] [--out FILE]``.

Every settlement in the event log against the invoice / credit note and journal QAD holds;
the logic is engine/ops/reconcile.py, the formats engine/ops/reconcile_render.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.config import load_config
from engine.errors import ConfigError, StoreError
from engine.ops.reconcile import reconcile_config
from engine.ops.reconcile_record import record_outcome
from engine.ops.reconcile_render import render_csv, render_html, render_text
from engine.ops.status import existing_log

__all__ = ["register", "run"]

_EPILOG = """\
What is compared, per settlement in the event log (polled or imported):
  deposit     the settlement's total-amount (what Amazon pays into the bank)
  invoice     QAD customer invoice AMZ-STL-<settlement id> (a credit note when Amazon charged
              the seller): customer, currency, amount must equal what the mapping posts
  journal     QAD journal entry with the same reference: posting date and total debit, and
              line by line per GL account and fee type ([qad.browses] posting_line)
  orders      each Order / refund row group against the QAD sales order of that Amazon order:
              matched, variance (with the difference) or no_invoice (QAD has no such order)
  reserve     held and released per settlement, running balance per currency
Documents are read back from QAD through its browses, not taken from the engine's own outbox.
Status per document: ok, missing (nothing in QAD under the reference), different (the fields
and journal lines that differ are named); a settlement the engine refused to post (its lines
do not sum to its total, no customer for its currency) is "parked". Then totals per fee type
(GL account and line kind) and per marketplace.

Each run records its outcome per settlement in the event log (status page, Settlements:
"reconciled"), unless --no-record.

Exit code: 0 when every settlement is ok and every order matched, 1 otherwise.

Examples:
  ml-connector reconcile --config config.toml
  ml-connector reconcile --config config.toml --since 2026-01-01 --format html --out recon.html
  ml-connector reconcile --config config.toml --format csv --out recon.csv
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "reconcile",
        help="check every settlement against the invoice and journal found in QAD",
        description="Settlement reconciliation: deposit, QAD invoice (or credit note) and "
        "journal line by line per settlement, settled orders against QAD sales orders, the "
        "reserve balance, per fee type and per marketplace; exit 1 on any difference.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="config.toml")
    parser.add_argument(
        "--since", type=_date, help="only settlements ending on or after DATE (YYYY-MM-DD)"
    )
    parser.add_argument("--format", choices=("text", "csv", "html"), default="text")
    parser.add_argument("--out", type=Path, help="write the report to FILE (default: stdout)")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="do not record the outcome in the event log for the status page",
    )
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="use the QAD simulator's demo login (local tenant only)",
    )
    parser.set_defaults(func=run)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    report = asyncio.run(
        reconcile_config(cfg, vault_path=args.vault, demo=args.demo_credentials, since=args.since)
    )
    if not args.no_record:
        try:
            db = existing_log(cfg.engine.db)  # a file checked, a PostgreSQL URL as it is
            asyncio.run(record_outcome(db, report, datetime.now(UTC)))
        except StoreError as exc:  # the report stands; only the page's copy of it is missing
            print(f"reconcile: outcome not recorded for the status page: {exc}", file=sys.stderr)
    render = {"text": render_text, "csv": render_csv, "html": render_html}[args.format]
    text = render(report)
    if args.out is not None:
        try:
            args.out.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise ConfigError(f"--out {args.out}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    c, o = report.counts(), report.order_counts()
    bad = c["missing"] + c["different"] + c["parked"]
    orders = o["variance"] + o["no_invoice"]
    print(
        f"reconcile: {len(report.settlements)} settlements, {c['ok']} ok"
        + (f", {bad} NOT ok" if bad else "")
        + f"; {sum(o.values())} orders, {o['matched']} matched"
        + (f", {orders} NOT matched" if orders else ""),
        file=sys.stderr,
    )
    return 0 if report.clean else 1
