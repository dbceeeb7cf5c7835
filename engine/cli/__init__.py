"""The ``ml-connector`` command line: thin, it parses arguments, calls ``engine.ops``, formats
the result and maps errors to exit codes (it may import every layer; nothing imports it).

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
import sqlite3
from collections.abc import Callable, Sequence

from engine import __version__
from engine.cli._logging import LOG_FORMATS, configure_logging, console, default_log_format
from engine.errors import ConfigError, CredentialError, EngineError
from engine.log import secure_umask

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
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=default_log_format(),
        help="text (default) or json: one JSON object a line for log shippers "
        "(default from $ML_CONNECTOR_LOG_FORMAT)",
    )
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
    # Before anything is created: the event log, raw reports and keys are for this user only.
    secure_umask()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose, log_format=args.log_format)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except (ConfigError, CredentialError) as exc:
        console(f"ml-connector: error: {_one_line(exc)}", level=logging.ERROR)
        return 2
    except EngineError as exc:
        console(f"ml-connector: failed: {_one_line(exc)}", level=logging.ERROR)
        return 1
    except (OSError, sqlite3.Error) as exc:
        # Last resort: every known file problem is an EngineError naming its file; one that
        # slipped through still gets one line (naming the file when the OS said which), and
        # its traceback with -v, so the bug stays visible without burying the user in it.
        logging.getLogger("engine.cli").debug("unexpected %s", type(exc).__name__, exc_info=True)
        console(f"ml-connector: failed: {_os_line(exc)}", level=logging.ERROR)
        return 1
    except KeyboardInterrupt:
        console("ml-connector: interrupted", level=logging.WARNING)
        return 130


def _one_line(what: object) -> str:
    """A message on one line (an SQLite or OS message may carry a newline)."""
    return " ".join(str(what).split())


def _os_line(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else exc.filename
        return _one_line(
            f"{where}: {exc.strerror or type(exc).__name__} (unexpected; -v shows where)"
        )
    return _one_line(f"{type(exc).__name__}: {exc} (unexpected; -v shows where)")
