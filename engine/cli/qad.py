"""``ml-connector qad discover --config F``: check the tenant profile against a real QAD tenant.

Every QAD name the connector uses (entity paths, viewUris, browse ids, browse column keys and body
field names) is a key of the tenant profile in config.toml: [qad.paths], [qad.browses] and
[qad.fields], with defaults from public evidence (D documented, C public code, I inferred,
G guess). `qad discover` logs in with the configured credential and checks every key:

  1. it reads the tenant's metadata (qad.paths.entity_metadata) when the tenant has it;
     a tenant without it is checked by probes only;
  2. it GETs every entity path (?domainCode=D: 200, 400 or 405 = present, 404 = missing);
  3. it reads page 1 (size 1) of every browse: a row proves the browse id and its column
     keys; an empty answer is "ambiguous" (a real tenant answers an unknown browse id with no
     rows), unless the metadata lists the browse;
  4. it matches every missing key to the tenant's own name by its classic QAD table.field.

For each key it prints found / missing / ambiguous / unverified, its evidence level and what
was probed, then a ready-to-paste TOML fragment for the missing keys it could resolve. It only
reads (GET requests): no record is created, changed or deleted. It also asks for the blank
record an unplanned receipt starts from, as the receipt screen does; that posts nothing.

Exit codes: 0 nothing missing or ambiguous, 1 something is, 2 a config or credential problem.
Then run `ml-connector ping` for the full start-up check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from engine.config import load_config
from engine.ops.credentials import build_qad_settings
from engine.ops.discover import Discovery, discover
from engine.security.redact import install_redaction

__all__ = ["register", "render"]


def register(sub: Any) -> None:
    qad = sub.add_parser(
        "qad",
        help="QAD tenant tools (discover: check the tenant profile against a tenant)",
        description="QAD tenant tools. `ml-connector qad discover --help` explains discover.",
    )
    commands = qad.add_subparsers(dest="qad_command", metavar="COMMAND", required=True)
    parser = commands.add_parser(
        "discover",
        help="check every [qad.paths/browses/fields] key against the tenant (reads only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file")
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="use the QAD simulator's demo login (local tenant only)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    install_redaction()
    cfg = load_config(args.config)
    settings = build_qad_settings(
        cfg, vault_path=args.vault, demo=args.demo_credentials, timeout_s=args.timeout
    )
    report = asyncio.run(discover(cfg, settings))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, sys.stdout)
    return 1 if report.needs_attention else 0


def render(report: Discovery, out: TextIO) -> None:
    """Per key: status, evidence, key = value; then what was probed and what came back."""
    print(f"QAD tenant {report.tenant}", file=out)
    print(f"metadata: {report.metadata}", file=out)
    print("", file=out)
    width = max(len(r.config_key) for r in report.keys)
    for r in report.keys:
        print(f"{r.status:<10} [{r.evidence}] {r.config_key:<{width}} = {r.value!r}", file=out)
        print(f"{'':<15}{r.probed}: {r.detail}", file=out)
    counts = report.counts()
    print("", file=out)
    print(f"{len(report.keys)} keys: " + ", ".join(f"{n} {s}" for s, n in counts.items()), file=out)
    fragment = report.fragment()
    if fragment:
        print("\n" + fragment, end="", file=out)
    elif report.needs_attention:
        print("nothing to paste: fix the keys above by hand (the tenant's Swagger)", file=out)
