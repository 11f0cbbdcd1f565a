"""`smartbook watch`: subscribe to the whole book with one SUBSCRIBE (or to a server-stored list) and print
every presence update and every change of the subscription's state as a JSON line, until interrupted.

It runs the app's session without the phone, so the book is watched too: an edited vCard file re-subscribes."""

from __future__ import annotations

import argparse

from .options import add_session_arguments


def add_arguments(watch: argparse.ArgumentParser) -> None:
    watch.description = (
        "Subscribe to the presence of the whole address book with one SUBSCRIBE to a resource list "
        "server (RFC 5367), or to a list stored on the server (--list-uri), and print one JSON line per presence "
        "update and per change of the subscription's state, until interrupted (Ctrl-C unsubscribes). A change of "
        "the book's files or CardDAV book subscribes again with the new book."
    )
    add_session_arguments(watch, suppress=True)
    watch.add_argument("--expires", type=int, default=3600, help="seconds asked for (default: %(default)s)")
    watch.add_argument("--once", action="store_true", help="exit once the state of the whole list has arrived")
    watch.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .watch_session import watch  # noqa: PLC0415 (the session's stack only when it runs, not for --help)

    return watch(args)
