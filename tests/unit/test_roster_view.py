"""The view over the roster: the users-only filter and its count, search as a person types it, the sorts, and a view
kept up to date by presence that ends where a fresh one would."""

from __future__ import annotations

import random

import pytest

from smartbook_tui.contacts import Contact, PhoneNumber, normalize_contacts
from smartbook_tui.presence import NO_PRESENCE, Activity, Availability, BasicStatus
from smartbook_tui.roster.batch import UpdateBatcher
from smartbook_tui.roster.model import Roster
from smartbook_tui.roster.search import fold
from smartbook_tui.roster.view import RosterView, SortKey
from smartbook_tui.subscriber.tracker import PresenceUpdate
from tests.unit.test_roster_model import DOMAIN, account, fixture_book, number_uri

HELENE = number_uri("+33639981201")  # Hélène Lévesque's mobile
ZOE = number_uri("+33639984040")  # Zoé Duval's mobile
CAMILLE = number_uri("+33639981234")  # Camille Martin's mobile


def names(view: RosterView) -> list[str]:
    return [view.roster.rows[i].contact.name for i in view.indices]


def book_with(*extra: Contact) -> list[Contact]:
    return fixture_book() + normalize_contacts(extra, "FR")


def test_the_users_only_filter_and_its_count():
    roster = Roster(fixture_book(), DOMAIN)
    view = RosterView(roster)
    assert (view.shown, view.total) == (40, 40)
    roster.apply([
        PresenceUpdate(HELENE, account("sip:helene@example.org")),
        PresenceUpdate(ZOE, account("sip:zoe@example.org")),
    ])  # fmt: skip
    view.set_users_only(True)
    assert names(view) == ["Hélène Lévesque", "Zoé Duval"]
    assert (view.shown, view.total) == (2, 40)
    view.set_users_only(False)
    assert view.shown == 40


def test_a_view_can_start_filtered():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org"))])
    assert names(RosterView(roster, users_only=True)) == ["Hélène Lévesque"]


@pytest.mark.parametrize("typed", ["eloise", "ELOISE", "Éloïse", "loïs", "dupre"])
def test_search_folds_accents_and_case(typed):
    roster = Roster(book_with(Contact("e", "Éloïse Dupré", (PhoneNumber("06 39 98 00 01"),))), DOMAIN)
    view = RosterView(roster)
    view.set_query(typed)
    assert names(view) == ["Éloïse Dupré"]


@pytest.mark.parametrize(("name", "typed"), [("Laëtitia Cœur", "laetitia coeur"), ("Jörg Strauß", "jorg strauss")])
def test_search_spells_letters_out_as_people_type_them(name, typed):
    view = RosterView(Roster(book_with(Contact("x", name)), DOMAIN))
    view.set_query(typed)
    assert names(view) == [name]


@pytest.mark.parametrize(
    "typed", ["0639981201", "06 39 98 12 01", "+33 6 39 98 12 01", "+33639981201", "0033 6 39 98 12 01"]
)
def test_search_finds_a_number_in_any_spelling(typed):
    roster = Roster(book_with(Contact("a", "Alix Number", (PhoneNumber("+33 6 39 98 12 01"),))), DOMAIN)
    view = RosterView(roster)
    view.set_query(typed)
    assert "Alix Number" in names(view)
    assert set(names(view)) <= {"Alix Number", "Hélène Lévesque"}  # she has the same number, written +33639981201


def test_search_by_part_of_a_number():
    view = RosterView(Roster(fixture_book(), DOMAIN))
    view.set_query("06 39 98 40")
    assert sorted(names(view)) == ["François-Xavier Bélanger-Desrochers", "Zoé Duval"]


def test_search_finds_sip_addresses_and_the_one_the_server_revealed():
    roster = Roster(fixture_book(), DOMAIN)
    view = RosterView(roster)
    view.set_query("chloe.lambert")
    assert names(view) == ["Chloé Lambert"]
    view.set_query("lena.levesque")
    assert names(view) == []
    changed = roster.apply([PresenceUpdate(HELENE, account("sip:lena.levesque@example.org"))])
    assert view.rows_changed(changed) is True
    assert names(view) == ["Hélène Lévesque"]


def test_search_words_all_have_to_match_in_any_order():
    view = RosterView(Roster(fixture_book(), DOMAIN))
    view.set_query("durand jean")
    assert names(view) == ["Jean-Pierre Durand"]
    view.set_query("durand 0465")
    assert names(view) == ["Catherine Durand", "Jean-Pierre Durand"]


def test_typing_and_erasing_a_query_ends_where_a_fresh_view_would():
    roster = Roster(fixture_book(), DOMAIN)
    view = RosterView(roster)
    for typed in ("m", "ma", "mar", "mart", "mar", "", "0", "06", "06 3", "06 39 9", "06", "+", "+33", "+33 1"):
        view.set_query(typed)
        fresh = RosterView(roster)
        fresh.set_query(typed)
        assert view.indices == fresh.indices, typed
    view.set_query("")
    assert view.shown == 40


def test_escape_clears_the_search():
    view = RosterView(Roster(fixture_book(), DOMAIN))
    view.set_query("zoé")
    assert view.shown == 1
    view.set_query("")
    assert (view.query, view.shown) == ("", 40)


def test_sort_by_name_ignores_accents_and_case():
    roster = Roster(book_with(Contact("z", "éric Zola"), Contact("a", "Eric Abel")), DOMAIN)
    view = RosterView(roster)
    shown = names(view)
    assert shown == sorted(shown, key=fold)
    assert shown.index("Eric Abel") < shown.index("éric Zola") < shown.index("Zoé Duval")
    assert shown.index("Élodie Moreau") < shown.index("Emily Clarke")


def test_sort_by_status_puts_users_first_best_status_first_then_by_name():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([
        PresenceUpdate(HELENE, account("sip:helene@example.org", activities=(Activity.LUNCH,))),
        PresenceUpdate(ZOE, account("sip:zoe@example.org")),
        PresenceUpdate(CAMILLE, account("sip:camille@example.org", basic=BasicStatus.CLOSED)),
        PresenceUpdate(number_uri("+33639987788"), account("sip:marie@example.org")),
    ])  # fmt: skip
    view = RosterView(roster)
    view.set_sort(SortKey.STATUS)
    shown = names(view)
    assert shown[:4] == ["Marie Lefèvre", "Zoé Duval", "Hélène Lévesque", "Camille Martin"]
    assert shown[4:] == sorted(shown[4:], key=fold)
    view.set_sort(SortKey.NAME)
    assert names(view) == sorted(names(view), key=fold)


def test_a_row_leaves_the_users_only_view_when_its_account_goes():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([
        PresenceUpdate(HELENE, account("sip:helene@example.org")),
        PresenceUpdate(ZOE, account("sip:zoe@example.org")),
    ])  # fmt: skip
    view = RosterView(roster, users_only=True)
    assert view.shown == 2
    changed = roster.apply([PresenceUpdate(HELENE, NO_PRESENCE, removed=True)])
    assert view.rows_changed(changed) is True
    assert names(view) == ["Zoé Duval"]
    assert view.shown == 1
    changed = roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org"))])
    assert view.rows_changed(changed) is True
    assert names(view) == ["Hélène Lévesque", "Zoé Duval"]


def test_a_change_that_moves_nothing_says_so():
    roster = Roster(fixture_book(), DOMAIN)
    view = RosterView(roster)
    changed = roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org", note="back at 3"))])
    assert changed
    assert view.rows_changed(changed) is False  # every row shown, by name: the row changes in place
    view.set_users_only(True)
    changed = roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org", note="back at 4"))])
    assert view.rows_changed(changed) is False


def test_a_status_change_moves_the_row_in_the_status_sort():
    roster = Roster(fixture_book(), DOMAIN)
    roster.apply([
        PresenceUpdate(HELENE, account("sip:helene@example.org")),
        PresenceUpdate(ZOE, account("sip:zoe@example.org")),
    ])  # fmt: skip
    view = RosterView(roster)
    view.set_sort(SortKey.STATUS)
    assert names(view)[:2] == ["Hélène Lévesque", "Zoé Duval"]
    changed = roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org", activities=(Activity.AWAY,)))])
    assert view.rows_changed(changed) is True
    assert names(view)[:2] == ["Zoé Duval", "Hélène Lévesque"]
    assert view.position_of(roster.rows[next(iter(changed))].contact.id) == 1


def test_position_of_follows_a_contact_through_filter_and_sort():
    roster = Roster(fixture_book(), DOMAIN)
    view = RosterView(roster)
    zoe = next(row.contact.id for row in roster.rows if row.contact.name == "Zoé Duval")
    assert view.position_of(zoe) == len(names(view)) - 1  # last by name
    view.set_query("zo")
    assert view.position_of(zoe) == 0
    view.set_users_only(True)
    assert view.position_of(zoe) is None
    assert view.position_of("no such contact") is None


def test_a_new_book_rebuilds_the_view_and_keeps_the_badges():
    book = fixture_book()
    roster = Roster(book, DOMAIN)
    roster.apply([PresenceUpdate(HELENE, account("sip:helene@example.org"))])
    view = RosterView(roster, users_only=True)
    roster.set_book([*book, *normalize_contacts([Contact("n", "Noémie", (PhoneNumber("0639981201"),))], "FR")], DOMAIN)
    view.rebuild()
    assert names(view) == ["Hélène Lévesque", "Noémie"]
    assert (view.shown, view.total) == (2, 41)


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize(("users_only", "query"), [(False, ""), (True, ""), (False, "a"), (True, "06")])
def test_a_view_kept_up_to_date_through_bursts_shows_what_a_fresh_view_shows(sort, users_only, query):
    rng = random.Random(f"{sort}{users_only}{query}")
    roster = Roster(fixture_book(), DOMAIN)
    uris = sorted({state.uri for row in roster.rows for state in row.numbers if state.uri})
    view = RosterView(roster, users_only=users_only)
    view.set_sort(sort)
    view.set_query(query)
    for burst_size in (1, 3, 40, 2, 60, 5):  # one by one and in one merge
        updates = []
        for uri in rng.choices(uris, k=burst_size):
            status = rng.choice((BasicStatus.OPEN, BasicStatus.CLOSED))
            activities = rng.choice(((), (Activity.AWAY,), (Activity.MEETING,), (Activity.ON_THE_PHONE,)))
            summary = account(f"{uri}-account", basic=status, activities=activities)
            updates.append(PresenceUpdate(uri, summary, removed=rng.random() < 0.3))
        view.rows_changed(roster.apply(updates))
        fresh = RosterView(roster, users_only=users_only)
        fresh.set_sort(sort)
        fresh.set_query(query)
        assert view.indices == fresh.indices
        assert all(view.position_of(roster.rows[i].contact.id) == p for p, i in enumerate(view.indices))


def test_statuses_read_as_a_person_expects_in_the_status_sort():
    roster = Roster(fixture_book(), DOMAIN)
    statuses = [
        (HELENE, (Activity.ON_THE_PHONE,), Availability.ON_THE_PHONE),
        (ZOE, (Activity.MEETING,), Availability.BUSY),
        (CAMILLE, (), Availability.ONLINE),
    ]
    roster.apply([PresenceUpdate(uri, account(f"{uri}-a", activities=act)) for uri, act, _ in statuses])
    view = RosterView(roster)
    view.set_sort(SortKey.STATUS)
    assert [roster.rows[i].status for i in view.indices[:3]] == [
        Availability.ONLINE,
        Availability.ON_THE_PHONE,
        Availability.BUSY,
    ]


@pytest.mark.parametrize("seed", range(6))
def test_any_mix_of_presence_typing_toggling_sorting_and_book_edits_shows_what_a_fresh_view_shows(seed):
    rng = random.Random(seed)
    book = fixture_book()
    roster = Roster(book, DOMAIN)
    uris = sorted({state.uri for row in roster.rows for state in row.numbers if state.uri})
    view = RosterView(roster)
    said = UpdateBatcher()  # everything the list said, the last word per resource
    current = book
    typed = ""
    for _ in range(60):
        action = rng.randrange(6)
        if action == 0:
            updates = [
                PresenceUpdate(
                    uri, account(f"{uri}-a", activities=rng.choice(((), (Activity.AWAY,)))), rng.random() < 0.3
                )
                for uri in rng.choices(uris, k=rng.choice((1, 5, 50)))
            ]
            said.add(updates)
            view.rows_changed(roster.apply(updates))
        elif action == 1:
            typed = typed + rng.choice("ae0 6") if rng.random() < 0.7 else typed[:-1]
            view.set_query(typed)
        elif action == 2:
            view.set_users_only(not view.users_only)
        elif action == 3:
            view.set_sort(rng.choice(list(SortKey)))
        elif action == 4:
            current = rng.sample(book, len(book) - 3)
            roster.set_book(current, DOMAIN)
            view.rebuild()
        else:
            current = book
            roster.set_book(book, DOMAIN)
            view.rebuild()
        fresh = RosterView(roster, users_only=view.users_only)
        fresh.set_sort(view.sort)
        fresh.set_query(view.query)
        assert view.indices == fresh.indices
        assert (view.shown, view.total) == (fresh.shown, len(roster.rows))
        assert roster.users == sum(row.has_account for row in roster.rows)
    last_word = said.take()
    fresh_roster = Roster(current, DOMAIN)
    fresh_roster.apply(last_word)
    shown = [(r.contact, r.has_account, r.status, r.found_by, r.sip_address, r.numbers) for r in roster.rows]
    assert shown == [
        (r.contact, r.has_account, r.status, r.found_by, r.sip_address, r.numbers) for r in fresh_roster.rows
    ]
