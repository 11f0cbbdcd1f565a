from smartbook_tui.presence import (
    Availability,
    BasicStatus,
    Instance,
    InstanceState,
    ListState,
    Presence,
    PresenceTuple,
    ResourceState,
)
from smartbook_tui.subscriber import ListTracker

ALICE = "sip:+33612345678@example.org;user=phone"
BRUNO = "sip:+33698765432@example.org;user=phone"
DAVE = "sip:dave@example.org"


def resource(uri: str, basic: BasicStatus | None = BasicStatus.OPEN, contact: str | None = None) -> ResourceState:
    if basic is None:
        return ResourceState(uri)  # no account: no active instance
    presence = Presence(uri, tuples=(PresenceTuple("t", basic, contact),))
    return ResourceState(uri, instances=(Instance("i", InstanceState.ACTIVE, cid=f"{uri}-cid"),), presence=presence)


def notify(version: int, full: bool, *resources: ResourceState) -> ListState:
    return ListState("sip:rls@example.org", version, full, resources=resources)


def test_full_state_then_partial_updates_only_what_changed():
    tracker = ListTracker()
    first = tracker.apply(notify(0, True, resource(ALICE, contact="sip:alice@example.org"), resource(BRUNO, None)))
    assert [(u.uri, u.summary.has_account) for u in first.updates] == [(ALICE, True), (BRUNO, False)]
    assert first.updates[0].summary.sip_address == "sip:alice@example.org"
    same = tracker.apply(notify(1, False, resource(ALICE, contact="sip:alice@example.org")))
    assert same.updates == []  # nothing new to show
    changed = tracker.apply(notify(2, False, resource(ALICE, BasicStatus.CLOSED, "sip:alice@example.org")))
    assert [(u.uri, u.summary.status) for u in changed.updates] == [(ALICE, Availability.OFFLINE)]
    assert tracker.version == 2


def test_a_new_full_state_reports_what_is_gone():
    tracker = ListTracker()
    tracker.apply(notify(0, True, resource(ALICE, contact="sip:a@x"), resource(DAVE, contact=DAVE)))
    result = tracker.apply(notify(1, True, resource(ALICE, contact="sip:a@x")))
    assert [(u.uri, u.removed) for u in result.updates] == [(DAVE, True)]
    assert set(tracker.views) == {ALICE}


def test_duplicates_are_ignored_and_gaps_ask_for_full_state():
    tracker = ListTracker()
    tracker.apply(notify(0, True, resource(ALICE, contact="sip:a@x")))
    tracker.apply(notify(1, False, resource(ALICE, BasicStatus.CLOSED, "sip:a@x")))
    assert tracker.apply(notify(1, False, resource(ALICE, contact="sip:a@x"))).duplicate
    assert tracker.apply(notify(0, True, resource(ALICE, contact="sip:a@x"))).duplicate
    gap = tracker.apply(notify(5, False, resource(ALICE, contact="sip:a@x")))
    assert gap.needs_full_state == "NOTIFY version 5 follows version 1: some were lost"
    assert gap.updates == []
    assert tracker.apply(notify(5, True, resource(ALICE, contact="sip:a@x"))).updates  # a full state heals it


def test_the_first_notify_must_be_full_state():
    tracker = ListTracker()
    result = tracker.apply(notify(3, False, resource(ALICE)))
    assert result.needs_full_state == "the first NOTIFY (version 3) is not full state"
    tracker.apply(notify(0, True, resource(ALICE)))
    tracker.reset()  # a new subscription: versions start again
    assert tracker.apply(notify(0, True, resource(ALICE))).duplicate is False


def test_terminated_instances_and_broken_parts_carry_their_reason():
    ended = ResourceState(DAVE, instances=(Instance("i", InstanceState.TERMINATED, reason="rejected"),))
    broken = ResourceState(BRUNO, error="PIDF document is not well-formed XML: ...")
    (dave, bruno) = ListTracker().apply(notify(0, True, ended, broken)).updates
    assert (dave.reason, dave.summary.has_account) == ("rejected", False)
    assert bruno.reason.startswith("PIDF document is not well-formed")


def test_nested_lists_stand_for_their_members():
    inner = notify(0, True, resource(DAVE, contact=DAVE))
    outer = notify(0, True, ResourceState("sip:team@example.org", sublist=inner))
    assert [u.uri for u in ListTracker().apply(outer).updates] == [DAVE]


def test_a_list_is_complete_once_every_listed_resource_is_named_over_several_notifies():
    tracker = ListTracker(expected=(ALICE, BRUNO, DAVE))
    first = tracker.apply(notify(0, True, resource(ALICE, contact="sip:a@x")))  # a full state sent in pieces
    assert not first.completed
    assert not tracker.complete
    second = tracker.apply(notify(1, False, resource(BRUNO, None)))
    assert not second.completed
    last = tracker.apply(notify(2, False, resource(DAVE, contact=DAVE)))
    assert last.completed
    assert tracker.complete
    assert not tracker.apply(notify(3, False, resource(ALICE, None))).completed  # said once
    assert tracker.complete
    tracker.reset((ALICE,))  # a new subscription: complete again only once its state has come
    assert not tracker.complete
    assert tracker.apply(notify(0, True, resource(ALICE, None))).completed


def test_a_server_writing_uris_its_own_way_still_completes_by_count():
    tracker = ListTracker(expected=("sip:+33612345678@example.org;user=phone", DAVE))
    tracker.apply(notify(0, True, resource("sip:+33612345678@example.org;user=phone;x=1", None)))
    assert not tracker.complete
    assert tracker.apply(notify(1, False, resource(DAVE, None))).completed


def test_a_stored_list_is_complete_with_its_first_full_state():
    tracker = ListTracker()
    assert tracker.apply(notify(0, True, resource(ALICE, None))).completed
