"""Where a contact is called, and which contact a caller is: by the book and what the service revealed."""

from __future__ import annotations

from smartbook_tui.contacts import Contact, PhoneNumber
from smartbook_tui.roster.calls import CallTarget, address_key, call_targets, caller_row
from smartbook_tui.roster.model import Roster
from smartbook_tui.subscriber.tracker import PresenceUpdate
from tests.unit.test_roster_model import DOMAIN, account, no_account, number_uri

CAMILLE = Contact(
    "camille",
    "Camille Martin",
    (
        PhoneNumber("01 23 45 67 89", ("home",), "+33123456789"),
        PhoneNumber("06 39 98 12 34", ("cell",), "+33639981234"),
        PhoneNumber("12", (), None),  # not checked: no server could route it
    ),
    ("sip:camille@work.example",),
)
HUGO = Contact("hugo", "Hugo Fabre", (PhoneNumber("+33 6 39 98 64 20", ("cell",), "+33639986420"),))
FAMILY = Contact("family", "Les Fabre", (PhoneNumber("+33 6 39 98 64 20", ("home",), "+33639986420"),))


def caller_name(roster: Roster, remote: str) -> str | None:
    row = caller_row(roster, remote, DOMAIN)
    return row.contact.name if row is not None else None


def roster_with(*updates: PresenceUpdate) -> Roster:
    roster = Roster([CAMILLE, HUGO, FAMILY], DOMAIN)
    roster.apply(list(updates))
    return roster


def test_a_user_number_is_called_at_its_revealed_address_first_and_the_others_at_their_resource():
    roster = roster_with(PresenceUpdate(number_uri("+33639981234"), account("sip:camille@example.org")))
    assert call_targets(roster.rows[0]) == [
        CallTarget("06 39 98 12 34", "sip:camille@example.org", True),
        CallTarget("01 23 45 67 89", number_uri("+33123456789"), False),
        CallTarget("sip:camille@work.example", "sip:camille@work.example", False),
    ]


def test_a_resource_that_is_nobodys_account_is_still_called_for_the_server_to_answer():
    roster = roster_with(PresenceUpdate(number_uri("+33639986420"), no_account()))
    assert call_targets(roster.rows[1]) == [CallTarget("+33 6 39 98 64 20", number_uri("+33639986420"), False)]


def test_two_numbers_revealing_one_account_give_one_target():
    roster = roster_with(
        PresenceUpdate(number_uri("+33123456789"), account("sip:camille@example.org")),
        PresenceUpdate(number_uri("+33639981234"), account("sip:camille@example.org")),
    )
    assert [target.uri for target in call_targets(roster.rows[0])] == [
        "sip:camille@example.org",
        "sip:camille@work.example",
    ]


def test_a_caller_is_found_by_a_number_of_the_book_in_any_form_the_request_writes_it():
    roster = roster_with()
    for remote in (
        "sip:+33639981234@example.org;user=phone",
        "<sip:+33639981234@example.org>",
        "tel:+33-6-39-98-12-34",
    ):
        assert caller_name(roster, remote) == "Camille Martin", remote


def test_a_number_shared_by_two_cards_names_the_first_in_the_book():
    assert caller_name(roster_with(), "sip:+33639986420@example.org;user=phone") == "Hugo Fabre"


def test_a_caller_is_found_by_a_card_address_or_by_the_address_the_service_revealed():
    roster = roster_with(PresenceUpdate(number_uri("+33639986420"), account("sip:hugo@example.org")))
    assert caller_name(roster, "sip:camille@WORK.example:5060;transport=tcp") == "Camille Martin"
    assert caller_name(roster, "sip:hugo@example.org") == "Hugo Fabre"


def test_a_stranger_or_a_malformed_uri_is_nobody():
    roster = roster_with(PresenceUpdate(number_uri("+33639986420"), account("sip:hugo@example.org")))
    assert caller_name(roster, "sip:hugo2@example.org") is None
    assert caller_name(roster, "sip:+33999999999@example.org") is None
    assert caller_name(roster, "not a uri <<") is None
    assert address_key("sip:example.org") is None  # no user: a server, not a person
