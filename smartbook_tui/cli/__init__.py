"""The `smartbook` command line: the app when no command is given, else one module per command, which adds its
arguments and its `run`. A command's module, and all it imports, loads only when that command is given: the app
and the other commands start without each other's engines."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartbook_tui import __version__
from smartbook_tui.config import ENVIRONMENT_VARIABLE, default_config_path

from . import app
from .options import add_app_arguments, add_session_arguments

# command -> its line in `smartbook --help`; its module is smartbook_tui.cli.<command>
COMMANDS = {
    "assistant": "an account from a phone number proven by an SMS code; link a number to yours; recover an account",
    "cluster": "several server nodes behind Kamailio on this machine, with Redis and PostgreSQL (cluster up)",
    "contacts": "read the address book and print each contact with its normalised numbers and resource URIs",
    "demo": "try the app: the embedded server with demo users whose numbers are in the fixtures book",
    "inspect": "decode a captured presence body (NOTIFY or PUBLISH) and print it as JSON lines",
    "server": "the presence server: run it, manage its accounts and the lists stored on it",
    "watch": "subscribe to the book's presence with one SUBSCRIBE and print updates as JSON lines",
}


class CommandParser(argparse.ArgumentParser):
    """A command's parser: the command's module adds its arguments (`add_arguments`) the first time it parses."""

    def __init__(self, *, command: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._command = command

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._command is not None:
            module = importlib.import_module(f"{__name__}.{self._command}")
            self._command = None
            module.add_arguments(self)
        return super().parse_known_args(args, namespace)


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
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands (none: the app)", parser_class=CommandParser
    )
    for command, summary in COMMANDS.items():
        commands.add_parser(command, help=summary, command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
