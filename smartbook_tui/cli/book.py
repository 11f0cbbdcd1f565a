"""Reading the address book, for the commands that print it (contacts, watch)."""

from __future__ import annotations

from dataclasses import dataclass

from smartbook_tui.config import Settings
from smartbook_tui.contacts import ImportResult, normalize_contacts, read_vcard_paths
from smartbook_tui.contacts.carddav import CardDavError, sync_carddav
from smartbook_tui.roster.live_book import book_region, carddav_account
from smartbook_tui.sip.uri import parse_sip_uri

from .messages import warn


class BookUnavailable(Exception):
    """Nothing could be read, or the options cannot work; the message is one line for a person."""


@dataclass(slots=True)
class Book:
    result: ImportResult  # contacts with their numbers normalised
    region: str | None


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
