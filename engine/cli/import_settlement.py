"""``ml-connector import settlement|loan-statement FILE... --config F [--dry-run]``.

Parses, reconciles and appends settlement flat files downloaded from Seller Central, and the
monthly interest of Amazon Lending from its loan statement; the logic and its identity
guarantees are in engine/ops/import_settlement.py and import_loan.py, this module parses and
prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from engine.config import load_config
from engine.ops.import_loan import import_loan_statement
from engine.ops.import_settlement import import_settlements

__all__ = ["register", "run"]

_EPILOG = """\
Where the files come from:
  Seller Central > Reports > Payments > All Statements (Settlements): "Download Flat File V2"
  for each settlement period. The API lists only the last 90 days; this command loads older
  ones (e.g. the year to date when going live).

What happens:
  Every file is parsed in its marketplace's layout (decimal comma or point, day- or month-first
  dates: [mapping.marketplaces.<id>] settlement_locale, default per marketplace) and must
  reconcile (its lines sum to total-amount). Then each settlement is appended to the event log
  as the same event the settlements poller appends, keyed by the settlement id: a settlement
  already in the log (polled or imported) is skipped, so nothing posts twice. The next `sync` or
  `run` posts the QAD invoice and journal. A copy of each file appended is kept in
  <[poll] raw_dir>/import (default: raw/ beside an SQLite log; with a PostgreSQL [engine] db
  raw_dir must be set).

  A file that does not parse or does not reconcile stops the import with exit 1 and nothing of
  any file is appended. --dry-run reads and checks everything and appends nothing.

Examples:
  ml-connector import settlement --config config.toml --dry-run ~/Downloads/*.txt
  ml-connector import settlement --config config.toml ~/Downloads/2026-01-*.txt
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="import settlement files and loan statements from Seller Central",
        description="Import data Amazon's API no longer lists.",
    )
    what = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    p = what.add_parser(
        "settlement",
        help="settlement flat files (V2) -> the event log, as the poller would append them",
        description="Append settlement flat files (Flat File V2) downloaded from Seller Central "
        "to the event log as the same events the settlements poller appends.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="settlement flat file(s)")
    p.add_argument("--config", type=Path, required=True, help="config.toml ([engine] db, mapping)")
    p.add_argument("--dry-run", action="store_true", help="parse and check only; append nothing")
    p.add_argument(
        "--region",
        choices=("NA", "EU", "FE"),
        help="SP-API region of the files (default: of the configured marketplace settling in "
        "the file's currency)",
    )
    p.set_defaults(func=run)
    loan = what.add_parser(
        "loan-statement",
        help="Amazon Lending interest per month -> a journal moving it out of the loan account",
        description="Append the monthly interest of Amazon Lending (from the loan statement) "
        "to the event log; each month posts a QAD journal: debit the loan_interest account, "
        "credit the loan account.",
        epilog=_LOAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    loan.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV file(s)")
    loan.add_argument("--config", type=Path, required=True, help="config.toml ([engine] db)")
    loan.add_argument("--dry-run", action="store_true", help="check only; append nothing")
    loan.set_defaults(func=run_loan)


_LOAN_EPILOG = """\
Why:
  A settlement carries each loan repayment as one line, principal and interest combined; it is
  booked whole to the loan account ([mapping.accounts] loan, 2500) and flagged
  SettlementLoanUnsplit. The interest part is on Amazon's loan statement (Seller Central >
  Payments > Amazon Lending); this command books it: debit loan_interest (6900), credit loan.

The file (CSV, UTF-8, a header row; one row per month, and per loan if there are several):
  month,currency,interest,loan
  2026-03,USD,12.40,
  2026-04,USD,11.95,

  A bad row, or a month already imported with another amount, stops the import with exit 1 and
  nothing appended (a posted month is corrected in QAD by hand). The same file imported again
  appends nothing. --dry-run checks and appends nothing.

Example:
  ml-connector import loan-statement --config config.toml --dry-run lending-2026.csv
"""


def run_loan(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    results = asyncio.run(import_loan_statement(cfg, args.files, dry_run=args.dry_run))
    for r in results:
        m = r.month
        print(f"{m.key}: interest {m.interest} {m.currency}: {r.status}")
    n = sum(r.status in ("appended", "would append") for r in results)
    verb = "would append" if args.dry_run else "appended"
    print(f"{verb} {n} of {len(results)} month(s)", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    results = asyncio.run(
        import_settlements(cfg, args.files, dry_run=args.dry_run, region=args.region)
    )
    for r in results:
        print(
            f"{r.file}: settlement {r.settlement_id} {r.total} {r.currency}, {r.rows} rows, "
            f"locale {r.locale}, region {r.region}: {r.status}"
        )
    appended = sum(r.status == "appended" for r in results)
    verb = "would append" if args.dry_run else "appended"
    n = sum(r.status == "would append" for r in results) if args.dry_run else appended
    print(f"{verb} {n} of {len(results)} settlement(s)", file=sys.stderr)
    return 0
