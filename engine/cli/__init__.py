"""The ``ml-connector`` command line.

Each module in this package that defines ``register(subparsers)`` adds one top-level command
(discovered automatically, so commands live beside the code they drive). A command handler is
``def run(args: argparse.Namespace) -> int`` set with ``parser.set_defaults(func=run)``.

Exit codes: 0 success, 1 runtime failure, 2 usage/config/credential error. A user error never
shows a traceback: EngineError subclasses become one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence

from engine import __version__
from engine.errors import ConfigError, CredentialError, EngineError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-connector",
        description=(
            "Sync Amazon Seller Central (SP-API) with QAD Adaptive ERP. Pollers append what they "
            "fetch to an append-only event log; projectors turn events into QAD commands; a "
            "dispatcher posts them. Start with `ml-connector demo`."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ml-connector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except (ConfigError, CredentialError) as exc:
        print(f"ml-connector: error: {exc}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"ml-connector: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ml-connector: interrupted", file=sys.stderr)
        return 130
