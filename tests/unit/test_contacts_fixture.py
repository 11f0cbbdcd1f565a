"""The fixture address book (fixtures/contacts, described in its README and expected.toml) read as a user's."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from smartbook_tui.contacts import (
    book_resource_uris,
    contacts_by_resource,
    normalize_contacts,
    read_vcard_paths,
)
from smartbook_tui.contacts.vcard import (
    RawCard,
    contact_from_properties,
    fast_path_reads,
    line_properties,
    split_cards,
    vobject_properties,
)

BOOK = Path(__file__).resolve().parents[2] / "fixtures" / "contacts"
EXPECTED = tomllib.loads((BOOK / "expected.toml").read_text())
DOMAIN = "example.org"


@pytest.fixture(scope="module")
def book():
    result = read_vcard_paths([BOOK])
    result.contacts = normalize_contacts(result.contacts, EXPECTED["totals"]["region"])
    return result


def _where(source: str) -> str:
    return Path(source).relative_to(BOOK).as_posix()


def test_every_contact_is_read_as_the_readme_says(book):
    got = [
        {
            "file": _where(c.source),
            "index": c.index,
            "name": c.name,
            "numbers": [
                {"raw": n.raw, "kinds": list(n.kinds), **({"e164": n.e164} if n.e164 else {})} for n in c.numbers
            ],
            "sip": list(c.sip_addresses),
        }
        for c in book.contacts
    ]
    expected = [
        {
            "file": entry["file"],
            "index": entry["index"],
            "name": entry["name"],
            # the README's reason for a number not checked is for people: not compared
            "numbers": [{k: v for k, v in number.items() if k != "not_checked"} for number in entry["numbers"]],
            "sip": entry["sip"],
        }
        for entry in EXPECTED["contact"]
    ]
    assert sorted(got, key=_place) == sorted(expected, key=_place)


def _place(contact: dict[str, object]) -> tuple[object, ...]:
    return contact["file"], contact["index"]


def test_uids_become_ids(book):
    by_place = {(_where(c.source), c.index): c for c in book.contacts}
    for entry in EXPECTED["contact"]:
        contact = by_place[entry["file"], entry["index"]]
        if "uid" in entry:
            assert contact.id == entry["uid"]
        else:
            assert contact.id.startswith("card-")


def test_broken_cards_are_skipped_and_counted(book):
    assert [(_where(s.source), s.index) for s in book.skipped] == [(e["file"], e["index"]) for e in EXPECTED["skipped"]]
    assert book.summary() == EXPECTED["totals"]["summary"]


def test_totals_shared_numbers_and_resources(book):
    totals = EXPECTED["totals"]
    numbers = [n for c in book.contacts for n in c.numbers]
    assert len(numbers) == totals["numbers"]
    assert sum(n.e164 is not None for n in numbers) == totals["checked"]
    assert len({n.e164 for n in numbers if n.e164}) == totals["distinct_e164"]
    assert len(book_resource_uris(book.contacts, DOMAIN)) == totals["resource_uris"]
    index = contacts_by_resource(book.contacts, DOMAIN)
    for e164, places in EXPECTED["shared"].items():
        owners = index[f"sip:{e164}@{DOMAIN};user=phone"]
        assert sorted((_where(c.source), c.index) for c in owners) == sorted(map(tuple, places))


def test_both_readers_agree_on_every_fixture_card_the_fast_one_reads():
    compared = 0
    for file in sorted(BOOK.rglob("*.vcf")):
        for card in split_cards(file.read_bytes().decode("utf-8-sig"), str(file)):
            if not isinstance(card, RawCard) or not fast_path_reads(card):
                continue
            try:
                fast = contact_from_properties(line_properties(card), card)
            except ValueError:
                continue  # a broken card: the fast reader refuses it, as the import test shows
            assert fast == contact_from_properties(vobject_properties(card), card), f"{file} card {card.index}"
            compared += 1
    assert compared >= 30
