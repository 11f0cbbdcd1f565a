"""`smartbook contacts`: read the address book as smartbook will, and print what it makes of every contact."""

from __future__ import annotations

import argparse
import json

from smartbook_tui.config import load_settings
from smartbook_tui.contacts import Contact, ImportResult, check_domain, number_resource_uri

from .book import BookUnavailable, account_domain, load_book
from .messages import fail
from .options import add_book_arguments, merge_book_settings


def add_arguments(contacts: argparse.ArgumentParser) -> None:
    contacts.description = (
        "Read vCard files (never written to) or a CardDAV server and print every contact: its "
        "numbers in E.164 (or 'not checked' when a number cannot be), the presence resources smartbook would "
        "subscribe to, and its SIP addresses; then how many cards were read and skipped."
    )
    add_book_arguments(contacts, suppress=True)
    contacts.add_argument("--domain", help="the SIP domain of the account, to show the resource URIs")
    contacts.add_argument("--json", action="store_true", help="one JSON object a line, then the counts")
    contacts.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = merge_book_settings(args, load_settings(args.config))
        domain = args.domain or account_domain(settings)
        domain = check_domain(domain) if domain else None
        book = load_book(settings)
    except (ValueError, BookUnavailable) as exc:  # ConfigError included
        return fail(str(exc))
    if args.json:
        _print_json(book.result, domain)
    else:
        _print_text(book.result, domain, book.region)
    return 0


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
