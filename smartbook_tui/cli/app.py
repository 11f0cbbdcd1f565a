"""`smartbook` with no command: the app, the contact list live in the terminal."""

from __future__ import annotations

import argparse

from smartbook_tui.collector import off_until_the_first_frame
from smartbook_tui.config import load_settings, settings_path
from smartbook_tui.roster.logfile import log_to_file

from .messages import fail
from .options import app_options, merge_session_settings


def run(args: argparse.Namespace) -> int:
    try:  # a settings file named but not there yet is no error: the account form writes it
        options = app_options(args, merge_session_settings(args, load_settings(args.config, missing_ok=True)))
    except (ValueError, OSError) as exc:  # ConfigError and an unreadable password file included
        return fail(str(exc))
    try:
        log_to_file(options.log_file)
    except OSError as exc:
        return fail(f"cannot write the log file {options.log_file}: {exc.strerror}; give another with --log-file PATH")
    off_until_the_first_frame()  # the app turns it on again then (`SmartbookApp.on_main_screen_ready`)
    from smartbook_tui.roster.live_book import read_ahead  # noqa: PLC0415 (the book's readers only for the app)

    read_ahead(options.settings)  # the book is read while the screen's modules load and the app starts
    from smartbook_tui.tui.app import run_app  # noqa: PLC0415 (Textual only for the app, not the other commands)

    return run_app(options, settings_path(args.config))
