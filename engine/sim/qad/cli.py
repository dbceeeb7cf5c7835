"""Command-line entry of the qad simulator (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

DESCRIPTION = "The qad simulator is not built yet."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")


def run(args: argparse.Namespace) -> int:
    print(DESCRIPTION)
    return 1
