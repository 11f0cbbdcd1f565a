import itertools
import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartbook_tui.presence import (
    BasicStatus,
    InstanceState,
    ListState,
    Note,
    Presence,
    PresenceTuple,
    decode_notify_body,
)
from smartbook_tui.server.notifier import (
    NO_ACCOUNT,
    SPLIT_DELAY,
    ListNotifier,
    NotifyBody,
    ResourceView,
)
from smartbook_tui.subscriber import ListTracker

LIST = "sip:rls@example.org"
ALICE_PHONE = "sip:+33612345678@example.org;user=phone"
NOBODY_PHONE = "sip:+33600000000@example.org;user=phone"
DAVE = "sip:dave@example.org"


def counter_token():
    numbers = itertools.count()
    return lambda: f"tok{next(numbers)}"


def notifier(resources, *, legacy=False, deflate=False, **options) -> ListNotifier:
    return ListNotifier(LIST, resources, legacy=legacy, deflate=deflate, token=counter_token(), **options)


def account(contact: str | None, basic=BasicStatus.OPEN, note: str | None = None, entity="sip:x@example.org"):
    notes = (Note(note),) if note else ()
    return ResourceView.account(Presence(entity, tuples=(PresenceTuple("t1", basic, contact, notes=notes),)))


def decode(body: NotifyBody) -> ListState:
    state = decode_notify_body(body.content_type, body.content_encoding, body.body)
    assert isinstance(state, ListState)
    assert state.version == body.version
    assert state.full_state == body.full_state
    assert len(state.resources) == body.resources
    return state


def track(bodies) -> ListTracker:
    tracker = ListTracker()
    for body in bodies:
        result = tracker.apply(decode(body))
        assert result.needs_full_state is None
        assert not result.duplicate
    return tracker


def phone(i: int) -> str:
    return f"sip:+3361{i:07d}@example.org;user=phone"


# ---------------------------------------------------------------------------------------------- documents


def test_full_state_renders_phone_aliases_like_flexisip():
    subscription = notifier([ALICE_PHONE, NOBODY_PHONE, DAVE])
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.0)
    subscription.set_state(DAVE, account("sip:dave@example.org", entity=DAVE), now=0.0)
    [body] = subscription.full_state(now=0.0)
    assert (body.version, body.full_state, body.due, body.content_encoding) == (0, True, 0.0, None)
    assert subscription.version == 0
    assert body.content_type.startswith('multipart/related;type="application/rlmi+xml";start="<')
    assert b"Content-ID: <" in body.body  # the RFC form
    state = decode(body)
    assert state.uri == LIST
    assert [r.uri for r in state.resources] == [ALICE_PHONE, NOBODY_PHONE, DAVE]
    alice, nobody, dave = state.resources
    # A number with an account: entity = the number, an open tuple whose contact is the account's address.
    assert alice.presence is not None
    assert alice.presence.entity == ALICE_PHONE
    assert [(t.basic, t.contact) for t in alice.presence.tuples] == [(BasicStatus.OPEN, "sip:alice@example.org")]
    assert [i.state for i in alice.instances] == [InstanceState.ACTIVE]
    assert alice.names == ()  # a <name> would rename the friend in liblinphone
    # A number without an account: listed, no active instance, no PIDF part.
    assert nobody.instances == ()
    assert nobody.presence is None
    assert dave.presence is not None
    assert dave.presence.entity == DAVE
    views = track([body]).views
    assert views[ALICE_PHONE].summary.has_account
    assert views[ALICE_PHONE].summary.sip_address == "sip:alice@example.org"
    assert not views[NOBODY_PHONE].summary.has_account


def test_legacy_form_is_exactly_what_liblinphone_5_1_reads():
    subscription = notifier([ALICE_PHONE, NOBODY_PHONE, DAVE], legacy=True)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.0)
    subscription.set_state(DAVE, account("sip:dave@example.org"), now=0.0)
    assert subscription.event == "Presence"
    [body] = subscription.full_state(now=0.0)
    match = re.fullmatch(
        r'multipart/related;type="application/rlmi\+xml";start="<([^">]+)>";boundary=([^";]+)', body.content_type
    )
    assert match is not None, body.content_type
    start, boundary = match.groups()
    raw = body.body
    assert raw.startswith(f"--{boundary}\r\n".encode())
    assert raw.endswith(f"--{boundary}--\r\n".encode())
    assert b"Content-ID" not in raw
    part_cids = re.findall(rb"^Content-Id: (\S+)\r$", raw, re.MULTILINE)
    assert all(not cid.startswith(b"<") for cid in part_cids)
    assert part_cids[0].decode() == start
    rlmi = raw.split(b"\r\n\r\n", 1)[1]
    assert re.search(rb'<list [^>]*version="0" fullState="true"', rlmi)
    assert b"<name" not in rlmi
    instance_cids = re.findall(rb'cid="([^"]+)"', rlmi.split(f"--{boundary}".encode())[0])
    assert instance_cids == part_cids[1:]  # one PIDF part per active instance, named by its bare cid
    assert re.findall(rb'<resource uri="([^"]+)"', rlmi) == [u.encode() for u in (ALICE_PHONE, NOBODY_PHONE, DAVE)]
    state = decode(body)
    assert state.resources[0].presence is not None
    assert state.resources[0].presence.tuples[0].contact == "sip:alice@example.org"


def test_rfc_clients_get_the_lower_case_event():
    assert notifier([DAVE]).event == "presence"


@pytest.mark.parametrize("legacy", [False, True])
def test_deflate_is_a_zlib_stream_of_the_same_body(legacy):
    bodies = {}
    view = account("sip:alice@example.org", entity=ALICE_PHONE)  # one view: its part is written once, for both
    for deflate in (False, True):
        subscription = notifier([ALICE_PHONE, DAVE], legacy=legacy, deflate=deflate)
        subscription.set_state(ALICE_PHONE, view, now=0.0)
        [bodies[deflate]] = subscription.full_state(now=0.0)
    plain, deflated = bodies[False], bodies[True]
    assert plain.content_encoding is None
    assert deflated.content_encoding == "deflate"
    assert deflated.content_type == plain.content_type
    assert zlib.decompress(deflated.body) == plain.body  # wbits=15: RFC 1950 framing, as Linphone expects
    assert decode(deflated) == decode(plain)


def test_a_phone_alias_view_without_contact_is_refused():
    subscription = notifier([ALICE_PHONE, DAVE])
    with pytest.raises(ValueError, match="no <contact>"):
        subscription.set_state(ALICE_PHONE, account(None), now=0.0)
    with pytest.raises(ValueError, match="no tuple"):
        subscription.set_state(ALICE_PHONE, ResourceView.account(Presence(ALICE_PHONE)), now=0.0)
    two = Presence("x", tuples=(PresenceTuple("a", BasicStatus.OPEN, "sip:a@x"), PresenceTuple("b", BasicStatus.OPEN)))
    with pytest.raises(ValueError, match="'b'"):
        subscription.set_state(ALICE_PHONE, ResourceView.account(two), now=0.0)
    assert subscription.view(ALICE_PHONE) is NO_ACCOUNT
    subscription.set_state(DAVE, account(None, entity=DAVE), now=0.0)  # a SIP address needs none
    assert subscription.view(DAVE).has_account


def test_the_pidf_entity_is_always_the_resource_uri():
    subscription = notifier([ALICE_PHONE])
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org", entity="sip:alice@example.org"), now=0.0)
    view = subscription.view(ALICE_PHONE)
    assert view.presence is not None
    assert view.presence.entity == ALICE_PHONE


def test_unknown_resources_are_refused_and_duplicates_ignored():
    unsorted = [DAVE, ALICE_PHONE, DAVE, NOBODY_PHONE]
    subscription = notifier(unsorted)
    assert subscription.resources == (DAVE, ALICE_PHONE, NOBODY_PHONE)
    for uri in subscription.resources:
        assert subscription.view(uri) is NO_ACCOUNT  # found in the sorted entries
    with pytest.raises(ValueError, match="not an entry"):
        subscription.set_state("sip:eve@example.org", NO_ACCOUNT, now=0.0)
    [body] = subscription.full_state(now=0.0)
    assert [r.uri for r in decode(body).resources] == [DAVE, ALICE_PHONE, NOBODY_PHONE]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_resources"):
        notifier([DAVE], max_resources=0)
    with pytest.raises(ValueError, match="interval"):
        notifier([DAVE], interval=-1)


def test_an_empty_list_gets_one_full_state():
    [body] = notifier([]).full_state(now=3.0)
    assert (body.version, body.full_state, body.resources, body.due) == (0, True, 0, 3.0)
    assert decode(body).resources == ()


def test_a_boundary_found_inside_a_part_is_drawn_again():
    tokens = iter(["inst", "root", "taken", "fresh"])
    subscription = ListNotifier(LIST, [DAVE], legacy=False, deflate=False, token=lambda: next(tokens))
    subscription.set_state(DAVE, account("sip:--taken@example.org", entity=DAVE), now=0.0)
    [body] = subscription.full_state(now=0.0)
    assert body.content_type.endswith('boundary="fresh"')
    assert decode(body).resources[0].presence is not None


# ---------------------------------------------------------------------------------------------- splitting


@pytest.mark.parametrize(("legacy", "cap"), [(False, 200), (True, 100)])
def test_a_big_list_is_split_with_versions_continuing(legacy, cap):
    uris = [phone(i) for i in range(1000)]
    subscription = notifier(uris, legacy=legacy, deflate=True, max_resources=200)
    assert subscription.max_resources == cap
    for i in range(0, 1000, 3):
        subscription.set_state(uris[i], account(f"sip:user{i}@example.org"), now=0.0)
    bodies = subscription.full_state(now=10.0)
    assert len(bodies) == 1000 // cap
    assert [b.version for b in bodies] == list(range(len(bodies)))
    assert [b.full_state for b in bodies] == [True] + [False] * (len(bodies) - 1)
    spacing = SPLIT_DELAY if legacy else 0.0  # only liblinphone 5.1 needs the pieces spaced
    assert [b.due for b in bodies] == [10.0 + k * spacing for k in range(len(bodies))]
    assert all(b.resources == cap for b in bodies)
    assert subscription.version == len(bodies) - 1
    listed = [r.uri for body in bodies for r in decode(body).resources]
    assert listed == uris  # every resource once, in list order
    views = track(bodies).views
    assert set(views) == set(uris)
    assert sum(view.summary.has_account for view in views.values()) == len(range(0, 1000, 3))
    # The first change after the run waits for the interval after its last NOTIFY.
    subscription.set_state(uris[1], account("sip:late@example.org"), now=10.1)
    assert subscription.next_due == bodies[-1].due + 2.0


def test_a_big_batch_of_changes_is_split_too():
    uris = [phone(i) for i in range(450)]
    subscription = notifier(uris)
    assert [b.version for b in subscription.full_state(now=0.0)] == [0, 1, 2]
    for i, uri in enumerate(uris):
        subscription.set_state(uri, account(f"sip:user{i}@example.org"), now=5.0)
    bodies = subscription.pending(now=5.0)
    assert [(b.version, b.resources, b.due, b.full_state) for b in bodies] == [
        (3, 200, 5.0, False),
        (4, 200, 5.0, False),  # back to back: only a legacy client gets them spaced
        (5, 50, 5.0, False),
    ]
    assert subscription.next_due is None


def test_instance_ids_are_stable_and_cids_fresh():
    subscription = notifier([ALICE_PHONE, DAVE])
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.0)
    [first] = subscription.full_state(now=0.0)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org", note="back soon"), now=3.0)
    [second] = subscription.pending(now=3.0)
    [before] = decode(first).resources[:1]
    [after] = decode(second).resources
    assert before.instances[0].id == after.instances[0].id == subscription.instance_id(ALICE_PHONE)
    assert before.instances[0].cid != after.instances[0].cid
    assert first.content_type != second.content_type  # a fresh root cid and boundary


# ---------------------------------------------------------------------------------------------- coalescing


def test_nothing_is_pending_before_the_full_state():
    subscription = notifier([ALICE_PHONE])
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.0)
    assert subscription.next_due is None
    assert subscription.pending(now=100.0) == []
    assert subscription.version is None
    [body] = subscription.full_state(now=1.0)
    assert decode(body).resources[0].presence is not None  # the full state carries it


def test_two_quick_changes_go_as_one_partial_at_the_interval():
    subscription = notifier([ALICE_PHONE, NOBODY_PHONE, DAVE])
    subscription.full_state(now=0.0)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org", BasicStatus.CLOSED), now=0.3)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org", note="in a meeting"), now=0.6)
    assert subscription.changed == (ALICE_PHONE,)
    assert subscription.next_due == 2.0
    assert subscription.pending(now=1.9) == []
    [body] = subscription.pending(now=2.0)
    assert (body.version, body.full_state, body.due, body.resources) == (1, False, 2.0, 1)
    [alice] = decode(body).resources
    assert alice.uri == ALICE_PHONE
    assert alice.presence is not None
    assert alice.presence.tuples[0].basic is BasicStatus.OPEN
    assert alice.presence.tuples[0].notes == (Note("in a meeting"),)
    assert subscription.next_due is None
    assert subscription.pending(now=10.0) == []


def test_a_change_back_to_the_sent_state_sends_nothing():
    subscription = notifier([ALICE_PHONE, DAVE])
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.0)
    subscription.full_state(now=0.0)
    subscription.set_state(ALICE_PHONE, NO_ACCOUNT, now=0.5)
    subscription.set_state(DAVE, NO_ACCOUNT, now=0.6)  # what it already showed
    assert subscription.changed == (ALICE_PHONE,)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.7)
    assert subscription.changed == ()
    assert subscription.next_due is None
    assert subscription.pending(now=5.0) == []
    assert subscription.version == 0


def test_the_first_change_after_a_quiet_period_goes_at_once():
    subscription = notifier([ALICE_PHONE, DAVE])
    subscription.full_state(now=0.0)
    subscription.set_state(DAVE, account("sip:dave@example.org"), now=30.0)
    assert subscription.next_due == 30.0
    [body] = subscription.pending(now=30.0)
    assert body.due == 30.0
    subscription.set_state(DAVE, NO_ACCOUNT, now=30.4)
    assert subscription.next_due == 32.0  # the next one waits for the interval
    [later] = subscription.pending(now=32.5)  # a late timer: sent when asked
    assert later.due == 32.5
    assert subscription.sent_view(DAVE) is NO_ACCOUNT


def test_a_number_linked_to_a_new_account_appears_in_a_partial():
    subscription = notifier([NOBODY_PHONE, DAVE], legacy=True, deflate=True)
    [full] = subscription.full_state(now=0.0)
    tracker = track([full])
    assert not tracker.views[NOBODY_PHONE].summary.has_account
    subscription.set_state(NOBODY_PHONE, account("sip:newcomer@example.org"), now=1.0)
    [body] = subscription.pending(now=subscription.next_due or 0.0)
    assert body.due == 2.0
    [resource] = decode(body).resources
    assert [i.state for i in resource.instances] == [InstanceState.ACTIVE]
    tracker.apply(decode(body))
    assert tracker.views[NOBODY_PHONE].summary.sip_address == "sip:newcomer@example.org"
    # and the account going away shows the number without an active instance again
    subscription.set_state(NOBODY_PHONE, NO_ACCOUNT, now=9.0)
    [gone] = subscription.pending(now=9.0)
    assert decode(gone).resources[0].instances == ()
    tracker.apply(decode(gone))
    assert not tracker.views[NOBODY_PHONE].summary.has_account


# ---------------------------------------------------------------------------------------------- consistency

INTERVAL = 2.0


def _view_pool(uri: str) -> list[ResourceView]:
    pool = [NO_ACCOUNT]
    for contact in ("sip:a@example.org", "sip:b@example.org"):
        pool.append(account(contact))
        pool.append(account(contact, BasicStatus.CLOSED))
        pool.append(account(contact, note="away"))
    if not uri.endswith("user=phone"):
        pool.append(account(None))
    return pool


URIS = [phone(1), phone(2), phone(3), "sip:carol@example.org", "sip:dan@example.org", phone(4)]


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, len(URIS)))
    uris = draw(st.permutations(URIS))[:count]
    initial = [draw(st.integers(0, 7)) for _ in uris]
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from([0.0, 0.1, 0.4, 1.0, 2.5]), st.integers(0, count - 1), st.integers(0, 7)),
            max_size=25,
        )
    )
    return uris, initial, steps, draw(st.integers(1, 3)), draw(st.booleans()), draw(st.booleans())


def _pick(uri: str, choice: int) -> ResourceView:
    pool = _view_pool(uri)
    return pool[choice % len(pool)]


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_partials_bring_a_watcher_to_the_full_state_of_the_final_data(scenario):
    uris, initial, steps, max_resources, legacy, deflate = scenario
    subscription = notifier(uris, legacy=legacy, deflate=deflate, max_resources=max_resources, interval=INTERVAL)
    for uri, choice in zip(uris, initial, strict=True):
        subscription.set_state(uri, _pick(uri, choice), now=0.0)
    runs = [subscription.full_state(now=0.0)]
    now = 0.0

    def fire_timers(until: float) -> None:
        while (due := subscription.next_due) is not None and due <= until:
            runs.append(subscription.pending(now=max(due, now)))

    for dt, index, choice in steps:
        fire_timers(now + dt)
        now += dt
        subscription.set_state(uris[index], _pick(uris[index], choice), now=now)
        fire_timers(now)
    fire_timers(float("inf"))
    assert subscription.changed == ()
    assert all(run for run in runs)

    bodies = [body for run in runs for body in run]
    assert [b.version for b in bodies] == list(range(len(bodies)))
    assert [b.full_state for b in bodies] == [True] + [False] * (len(bodies) - 1)
    spacing = SPLIT_DELAY if legacy else 0.0
    for run in runs:  # a split run: back to back, SPLIT_DELAY apart for a legacy client
        assert [b.due - run[0].due for b in run] == pytest.approx([k * spacing for k in range(len(run))])
    for previous, run in itertools.pairwise(runs):  # runs: at least the interval apart
        assert run[0].due >= previous[-1].due + INTERVAL - 1e-9

    tracker = ListTracker()
    shown: dict[str, tuple[object, ...]] = {}
    for body in bodies:
        assert body.content_encoding == ("deflate" if deflate else None)
        state = decode(body)
        listed = [r.uri for r in state.resources]
        assert 0 < len(listed) <= min(max_resources, 100)
        assert len(set(listed)) == len(listed)
        for resource in state.resources:
            rendered = (resource.presence, tuple(i.id for i in resource.instances))
            if not body.full_state and resource.uri in shown:
                assert rendered != shown[resource.uri], "a resource sent again with the same state"
            shown[resource.uri] = rendered
            if resource.presence is not None:
                assert resource.presence.entity == resource.uri
                if resource.uri.endswith("user=phone"):
                    assert all(t.contact for t in resource.presence.tuples)
        result = tracker.apply(state)
        assert result.needs_full_state is None
        assert not result.duplicate

    fresh = ListNotifier(LIST, uris, legacy=False, deflate=False, max_resources=1000, token=counter_token())
    for uri in uris:
        fresh.set_state(uri, subscription.view(uri), now=now)
        assert subscription.sent_view(uri) == subscription.view(uri)
    [final] = fresh.full_state(now=now)
    assert tracker.views == track([final]).views


def test_a_repeated_full_state_continues_the_versions_and_takes_what_was_pending():
    subscription = notifier([ALICE_PHONE, DAVE])
    subscription.full_state(now=0.0)
    subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=0.5)
    [again] = subscription.full_state(now=1.0)  # e.g. after a refresh
    assert (again.version, again.full_state) == (1, True)
    assert decode(again).resources[0].presence is not None
    assert subscription.changed == ()
    assert subscription.next_due is None


def test_set_state_says_when_a_list_starts_to_have_something_to_send():
    subscription = notifier([ALICE_PHONE, DAVE], interval=2.0)
    assert subscription.set_state(DAVE, account("sip:dave@example.org"), now=0.0) is False  # the full state has it
    subscription.full_state(now=0.0)
    assert subscription.set_state(DAVE, account("sip:dave@example.org", note="away"), now=1.0) is True
    # Already waiting for its NOTIFY: the caller need not look again.
    assert subscription.set_state(ALICE_PHONE, account("sip:alice@example.org"), now=1.1) is False
    assert subscription.next_due == 2.0
    # Back to what was sent, for both: nothing waits, and a new change starts the wait again.
    subscription.set_state(ALICE_PHONE, NO_ACCOUNT, now=1.2)
    assert subscription.set_state(DAVE, account("sip:dave@example.org"), now=1.3) is False
    assert subscription.next_due is None
    assert subscription.set_state(DAVE, account("sip:dave@example.org", note="back"), now=1.4) is True
