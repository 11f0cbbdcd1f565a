"""`smartbook contacts`: read the address book as smartbook will, and print what it makes of every contact."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smartbook_tui.config import CardDavSettings, Settings, load_settings
from smartbook_tui.contacts import (
    Contact,
    ImportResult,
    check_domain,
    default_region,
    normalize_contacts,
    number_resource_uri,
    read_vcard_paths,
    system_locale_name,
)
from smartbook_tui.contacts.carddav import CardDavAccount, CardDavError, sync_carddav


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contacts = commands.add_parser(
        "contacts",
        help="read the address book and print each contact with its normalised numbers and resource URIs",
        description="Read vCard files (never written to) or a CardDAV server and print every contact: its "
        "numbers in E.164 (or 'not checked' when a number cannot be), the presence resources smartbook would "
        "subscribe to, and its SIP addresses; then how many cards were read and skipped.",
    )
    contacts.add_argument(
        "--vcard",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a .vcf file, or a directory searched for them recursively (repeatable)",
    )
    contacts.add_argument("--carddav", metavar="URL", help="a CardDAV server, principal or address book URL")
    contacts.add_argument("--carddav-user", metavar="USER", help="the CardDAV user name")
    contacts.add_argument(
        "--carddav-password-file", type=Path, metavar="FILE", help="a file holding the CardDAV password"
    )
    contacts.add_argument("--carddav-ca", type=Path, metavar="FILE", help="a PEM file of CAs to trust as well")
    contacts.add_argument(
        "--carddav-insecure-http", action="store_true", help="allow plain http to hosts other than this machine"
    )
    contacts.add_argument(
        "--carddav-cache",
        type=Path,
        metavar="DIR",
        help="where the last good copy of the CardDAV book is kept (default: the user cache directory)",
    )
    contacts.add_argument("--region", help="ISO 3166 region of national numbers, e.g. FR (default: from the locale)")
    contacts.add_argument("--domain", help="the SIP domain of the account, to show the resource URIs")
    contacts.add_argument("--json", action="store_true", help="one JSON object a line, then the counts")
    contacts.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        region = default_region(settings.region, locale_name=system_locale_name())
        domain = check_domain(settings.domain) if settings.domain else None
    except ValueError as exc:  # ConfigError included
        return _fail(str(exc))
    carddav = settings.carddav
    if not settings.vcard and not carddav.url:
        return _fail("no address book given: use --vcard PATH (a .vcf file or a directory) or --carddav URL")
    missing = [str(path) for path in settings.vcard if not path.exists()]
    if missing:
        return _fail(f"no such file or directory: {', '.join(missing)}")
    result = read_vcard_paths(settings.vcard)
    if carddav.url:
        try:
            synced = sync_carddav(_carddav_account(carddav), cache_dir=carddav.cache)
        except CardDavError as exc:  # a URL or option that cannot work: nothing was tried
            return _fail(str(exc))
        if synced.error is not None:
            served = "the last good copy" if synced.synced_at is not None else "nothing: no copy was ever made"
            print(f"smartbook: CardDAV: {synced.error}; showing {served}", file=sys.stderr)
        result = ImportResult(result.contacts + synced.book.contacts, result.skipped + synced.book.skipped)
    for skipped in result.skipped:
        print(f"smartbook: {skipped}", file=sys.stderr)
    if not result.contacts:
        sources = [*map(str, settings.vcard), *([carddav.url] if carddav.url else [])]
        return _fail(f"nothing could be read from {', '.join(sources)} ({result.summary()})")
    book = ImportResult(normalize_contacts(result.contacts, region), result.skipped)
    if args.json:
        _print_json(book, domain)
    else:
        _print_text(book, domain, region)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    """The settings file's values, each replaced by its flag when the flag is given."""
    saved = load_settings(args.config)
    return Settings(
        domain=args.domain or saved.domain,
        vcard=args.vcard or saved.vcard,
        region=args.region or saved.region,
        carddav=CardDavSettings(
            url=args.carddav or saved.carddav.url,
            user=args.carddav_user or saved.carddav.user,
            password_file=args.carddav_password_file or saved.carddav.password_file,
            ca=args.carddav_ca or saved.carddav.ca,
            insecure_http=args.carddav_insecure_http or saved.carddav.insecure_http,
            cache=args.carddav_cache or saved.carddav.cache,
        ),
    )


def _carddav_account(carddav: CardDavSettings) -> CardDavAccount:
    return CardDavAccount(
        carddav.url or "",
        carddav.user,
        password_file=carddav.password_file,
        ca_file=carddav.ca,
        allow_insecure_http=carddav.insecure_http,
    )


def _fail(message: str) -> int:
    print(f"smartbook: {message}", file=sys.stderr)
    return 2


def _print_json(book: ImportResult, domain: str | None) -> None:
    for contact in book.contacts:
        print(json.dumps(_contact_json(contact, domain), ensure_ascii=False))
    print(json.dumps({"read": len(book.contacts), "skipped": len(book.skipped)}))


def _contact_json(contact: Contact, domain: str | None) -> dict[str, object]:
    return {
        "id": contact.id,
        "name": contact.name,
        "numbers": [
            {
                "raw": number.raw,
                "kinds": list(number.kinds),
                "e164": number.e164,
                "resource": number_resource_uri(number.e164, domain) if number.e164 and domain else None,
            }
            for number in contact.numbers
        ],
        "sip_addresses": list(contact.sip_addresses),
        "source": contact.source,
        "index": contact.index,
    }


def _print_text(book: ImportResult, domain: str | None, region: str | None) -> None:
    for contact in book.contacts:
        print(contact.name)
        for number in contact.numbers:
            kinds = ",".join(number.kinds) or "-"
            if number.e164 is None:
                checked = "not checked"
            elif domain:
                checked = f"{number.e164}  {number_resource_uri(number.e164, domain)}"
            else:
                checked = number.e164
            print(f"    {number.raw:<24} {kinds:<12} {checked}")
        for address in contact.sip_addresses:
            print(f"    {address}")
    print(f"{book.summary()} (national numbers read as {region or 'no region: give --region'})")
