from datetime import UTC, datetime

import pytest

from smartbook_tui.presence import (
    NO_PRESENCE,
    Activity,
    Availability,
    BasicStatus,
    Note,
    Person,
    Presence,
    PresenceTuple,
    UserInput,
    parse_pidf,
    summarize,
)
from tests.fixtures import wire

OPEN = BasicStatus.OPEN
CLOSED = BasicStatus.CLOSED


def presence(*tuples: PresenceTuple, persons: tuple[Person, ...] = ()) -> Presence:
    return Presence("sip:+33612345678@example.org;user=phone", tuples=tuples, persons=persons)


def test_no_presence_means_no_account_and_unknown_status():
    assert summarize(None) == NO_PRESENCE
    assert summarize(presence()) == NO_PRESENCE  # a PIDF with no tuple says nothing


def test_open_tuple_with_contact_is_an_account_flexisip_style():
    summary = summarize(presence(PresenceTuple("a", OPEN, "sip:alice@example.org")))
    assert summary.has_account is True
    assert summary.sip_address == "sip:alice@example.org"
    assert summary.status is Availability.ONLINE


@pytest.mark.parametrize(
    ("basic", "contact", "has_account"),
    [(OPEN, None, False), (CLOSED, "sip:a@example.org", True), (None, "sip:a@example.org", False)],
)
def test_account_needs_a_status_and_a_contact(basic, contact, has_account):
    summary = summarize(presence(PresenceTuple("a", basic, contact), PresenceTuple("b", CLOSED)))
    assert summary.has_account is has_account
    assert summary.sip_address == (contact if has_account else None)


@pytest.mark.parametrize(
    ("basic", "activities", "user_input", "status"),
    [
        (OPEN, (), None, Availability.ONLINE),
        (OPEN, (Activity.ON_THE_PHONE, Activity.BUSY), None, Availability.ON_THE_PHONE),
        (OPEN, (Activity.MEETING,), None, Availability.BUSY),
        (OPEN, (Activity.LUNCH,), None, Availability.AWAY),
        (OPEN, (Activity.WORKING,), UserInput.IDLE, Availability.AWAY),
        (OPEN, (Activity.WORKING,), UserInput.ACTIVE, Availability.ONLINE),
        (OPEN, (Activity.UNKNOWN,), None, Availability.UNKNOWN),
        (CLOSED, (), None, Availability.OFFLINE),
        (CLOSED, (Activity.BUSY,), None, Availability.BUSY),
        (CLOSED, (Activity.AWAY,), None, Availability.OFFLINE),
    ],
)
def test_consolidated_status(basic, activities, user_input, status):
    person = Person("p", activities, user_input=user_input)
    assert summarize(presence(PresenceTuple("a", basic, "sip:a@example.org"), persons=(person,))).status is status


def test_best_contact_is_the_highest_priority_open_tuple():
    summary = summarize(
        presence(
            PresenceTuple("a", OPEN, "sip:nopriority@example.org"),
            PresenceTuple("b", OPEN, "sip:low@example.org", 0.2),
            PresenceTuple("c", CLOSED, "sip:closed@example.org", 1.0),
            PresenceTuple("d", OPEN, "sip:high@example.org", 0.9),
        )
    )
    assert summary.sip_address == "sip:high@example.org"


def test_note_follows_the_preferred_language():
    person = Person("p", notes=(Note("Bonjour", "fr"), Note("Hello", "en-GB"), Note("Hi")))
    subject = presence(PresenceTuple("a", OPEN), persons=(person,))
    assert summarize(subject, "fr").note == "Bonjour"
    assert summarize(subject, "en").note == "Hello"
    assert summarize(subject, "de").note == "Hi"
    assert summarize(subject).note == "Hi"
    assert (
        summarize(presence(PresenceTuple("a", OPEN), persons=(Person("p", notes=(Note("Ciao", "it"),)),)), "de").note
        == "Ciao"
    )


def test_last_seen_is_the_newest_moment():
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    subject = presence(
        PresenceTuple("a", CLOSED, timestamp=early),
        persons=(Person("p", user_input=UserInput.IDLE, last_input=late),),
    )
    assert summarize(subject).last_seen == late


def test_linphone_publish_fixture():
    summary = summarize(parse_pidf(wire("linphone-publish").body), "en")
    assert summary.has_account
    assert summary.sip_address == "sip:alice@example.org"
    assert summary.status is Availability.AWAY
    assert summary.note == "Out for lunch"


def test_captured_linphonec_publish_is_an_online_account():
    summary = summarize(parse_pidf(wire("linphonec-publish").body))
    assert summary.has_account
    assert summary.sip_address == "sip:alice@127.0.0.1"
    assert summary.status is Availability.ONLINE


def test_an_offline_account_keeps_its_badge_and_address():
    closed = (PresenceTuple("a", CLOSED, "sip:a@example.org"), PresenceTuple("b", CLOSED, "sip:b@example.org", 0.9))
    summary = summarize(presence(*closed))
    assert (summary.has_account, summary.sip_address) == (True, "sip:b@example.org")
    assert summary.status is Availability.OFFLINE


def test_an_open_tuple_gives_the_address_before_a_closed_one():
    tuples = (PresenceTuple("a", CLOSED, "sip:old@example.org", 1.0), PresenceTuple("b", OPEN, "sip:new@example.org"))
    summary = summarize(presence(*tuples))
    assert (summary.sip_address, summary.status) == ("sip:new@example.org", Availability.ONLINE)


def test_captured_pjsua2_publish_has_status_but_no_contact():
    # pjsua2 publishes no <contact>: on its own such a PIDF does not show an account.
    summary = summarize(parse_pidf(wire("pjsua2-publish-away").body))
    assert summary.has_account is False
    assert summary.status is Availability.AWAY
    assert summary.note == "Gone fishing"
