"""Phone numbers: the default region and E.164 normalisation (the resources they become: `resources`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import phonenumbers

from .model import Contact, PhoneNumber
from .quick_e164 import UNDECIDED, quick_e164
from .regions import named_region


def default_region(
    explicit: str | None = None, own_number: str | None = None, locale_name: str | None = None
) -> str | None:
    """The region national numbers are read in: the one given, else the one of the user's own number, else the
    locale's territory; None when none of them says (national numbers then stay "not checked")."""
    if explicit:
        region = named_region(explicit, None)
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
    return named_region(None, locale_name)


# Numbers made only of digits and visual separators (a '+' first) lose the separators first: phonenumbers then parses
# them ~20% faster, with the same result (tests/unit/test_phones.py holds the two to it). Not below seven digits,
# where phonenumbers reads "1/0" and "10" differently.
PLAIN_MIN_DIGITS = 7


@functools.lru_cache(maxsize=65536)
def to_e164(raw: str, region: str | None) -> str | None:
    """The number in E.164, or None when it cannot be checked: unparsable, not a possible number (too short or
    too long for its country, a short code), or with an extension (a switchboard, not a person's line)."""
    text = plain_number(raw)
    if text is None:
        return parse_e164(raw, region)
    quick = quick_e164(text, region)
    return parse_e164(text, region) if quick is UNDECIDED else quick


def plain_number(raw: str) -> str | None:
    """The number without its visual separators (but parentheses) when it is made only of digits and separators, a
    '+' first or not, with at least PLAIN_MIN_DIGITS digits; else None."""
    text = raw.replace(" ", "").replace("-", "").replace(".", "").replace("/", "").replace("\t", "")
    digits = (text[1:] if raw[:1] == "+" else text).replace("(", "").replace(")", "")
    return text if digits.isascii() and digits.isdigit() and len(digits) >= PLAIN_MIN_DIGITS else None


def parse_e164(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_contacts(contacts: Iterable[Contact], region: str | None) -> list[Contact]:
    """The contacts with every number's E.164 form set where it can be checked (new records: the given ones stay as
    they are)."""
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


def set_e164(contacts: Iterable[Contact], region: str | None) -> None:
    """Set every number's E.164 form where it can be checked, in place: for records just read, which nothing else
    holds yet (`normalize_contacts` makes new ones)."""
    for contact in contacts:
        for number in contact.numbers:
            number.e164 = to_e164(number.raw, region)
