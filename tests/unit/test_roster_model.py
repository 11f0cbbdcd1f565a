"""The roster: one row per contact of the fixture book, with the badge, the best status, where the account was found
and the note, as the list subscription's updates say."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartbook_tui.contacts import Contact, PhoneNumber, normalize_contacts, read_vcard_paths
from smartbook_tui.presence import (
    Activity,
    Availability,
    BasicStatus,
    Note,
    Person,
    Presence,
    PresenceSummary,
    PresenceTuple,
    summarize,
)
from smartbook_tui.roster.batch import UpdateBatcher
from smartbook_tui.roster.model import STATUS_ORDER, Roster, Row
from smartbook_tui.subscriber.tracker import PresenceUpdate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contacts"
DOMAIN = "example.org"


def fixture_book() -> list[Contact]:
    return normalize_contacts(read_vcard_paths([FIXTURES]).contacts, "FR")


def number_uri(e164: str) -> str:
    return f"sip:{e164}@{DOMAIN};user=phone"


def account(
    address: str, *, basic: BasicStatus = BasicStatus.OPEN, activities: tuple[Activity, ...] = (), note: str = ""
) -> PresenceSummary:
    """What the server says of a resource that names an account, read by presence.summary as the app reads it."""
    persons = (Person("p", activities=activities),) if activities else ()
    notes = (Note(note),) if note else ()
    return summarize(Presence("sip:x@example.org", (PresenceTuple("t", basic, address),), persons, notes=notes))


def no_account() -> PresenceSummary:
    """An open tuple with no contact: the resource is there, but it is nobody's account."""
    return summarize(Presence("sip:x@example.org", (PresenceTuple("t", BasicStatus.OPEN),)))


def row_named(roster: Roster, name: str) -> Row:
    (row,) = [row for row in roster.rows if row.contact.name == name]
    return row


def test_one_row_per_contact_in_book_order_with_no_badge_before_any_presence():
    book = fixture_book()
    roster = Roster(book, DOMAIN)
    assert [row.contact for row in roster.rows] == book
    assert roster.users == 0
    assert not any(row.has_account for row in roster.rows)
    assert {row.status for row in roster.rows} == {Availability.UNKNOWN}


def test_each_number_and_address_is_listed_with_the_resource_it_is_subscribed_as():
    roster = Roster(fixture_book(), DOMAIN)
    paul = row_named(roster, "Paul Mercier")
    assert [(state.label, state.uri) for state in paul.numbers] == [
        ("01 99 00 45 67 ext. 12", None),  # not checked: shown, never sent
        ("07 00 45 67 89", number_uri("+33700456789")),
    ]
    hugo = row_named(roster, "Hugo Fabre")
    assert [(state.label, state.uri) for state in hugo.numbers] == [
        ("+33 6 39 98 64 20", number_uri("+33639986420")),
        ("sip:hugo.fabre@example.org", "sip:hugo.fabre@example.org"),
    ]


def test_the_badge_appears_when_a_number_has_an_account():
    roster = Roster(fixture_book(), DOMAIN)
    changed = roster.apply([PresenceUpdate(number_uri("+33639981201"), account("sip:helene@example.org", note="Hi"))])
    helene = row_named(roster, "Hélène Lévesque")
    assert changed == {roster.rows.index(helene)}
    assert helene.has_account
    assert helene.status is Availability.ONLINE
    assert helene.found_by == "+33639981201"  # the number as the card writes it
    assert helene.sip_address == "sip:helene@example.org"
    assert helene.note == "Hi"
    assert roster.users == 1


def test_found_by_is_the_number_as_the_card_writes_it():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([PresenceUpdate(number_uri("+33639987712"), account("sip:antoine@example.org"))])
    assert row_named(roster, "Antoine Chevalier").found_by == "+33.6.39.98.77.12"


def test_a_contact_with_two_numbers_shows_the_best_status():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([
        PresenceUpdate(number_uri("+33639982210"), account("sip:julien@example.org", activities=(Activity.LUNCH,))),
        PresenceUpdate(number_uri("+33199002345"), account("sip:julien.home@example.org", note="at home")),
    ])  # fmt: skip
    julien = row_named(roster, "Julien Bernard")
    assert julien.status is Availability.ONLINE
    assert julien.found_by == "01 99 00 23 45"
    assert julien.sip_address == "sip:julien.home@example.org"
    assert julien.note == "at home"
    assert [state.summary.status for state in julien.numbers] == [Availability.ONLINE, Availability.AWAY]


def test_an_account_outranks_a_resource_without_one():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([
        PresenceUpdate(number_uri("+33639984567"), no_account()),
        PresenceUpdate(number_uri("+33536491827"), account("sip:sophie@example.org", basic=BasicStatus.CLOSED)),
    ])  # fmt: skip
    sophie = row_named(roster, "Sophie Dubois")
    assert sophie.has_account
    assert sophie.status is Availability.OFFLINE
    assert sophie.found_by == "05 36 49 18 27"


def test_status_order_puts_reachable_first_and_unknown_last():
    assert STATUS_ORDER[0] is Availability.ONLINE
    assert STATUS_ORDER[-1] is Availability.UNKNOWN
    assert set(STATUS_ORDER) == set(Availability)


def test_a_hidden_status_still_shows_the_badge():
    roster = Roster(fixture_book(), DOMAIN)
    hidden = account("sip:zoe@example.org", activities=(Activity.UNKNOWN,))
    roster.apply([PresenceUpdate(number_uri("+33639984040"), hidden)])
    zoe = row_named(roster, "Zoé Duval")
    assert zoe.has_account
    assert zoe.status is Availability.UNKNOWN


def test_a_sip_address_finds_an_account_too():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([PresenceUpdate("sip:chloe.lambert@example.org", account("sip:chloe.lambert@example.org"))])
    chloe = row_named(roster, "Chloé Lambert")
    assert chloe.has_account
    assert chloe.found_by == "sip:chloe.lambert@example.org"


def test_a_shared_number_badges_every_contact_that_has_it():
    roster = Roster(fixture_book(), DOMAIN)
    changed = roster.apply([PresenceUpdate(number_uri("+33465712345"), account("sip:durand@example.org"))])
    assert {roster.rows[i].contact.name for i in changed} == {"Jean-Pierre Durand", "Catherine Durand"}
    assert row_named(roster, "Jean-Pierre Durand").found_by == "04 65 71 23 45"
    assert row_named(roster, "Catherine Durand").found_by == "+33 4 65 71 23 45"
    assert roster.users == 2


def test_the_badge_goes_when_the_resource_is_removed():
    roster = Roster(fixture_book(), DOMAIN)
    uri = number_uri("+33639981201")
    roster.apply([PresenceUpdate(uri, account("sip:helene@example.org"))])
    changed = roster.apply([PresenceUpdate(uri, account("sip:ignored@example.org"), removed=True)])
    helene = row_named(roster, "Hélène Lévesque")
    assert changed == {roster.rows.index(helene)}
    assert not helene.has_account
    assert helene.found_by is None
    assert helene.sip_address is None
    assert roster.users == 0


def test_an_update_that_says_nothing_new_changes_no_row():
    roster = Roster(fixture_book(), DOMAIN)
    update = PresenceUpdate(number_uri("+33639981201"), account("sip:helene@example.org"))
    roster.apply([update])
    version = row_named(roster, "Hélène Lévesque").version
    assert roster.apply([PresenceUpdate(update.uri, account("sip:helene@example.org"))]) == set()
    assert roster.apply([PresenceUpdate("sip:stranger@example.org", account("sip:stranger@example.org"))]) == set()
    assert row_named(roster, "Hélène Lévesque").version == version


def test_every_change_gives_the_row_a_new_version():
    roster = Roster(fixture_book(), DOMAIN)
    helene = row_named(roster, "Hélène Lévesque")
    versions = {helene.version}
    for activities in ((Activity.LUNCH,), (Activity.MEETING,), ()):
        roster.apply([PresenceUpdate(number_uri("+33639981201"), account("sip:h@example.org", activities=activities))])
        versions.add(helene.version)
    assert len(versions) == 4


def test_a_new_book_keeps_the_badges_of_numbers_still_in_it():
    book = fixture_book()
    roster = Roster(book, DOMAIN)
    roster.apply([
        PresenceUpdate(number_uri("+33639981201"), account("sip:helene@example.org")),
        PresenceUpdate(number_uri("+33639981234"), account("sip:camille@example.org")),
    ])  # fmt: skip
    camille = next(contact for contact in book if contact.name == "Camille Martin")
    edited = [contact for contact in book if contact is not camille]
    edited.append(Contact("new", "Éloïse Nouvelle", (PhoneNumber("06 39 98 12 01", (), "+33639981201"),)))
    roster.set_book(edited, DOMAIN)

    assert [row.contact for row in roster.rows] == edited
    assert row_named(roster, "Hélène Lévesque").has_account
    assert row_named(roster, "Éloïse Nouvelle").found_by == "06 39 98 12 01"  # the same number, now hers too
    assert roster.users == 2
    roster.set_book(book, DOMAIN)
    assert row_named(roster, "Camille Martin").has_account  # what the subscription said is still known
    assert roster.users == 2


def test_a_contact_edited_in_the_book_gets_a_new_row_and_the_others_keep_theirs():
    book = fixture_book()
    roster = Roster(book, DOMAIN)
    roster.apply([PresenceUpdate(number_uri("+33639981201"), account("sip:helene@example.org", note="Hi"))])
    before = {row.contact.id: (row, row.version) for row in roster.rows}
    helene = next(contact for contact in book if contact.name == "Hélène Lévesque")
    renamed = Contact(helene.id, "Hélène Lévesque-Roy", helene.numbers, helene.sip_addresses, helene.source, 1)
    # The file is read again: equal contacts, new objects, and one of them edited.
    edited = [
        renamed if contact is helene else Contact(*(getattr(contact, f) for f in contact.__slots__)) for contact in book
    ]
    roster.set_book(edited, DOMAIN)

    edited_row = roster.rows[roster.row_of(helene.id)]
    assert edited_row.contact.name == "Hélène Lévesque-Roy"
    assert edited_row.version != before[helene.id][1]  # what was drawn for the old card is not taken for it
    assert (edited_row.has_account, edited_row.note) == (True, "Hi")
    others = [row for row in roster.rows if row.contact.id != helene.id]
    assert all(before[row.contact.id] == (row, row.version) for row in others)
    view_names = [roster.rows[i].contact.name for i in roster.by_name]
    assert view_names.index("Haddad, Karim") + 1 == view_names.index("Hélène Lévesque-Roy")  # sorted by its new name


def test_two_cards_with_the_same_id_are_two_rows():
    book = fixture_book()
    twin = next(contact for contact in book if contact.name == "Camille Martin")
    roster = Roster([*book, twin], DOMAIN)
    roster.set_book([*book, twin], DOMAIN)
    first, second = (row for row in roster.rows if row.contact is twin)
    assert first is not second
    roster.apply([PresenceUpdate(number_uri("+33639981234"), account("sip:camille@example.org"))])
    assert first.has_account
    assert second.has_account


def test_without_a_domain_numbers_are_not_resources_but_sip_addresses_are():
    roster = Roster(fixture_book(), None)
    assert all(state.uri is None for row in roster.rows for state in row.numbers if not state.label.startswith("sip:"))
    roster.apply([PresenceUpdate("sip:hugo.fabre@example.org", account("sip:hugo.fabre@example.org"))])
    assert row_named(roster, "Hugo Fabre").has_account


def test_row_of_finds_a_contact_by_id():
    roster = Roster(fixture_book(), DOMAIN)
    row = roster.rows[7]
    assert roster.row_of(row.contact.id) == 7
    assert roster.row_of("no such contact") is None


def test_the_batcher_keeps_the_last_update_of_each_resource():
    batcher = UpdateBatcher()
    assert not batcher.pending
    first = PresenceUpdate("sip:a@example.org", account("sip:a@example.org"))
    later = PresenceUpdate("sip:a@example.org", account("sip:a@example.org"), removed=True)
    other = PresenceUpdate("sip:b@example.org", account("sip:b@example.org"))
    batcher.add([first, other])
    batcher.add([later])
    assert batcher.pending
    assert sorted(batcher.take(), key=lambda update: update.uri) == [later, other]
    assert not batcher.pending
    assert batcher.take() == []


@pytest.mark.parametrize("removed_first", [True, False])
def test_a_batch_applied_at_once_ends_where_the_updates_one_by_one_end(removed_first):
    uri = number_uri("+33639981201")
    updates = [
        PresenceUpdate(uri, account("sip:helene@example.org"), removed=removed_first),
        PresenceUpdate(uri, account("sip:helene@example.org", activities=(Activity.AWAY,)), removed=not removed_first),
    ]
    one_by_one = Roster(fixture_book(), DOMAIN)
    for update in updates:
        one_by_one.apply([update])
    batched = Roster(fixture_book(), DOMAIN)
    batcher = UpdateBatcher()
    batcher.add(updates)
    batched.apply(batcher.take())
    assert [(r.has_account, r.status) for r in batched.rows] == [(r.has_account, r.status) for r in one_by_one.rows]
