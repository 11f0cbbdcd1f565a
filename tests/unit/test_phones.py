import re

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from smartbook_tui.contacts import (
    Contact,
    PhoneNumber,
    book_resource_uris,
    check_domain,
    contact_resource_uris,
    contacts_by_resource,
    default_region,
    normalize_contacts,
    number_resource_uri,
    to_e164,
)
from smartbook_tui.contacts.phones import parse_e164, plain_number, set_e164
from smartbook_tui.contacts.quick_e164 import UNDECIDED, quick_e164
from smartbook_tui.contacts.regions import region_from_locale, system_locale_name


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("fr_FR.UTF-8", "FR"),
        ("en_GB", "GB"),
        ("de_CH.UTF-8@euro", "CH"),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("en", None),
        (None, None),
    ],
)
def test_region_from_locale(name, region):
    assert region_from_locale(name) == region


def test_locale_variables_in_order():
    assert system_locale_name({"LANG": "de_DE.UTF-8", "LC_ALL": "fr_BE.UTF-8"}) == "fr_BE.UTF-8"
    assert system_locale_name({"LANG": "de_DE.UTF-8"}) == "de_DE.UTF-8"


def test_default_region_order():
    assert default_region("be", "+33612345678", "de_DE.UTF-8") == "BE"
    assert default_region(None, "+41791234567", "de_DE.UTF-8") == "CH"
    assert default_region(None, "not a number", "de_DE.UTF-8") == "DE"
    assert default_region(None, None, "C.UTF-8") is None
    with pytest.raises(ValueError, match="ISO 3166"):
        default_region("France")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 (0)6 12 34 56 78", None, "+33612345678"),
        ("0033 6.12.34.56.78", "FR", "+33612345678"),
        ("+33-6-98-76-54-32", "GB", "+33698765432"),
        ("07700 900123", "GB", "+447700900123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("+1 415-555-0123", "FR", "+14155550123"),
        ("06 12 34 56 78", None, None),  # national, and no region to read it in
        ("01 23 45 67 89 ext. 12", "FR", None),  # a switchboard
        ("+1-201-555-0123;ext=1234", None, None),
        ("112", "FR", None),
        ("+33 6 12", "FR", None),
        ("ask at reception", "FR", None),
        ("", "FR", None),
    ],
)
def test_to_e164(raw, region, e164):
    assert to_e164(raw, region) == e164


def test_normalisation_keeps_what_it_cannot_check():
    (contact,) = normalize_contacts([Contact("1", "A", (PhoneNumber("06 12 34 56 78"), PhoneNumber("112")))], "FR")
    assert [(n.raw, n.e164) for n in contact.numbers] == [("06 12 34 56 78", "+33612345678"), ("112", None)]


def test_normalising_records_in_place_sets_what_new_records_get():
    def book() -> list[Contact]:
        numbers = (PhoneNumber("06 12 34 56 78", ("cell",)), PhoneNumber("112"), PhoneNumber("+44 20 7946 0958"))
        return [Contact("1", "A", numbers, ("sip:a@example.org",), "b.vcf", 1), Contact("2", "B")]

    read = book()
    set_e164(read, "FR")
    assert read == normalize_contacts(book(), "FR")


def test_the_resource_uri_rule():
    assert number_resource_uri("+33612345678", "example.org") == "sip:+33612345678@example.org;user=phone"


def _family() -> list[Contact]:
    home = PhoneNumber("01 23 45 67 89", ("home",), "+33123456789")
    return [
        Contact("anne", "Anne", (PhoneNumber("06", ("cell",), "+33612345678"), home), ("sip:anne@example.org",)),
        Contact("emma", "Emma", (home, PhoneNumber("112")), ("sip:anne@example.org",)),
        Contact("dave", "Dave", (), ("sip:dave@example.org",)),
    ]


def test_book_resources_are_sorted_and_unique_and_unchecked_numbers_are_never_sent():
    assert book_resource_uris(_family(), "example.org") == [
        "sip:+33123456789@example.org;user=phone",
        "sip:+33612345678@example.org;user=phone",
        "sip:anne@example.org",
        "sip:dave@example.org",
    ]
    each = {uri for contact in _family() for uri in contact_resource_uris(contact, "example.org")}
    assert book_resource_uris(iter(_family()), "example.org") == sorted(each)


def test_a_shared_number_maps_to_every_contact_that_has_it():
    index = contacts_by_resource(_family(), "example.org")
    assert [c.id for c in index["sip:+33123456789@example.org;user=phone"]] == ["anne", "emma"]
    assert [c.id for c in index["sip:anne@example.org"]] == ["anne", "emma"]


@pytest.mark.parametrize("domain", ["example.org", "127.0.0.1", "sip.example.org:5070", "[::1]:5060"])
def test_domains(domain):
    assert check_domain(f" {domain} ") == domain


@pytest.mark.parametrize("domain", ["", "alice@example.org", "example.org;transport=tcp", "exa mple.org", "<x>"])
def test_bad_domains(domain):
    with pytest.raises(ValueError, match="not a SIP domain"):
        check_domain(domain)


_FORMATTED = st.from_regex(r"(\+|00)?[0-9]{1,3}([ ./-]?\(?[0-9]{1,4}\)?){1,5}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(raw=_FORMATTED, region=st.sampled_from(["FR", "GB", "US", "DE", "IT", "MX", "AR", None]))
def test_dropping_separators_never_changes_the_result(raw, region):
    assert to_e164.__wrapped__(raw, region) == parse_e164(raw, region)


# The rule for a plain number as a pattern: '+' first or not, then digits and separators, seven digits at least.
_PLAIN_NUMBER = re.compile(r"\+?[ \t./()-]*(?:[0-9][ \t./()-]*){7,}")


@settings(max_examples=1000)
@given(raw=st.text(alphabet="0123456789 +()-./\t\u0663\u00b2x\n", max_size=16))
def test_a_plain_number_is_told_and_stripped_as_the_pattern_says(raw):
    expected = re.sub(r"[ \t./-]", "", raw) if _PLAIN_NUMBER.fullmatch(raw) else None
    assert plain_number(raw) == expected


_REGIONS = ["FR", "GB", "US", "CA", "DE", "BE", "CH", "ES", "IT", "NL", "MX", "AR", "BR", "IN", "JP", "RU", "AU", "GP"]
_CODES = [
    "1",
    "7",
    "20",
    "31",
    "32",
    "33",
    "34",
    "39",
    "41",
    "44",
    "49",
    "52",
    "54",
    "55",
    "61",
    "81",
    "91",
    "590",
    "800",
    "882",
]


@st.composite
def _compact_numbers(draw: st.DrawFn) -> str:
    body = draw(st.from_regex(r"[0-9]{1,15}", fullmatch=True))
    shape = draw(st.sampled_from(["international", "trunk", "national", "idd", "bare"]))
    if shape == "international":
        return f"+{draw(st.sampled_from(_CODES))}{body}"
    if shape == "trunk":  # +33 (0)6..., as people write it
        return f"+{draw(st.sampled_from(_CODES))}(0){body}"
    if shape == "national":
        return f"{draw(st.sampled_from(['0', '1', '00', '180020', '15', '9']))}{body}"
    if shape == "idd":
        return f"{draw(st.sampled_from(['00', '011', '0033']))}{body}"
    return body


@settings(max_examples=1500, deadline=None)
@given(text=_compact_numbers(), region=st.sampled_from([*_REGIONS, None]))
def test_the_quick_reading_agrees_with_phonenumbers_whenever_it_decides(text, region):
    quick = quick_e164(text, region)
    if quick is not UNDECIDED:
        assert quick == parse_e164(text, region)


def test_the_quick_reading_decides_the_common_shapes():
    assert quick_e164("+33612345678", None) == "+33612345678"
    assert quick_e164("0612345678", "FR") == "+33612345678"
    assert quick_e164("07700900123", "GB") == "+447700900123"
    assert quick_e164("4155550123", "US") == "+14155550123"
    assert quick_e164("+3361234", None) is None  # too short for France
    assert quick_e164("+33(0)612345678", None) == "+33612345678"
    assert quick_e164("0033612345678", "FR") == "+33612345678"
