"""The options of a session (the account and the book), defined once for the app (`smartbook` with no command) and
for `smartbook watch`, and how they meet the settings file: each flag wins over its setting."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from smartbook_tui.config import AccountSettings, CardDavSettings, Settings
from smartbook_tui.password_file import read_password_file
from smartbook_tui.roster.call_log import default_call_log_path
from smartbook_tui.roster.logfile import default_log_path
from smartbook_tui.roster.session_options import DEFAULT_SERVICE_NAME, SessionOptions

PASSWORD_VARIABLE = "SMARTBOOK_PASSWORD"  # noqa: S105 (the name of the variable, not a password)


def add_session_arguments(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The account and book options. With `suppress` (a command under `smartbook`, which has them too) an option
    left out keeps the value given before the command."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    account = parser.add_argument_group("account", "also [account] in the settings file")
    account.add_argument("--sip-uri", default=default(None), help="the account, e.g. sip:alice@example.org")
    account.add_argument(
        "--username", default=default(None), help="the digest user name (default: the user part of --sip-uri)"
    )
    account.add_argument(
        "--password-file",
        type=Path,
        default=default(None),
        metavar="FILE",
        help=f"a file holding the password (or ${PASSWORD_VARIABLE})",
    )
    account.add_argument(
        "--proxy",
        default=default(None),
        metavar="HOST[:PORT]",
        help="where to send requests (default: the account's domain)",
    )
    account.add_argument(
        "--transport",
        choices=("udp", "tcp", "tls"),
        default=default(None),
        help="default: tcp (a book rarely fits UDP)",
    )
    account.add_argument(
        "--ca", type=Path, default=default(None), metavar="FILE", help="a PEM file of CAs to trust for TLS"
    )
    account.add_argument(
        "--rls-uri", default=default(None), help="the resource list server (default: sip:rls@<domain>)"
    )
    account.add_argument(
        "--list-uri", default=default(None), help="subscribe to this server-stored list instead of sending the book"
    )
    book = parser.add_argument_group("address book", "also [contacts] and [carddav] in the settings file")
    add_book_arguments(book, suppress=suppress)
    book.add_argument(
        "--carddav-poll",
        type=_seconds,
        default=default(None),
        metavar="SECONDS",
        help="how often the CardDAV book is looked at for changes while running (default: 5)",
    )


def add_book_arguments(parser: argparse._ActionsContainer, *, suppress: bool = False) -> None:
    """The book's options. With `suppress` (a command under `smartbook`, which has them too) an option left out
    keeps the value given before the command."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--vcard",
        type=Path,
        action="append",
        default=default([]),
        metavar="PATH",
        help="a .vcf file, or a directory searched for them recursively (repeatable)",
    )
    parser.add_argument(
        "--carddav", default=default(None), metavar="URL", help="a CardDAV server, principal or address book URL"
    )
    parser.add_argument("--carddav-user", default=default(None), metavar="USER", help="the CardDAV user name")
    parser.add_argument(
        "--carddav-password-file",
        type=Path,
        default=default(None),
        metavar="FILE",
        help="a file holding the CardDAV password",
    )
    parser.add_argument(
        "--carddav-ca", type=Path, default=default(None), metavar="FILE", help="a PEM file of CAs to trust as well"
    )
    parser.add_argument(
        "--carddav-insecure-http",
        action="store_true",
        default=default(False),
        help="allow plain http to hosts other than this machine",
    )
    parser.add_argument(
        "--carddav-cache",
        type=Path,
        default=default(None),
        metavar="DIR",
        help="where the last good copy of the CardDAV book is kept (default: the user cache directory)",
    )
    parser.add_argument(
        "--region",
        default=default(None),
        help="ISO 3166 region of national numbers, e.g. FR (default: from the locale)",
    )


def merge_book_settings(args: argparse.Namespace, saved: Settings) -> Settings:
    """The settings file's book values, each replaced by its flag when the flag is given."""
    saved.vcard = args.vcard or saved.vcard
    saved.region = args.region or saved.region
    saved.carddav = CardDavSettings(
        url=args.carddav or saved.carddav.url,
        user=args.carddav_user or saved.carddav.user,
        password_file=args.carddav_password_file or saved.carddav.password_file,
        ca=args.carddav_ca or saved.carddav.ca,
        insecure_http=args.carddav_insecure_http or saved.carddav.insecure_http,
        cache=args.carddav_cache or saved.carddav.cache,
        poll=saved.carddav.poll,
    )
    return saved


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    app = parser.add_argument_group("the app", "also [app] in the settings file")
    app.add_argument(
        "--users-only",
        action=argparse.BooleanOptionalAction,
        help="start with only the contacts who have an account shown",
    )
    app.add_argument(
        "--share-book",
        action=argparse.BooleanOptionalAction,
        help="agree to send the book's numbers to the service to find its users (default: asked once per "
        "account); --no-share-book: use the app as a plain address book and phone",
    )
    app.add_argument(
        "--null-audio",
        action=argparse.BooleanOptionalAction,
        help="use no sound device (the null audio device)",
    )
    app.add_argument(
        "--audio-device",
        metavar="NAME",
        help="the sound device for calls, by its name or a part of it (default: the system's)",
    )
    app.add_argument(
        "--log-file", type=Path, metavar="PATH", help=f"where the app logs (default: {default_log_path()})"
    )
    app.add_argument(
        "--call-log",
        type=Path,
        metavar="PATH",
        help=f"where the calls are kept between runs (default: {default_call_log_path()})",
    )
    add_account_api_argument(app)


def add_account_api_argument(parser: argparse._ActionsContainer, *, suppress: bool = False) -> None:
    """The server's account API, for the Assistant. With `suppress` (`smartbook assistant`, under `smartbook`, which
    has it too) the option left out keeps the value given before the command."""
    parser.add_argument(
        "--account-api",
        default=argparse.SUPPRESS if suppress else None,
        metavar="URL",
        help="the server's account API, e.g. http://127.0.0.1:8080/api (also [app] account_api)",
    )


def merge_session_settings(args: argparse.Namespace, saved: Settings) -> Settings:
    """The settings file's account and book values, each replaced by its flag when the flag is given."""
    merge_book_settings(args, saved)
    account = saved.account
    # Each account setting has the option of the same name.
    saved.account = AccountSettings(
        **{entry.name: getattr(args, entry.name) or getattr(account, entry.name) for entry in fields(AccountSettings)}
    )
    saved.carddav.poll = args.carddav_poll or saved.carddav.poll
    return saved


def read_password(account: AccountSettings, environ: Mapping[str, str] = os.environ) -> str | None:
    """The account's password: its file's, else $SMARTBOOK_PASSWORD's; None when neither gives one. Raises
    PasswordFileError (a ValueError) for a password file that cannot be read."""
    if account.password_file is not None:
        return read_password_file(account.password_file)
    return environ.get(PASSWORD_VARIABLE) or None


def app_options(
    args: argparse.Namespace, settings: Settings, environ: Mapping[str, str] = os.environ
) -> SessionOptions:
    """What the app runs with: `settings` (flags merged already) and the app's own flags, each winning over its
    setting. Consent neither gives is left to the app (None), which knows the answers remembered per account."""
    app = settings.app
    return SessionOptions(
        settings,
        password=read_password(settings.account, environ),
        share_book=_flag(args.share_book, app.share_book),
        users_only=bool(_flag(args.users_only, app.users_only)),
        null_audio=bool(_flag(args.null_audio, app.null_audio)),
        audio_device=args.audio_device or app.audio_device,
        log_file=args.log_file or app.log_file or default_log_path(),
        call_log=args.call_log or app.call_log or default_call_log_path(),
        service_name=app.service_name or DEFAULT_SERVICE_NAME,
        account_api=args.account_api or app.account_api,
    )


def _flag(option: bool | None, setting: bool | None) -> bool | None:
    return option if option is not None else setting


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value
