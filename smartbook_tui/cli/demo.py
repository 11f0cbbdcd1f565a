"""`smartbook demo`: the app against the embedded server and demo users whose numbers are in the fixtures book
(smartbook_tui.demo); `--backend-only` runs the server and the demo users alone, to try `smartbook watch` on."""

from __future__ import annotations

import argparse
from pathlib import Path

from smartbook_tui import cli as command_line  # this module is part of it: its `main` is read when called
from smartbook_tui.demo.backend import (
    DEFAULT_CALL_AFTER,
    DEFAULT_JOIN_AFTER,
    DEFAULT_PERIOD,
    parse_period,
    parse_seconds,
)
from smartbook_tui.demo.cast import CastError
from smartbook_tui.demo.launch import DEFAULT_BOOK, DEFAULT_CAST, DemoError, DemoOptions, run_demo

from .messages import fail


def add_arguments(demo: argparse.ArgumentParser) -> None:
    demo.description = (
        "Open the app as a demo account on the fixtures address book, against the embedded presence server on a "
        "free loopback port with demo users who sign in, change status every few seconds, answer calls with a "
        "tone, join the service (a badge appears) and call you once. Nothing of your own settings or data is read "
        "or written; everything stops, and the demo's files go, when the app quits."
    )
    demo.add_argument(
        "--backend-only",
        action="store_true",
        help="run only the server and the demo users, and print how to connect (Ctrl-C stops)",
    )
    demo.add_argument(
        "--period",
        type=parse_period,
        metavar="SECONDS",
        help=f"time between two statuses of a demo user (default {DEFAULT_PERIOD:g})",
    )
    demo.add_argument(
        "--join-after",
        type=parse_seconds,
        metavar="SECONDS",
        help=f"time before a demo user joins the service (default {DEFAULT_JOIN_AFTER:g})",
    )
    demo.add_argument(
        "--call-after",
        type=parse_seconds,
        metavar="SECONDS",
        help=f"time before a demo user calls you (default {DEFAULT_CALL_AFTER:g})",
    )
    demo.add_argument(
        "--cast", type=Path, default=DEFAULT_CAST, metavar="TOML", help="the demo users (default: %(default)s)"
    )
    demo.add_argument("--book", type=Path, default=DEFAULT_BOOK, metavar="PATH", help="the book (default: %(default)s)")
    demo.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="with --backend-only: write where the server listens and the account to use here (JSON)",
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = DemoOptions(
        cast=args.cast,
        book=args.book,
        period=args.period,
        join_after=args.join_after,
        call_after=args.call_after,
        backend_only=args.backend_only,
        ready_file=args.ready_file,
    )
    try:
        return run_demo(options, command_line.main)  # the app opens as `smartbook` with no subcommand does
    except (DemoError, CastError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return 130
