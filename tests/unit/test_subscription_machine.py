"""The list subscription's state machine, driven message by message with a fake clock."""

from __future__ import annotations

import itertools
import zlib

from smartbook_tui.presence import (
    BasicStatus,
    Instance,
    InstanceState,
    ListState,
    Presence,
    PresenceTuple,
    ResourceState,
    build_list_notify,
    parse_resource_lists,
)
from smartbook_tui.sip.auth import Credentials
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from smartbook_tui.subscriber.machine import ListSubscription, Phase, Send, Status, SubscriptionConfig, Updates

ALICE = "sip:+33612345678@example.org;user=phone"
DAVE = "sip:dave@example.org"
RESOURCES = (DAVE, ALICE)


def machine(resources=RESOURCES, credentials=None, transport="TCP") -> ListSubscription:
    counter = itertools.count(1)
    config = SubscriptionConfig("sip:bob@example.org", "sip:rls@example.org", resources, credentials)
    return ListSubscription(config, local=("127.0.0.1", 40000), transport=transport, token=lambda: f"t{next(counter)}")


def sent(outputs) -> list[SipRequest | SipResponse]:
    return [parse_message(output.data) for output in outputs if isinstance(output, Send)]


def statuses(outputs) -> list[tuple[Phase, str]]:
    return [(output.phase, output.detail) for output in outputs if isinstance(output, Status)]


def updates(outputs):
    return [update for output in outputs if isinstance(output, Updates) for update in output.updates]


def answer(request: SipRequest, status: int, *extra: tuple[str, str], to_tag: str = "srv") -> SipResponse:
    headers = Headers(
        [(name, value) for name, value in request.headers.items() if name in ("Via", "From", "Call-ID", "CSeq")]
    )
    to = request.headers.get("To")
    headers.add("To", to if ";tag=" in to else f"{to};tag={to_tag}")
    for name, value in extra:
        headers.add(name, value)
    return SipResponse(status, "Reason", headers)


def accepted(request: SipRequest, expires: int = 3600) -> SipResponse:
    return answer(
        request,
        200,
        ("Expires", str(expires)),
        ("Require", "eventlist"),
        ("Contact", "<sip:rls@192.0.2.9:5070;transport=tcp>"),
    )


def notify(subscribe: SipRequest, body_state: ListState | None, *, cseq: int, state="active;expires=3600", branch="n1"):
    headers = Headers(
        [
            ("Via", f"SIP/2.0/TCP 192.0.2.9:5070;branch=z9hG4bK{branch}"),
            ("From", "<sip:rls@example.org>;tag=srv"),
            ("To", subscribe.headers.get("From")),
            ("Call-ID", subscribe.call_id),
            ("CSeq", f"{cseq} NOTIFY"),
            ("Event", "presence"),
            ("Contact", "<sip:rls@192.0.2.9:5070;transport=tcp>"),
        ]
    )
    if state is not None:
        headers.add("Subscription-State", state)
    body = b""
    if body_state is not None:
        content_type, body = build_list_notify(body_state, root_cid="root@x", boundary="b0")
        headers.add("Content-Type", content_type)
    return SipRequest("NOTIFY", "sip:bob@127.0.0.1:40000;transport=tcp", headers, body)


def full_state(version: int = 0, basic: BasicStatus = BasicStatus.OPEN, full: bool = True) -> ListState:
    presence = Presence(ALICE, tuples=(PresenceTuple("t", basic, "sip:alice@example.org"),))
    alice = ResourceState(ALICE, instances=(Instance("i", InstanceState.ACTIVE, cid="a@x"),), presence=presence)
    return ListState("sip:rls@example.org", version, full, resources=(alice, ResourceState(DAVE)))


def run_until(subscription: ListSubscription, moment: float) -> list:
    outputs = []
    while subscription.deadline is not None and subscription.deadline <= moment:
        outputs += subscription.on_timer(subscription.deadline)
    return outputs


def subscribed(subscription: ListSubscription) -> SipRequest:
    (request,) = sent(subscription.start(0.0))
    subscription.on_message(accepted(request), 0.1)
    return request


def test_the_first_subscribe_carries_the_whole_book():
    subscription = machine()
    outputs = subscription.start(0.0)
    (request,) = sent(outputs)
    assert request.method == "SUBSCRIBE"
    assert request.uri == "sip:rls@example.org"
    headers = request.headers
    assert headers.get("Event") == "presence"
    assert headers.get("Supported") == "eventlist"
    assert headers.get("Require") == "recipient-list-subscribe"
    assert headers.get("Content-Disposition") == "recipient-list"
    assert headers.get("Content-Type") == "application/resource-lists+xml"
    assert "multipart/related" in headers.get_all("Accept")
    assert headers.get("Via").endswith(";rport;alias")
    assert headers.get("Contact") == "<sip:bob@127.0.0.1:40000;transport=tcp>"
    assert [e.uri for e in parse_resource_lists(request.body)] == sorted(RESOURCES)
    assert headers.get("Content-Encoding") is None  # a small list goes plain
    assert statuses(outputs) == [(Phase.SUBSCRIBING, "")]


def test_a_big_book_is_deflated():
    book = tuple(f"sip:+336{index:08d}@example.org;user=phone" for index in range(1000))
    (request,) = sent(machine(resources=book).start(0.0))
    assert request.headers.get("Content-Encoding") == "deflate"
    assert len(parse_resource_lists(zlib.decompress(request.body))) == 1000


def test_full_state_then_partial_notify_give_updates_and_200s():
    subscription = machine()
    request = subscribed(subscription)
    assert subscription.phase is Phase.PENDING
    outputs = subscription.on_message(notify(request, full_state(), cseq=1), 0.2)
    (response,) = sent(outputs)
    assert response.status == 200
    assert [(u.uri, u.summary.has_account) for u in updates(outputs)] == [(ALICE, True), (DAVE, False)]
    assert subscription.phase is Phase.ACTIVE
    outputs = subscription.on_message(
        notify(request, full_state(1, BasicStatus.CLOSED, False), cseq=2, branch="n2"), 0.3
    )
    assert [u.summary.status.value for u in updates(outputs)] == ["offline"]


def test_a_retransmitted_notify_gets_the_same_answer_and_no_second_update():
    subscription = machine(transport="UDP")
    request = subscribed(subscription)
    first = subscription.on_message(notify(request, full_state(), cseq=1), 0.2)
    again = subscription.on_message(notify(request, full_state(), cseq=1), 0.7)
    assert [o.data for o in again if isinstance(o, Send)] == [o.data for o in first if isinstance(o, Send)]
    assert updates(again) == []


def test_a_gap_in_versions_resubscribes_for_a_full_state():
    subscription = machine()
    request = subscribed(subscription)
    subscription.on_message(notify(request, full_state(0), cseq=1), 0.2)
    outputs = subscription.on_message(notify(request, full_state(4, full=False), cseq=2, branch="n2"), 0.3)
    unsubscribe = [m for m in sent(outputs) if isinstance(m, SipRequest)]
    assert unsubscribe[0].headers.get("Expires") == "0"
    assert statuses(outputs)[-1][0] is Phase.WAITING
    (fresh,) = [m for m in sent(subscription.on_timer(0.3)) if isinstance(m, SipRequest)]
    assert fresh.call_id != request.call_id
    assert fresh.body  # the list again


def test_a_server_that_ignores_the_list_is_reported_not_shown_empty():
    subscription = machine()
    (request,) = sent(subscription.start(0.0))
    outputs = subscription.on_message(answer(request, 200, ("Expires", "3600")), 0.1)
    assert statuses(outputs)[-1][0] is Phase.FAILED
    assert "no RFC 5367 support" in statuses(outputs)[-1][1]
    assert sent(outputs)[0].headers.get("Expires") == "0"  # the dialog it made is ended


def test_digest_challenge_is_answered_once_and_a_wrong_password_stops():
    subscription = machine(credentials=Credentials("bob", "secret"))
    (request,) = sent(subscription.start(0.0))
    challenge = 'Digest realm="example.org", nonce="n1", qop="auth", algorithm=MD5'
    (again,) = sent(subscription.on_message(answer(request, 407, ("Proxy-Authenticate", challenge)), 0.1))
    assert again.headers.get("Proxy-Authorization").startswith('Digest username="bob"')
    assert again.cseq[0] == request.cseq[0] + 1
    assert again.via_branch != request.via_branch
    outputs = subscription.on_message(answer(again, 407, ("Proxy-Authenticate", challenge)), 0.2)
    assert statuses(outputs) == [(Phase.FAILED, "the server refused the user name or password")]


def test_interval_too_brief_takes_min_expires():
    subscription = machine()
    (request,) = sent(subscription.start(0.0))
    (again,) = sent(subscription.on_message(answer(request, 423, ("Min-Expires", "7200")), 0.1))
    assert again.expires == 7200


def test_refresh_goes_in_the_dialog_without_a_body_before_expiry():
    subscription = machine()
    request = subscribed(subscription)
    assert subscription.deadline == 0.1 + 3540
    (refresh,) = sent(subscription.on_timer(0.1 + 3540))
    assert refresh.uri == "sip:rls@192.0.2.9:5070;transport=tcp"
    assert refresh.to_tag == "srv"
    assert refresh.call_id == request.call_id
    assert refresh.body == b""
    assert refresh.headers.get("Content-Type") is None


def test_subscription_state_reasons():
    subscription = machine()
    request = subscribed(subscription)
    outputs = subscription.on_message(notify(request, None, cseq=1, state="terminated;reason=deactivated"), 1.0)
    assert statuses(outputs)[-1][0] is Phase.WAITING
    assert sent(subscription.on_timer(1.0))[-1].method == "SUBSCRIBE"
    rejected = machine()
    request = subscribed(rejected)
    outputs = rejected.on_message(notify(request, None, cseq=1, state="terminated;reason=rejected"), 1.0)
    assert statuses(outputs) == [(Phase.FAILED, "the server refused the list (rejected)")]
    probation = machine()
    request = subscribed(probation)
    probation.on_message(notify(request, None, cseq=1, state="terminated;reason=probation;retry-after=30"), 1.0)
    assert sent(run_until(probation, 30.9)) == []
    assert sent(run_until(probation, 31.0))[0].method == "SUBSCRIBE"


def test_no_answer_and_lost_connections_back_off():
    subscription = machine()
    subscription.start(0.0)
    outputs = subscription.on_timer(32.0)  # 64*T1 without an answer
    assert statuses(outputs) == [(Phase.WAITING, "the server did not answer the SUBSCRIBE; trying again in 1 s")]
    subscription.on_timer(33.0)
    outputs = subscription.on_transport_lost(34.0, "connection reset")
    assert statuses(outputs) == [(Phase.WAITING, "no connection to the server (connection reset); trying again in 2 s")]


def test_bad_notifies_are_answered_not_crashed_on():
    subscription = machine()
    request = subscribed(subscription)
    garbage = notify(request, None, cseq=1)
    garbage.headers.add("Content-Type", "application/pidf+xml")
    garbage.body = b"<presence><unclosed>"
    (response,) = sent(subscription.on_message(garbage, 1.0))
    assert response.status == 400
    assert "not well-formed" in response.headers.get("Warning")
    (response,) = sent(subscription.on_message(notify(request, None, cseq=2, state=None, branch="n2"), 1.1))
    assert (response.status, response.reason) == (400, "Missing Subscription-State")
    stranger = notify(request, None, cseq=3, branch="n3")
    stranger.headers.set("Call-ID", "someone-else")
    (response,) = sent(subscription.on_message(stranger, 1.2))
    assert response.status == 481


def test_stop_unsubscribes():
    subscription = machine()
    request = subscribed(subscription)
    subscription.on_message(notify(request, full_state(), cseq=1), 0.2)
    outputs = subscription.stop(5.0)
    (unsubscribe,) = sent(outputs)
    assert unsubscribe.expires == 0
    assert statuses(outputs) == [(Phase.STOPPED, "unsubscribed")]
    assert statuses(machine().stop(0.0)) == [(Phase.STOPPED, "stopped")]  # nothing to unsubscribe
    assert subscription.leaving  # the server has yet to answer and to send its last NOTIFY
    subscription.on_message(answer(unsubscribe, 200, ("Expires", "0")), 5.05)
    assert subscription.leaving
    final = notify(request, None, cseq=2, state="terminated;reason=timeout", branch="n2")
    assert statuses(subscription.on_message(final, 5.1)) == []  # no resubscribing after a stop
    assert not subscription.leaving  # the owner need not wait any longer


def test_the_notify_size_cap_is_the_subscriptions_own():
    counter = itertools.count(1)
    small = SubscriptionConfig("sip:bob@example.org", "sip:rls@example.org", RESOURCES, max_body=200)
    subscription = ListSubscription(small, local=("127.0.0.1", 1), transport="TCP", token=lambda: f"t{next(counter)}")
    request = subscribed(subscription)
    (response,) = sent(subscription.on_message(notify(request, full_state(), cseq=1), 0.2))
    assert response.status == 400
    assert "cap" in response.headers.get("Warning")
    assert SubscriptionConfig("a", "b", None).max_body > 4 * 1024 * 1024  # a 10,000-resource full state fits


def test_a_changed_book_ends_the_old_subscription_and_starts_one_with_the_new_list():
    subscription = machine()
    request = subscribed(subscription)
    subscription.on_message(notify(request, full_state(), cseq=1), 0.2)
    assert subscription.replace_list((ALICE, DAVE), 1.0) == []  # the same book: nothing to do
    outputs = subscription.replace_list((ALICE, DAVE, "sip:erin@example.org"), 1.0)
    unsubscribe, fresh = sent(outputs)[:2]
    assert unsubscribe.expires == 0
    assert unsubscribe.call_id == request.call_id
    assert fresh.call_id != request.call_id
    assert len(parse_resource_lists(fresh.body)) == 3


def test_a_refused_notify_is_said_not_just_answered():
    subscription = machine()
    request = subscribed(subscription)
    garbage = notify(request, None, cseq=1)
    garbage.headers.add("Content-Type", "application/pidf+xml")
    garbage.body = b"<presence"
    outputs = subscription.on_message(garbage, 1.0)
    ((phase, detail),) = statuses(outputs)
    assert phase is Phase.PENDING
    assert detail.startswith("a NOTIFY could not be read and was refused: PIDF document is not well-formed XML")


def test_the_status_says_when_the_whole_list_has_arrived():
    subscription = machine()
    request = subscribed(subscription)
    alice_only = full_state()
    alice_only.resources = alice_only.resources[:1]  # the first piece of a full state
    outputs = subscription.on_message(notify(request, alice_only, cseq=1), 0.2)
    assert not any(output.complete for output in outputs if isinstance(output, Status))
    dave = ListState("sip:rls@example.org", 1, False, resources=(ResourceState(DAVE),))
    outputs = subscription.on_message(notify(request, dave, cseq=2, branch="n2"), 0.3)
    [complete] = [output for output in outputs if isinstance(output, Status)]
    assert complete == Status(Phase.ACTIVE, "the state of all 2 resources has arrived", complete=True)
    subscription.replace_list((DAVE,), 0.4)
    assert not subscription.tracker.complete  # a new subscription: its state has yet to come


def test_a_list_refused_for_its_size_is_not_sent_again():
    subscription = machine()
    (request,) = sent(subscription.start(0.0))
    warning = ("Warning", '399 smartbook "a list holds at most 1 entries"')
    outputs = subscription.on_message(answer(request, 413, warning), 0.1)
    assert statuses(outputs) == [
        (Phase.FAILED, "the server refused a list of 2 entries as too large (takes at most 1)")
    ]
    assert subscription.refused is not None
    assert (subscription.refused.entries, subscription.refused.limit) == (2, 1)
    assert subscription.deadline is None
    assert run_until(subscription, 3600.0) == []  # nothing is ever sent again


def test_a_413_without_a_figure_is_said_too():
    subscription = machine()
    (request,) = sent(subscription.start(0.0))
    subscription.on_message(answer(request, 413), 0.1)
    assert subscription.phase is Phase.FAILED
    assert subscription.refused is not None
    assert subscription.refused.limit is None
