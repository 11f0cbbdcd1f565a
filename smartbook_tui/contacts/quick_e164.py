"""A quick E.164 reading for the two shapes most numbers in an address book have once their separators are
gone: "+<country code><national number>" and "<national prefix><national number>" in the default region.

phonenumbers.parse takes ~16-20 µs a number, most of it in general machinery; a 10,000-contact book has 20,000
numbers. Here the same metadata answers those two shapes in a few µs, and every case that needs more of
phonenumbers' rules (a carrier code, a national prefix that could be part of the number, an IDD prefix, leading
zeros, a country with transformation rules) is UNDECIDED and goes to phonenumbers. tests/unit/test_phones.py
holds the two to the same answers over many regions and shapes.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata, ValidationResult


class Undecided(enum.Enum):
    UNDECIDED = "undecided"


UNDECIDED = Undecided.UNDECIDED

_INTERNATIONAL_DIGITS = re.compile(r"[1-9][0-9]{2,16}")
_NATIONAL = re.compile(r"[0-9]{3,17}")
_PLAIN_PREFIXES = re.compile(r"[0-9]+(?:\|[0-9]+)*")


@dataclass(frozen=True, slots=True)
class _Country:
    code: int
    code_text: str
    national_prefixes: tuple[str, ...]  # national_prefix_for_parsing, when it is plain digits (or nothing)
    general: re.Pattern[str]
    international_prefix: re.Pattern[str] | None
    possible_lengths: tuple[int, ...]  # of a national number, sorted (the general description's)
    local_lengths: frozenset[int]  # lengths dialled only within an area


@functools.cache
def _country(code: int) -> _Country | None:
    """The metadata of a country code's main region, when it is simple enough for the quick reading."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region(region) if region != phonenumbers.UNKNOWN_REGION else None
    if metadata is None or metadata.national_prefix_transform_rule or metadata.general_desc is None:
        return None
    prefixes = metadata.national_prefix_for_parsing
    if prefixes and not _PLAIN_PREFIXES.fullmatch(prefixes):
        return None
    pattern = metadata.general_desc.national_number_pattern
    if not pattern:
        return None
    idd = metadata.international_prefix
    lengths = tuple(metadata.general_desc.possible_length or ())
    if not lengths:
        return None
    return _Country(
        code,
        str(code),
        tuple(prefixes.split("|")) if prefixes else (),
        re.compile(pattern),
        re.compile(idd) if idd else None,
        lengths,
        frozenset(metadata.general_desc.possible_length_local_only or ()),
    )


@functools.cache
def _region_country(region: str) -> _Country | None:
    code = phonenumbers.country_code_for_region(region)
    if not code or phonenumbers.region_code_for_country_code(code) != region:
        return None  # a region that shares its country code with a main one (GP, RE...): left to phonenumbers
    return _country(code)


def quick_e164(text: str, region: str | None) -> str | Undecided | None:
    """E.164 of a number without separators (parentheses aside), None when it is not a possible number, or
    UNDECIDED."""
    text = text.replace("(", "").replace(")", "")
    if text.startswith("+"):
        return _international(text[1:])
    if region is not None and _NATIONAL.fullmatch(text):
        return _national(text, region)
    return UNDECIDED


def _international(digits: str) -> str | Undecided | None:
    """After '+' or an international call prefix: a country code, then what phonenumbers reads as national."""
    if not _INTERNATIONAL_DIGITS.fullmatch(digits):
        return UNDECIDED
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            country = _country(code)
            return UNDECIDED if country is None else _national_number(country, digits[length:])
    return UNDECIDED


def _national(text: str, region: str) -> str | Undecided | None:
    country = _region_country(region)
    if country is None:
        return UNDECIDED
    idd = country.international_prefix.match(text) if country.international_prefix else None
    if idd:  # "0033..." in France: as if it were "+33...", unless a 0 follows (no country code starts with 0)
        rest = text[idd.end() :]
        return UNDECIDED if rest.startswith("0") else _international(rest)
    if text.startswith(country.code_text):
        return UNDECIDED  # the country code written without '+': phonenumbers has rules for it
    return _national_number(country, text)


def _national_number(country: _Country, text: str) -> str | Undecided | None:
    """phonenumbers' reading of a national number: a national prefix comes off when the number is not viable
    with it, or still is without it, and what is left has a possible length."""
    for prefix in country.national_prefixes:
        if text.startswith(prefix):
            national = text[len(prefix) :]
            if not country.general.fullmatch(national) and country.general.fullmatch(text):
                return UNDECIDED  # the prefix may belong to the number
            return _without_prefix(country, national)
    if not 2 <= len(text) <= 17 or text.startswith("0"):
        return UNDECIDED  # leading zeros (Italy) have rules of their own
    return _possible(country, text)


def _without_prefix(country: _Country, national: str) -> str | Undecided | None:
    """phonenumbers keeps a stripped national prefix off only when what is left has a possible length."""
    if not 2 <= len(national) <= 17 or national.startswith("0"):
        return UNDECIDED
    reason = _length_result(country, len(national))
    if reason == ValidationResult.IS_POSSIBLE:
        return f"+{country.code_text}{national}"
    if reason == ValidationResult.TOO_LONG:
        return None
    return UNDECIDED  # phonenumbers would keep the prefix and judge the whole


def _possible(country: _Country, national: str) -> str | None:
    possible = _length_result(country, len(national)) in (ValidationResult.IS_POSSIBLE, _LOCAL_ONLY)
    return f"+{country.code_text}{national}" if possible else None


_LOCAL_ONLY = ValidationResult.IS_POSSIBLE_LOCAL_ONLY


def _length_result(country: _Country, length: int) -> int:
    """phonenumbers' is_possible_number_with_reason for a national number of this length without leading zeros
    (its _test_number_length for any type of number), without building the number."""
    lengths = country.possible_lengths
    if length in country.local_lengths:
        return _LOCAL_ONLY
    if length == lengths[0]:
        return ValidationResult.IS_POSSIBLE
    if length < lengths[0]:
        return ValidationResult.TOO_SHORT
    if length > lengths[-1]:
        return ValidationResult.TOO_LONG
    return ValidationResult.IS_POSSIBLE if length in lengths[1:] else ValidationResult.INVALID_LENGTH
