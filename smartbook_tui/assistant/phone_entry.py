"""A phone number as it is typed: what phonenumbers is sure is wrong with it so far, else its E.164 form.

Only what phonenumbers knows for certain is refused here (too short, too long, not a number, a landline or another
line no SMS reaches); whether the service takes the number (its countries, numbers phonenumbers does not know, such
as the ranges kept for fiction) is the server's to say."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult

_NO_SMS = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a company's number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
_LENGTHS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.INVALID_LENGTH: "not the length of a number there",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "of no country: check the +code",
}


@dataclass(frozen=True, slots=True)
class PhoneEntry:
    """`e164` when the number may be sent; else `problem`, a sentence (empty while nothing is typed)."""

    e164: str | None
    problem: str
    shown: str = ""  # the number as people write it internationally, once it is readable


def read_phone(text: str, region: str | None) -> PhoneEntry:
    """`text` read in `region` (national numbers; None: only +international ones)."""
    text = text.strip()
    if not text:
        return PhoneEntry(None, "")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and text.startswith("+"):
            return PhoneEntry(None, "No country has this code: check the digits after the +.")
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            where = f" in {region}" if region else ""
            return PhoneEntry(None, f"Start with + and the country code: a national number cannot be read{where}.")
        return PhoneEntry(None, "This is not a phone number.")
    if number.extension:
        return PhoneEntry(None, "A mobile number has no extension.")
    length = phonenumbers.is_possible_number_with_reason(number)
    if length in _LENGTHS:
        return PhoneEntry(None, f"The number is {_LENGTHS[length]}.")
    shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    line = phonenumbers.number_type(number)
    if line in _NO_SMS:
        return PhoneEntry(None, f"{shown} is {_NO_SMS[line]}: the code comes by SMS, give a mobile number.", shown)
    return PhoneEntry(phonenumbers.format_number(number, PhoneNumberFormat.E164), "", shown)


def shown_number(e164: str) -> str:
    """+33639989901 -> +33 6 39 98 99 01 (as is when phonenumbers cannot read it)."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL)
    except NumberParseException:
        return e164
