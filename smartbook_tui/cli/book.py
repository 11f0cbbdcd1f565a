"""The address-book options and loading shared by the commands that read the book (the app, contacts, watch)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.config import CardDavSettings, Settings
from smartbook_tui.contacts import ImportResult, normalize_contacts, read_vcard_paths
from smartbook_tui.contacts.carddav import CardDavError, sync_carddav
from smartbook_tui.roster.live_book import book_region, carddav_account
from smartbook_tui.sip.uri import parse_sip_uri


class BookUnavailable(Exception):
    """Nothing could be read, or the options cannot work; the message is one line for a person."""


@dataclass(slots=True)
class Book:
    result: ImportResult  # contacts with their numbers normalised
    region: str | None


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


def check_book(settings: Settings) -> str | None:
    """The region of national numbers, once the book's options are seen to work. Raises BookUnavailable."""
    try:
        region = book_region(settings)
    except ValueError as exc:
        raise BookUnavailable(str(exc)) from None
    if not settings.vcard and not settings.carddav.url:
        raise BookUnavailable("no address book given: use --vcard PATH (a .vcf file or a directory) or --carddav URL")
    missing = [str(path) for path in settings.vcard if not path.exists()]
    if missing:
        raise BookUnavailable(f"no such file or directory: {', '.join(missing)}")
    return region


def nothing_read(sources: list[str], result: ImportResult) -> BookUnavailable:
    return BookUnavailable(f"nothing could be read from {', '.join(sources)} ({result.summary()})")


def load_book(settings: Settings) -> Book:
    """Read the vCards and the CardDAV book of `settings`; skipped cards and CardDAV trouble go to stderr as
    warnings. Raises BookUnavailable when there is nothing to show."""
    region = check_book(settings)
    carddav = settings.carddav
    result = read_vcard_paths(settings.vcard)
    if carddav.url:
        try:
            synced = sync_carddav(carddav_account(carddav), cache_dir=carddav.cache)
        except CardDavError as exc:  # a URL or option that cannot work: nothing was tried
            raise BookUnavailable(str(exc)) from None
        if synced.error is not None:
            served = "the last good copy" if synced.synced_at is not None else "nothing: no copy was ever made"
            warn(f"CardDAV: {synced.error}; showing {served}")
        result = ImportResult(result.contacts + synced.book.contacts, result.skipped + synced.book.skipped)
    for skipped in result.skipped:
        warn(str(skipped))
    if not result.contacts:
        raise nothing_read([*map(str, settings.vcard), *([carddav.url] if carddav.url else [])], result)
    return Book(ImportResult(normalize_contacts(result.contacts, region), result.skipped), region)


def account_domain(settings: Settings) -> str | None:
    """The SIP domain numbers become resources in: the account's, else the one configured on its own."""
    if settings.account.sip_uri:
        return parse_sip_uri(settings.account.sip_uri).host  # SipParseError is a ValueError
    return settings.domain


def warn(message: str) -> None:
    print(f"smartbook: {message}", file=sys.stderr)


def fail(message: str) -> int:
    warn(message)
    return 2
