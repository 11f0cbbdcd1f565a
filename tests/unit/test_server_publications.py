"""The server's presence publications (RFC 3903): the PUBLISH flows, expiry, the cap, and the composed state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartbook_tui.presence import (
    Activity,
    Availability,
    BasicStatus,
    Device,
    Note,
    Person,
    Presence,
    PresenceTuple,
    UserInput,
    build_pidf,
    parse_pidf,
    summarize,
)
from smartbook_tui.server.publications import PIDF_CONTENT_TYPE, Publications, PublishError, PublishOutcome
from tests.fixtures import wire

ALICE = "sip:alice@127.0.0.1"
BOB = "sip:bob@127.0.0.1"
PIDF = PIDF_CONTENT_TYPE
LINPHONE = wire("linphonec-publish").body
PJSUA2_AWAY = wire("pjsua2-publish-away").body


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"e{next(numbers)}"


def store(**limits: int) -> Publications:
    return Publications(etag=counter(), **limits)


def document(*tuples: PresenceTuple, persons: tuple[Person, ...] = (), entity: str = ALICE) -> bytes:
    return build_pidf(Presence(entity=entity, tuples=tuples, persons=persons))


OPEN = document(PresenceTuple("t1", BasicStatus.OPEN, contact=ALICE))
CLOSED = document(PresenceTuple("t1", BasicStatus.CLOSED, contact=ALICE))


def initial(publications: Publications, aor: str = ALICE, body: bytes = OPEN, **kwargs) -> PublishOutcome:
    kwargs.setdefault("now", 0.0)
    kwargs.setdefault("expires", None)
    return publications.publish(aor, etag=None, body=body, content_type=PIDF, **kwargs)


def refused(call: Callable[[], object]) -> PublishError:
    with pytest.raises(PublishError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------------------------------- RFC 3903 flows


def test_initial_publication_answers_an_etag_and_the_default_expiry():
    publications = store()
    outcome = initial(publications, now=100.0)
    assert outcome == PublishOutcome(etag="e1", expires=600, changed=True)
    composed = publications.compose(ALICE)
    assert composed is not None
    assert composed.entity == ALICE
    assert [item.basic for item in composed.tuples] == [BasicStatus.OPEN]
    assert publications.next_expiry == 700.0


def test_refresh_without_body_keeps_the_document_and_hands_out_a_new_etag():
    publications = store()
    first = initial(publications, now=0.0)
    before = publications.compose(ALICE)
    refresh = publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=600, now=500.0)
    assert refresh.etag != first.etag
    assert refresh == PublishOutcome(refresh.etag, 600, changed=False)
    assert publications.compose(ALICE) == before
    # The lifetime restarted: the old deadline passes without a drop.
    assert publications.expire(600.0) == set()
    assert publications.next_expiry == 1100.0
    # The ETag matched is spent.
    spent = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=None, now=601.0)
    )
    assert spent.status == 412


def test_empty_body_with_sip_if_match_is_a_refresh():
    publications = store()
    first = initial(publications)
    refresh = publications.publish(ALICE, etag=first.etag, body=b"", content_type=None, expires=None, now=1.0)
    assert not refresh.changed
    assert publications.count(ALICE) == 1


def test_modify_replaces_the_document():
    publications = store()
    first = initial(publications)
    modified = publications.publish(ALICE, etag=first.etag, body=CLOSED, content_type=PIDF, expires=None, now=10.0)
    assert modified.changed
    assert modified.etag != first.etag
    composed = publications.compose(ALICE)
    assert composed is not None
    assert [item.basic for item in composed.tuples] == [BasicStatus.CLOSED]
    assert publications.count(ALICE) == 1


def test_modify_with_the_same_document_is_no_change():
    # Linphone refreshes by re-sending its whole body with SIP-If-Match: its watchers are due nothing.
    publications = store()
    first = initial(publications, body=LINPHONE)
    again = publications.publish(ALICE, etag=first.etag, body=LINPHONE, content_type=PIDF, expires=600, now=300.0)
    assert again.changed is False
    assert again.etag != first.etag


def test_remove_with_expires_zero():
    publications = store()
    first = initial(publications)
    removed = publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=0, now=5.0)
    assert removed == PublishOutcome(first.etag, 0, changed=True)
    assert publications.compose(ALICE) is None
    assert publications.next_expiry is None
    assert publications.count(ALICE) == 0
    again = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=0, now=6.0)
    )
    assert again.status == 412


def test_remove_of_one_device_leaves_the_other():
    publications = store()
    first = initial(publications, body=LINPHONE)
    initial(publications, body=PJSUA2_AWAY, now=1.0)
    publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=0, now=2.0)
    assert publications.count(ALICE) == 1
    assert summarize(publications.compose(ALICE, contact=ALICE)).status is Availability.AWAY


def test_unknown_etag_gets_412():
    publications = store()
    initial(publications)
    error = refused(lambda: publications.publish(ALICE, etag="nope", body=OPEN, content_type=PIDF, expires=None, now=1))
    assert error.status == 412
    assert "SIP-If-Match" in error.reason


def test_another_aors_etag_gets_412():
    # One may only PUBLISH for oneself (the caller checks), and an ETag is only good for the AOR it was given for.
    publications = store()
    alice = initial(publications, ALICE)
    error = refused(lambda: publications.publish(BOB, etag=alice.etag, body=None, content_type=None, expires=0, now=1))
    assert error.status == 412
    assert publications.count(ALICE) == 1


def test_expired_etag_gets_412_before_and_after_expire():
    publications = store()
    first = initial(publications, expires=60, now=0.0)
    late = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=60, now=60.0)
    )
    assert late.status == 412
    assert publications.expire(60.0) == {ALICE}
    later = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=60, now=61)
    )
    assert later.status == 412


def test_expiry_drops_the_state_and_reports_the_aor():
    publications = store()
    initial(publications, ALICE, expires=60, now=0.0)
    initial(publications, BOB, expires=120, now=0.0)
    assert publications.next_expiry == 60.0
    assert publications.expire(59.9) == set()
    assert publications.expire(60.0) == {ALICE}
    assert publications.compose(ALICE) is None
    assert publications.compose(BOB) is not None
    assert publications.next_expiry == 120.0
    assert publications.expire(1000.0) == {BOB}
    assert publications.next_expiry is None
    assert publications.expire(2000.0) == set()


def test_expiry_of_one_device_changes_the_composed_state():
    publications = store()
    initial(publications, body=LINPHONE, expires=600, now=0.0)
    initial(publications, body=PJSUA2_AWAY, expires=60, now=0.0)
    assert summarize(publications.compose(ALICE)).status is Availability.AWAY
    assert publications.expire(60.0) == {ALICE}
    assert summarize(publications.compose(ALICE)).status is Availability.ONLINE


def test_a_successful_publish_drops_its_aors_expired_publications_and_says_so():
    publications = store()
    initial(publications, body=PJSUA2_AWAY, expires=60, now=0.0)
    live = initial(publications, body=LINPHONE, expires=600, now=0.0)
    refresh = publications.publish(ALICE, etag=live.etag, body=None, content_type=None, expires=600, now=100.0)
    assert refresh.changed  # the expired pjsua2 state went with it
    assert publications.count(ALICE) == 1
    assert publications.expire(100.0) == set()  # not reported twice


def test_expiry_is_clamped_and_too_brief_gets_423():
    publications = store()
    assert initial(publications, expires=None).expires == 600
    assert initial(publications, expires=60).expires == 60
    assert initial(publications, expires=3600).expires == 3600
    assert initial(publications, expires=10**9).expires == 86400
    brief = refused(lambda: initial(publications, expires=59))
    assert brief.status == 423
    assert brief.headers == {"Min-Expires": "60"}
    first = initial(publications)
    refresh = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=1, now=1)
    )
    assert refresh.status == 423
    # The refused refresh changed nothing: the ETag is still good.
    assert (
        publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=None, now=2).expires == 600
    )


def test_the_default_expiry_is_clamped_to_the_bounds():
    assert initial(store(min_expires=900)).expires == 900
    assert initial(store(max_expires=300)).expires == 300
    assert initial(store(default_expires=3600)).expires == 3600


def test_limits_are_checked():
    with pytest.raises(ValueError, match="min_expires"):
        store(min_expires=0)
    with pytest.raises(ValueError, match="min_expires"):
        store(min_expires=7200)  # RFC 3903: an hour is never too brief
    with pytest.raises(ValueError, match="positive"):
        store(max_per_aor=0)


def test_negative_expires_gets_400():
    error = refused(lambda: initial(store(), expires=-1))
    assert error.status == 400


def test_initial_publication_with_expires_zero_is_answered_and_not_stored():
    publications = store()
    outcome = initial(publications, expires=0)
    assert outcome.expires == 0
    assert not outcome.changed
    assert publications.compose(ALICE) is None
    assert publications.next_expiry is None


def test_initial_publication_needs_a_body():
    publications = store()
    for body in (None, b""):
        error = refused(
            lambda body=body: publications.publish(ALICE, etag=None, body=body, content_type=PIDF, expires=None, now=0)
        )
        assert error.status == 400
        assert "body" in error.reason


# ---------------------------------------------------------------------------------------------- bodies


def test_other_content_types_get_415_with_accept():
    publications = store()
    for content_type in ("application/xpidf+xml", "text/plain", None):
        error = refused(
            lambda content_type=content_type: publications.publish(
                ALICE, etag=None, body=OPEN, content_type=content_type, expires=None, now=0
            )
        )
        assert error.status == 415
        assert error.headers == {"Accept": "application/pidf+xml"}


def test_content_type_parameters_and_case_are_accepted():
    publications = store()
    outcome = publications.publish(
        ALICE, etag=None, body=OPEN, content_type='Application/PIDF+XML; charset="UTF-8"', expires=None, now=0
    )
    assert outcome.changed


def test_a_malformed_content_type_gets_400():
    error = refused(lambda: store().publish(ALICE, etag=None, body=OPEN, content_type="pidf", expires=None, now=0))
    assert error.status == 400


def test_an_oversized_body_gets_413():
    publications = store(max_body_bytes=len(OPEN))
    initial(publications)
    big = document(PresenceTuple("t1", BasicStatus.OPEN, contact=ALICE, notes=(Note("x" * 200),)))
    assert refused(lambda: initial(publications, body=big)).status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<presence",
        b'<?xml version="1.0"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"/>',
        b'<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><presence>&b;</presence>',
        b"\xff\xfe<\x00p\x00",
        LINPHONE[: len(LINPHONE) // 2],
        LINPHONE.replace(b"</tuple>", b"</tupel>"),
    ],
    ids=["text", "truncated-tag", "other-root", "entities", "utf16-junk", "half", "mismatched"],
)
def test_malformed_bodies_get_400_with_a_one_line_reason(body):
    publications = store()
    error = refused(lambda: initial(publications, body=body))
    assert error.status == 400
    assert error.reason.startswith("Bad Request (")
    assert "\r" not in error.reason
    assert "\n" not in error.reason
    assert len(error.reason) <= 160
    assert publications.count(ALICE) == 0


def test_a_malformed_modification_keeps_the_publication():
    publications = store()
    first = initial(publications)
    error = refused(
        lambda: publications.publish(ALICE, etag=first.etag, body=b"<x", content_type=PIDF, expires=None, now=1)
    )
    assert error.status == 400
    refresh = publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=None, now=2)
    assert not refresh.changed


def test_reasons_are_one_line():
    error = PublishError(400, "Bad Request (line one\r\nVia: injected\x00)")
    assert error.reason == "Bad Request (line one Via: injected )"
    assert str(error) == "400 Bad Request (line one Via: injected )"
    assert len(PublishError(400, "x" * 1000).reason) == 160


# ---------------------------------------------------------------------------------------------- real peers


def test_linphone_publish_composes_to_an_online_account():
    publications = store()
    initial(publications, body=LINPHONE)
    composed = publications.compose(ALICE, contact=ALICE)
    summary = summarize(composed)
    assert summary.has_account
    assert summary.status is Availability.ONLINE
    assert summary.sip_address == ALICE
    assert composed is not None
    assert composed.tuples[0].online  # Linphone's own mark goes through to its watchers


def test_pjsua2_publish_gets_the_account_contact_filled_in():
    publications = store()
    initial(publications, BOB, body=PJSUA2_AWAY)
    bare = publications.compose(BOB)
    assert bare is not None
    assert bare.tuples[0].contact is None
    assert summarize(bare).has_account is False
    composed = publications.compose(BOB, contact=BOB)
    summary = summarize(composed)
    assert summary.has_account
    assert summary.sip_address == BOB
    assert summary.status is Availability.AWAY
    assert summary.note == "Gone fishing"
    # The filled contact survives the trip to the watcher.
    assert summarize(parse_pidf(build_pidf(composed))) == summary


def test_two_devices_of_one_account_compose():
    publications = store()
    online = initial(publications, body=LINPHONE, now=0.0)
    initial(publications, body=PJSUA2_AWAY, now=1.0)
    composed = publications.compose(ALICE, contact=ALICE)
    assert composed is not None
    assert composed.entity == ALICE
    # Newest publication first: pjsua2's tuple, then Linphone's.
    assert [item.id for item in composed.tuples] == ["pjM0QTxnXBDogQ4OF-mkYbyVXNw5Pt2LHI", "bwd6iu"]
    assert [item.contact for item in composed.tuples] == [ALICE, ALICE]
    assert len(composed.persons) == 1
    summary = summarize(composed)
    assert summary.has_account
    assert summary.status is Availability.AWAY  # one device says away: the person is away
    assert summary.sip_address == ALICE  # Linphone's contact has the priority
    # Linphone's device goes offline: the account stays away through pjsua2.
    closed = LINPHONE.replace(b"<basic>open</basic>", b"<basic>closed</basic>")
    publications.publish(ALICE, etag=online.etag, body=closed, content_type=PIDF, expires=None, now=2.0)
    composed = publications.compose(ALICE, contact=ALICE)
    assert composed is not None
    assert composed.tuples[0].id == "bwd6iu"  # modified: now the newest
    assert summarize(composed).status is Availability.AWAY


def test_colliding_tuple_ids_are_made_unique_and_stable():
    publications = store()
    first = initial(publications, body=OPEN, now=0.0)
    initial(publications, body=CLOSED, now=1.0)
    ids = [item.id for item in publications.compose(ALICE).tuples]
    assert len(set(ids)) == 2
    assert "t1" in ids
    # A refresh neither reorders nor renames.
    publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=None, now=2.0)
    assert [item.id for item in publications.compose(ALICE).tuples] == ids
    # The composed document is a valid PIDF that reads back the same.
    composed = publications.compose(ALICE)
    assert parse_pidf(build_pidf(composed)) == composed


def test_devices_and_notes_are_kept_and_device_ids_made_unique():
    body = build_pidf(
        Presence(
            entity=ALICE,
            tuples=(PresenceTuple("t", BasicStatus.OPEN),),
            devices=(Device("d", device_id="urn:uuid:1"),),
            notes=(Note("hello"),),
        )
    )
    publications = store()
    initial(publications, body=body, now=0.0)
    initial(publications, body=body.replace(b"urn:uuid:1", b"urn:uuid:2"), now=1.0)
    composed = publications.compose(ALICE)
    assert composed is not None
    assert len({device.id for device in composed.devices}) == 2
    assert [device.device_id for device in composed.devices] == ["urn:uuid:2", "urn:uuid:1"]
    assert composed.notes == (Note("hello"),)  # the same note once


def test_persons_merge_newest_first_with_every_activity():
    old = Person(
        "p-old",
        activities=(Activity.MEETING,),
        user_input=UserInput.ACTIVE,
        notes=(Note("in a meeting"),),
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    new = Person(
        "p-new",
        activities=(Activity.AWAY, Activity.MEETING),
        user_input=UserInput.IDLE,
        notes=(Note("back soon", "en"),),
        timestamp=datetime(2026, 1, 2, tzinfo=UTC),
    )
    publications = store()
    initial(publications, body=document(PresenceTuple("a", BasicStatus.OPEN), persons=(old,)), now=0.0)
    initial(publications, body=document(PresenceTuple("b", BasicStatus.OPEN), persons=(new,)), now=1.0)
    (person,) = publications.compose(ALICE).persons
    assert person.id == "p-new"
    assert person.activities == (Activity.AWAY, Activity.MEETING)
    assert person.user_input is UserInput.ACTIVE  # someone is at one of the devices
    assert person.timestamp == datetime(2026, 1, 2, tzinfo=UTC)
    assert [note.text for note in person.notes] == ["back soon", "in a meeting"]
    assert summarize(publications.compose(ALICE)).status is Availability.BUSY


def test_compose_of_nobody_is_none():
    assert store().compose(ALICE) is None


# ---------------------------------------------------------------------------------------------- cap and devices


def test_the_seventeenth_publication_of_an_account_gets_403():
    publications = store()
    outcomes = [initial(publications, now=0.0) for _ in range(16)]
    error = refused(lambda: initial(publications, now=1.0))
    assert error.status == 403
    assert "16" in error.reason
    assert publications.count(ALICE) == 16
    # Another account is not affected.
    assert initial(publications, BOB).changed
    # Removing one makes room.
    publications.publish(ALICE, etag=outcomes[0].etag, body=None, content_type=None, expires=0, now=2.0)
    assert initial(publications, now=3.0).changed


def test_expired_publications_do_not_count_against_the_cap():
    publications = store(max_per_aor=2)
    initial(publications, expires=60, now=0.0)
    initial(publications, expires=600, now=0.0)
    assert refused(lambda: initial(publications, now=59.0)).status == 403
    assert initial(publications, now=60.0).changed
    assert publications.count(ALICE) == 2


def test_a_device_republishing_from_scratch_replaces_its_old_publication():
    # pjsua2 restarted: it lost its ETag and sends a new initial PUBLISH.
    publications = store(max_per_aor=2)
    old = initial(publications, body=PJSUA2_AWAY, device="urn:uuid:phone", now=0.0)
    initial(publications, body=LINPHONE, device="urn:uuid:desk", now=0.0)
    online = PJSUA2_AWAY.replace(b"<rpid:away />", b"")
    assert initial(publications, body=online, device="urn:uuid:phone", now=10.0).changed  # no 403: it replaces
    assert publications.count(ALICE) == 2
    assert summarize(publications.compose(ALICE, contact=ALICE)).status is Availability.ONLINE
    stale = refused(lambda: publications.publish(ALICE, etag=old.etag, body=None, content_type=None, expires=0, now=11))
    assert stale.status == 412


def test_drop_forgets_an_account():
    publications = store()
    first = initial(publications)
    assert publications.drop(ALICE)
    assert not publications.drop(ALICE)
    assert publications.compose(ALICE) is None
    assert publications.next_expiry is None
    assert (
        refused(
            lambda: publications.publish(ALICE, etag=first.etag, body=None, content_type=None, expires=None, now=1)
        ).status
        == 412
    )


# ---------------------------------------------------------------------------------------------- etags and timers


def test_etags_the_generator_repeats_are_skipped():
    values = iter(["a", "a", "", "b"])
    publications = Publications(etag=lambda: next(values))
    assert initial(publications).etag == "a"
    assert initial(publications).etag == "b"


def test_a_generator_that_never_gives_a_new_etag_is_a_bug():
    publications = Publications(etag=lambda: "same")
    initial(publications)
    with pytest.raises(RuntimeError, match="ETag generator"):
        initial(publications)
    assert publications.count(ALICE) == 1


def test_next_expiry_stays_right_through_many_refreshes():
    publications = store()
    etag = initial(publications, ALICE, expires=600, now=0.0).etag
    initial(publications, BOB, expires=60_000, now=0.0)
    for second in range(1, 500):
        etag = publications.publish(ALICE, etag=etag, body=None, content_type=None, expires=600, now=float(second)).etag
    assert publications.next_expiry == 499.0 + 600
    assert len(publications._deadlines) < 200  # stale deadlines are compacted away
    assert publications.expire(1098.0) == set()
    assert publications.expire(1099.0) == {ALICE}
    assert publications.next_expiry == 60_000.0


# ---------------------------------------------------------------------------------------------- property

_VALID = st.sampled_from([LINPHONE, PJSUA2_AWAY, OPEN, CLOSED])
_MUTATED = st.tuples(_VALID, st.integers(0, 900), st.binary(max_size=12)).map(
    lambda parts: parts[0][: parts[1]] + parts[2] + parts[0][parts[1] + len(parts[2]) :]
)
_CONTENT_TYPES = st.sampled_from([PIDF, "application/pidf+xml;charset=utf-8", "text/plain", ";;", None])
# A body and its Content-Type: half of them a good PIDF, for the requests that follow to find a publication.
_PAYLOADS = st.one_of(
    st.tuples(_VALID, st.just(PIDF)),
    st.tuples(st.one_of(st.none(), _MUTATED, st.binary(max_size=200)), _CONTENT_TYPES),
)
# How the request names a publication: none (initial), one of the live ETags handed out for any AOR (by index), a
# spent one (replaced or removed: 412), or one never handed out.
_ETAGS = st.one_of(st.none(), st.tuples(st.just("live"), st.integers(0, 7)), st.just("spent"), st.just("bogus"))
_EXPIRES = st.one_of(st.none(), st.integers(60, 100_000), st.integers(-5, 100_000), st.just(0))
_REQUESTS = st.lists(
    st.tuples(
        st.sampled_from([ALICE, BOB]),
        _ETAGS,
        _PAYLOADS,
        _EXPIRES,
        st.sampled_from([None, "dev-a", "dev-b"]),
        st.sampled_from([0.0, 30.0, 300.0]),
    ),
    min_size=1,
    max_size=10,
)


def _pick_etag(choice: object, live: list[str], spent: list[str]) -> str | None:
    if choice is None:
        return None
    if isinstance(choice, tuple):
        return live[choice[1] % len(live)] if live else "bogus"
    return spent[-1] if choice == "spent" and spent else "bogus"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_REQUESTS)
def test_random_requests_only_ever_raise_publish_error(requests):
    publications = store(max_per_aor=3)
    live: list[str] = []
    spent: list[str] = []
    now = 0.0
    for aor, choice, (body, content_type), expires, device, step in requests:
        now += step
        etag = _pick_etag(choice, live, spent)
        result: PublishOutcome | PublishError
        try:
            result = publications.publish(
                aor, etag=etag, body=body, content_type=content_type, expires=expires, now=now, device=device
            )
        except PublishError as error:
            result = error
        if isinstance(result, PublishError):
            assert result.status in {400, 403, 412, 413, 415, 423}
            assert "\n" not in result.reason
            assert "\r" not in result.reason
            if (etag == "bogus" or etag in spent) and (expires is None or expires >= 0):
                assert result.status == 412
        else:
            assert result.expires == 0 or 60 <= result.expires <= 86400
            if etag is not None:
                live.remove(etag)
                spent.append(etag)
            if result.expires:
                live.append(result.etag)
        publications.expire(now)
        for who in (ALICE, BOB):
            composed = publications.compose(who, contact=who)
            assert (composed is None) == (publications.count(who) == 0)
            if composed is not None:
                assert composed.entity == who
                assert len({item.id for item in composed.tuples}) == len(composed.tuples)
                assert publications.count(who) <= 3
                build_pidf(composed)
                summarize(composed)
