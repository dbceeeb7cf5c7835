"""``ml-connector init``: write a commented config.toml for a new seller.

Asks what a first-time user can answer (Amazon stores by country code, QAD tenant URL, domain,
entity), or takes it from flags for scripts; a wrong answer is explained and asked again (a
wrong flag is an error, exit 2). Refuses to replace an existing file without ``--force``.
Prompts and complaints go to stderr, the result and the next steps to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import ConfigError
from engine.ops.init_config import (
    InitAnswers,
    check_code,
    check_tenant_url,
    next_steps,
    parse_marketplaces,
    render_config,
    write_new_config,
)

T = TypeVar("T")
_TRIES = 5  # then give up: a script piping wrong answers must not loop forever


def register(sub: Any) -> None:
    p = sub.add_parser(
        "init",
        help="write a commented config.toml for a new seller (asks, or takes flags)",
        description="Ask for your Amazon stores (country codes such as US, DE, UK), your QAD "
        "tenant URL, domain and entity, and write a commented config.toml with safe defaults "
        "for everything else (no SKU mapped yet, no stock alignment, no listing writes). "
        "Questions already answered by a flag are not asked; with --no-input a missing "
        "answer is an error. Then prints the next steps (creds set, qad discover, ping).",
    )
    p.add_argument("--out", default="config.toml", help="file to write (default: config.toml)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument(
        "--marketplace",
        action="append",
        metavar="CODE",
        help="an Amazon store by country code (US, CA, DE, UK, JP, ...) or marketplace id; "
        "repeat or comma-separate for several",
    )
    p.add_argument("--tenant-url", help="QAD tenant URL incl. context root (https)")
    p.add_argument("--domain", help="QAD domain, e.g. 10USA")
    p.add_argument("--entity", help="QAD entity, e.g. 10USACO")
    p.add_argument(
        "--db", default="ml-connector.db", help="event log path (default: next to the config)"
    )
    p.add_argument("--no-input", action="store_true", help="never ask: missing flags are errors")
    p.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:  # before any question: do not waste the user's answers
        raise ConfigError(f"{out} already exists; --force replaces it")
    ask = _Asker(interactive=not args.no_input)
    stores = ask.value(
        "--marketplace",
        ",".join(args.marketplace) if args.marketplace else None,
        "Amazon stores you sell in (country codes, e.g. US,CA or DE,FR,UK)",
        parse_marketplaces,
    )
    tenant_url = ask.value(
        "--tenant-url",
        args.tenant_url,
        "QAD tenant URL, the full URL incl. context root (e.g. https://acme.qad.com/clouderp)",
        check_tenant_url,
    )
    domain = ask.value(
        "--domain", args.domain, "QAD domain (e.g. 10USA)", lambda t: check_code(t, "domain")
    )
    entity = ask.value(
        "--entity", args.entity, "QAD entity (e.g. 10USACO)", lambda t: check_code(t, "entity")
    )
    if not args.db.strip():
        raise ConfigError("--db must name the event log file")
    answers = InitAnswers(stores, tenant_url, domain, entity, db=args.db)
    write_new_config(out, render_config(answers), force=args.force)
    print(f"wrote {out} ({', '.join(s.country for s in stores)}; regions "
          f"{', '.join(answers.regions)}). Next:")  # fmt: skip
    for step in next_steps(answers, out):
        print(f"  {step}")
    print("Map your SKUs in [mapping.sku] first: orders with unmapped SKUs wait (parked).")
    return 0


class _Asker:
    """A flag's value checked once (an error, exit 2), or a question asked until it checks."""

    def __init__(self, *, interactive: bool) -> None:
        self.interactive = interactive

    def value(self, flag: str, given: str | None, question: str, check: Callable[[str], T]) -> T:
        if given is not None:
            try:
                return check(given)
            except ConfigError as exc:
                raise ConfigError(f"{flag}: {exc}") from None
        if not self.interactive:
            raise ConfigError(f"{flag} is required with --no-input")
        for _ in range(_TRIES):
            print(f"{question}: ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line:
                raise ConfigError(f"no answer for {flag} (end of input)")
            try:
                return check(line.strip())
            except ConfigError as exc:
                print(f"  {exc}; please try again", file=sys.stderr)
        raise ConfigError(f"no valid answer for {flag} after {_TRIES} tries")
