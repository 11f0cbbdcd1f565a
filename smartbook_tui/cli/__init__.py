"""The `smartbook` command line: one module per command, each adding its parser and its `run`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from smartbook_tui import __version__
from smartbook_tui.config import ENVIRONMENT_VARIABLE, default_config_path

from . import contacts, demo, inspect, server, watch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartbook",
        description="A terminal softphone whose contact list shows which contacts have an account.",
    )
    parser.add_argument("--version", action="version", version=f"smartbook {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the settings file (default: ${ENVIRONMENT_VARIABLE}, else {default_config_path()})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    contacts.add_parser(commands)
    demo.add_parser(commands)
    inspect.add_parser(commands)
    server.add_parser(commands)
    watch.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
