"""A changed book sent as a change in the dialog (list-delta), and the server's quota Warning, on the list
subscription's state machine."""

from __future__ import annotations

from smartbook_tui.presence import (
    LIST_DELTA,
    Instance,
    InstanceState,
    ListState,
    ResourceState,
    parse_list_delta,
    parse_resource_lists,
)
from smartbook_tui.sip.auth import Credentials
from smartbook_tui.sip.message import SipRequest
from smartbook_tui.subscriber.machine import ListSubscription, Phase, ServerWarning
from tests.unit.test_subscription_machine import (
    ALICE,
    DAVE,
    accepted,
    answer,
    full_state,
    machine,
    notify,
    run_until,
    sent,
    statuses,
    updates,
)

ERIN = "sip:+33699999999@example.org;user=phone"
QUOTA = '399 smartbook "1 numbers of your book were not checked: your book is larger than this service lets you check"'


def with_delta(request: SipRequest, *extra: tuple[str, str]):
    response = accepted(request)
    response.headers.add("Supported", f"eventlist, {LIST_DELTA}")
    for name, value in extra:
        response.headers.add(name, value)
    return response


def live(subscription: ListSubscription, *, delta: bool = True) -> SipRequest:
    """Subscribed, the server's answer offering list-delta (or not), the first full state in."""
    (request,) = sent(subscription.start(0.0))
    subscription.on_message(with_delta(request) if delta else accepted(request), 0.1)
    subscription.on_message(notify(request, full_state(0), cseq=1), 0.2)
    return request


def requests(outputs) -> list[SipRequest]:
    return [message for message in sent(outputs) if isinstance(message, SipRequest)]


def warnings(outputs) -> list[str]:
    return [output.text for output in outputs if isinstance(output, ServerWarning)]


def test_a_changed_book_goes_as_a_change_in_the_dialog_when_the_server_takes_one():
    subscription = machine()
    request = live(subscription)
    (change,) = requests(subscription.replace_list((ALICE, ERIN), 1.0))
    assert change.call_id == request.call_id  # the same dialog: no new subscription
    assert change.to_tag == "srv"
    assert change.uri == "sip:rls@192.0.2.9:5070;transport=tcp"
    assert change.expires == request.expires
    assert change.headers.get("Require") == LIST_DELTA
    assert change.headers.get("Content-Type") == "application/resource-lists+xml"
    assert change.headers.get("Content-Disposition") is None
    assert parse_list_delta(change.body) == ([ERIN], [DAVE])
    subscription.on_message(with_delta(change), 1.1)
    assert subscription.phase is Phase.ACTIVE
    assert not subscription.tracker.complete  # the new list's state has yet to come
    erin = ResourceState(ERIN, instances=(Instance("e", InstanceState.TERMINATED, reason="rejected"),))
    new_list = ListState("sip:rls@example.org", 1, True, resources=(full_state().resources[0], erin))
    outputs = subscription.on_message(notify(request, new_list, cseq=2, branch="n2"), 1.2)
    shown = {update.uri: (update.removed, update.reason) for update in updates(outputs)}
    assert shown == {ERIN: (False, "rejected"), DAVE: (True, None)}  # the version went on: taken, not refused
    assert statuses(outputs)[-1] == (Phase.ACTIVE, "the state of all 2 resources has arrived")
    assert requests(outputs) == []  # no resubscription for a full state


def test_without_the_option_a_changed_book_is_a_new_dialog_with_the_whole_list():
    subscription = machine()
    request = live(subscription, delta=False)
    unsubscribe, fresh = requests(subscription.replace_list((ALICE, ERIN), 1.0))
    assert (unsubscribe.call_id, unsubscribe.expires) == (request.call_id, 0)
    assert fresh.call_id != request.call_id
    assert fresh.headers.get("Require") == "recipient-list-subscribe"
    assert sorted(entry.uri for entry in parse_resource_lists(fresh.body)) == sorted((ALICE, ERIN))


def test_a_refused_change_falls_back_to_a_new_dialog_with_the_whole_list():
    subscription = machine()
    request = live(subscription)
    (change,) = requests(subscription.replace_list((ALICE, ERIN), 1.0))
    unsubscribe, fresh = requests(subscription.on_message(answer(change, 420, ("Unsupported", LIST_DELTA)), 1.1))
    assert (unsubscribe.call_id, unsubscribe.expires) == (request.call_id, 0)
    assert fresh.call_id != request.call_id
    assert fresh.headers.get("Require") == "recipient-list-subscribe"
    assert sorted(entry.uri for entry in parse_resource_lists(fresh.body)) == sorted((ALICE, ERIN))
    assert subscription.phase is Phase.SUBSCRIBING


def test_a_forgotten_dialog_takes_the_whole_list_in_a_new_one():
    subscription = machine()
    request = live(subscription)
    (change,) = requests(subscription.replace_list((ALICE, ERIN), 1.0))
    (fresh,) = requests(subscription.on_message(answer(change, 481), 1.1))
    assert fresh.call_id != request.call_id
    assert len(parse_resource_lists(fresh.body)) == 2


def test_a_challenged_change_is_answered_and_stays_a_change():
    subscription = machine(credentials=Credentials("bob", "secret"))
    request = live(subscription)
    (change,) = requests(subscription.replace_list((ALICE, ERIN), 1.0))
    challenge = 'Digest realm="example.org", nonce="n1", qop="auth", algorithm=MD5'
    (again,) = requests(subscription.on_message(answer(change, 407, ("Proxy-Authenticate", challenge)), 1.1))
    assert again.call_id == request.call_id
    assert again.headers.get("Require") == LIST_DELTA
    assert again.headers.get("Proxy-Authorization").startswith('Digest username="bob"')
    assert parse_list_delta(again.body) == ([ERIN], [DAVE])


def test_a_change_while_a_refresh_is_in_flight_follows_its_answer():
    subscription = machine()
    live(subscription)
    (refresh,) = requests(run_until(subscription, 0.2 + 3540))
    assert requests(subscription.replace_list((ALICE, ERIN), 3541.0)) == []  # one SUBSCRIBE at a time
    (change,) = requests(subscription.on_message(with_delta(refresh), 3541.1))
    assert parse_list_delta(change.body) == ([ERIN], [DAVE])


def test_the_quota_warning_is_said_once_and_nothing_is_retried():
    subscription = machine()
    (request,) = sent(subscription.start(0.0))
    outputs = subscription.on_message(with_delta(request, ("Warning", QUOTA)), 0.1)
    assert warnings(outputs) == [
        "1 numbers of your book were not checked: your book is larger than this service lets you check"
    ]
    assert statuses(outputs) == [(Phase.PENDING, "the server accepted the list; waiting for its state")]
    assert requests(outputs) == []
    assert subscription.deadline == 0.1 + 3540  # the next SUBSCRIBE is the refresh, at its usual time
    (refresh,) = requests(subscription.on_timer(0.1 + 3540))
    assert warnings(subscription.on_message(with_delta(refresh, ("Warning", QUOTA)), 3540.2)) == []  # said once


def test_a_change_answered_with_the_quota_warning_says_it():
    subscription = machine()
    live(subscription)
    (change,) = requests(subscription.replace_list((ALICE, DAVE, ERIN), 1.0))
    outputs = subscription.on_message(with_delta(change, ("Warning", QUOTA)), 1.1)
    assert len(warnings(outputs)) == 1
    assert requests(outputs) == []
    assert subscription.phase is Phase.ACTIVE
