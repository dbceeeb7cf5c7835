"""``ml-connector import settlement FILE... --config F [--dry-run] [--region R]``.

Parses, reconciles and appends settlement flat files downloaded from Seller Central; the logic
and its identity guarantee are in engine/ops/import_settlement.py, this module parses and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from engine.config import load_config
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
  `run` posts the QAD invoice and journal.

  A file that does not parse or does not reconcile stops the import with exit 1 and nothing of
  any file is appended. --dry-run reads and checks everything and appends nothing.

Examples:
  ml-connector import settlement --config config.toml --dry-run ~/Downloads/*.txt
  ml-connector import settlement --config config.toml ~/Downloads/2026-01-*.txt
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="import settlement files downloaded from Seller Central",
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
