"""Phone numbers: the default region, E.164 normalisation, and the one rule that turns a number into the
resource URI the presence server sees."""

from __future__ import annotations

import functools
import locale
import os
import re
from collections.abc import Iterable, Mapping

import phonenumbers

from .model import Contact, PhoneNumber
from .quick_e164 import UNDECIDED, quick_e164


def region_from_locale(name: str | None) -> str | None:
    """'fr_FR.UTF-8' -> 'FR'; None for locales without a territory ('C', 'POSIX', 'C.UTF-8', 'en')."""
    if not name:
        return None
    territory = name.split(".", 1)[0].split("@", 1)[0].partition("_")[2]
    return territory.upper() if len(territory) == 2 and territory.isalpha() else None


def system_locale_name(environ: Mapping[str, str] = os.environ) -> str | None:
    for variable in ("LC_ALL", "LC_TELEPHONE", "LC_CTYPE", "LANG"):
        if environ.get(variable):
            return environ[variable]
    return locale.getlocale()[0]


def default_region(
    explicit: str | None = None, own_number: str | None = None, locale_name: str | None = None
) -> str | None:
    """The region national numbers are read in: the one given, else the one of the user's own number, else the
    locale's territory; None when none of them says (national numbers then stay "not checked")."""
    if explicit:
        region = explicit.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{explicit!r} is not a region phonenumbers knows: use an ISO 3166 code such as FR")
        return region
    if own_number:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(own_number, None))
        except phonenumbers.NumberParseException:
            region = None
        if region and region in phonenumbers.SUPPORTED_REGIONS:
            return region
    return region_from_locale(locale_name)


# Numbers made only of digits and visual separators lose the separators first: phonenumbers then parses them
# ~20% faster, with the same result (tests/unit/test_phones.py holds the two to it). Not below seven digits,
# where phonenumbers reads "1/0" and "10" differently.
_PLAIN_NUMBER = re.compile(r"\+?[ \t./()-]*(?:[0-9][ \t./()-]*){7,}")
_SEPARATORS = re.compile(r"[ \t./-]")


@functools.lru_cache(maxsize=65536)
def to_e164(raw: str, region: str | None) -> str | None:
    """The number in E.164, or None when it cannot be checked: unparsable, not a possible number (too short or
    too long for its country, a short code), or with an extension (a switchboard, not a person's line)."""
    if not _PLAIN_NUMBER.fullmatch(raw):
        return parse_e164(raw, region)
    text = _SEPARATORS.sub("", raw)
    quick = quick_e164(text, region)
    return parse_e164(text, region) if quick is UNDECIDED else quick


def parse_e164(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_contacts(contacts: Iterable[Contact], region: str | None) -> list[Contact]:
    """The contacts with every number's E.164 form set where it can be checked."""
    return [
        Contact(
            contact.id,
            contact.name,
            tuple(PhoneNumber(n.raw, n.kinds, to_e164(n.raw, region)) for n in contact.numbers),
            contact.sip_addresses,
            contact.source,
            contact.index,
        )
        for contact in contacts
    ]


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
    return sorted({uri for contact in contacts for uri in contact_resource_uris(contact, domain)})


def contacts_by_resource(contacts: Iterable[Contact], domain: str) -> dict[str, list[Contact]]:
    """Resource URI -> every contact that has it (a shared home number belongs to the whole family)."""
    index: dict[str, list[Contact]] = {}
    for contact in contacts:
        for uri in dict.fromkeys(contact_resource_uris(contact, domain)):
            index.setdefault(uri, []).append(contact)
    return index
