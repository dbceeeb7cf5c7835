"""``ml-connector sim amazon|qad``: run a simulator standalone on loopback."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sim",
        help="run the Amazon SP-API or QAD tenant simulator standalone",
        description="Run a local simulator on 127.0.0.1 until interrupted (Ctrl-C).",
    )
    which = parser.add_subparsers(dest="simulator", metavar="SIMULATOR", required=True)
    from engine.sim.amazon import cli as amazon_cli
    from engine.sim.qad import cli as qad_cli

    amazon = which.add_parser(
        "amazon", help="SP-API + LWA simulator", description=amazon_cli.DESCRIPTION
    )
    amazon_cli.add_arguments(amazon)
    amazon.set_defaults(func=amazon_cli.run)
    qad = which.add_parser(
        "qad", help="QAD Adaptive ERP tenant simulator", description=qad_cli.DESCRIPTION
    )
    qad_cli.add_arguments(qad)
    qad.set_defaults(func=qad_cli.run)
