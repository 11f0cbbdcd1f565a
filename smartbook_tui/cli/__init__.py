"""The `smartbook` command line: the app when no command is given, else one module per command, each adding its
parser and its `run`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from smartbook_tui import __version__
from smartbook_tui.config import ENVIRONMENT_VARIABLE, default_config_path

from . import app, contacts, demo, inspect, server, watch
from .options import add_app_arguments, add_session_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartbook",
        description="A terminal softphone whose contact list shows which contacts have an account. Without a "
        "command it opens the app; its options may also be set in the settings file, and each option wins over "
        "its setting.",
    )
    parser.add_argument("--version", action="version", version=f"smartbook {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the settings file (default: ${ENVIRONMENT_VARIABLE}, else {default_config_path()})",
    )
    add_session_arguments(parser)
    add_app_arguments(parser)
    parser.set_defaults(run=app.run)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (none: the app)")
    contacts.add_parser(commands)
    demo.add_parser(commands)
    inspect.add_parser(commands)
    server.add_parser(commands)
    watch.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
