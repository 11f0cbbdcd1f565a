"""The numbers the account API sends codes to: valid mobile numbers of the allowed regions, in E.164."""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["InvalidPhone", "PhonePolicy", "checked_regions"]

_MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class InvalidPhone(ValueError):
    """Not a number a code may be sent to; one line for a person."""


def checked_regions(text: str) -> frozenset[str]:
    """'FR,BE' as ISO regions phonenumbers knows; ValueError naming the unknown ones."""
    regions = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = sorted(regions - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValueError(f"unknown region {', '.join(unknown)}: give ISO 3166 codes such as FR,BE")
    return regions


class PhonePolicy:
    """Numbers read with `region` when written nationally; only `countries` (None: every region) are taken."""

    def __init__(self, region: str, countries: Iterable[str] | None = None) -> None:
        self.region = region.upper()
        self.countries = frozenset(countries) if countries else None

    def mobile(self, text: object) -> str:
        """The E.164 form of a valid mobile number of an allowed region; InvalidPhone otherwise."""
        if not isinstance(text, str) or not text.strip() or len(text) > 40:
            raise InvalidPhone("give a mobile phone number, such as +33 6 12 34 56 78")
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            raise InvalidPhone(f"{text[:40]!r} is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise InvalidPhone(f"{text[:40]!r} is not a valid phone number")
        if phonenumbers.number_type(number) not in _MOBILE:
            raise InvalidPhone(f"{text[:40]!r} is not a mobile number: codes are sent by SMS")
        region = phonenumbers.region_code_for_number(number)
        if self.countries is not None and region not in self.countries:
            allowed = ", ".join(sorted(self.countries))
            raise InvalidPhone(f"numbers of {region or 'that country'} are not taken here, only of {allowed}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
