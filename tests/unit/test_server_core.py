"""The presence server's sans-IO core: requests in, bytes out, the clock passed in (instant timers)."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from smartbook_tui.presence import Activity, ListState, Presence, build_resource_lists, decode_notify_body, summarize
from smartbook_tui.presence.summary import Availability
from smartbook_tui.server.core import PresenceServer, Send
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from smartbook_tui.sip.uri import parse_name_addr
from tests.unit.core_kit import make_core

DOMAIN = "example.org"
PASSWORD = "open sesame"
ALICE_PHONE, BOB_PHONE, NOBODY_PHONE = "+33612345678", "+33687654321", "+33611111111"
VIA = {"UDP": "192.0.2.1:5070", "TCP": "192.0.2.1:5070", "TLS": "192.0.2.1:5071"}


def alias(number: str) -> str:
    return f"sip:{number}@{DOMAIN};user=phone"


@dataclass(frozen=True)
class FakePeer:
    transport: str = "TCP"
    address: tuple[str, int] = ("198.51.100.7", 40000)
    connection: int | None = 1


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Store.open(tmp_path / "server.sqlite3") as opened:
        opened.add_account("alice", DOMAIN, PASSWORD, ALICE_PHONE)
        opened.add_account("bob", DOMAIN, PASSWORD, BOB_PHONE)
        opened.add_account("carol", DOMAIN, PASSWORD)
        yield opened


def make_server(store: Store, **config: object) -> PresenceServer:
    return make_core(store, DOMAIN, VIA, **config)


CLIENTS: dict[int, dict[FakePeer, Client]] = {}  # server -> the clients by peer, to route what it sends


class Client:
    """One user agent talking to the core: builds requests, answers challenges, collects what comes back."""

    def __init__(self, server: PresenceServer, user: str, peer: FakePeer | None = None, *, user_agent: str = "test"):
        self.server, self.user, self.peer = server, user, peer or FakePeer(connection=hash(user) % 1000)
        self.user_agent = user_agent
        self.password = PASSWORD
        self.cseq = 0
        self.branches = itertools.count()
        self.notifies: list[SipRequest] = []
        self.now = 0.0
        CLIENTS.setdefault(id(server), {})[self.peer] = self

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{DOMAIN}"

    def request(
        self,
        method: str,
        uri: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        call_id: str = "call-1",
        to_tag: str | None = None,
        to: str | None = None,
    ) -> SipRequest:
        self.cseq += 1
        fields = Headers(
            [
                (
                    "Via",
                    f"SIP/2.0/{self.peer.transport} 198.51.100.7:40000;branch=z9hG4bK{self.user}{next(self.branches)}",
                ),
                ("From", f"<{self.aor}>;tag={self.user}-tag"),
                ("To", f"<{to or uri}>" + (f";tag={to_tag}" if to_tag else "")),
                ("Call-ID", f"{self.user}-{call_id}"),
                ("CSeq", f"{self.cseq} {method}"),
                ("Contact", "<sip:198.51.100.7:40000;transport=tcp>"),
                ("User-Agent", self.user_agent),
            ]
        )
        for name, value in (headers or {}).items():
            fields.add(name, value)
        return SipRequest(method, uri, fields, body)

    def send(self, request: SipRequest, *, authenticate: bool = True) -> SipResponse:
        """Send, answer one challenge, return the final response; NOTIFYs that come are kept in `notifies`."""
        response = self._exchange(request)
        if authenticate and response.status in (401, 407):
            name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            value = DigestSession(Credentials(self.user, self.password)).answer(
                response.headers.get_all(name), method=request.method, uri=request.uri, cnonce="c"
            )
            retry = self.request(
                request.method,
                request.uri,
                body=request.body,
                call_id=request.call_id.split("-", 1)[1],
                to_tag=request.to_tag,
                to=str(parse_name_addr(request.headers.get("To") or "").uri),
            )
            for field, field_value in request.headers.items():
                if field not in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "User-Agent"):
                    retry.headers.add(field, field_value)
            retry.headers.add("Authorization" if response.status == 401 else "Proxy-Authorization", value)
            response = self._exchange(retry)
        return response

    def _exchange(self, request: SipRequest) -> SipResponse:
        sends = self.server.receive(parse_message(request.to_bytes()), self.peer, self.now)
        responses = [m for m in self.take(sends) if isinstance(m, SipResponse)]
        assert len(responses) == 1, responses
        return responses[0]

    def take(self, sends: list[Send]) -> list[SipRequest | SipResponse]:
        """What the server sent to this client; NOTIFYs to other clients go to theirs."""
        mine = []
        for send in sends:
            message = parse_message(send.data)
            client = CLIENTS[id(self.server)].get(send.peer, self)  # type: ignore[call-overload]
            if isinstance(message, SipRequest):
                client.notifies.append(message)
            if client is self:
                mine.append(message)
        return mine

    def answer(self, notify: SipRequest, status: int = 200) -> None:
        """Answer a NOTIFY; what the server sends next (the next NOTIFY) lands in `notifies`."""
        headers = Headers([(name, notify.headers.get(name) or "") for name in ("Via", "From", "To", "Call-ID", "CSeq")])
        self.take(self.server.receive(SipResponse(status, "OK", headers), self.peer, self.now))

    def answer_all(self) -> list[SipRequest]:
        """Answer every NOTIFY until none is left; all of them, in order."""
        seen: list[SipRequest] = []
        while self.notifies:
            notify = self.notifies.pop(0)
            seen.append(notify)
            self.answer(notify)
        return seen

    def subscribe_list(
        self, entries: list[str], *, expires: int = 3600, headers: dict[str, str] | None = None
    ) -> SipResponse:
        body = zlib.compress(build_resource_lists(entries))
        return self.send(
            self.request(
                "SUBSCRIBE",
                f"sip:rls@{DOMAIN}",
                headers={
                    "Event": "presence",
                    "Expires": str(expires),
                    "Supported": "eventlist",
                    "Accept": "multipart/related, application/rlmi+xml, application/pidf+xml",
                    "Accept-Encoding": "deflate",
                    "Content-Type": "application/resource-lists+xml",
                    "Content-Encoding": "deflate",
                    "Content-Disposition": "recipient-list",
                    "Require": "recipient-list-subscribe",
                    **(headers or {}),
                },
                body=body,
            )
        )

    def publish(self, body: bytes, *, expires: int = 600, etag: str | None = None) -> SipResponse:
        match = {"SIP-If-Match": etag} if etag else {}
        return self.send(
            self.request(
                "PUBLISH",
                self.aor,
                headers={"Event": "presence", "Expires": str(expires), "Content-Type": "application/pidf+xml", **match},
                body=body,
            )
        )


def list_state(notify: SipRequest) -> ListState:
    state = decode_notify_body(notify.content_type, notify.content_encoding, notify.body)
    assert isinstance(state, ListState)
    return state


def views(notify: SipRequest) -> dict[str, Presence | None]:
    return {resource.uri: resource.presence for resource in list_state(notify).resources}


def pidf(entity: str, basic: str = "open", note: str = "") -> bytes:
    return (
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}"><tuple id="d1"><status><basic>{basic}'
        f"</basic></status>{f'<note>{note}</note>' if note else ''}</tuple></presence>"
    ).encode()


# ------------------------------------------------------------------------------------------------ requests


def test_register_is_challenged_then_bound(store):
    alice = Client(make_server(store), "alice")
    challenge = alice.send(
        alice.request("REGISTER", f"sip:{DOMAIN}", headers={"Expires": "600"}, to=alice.aor), authenticate=False
    )
    assert challenge.status == 401
    assert any("SHA-256" in value for value in challenge.headers.get_all("WWW-Authenticate"))
    alice.cseq = 0
    ok = alice.send(alice.request("REGISTER", f"sip:{DOMAIN}", headers={"Expires": "600"}, to=alice.aor))
    assert ok.status == 200
    assert "198.51.100.7:40000" in (ok.headers.get("Contact") or "")


def test_wrong_password_is_challenged_again(store):
    mallory = Client(make_server(store), "alice")
    mallory.password = "guess"
    assert mallory.publish(pidf(mallory.aor)).status == 407


def test_publish_only_for_oneself(store):
    alice = Client(make_server(store), "alice")
    assert alice.publish(pidf(alice.aor)).status == 200
    forged = alice.send(
        alice.request(
            "PUBLISH",
            f"sip:bob@{DOMAIN}",
            headers={"Event": "presence", "Content-Type": "application/pidf+xml"},
            body=pidf("sip:bob@example.org"),
        )
    )
    assert forged.status == 403


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Event": "dialog"}, 489),
        ({"Event": "presence", "Require": "foo"}, 420),
        ({"Event": "presence", "Expires": "1"}, 423),
        ({"Event": "presence", "Expires": "soon"}, 400),
    ],
)
def test_subscribe_refusals(store, headers, status):
    alice = Client(make_server(store), "alice")
    response = alice.send(alice.request("SUBSCRIBE", f"sip:bob@{DOMAIN}", headers=headers))
    assert response.status == status


def test_unknown_dialog_is_481(store):
    alice = Client(make_server(store), "alice")
    response = alice.send(alice.request("SUBSCRIBE", f"sip:bob@{DOMAIN}", headers={"Event": "presence"}, to_tag="x"))
    assert response.status == 481


def test_unknown_method_is_501_and_a_retransmission_gets_the_same_answer(store):
    server = make_server(store)
    alice = Client(server, "alice", FakePeer(transport="UDP", connection=None))
    request = alice.request("SHAKE", alice.aor)
    first = server.receive(parse_message(request.to_bytes()), alice.peer, 0.0)
    again = server.receive(parse_message(request.to_bytes()), alice.peer, 0.1)
    assert parse_message(first[0].data).status == 501  # type: ignore[union-attr]
    assert again[0].data == first[0].data


def test_a_flood_from_one_source_gets_503_then_silence(store):
    server = make_server(store, rate_limit=5.0)
    flooder = Client(server, "alice", FakePeer(transport="UDP", connection=None))
    statuses = []
    for _ in range(14):
        sends = server.receive(parse_message(flooder.request("OPTIONS", f"sip:{DOMAIN}").to_bytes()), flooder.peer, 0.0)
        statuses += [parse_message(send.data).status for send in sends]  # type: ignore[union-attr]
    assert statuses == [200] * 10 + [503]
    other = Client(server, "bob", FakePeer(transport="UDP", address=("198.51.100.8", 5060), connection=None))
    assert other.send(other.request("OPTIONS", f"sip:{DOMAIN}")).status == 200


# ------------------------------------------------------------------------------------------------ lists


def test_list_subscription_resolves_numbers_to_accounts(store):
    alice = Client(make_server(store), "alice")
    response = alice.subscribe_list(
        [alias(BOB_PHONE), alias(NOBODY_PHONE), f"sip:carol@{DOMAIN}", "sip:x@elsewhere.net"]
    )
    assert response.status == 200
    assert response.headers.get("Require") == "eventlist"
    assert response.to_tag
    [notify] = alice.notifies
    assert notify.headers.get("Event") == "presence"
    assert (notify.headers.get("Subscription-State") or "").startswith("active;expires=")
    state = list_state(notify)
    assert (state.version, state.full_state) == (0, True)
    seen = views(notify)
    bob = summarize(seen[alias(BOB_PHONE)])
    assert (bob.has_account, bob.sip_address, bob.status) == (True, f"sip:bob@{DOMAIN}", Availability.UNKNOWN)
    assert seen[alias(BOB_PHONE)].entity == alias(BOB_PHONE)  # type: ignore[union-attr]
    assert summarize(seen[f"sip:carol@{DOMAIN}"]).has_account
    assert seen[alias(NOBODY_PHONE)] is None
    assert seen["sip:x@elsewhere.net"] is None


def test_live_status_only_through_the_gate(store):
    server = make_server(store, notify_interval=0.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    published = bob.publish(pidf(bob.aor, note="at lunch"))
    assert published.status == 200
    assert alice.notifies == []  # bob does not list alice: his publication changes nothing she may see
    bob.subscribe_list([alias(ALICE_PHONE)])  # now he does: the gate opens
    [partial] = alice.answer_all()
    summary = summarize(views(partial)[alias(BOB_PHONE)])
    assert (summary.status, summary.note, summary.sip_address) == (Availability.ONLINE, "at lunch", bob.aor)
    assert not list_state(partial).full_state
    bob.publish(pidf(bob.aor, basic="closed"), etag=published.headers.get("SIP-ETag"))
    [offline] = alice.answer_all()
    summary = summarize(views(offline)[alias(BOB_PHONE)])
    assert (summary.has_account, summary.status) == (True, Availability.OFFLINE)


def test_the_gate_opens_when_a_listed_number_becomes_the_watchers(store):
    server = make_server(store, notify_interval=0.0)
    bob, carol = Client(server, "bob"), Client(server, "carol")
    bob.subscribe_list([alias(NOBODY_PHONE)])  # a number of bob's book that has no account yet
    bob.answer_all()
    published = bob.publish(pidf(bob.aor, note="one"))
    carol.subscribe_list([alias(BOB_PHONE)])
    [hidden] = carol.answer_all()
    assert summarize(views(hidden)[alias(BOB_PHONE)]).status is Availability.UNKNOWN  # bob does not list carol
    store.set_phone("carol", DOMAIN, NOBODY_PHONE)  # the number is carol's now: bob lists her
    changes = store.changes(DOMAIN)
    bob.now = carol.now = 5.0
    carol.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    carol.answer_all()
    bob.publish(pidf(bob.aor, note="two"), etag=published.headers.get("SIP-ETag"))
    [*_, live] = carol.answer_all()
    assert summarize(views(live)[alias(BOB_PHONE)]).note == "two"


def test_public_presence_opens_the_gate(store):
    store.set_public_presence("bob", DOMAIN, True)
    server = make_server(store, notify_interval=0.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    bob.publish(pidf(bob.aor, note="hello"))
    alice.subscribe_list([alias(BOB_PHONE)])
    [notify] = alice.answer_all()
    assert summarize(views(notify)[alias(BOB_PHONE)]).note == "hello"


def test_a_new_account_for_a_listed_number_shows_up(store):
    server = make_server(store)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(NOBODY_PHONE)])
    alice.answer_all()
    store.add_account("dave", DOMAIN, PASSWORD, NOBODY_PHONE)
    changes = store.changes(DOMAIN)
    alice.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    [partial] = alice.answer_all()
    assert summarize(views(partial)[alias(NOBODY_PHONE)]).sip_address == f"sip:dave@{DOMAIN}"


def test_changes_are_coalesced_within_the_interval(store):
    store.set_public_presence("bob", DOMAIN, True)
    server = make_server(store, notify_interval=2.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    bob.now = alice.now = 10.0
    bob.publish(pidf(bob.aor, note="one"))
    assert len(alice.answer_all()) == 1  # after a quiet period: at once
    bob.now = 10.5
    bob.publish(pidf(bob.aor, note="two"))
    bob.publish(pidf(bob.aor, note="three"))
    assert alice.notifies == []
    alice.take(server.on_timer(11.9))
    assert alice.notifies == []
    alice.take(server.on_timer(12.0))
    [coalesced] = alice.answer_all()
    assert summarize(views(coalesced)[alias(BOB_PHONE)]).note == "three"


def test_an_interval_ending_for_many_lists_at_once_is_sent_in_slices_that_let_requests_in(store):
    store.set_public_presence("bob", DOMAIN, True)
    server = make_server(store, notify_interval=2.0)
    bob = Client(server, "bob")
    watchers = []
    for number in range(12):
        store.add_account(f"w{number}", DOMAIN, PASSWORD)
        watcher = Client(server, f"w{number}", FakePeer(connection=100 + number))
        watcher.subscribe_list([alias(BOB_PHONE)])
        watcher.answer_all()
        watchers.append(watcher)
    server.on_timer(1.0)  # (the transactions of the SUBSCRIBEs end)
    bob.now = 10.0
    bob.publish(pidf(bob.aor, note="one"))  # after a quiet period every list gets it at once...
    for watcher in watchers:
        assert len(watcher.answer_all()) == 1
    bob.publish(pidf(bob.aor, note="two"))  # ...and the next change 2 s later, for all twelve at 12.0
    first = server.on_timer(12.0)
    assert 0 < len(first) < len(watchers)
    assert server.next_deadline() == 12.0  # the rest is still due: the caller reads its sockets, then comes back
    rest = server.on_timer(12.0)
    assert len(first) + len(rest) == len(watchers)
    watchers[0].take(first + rest)  # (each NOTIFY goes to its watcher, who answers it)
    for watcher in watchers:
        assert len(watcher.answer_all()) == 1
    bob.now = 12.5
    bob.publish(pidf(bob.aor, note="three"))
    assert len(server.on_timer(14.05)) == len(watchers)  # late by more than the slack: all at once


def test_legacy_linphone_gets_the_legacy_form_in_chunks_one_at_a_time(store):
    server = make_server(store)
    old = Client(server, "alice", user_agent="Linphonec/5.1.65 (belle-sip/5.1.55)")
    entries = [alias(f"+3361000{n:04d}") for n in range(250)]
    old.subscribe_list(entries)
    assert len(old.notifies) == 1  # the next chunk waits for the answer to this one
    first = old.notifies.pop()
    assert first.headers.get("Event") == "Presence"
    assert b"Content-Id:" in zlib.decompress(first.body)
    assert len(list_state(first).resources) == 100
    old.answer(first)
    assert old.notifies == []  # and for its time: 500 ms after the first
    old.take(server.on_timer(0.5))
    old.take(server.on_timer(1.0))
    rest = old.answer_all()
    assert [len(list_state(n).resources) for n in rest] == [100]
    old.take(server.on_timer(1.0))
    rest = old.answer_all()
    assert [len(list_state(n).resources) for n in rest] == [50]


def test_refresh_unsubscribe_and_expiry(store):
    server = make_server(store)
    alice = Client(server, "alice")
    response = alice.subscribe_list([alias(BOB_PHONE)], expires=120)
    alice.answer_all()
    tag, call = response.to_tag, "call-1"
    refresh = alice.send(
        alice.request(
            "SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "300"}, call_id=call, to_tag=tag
        )
    )
    assert (refresh.status, refresh.headers.get("Expires")) == (200, "300")
    [again] = alice.answer_all()
    assert list_state(again).full_state  # a list that fits one NOTIFY gets its full state again
    alice.take(server.on_timer(299.0))
    assert alice.notifies == []
    alice.take(server.on_timer(300.0))
    [last] = alice.answer_all()
    assert last.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert server.subscriptions == 0
    gone = alice.send(
        alice.request("SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence"}, call_id=call, to_tag=tag)
    )
    assert gone.status == 481


def test_a_connection_that_ends_ends_its_subscriptions(store):
    server = make_server(store)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    assert server.subscriptions == 1
    server.peer_gone(alice.peer, 1.0)
    assert server.subscriptions == 0


def test_a_notify_without_answer_over_udp_ends_the_subscription(store):
    server = make_server(store)
    alice = Client(server, "alice", FakePeer(transport="UDP", connection=None))
    alice.subscribe_list([alias(BOB_PHONE)])
    retransmissions = []
    for step in range(1, 80):
        retransmissions += server.on_timer(step * 0.5)
    assert len(retransmissions) >= 5
    assert server.subscriptions == 0


def test_an_error_answer_to_a_notify_ends_the_subscription(store):
    server = make_server(store)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer(alice.notifies.pop(), status=400)
    assert server.subscriptions == 0


def test_shutdown_tells_every_subscriber_to_come_back_later_and_refuses_new_subscriptions(store):
    server = make_server(store)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.notifies.clear()
    alice.take(server.shutdown(3.0))
    [last] = alice.notifies
    assert last.headers.get("Subscription-State") == "terminated;reason=probation;retry-after=5"
    refused = alice.subscribe_list([alias(BOB_PHONE)])
    assert (refused.status, refused.headers.get("Retry-After")) == (503, "5")


def test_a_list_over_the_limit_is_refused(store):
    alice = Client(make_server(store, max_list_size=3), "alice")
    response = alice.subscribe_list([alias(f"+3361000{n:04d}") for n in range(4)])
    assert response.status == 413
    assert "at most 3 entries" in (response.headers.get("Warning") or "")  # for the client to split its list


def test_a_deflate_bomb_is_refused(store):
    alice = Client(make_server(store), "alice")
    request = alice.request(
        "SUBSCRIBE",
        f"sip:rls@{DOMAIN}",
        headers={
            "Event": "presence",
            "Supported": "eventlist",
            "Content-Type": "application/resource-lists+xml",
            "Content-Encoding": "deflate",
        },
        body=zlib.compress(b" " * (64 * 1024 * 1024)),
    )
    assert alice.send(request).status == 413


def test_a_stored_list_and_a_presentity(store):
    store.set_list("alice", DOMAIN, f"sip:friends@{DOMAIN}", [alias(BOB_PHONE)])
    server = make_server(store)
    alice = Client(server, "alice")
    stored = alice.send(
        alice.request("SUBSCRIBE", f"sip:friends@{DOMAIN}", headers={"Event": "presence", "Supported": "eventlist"})
    )
    assert stored.status == 200
    assert list(views(alice.notifies.pop())) == [alias(BOB_PHONE)]
    other = alice.send(
        alice.request(
            "SUBSCRIBE",
            f"sip:nobody-list@{DOMAIN}",
            headers={"Event": "presence", "Supported": "eventlist"},
            call_id="call-2",
        )
    )
    assert other.status == 404
    store.set_list("bob", DOMAIN, f"sip:bobs@{DOMAIN}", [alias(ALICE_PHONE)])
    not_hers = alice.send(
        alice.request(
            "SUBSCRIBE", f"sip:bobs@{DOMAIN}", headers={"Event": "presence", "Supported": "eventlist"}, call_id="call-4"
        )
    )
    assert not_hers.status == 403
    single = alice.send(
        alice.request("SUBSCRIBE", f"sip:bob@{DOMAIN}", headers={"Event": "presence"}, call_id="call-3")
    )
    assert single.status == 200
    notify = alice.notifies.pop()
    assert notify.content_type == "application/pidf+xml"
    presence = decode_notify_body(notify.content_type, None, notify.body)
    assert isinstance(presence, Presence)
    assert summarize(presence).has_account
    assert Activity.UNKNOWN in presence.persons[0].activities


def test_a_removed_account_disappears_and_its_subscriptions_end(store):
    server = make_server(store, notify_interval=0.0)  # (the test runs no timer: every change goes out at once)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    bob.subscribe_list([alias(ALICE_PHONE)])
    bob.answer_all()
    alice.answer_all()
    store.remove_account("bob", DOMAIN)
    changes = store.changes(DOMAIN)
    alice.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    [last] = bob.answer_all()
    assert last.headers.get("Subscription-State") == "terminated;reason=rejected"
    [partial] = alice.answer_all()
    assert views(partial)[alias(BOB_PHONE)] is None
    assert bob.publish(pidf(bob.aor)).status == 407  # its credentials are forgotten with it


def test_turning_public_presence_on_opens_the_gate_at_once(store):
    server = make_server(store, notify_interval=0.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    bob.publish(pidf(bob.aor, note="hi"))
    alice.subscribe_list([alias(BOB_PHONE)])
    assert summarize(views(alice.answer_all()[0])[alias(BOB_PHONE)]).status is Availability.UNKNOWN
    store.set_public_presence("bob", DOMAIN, True)
    changes = store.changes(DOMAIN)
    alice.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    [partial] = alice.answer_all()
    assert summarize(views(partial)[alias(BOB_PHONE)]).note == "hi"


def test_a_restarted_phone_replaces_the_publication_it_left_behind(store):
    store.set_public_presence("bob", DOMAIN, True)
    server = make_server(store, notify_interval=0.0)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    instance = {"Expires": "600"}
    for connection, basic in ((7, "open"), (8, "closed")):  # the same device, before and after a restart
        bob = Client(server, "bob", FakePeer(connection=connection))
        register = bob.request("REGISTER", f"sip:{DOMAIN}", headers=instance, to=bob.aor, call_id=f"run{connection}")
        register.headers.set("Contact", '<sip:198.51.100.7:40000;transport=tcp>;+sip.instance="<urn:uuid:1>"')
        assert bob.send(register).status == 200
        assert bob.publish(pidf(bob.aor, basic=basic)).status == 200  # no SIP-If-Match: the ETag was lost
    [*_, last] = alice.answer_all()
    summary = summarize(views(last)[alias(BOB_PHONE)])
    assert summary.status is Availability.OFFLINE


def test_entries_without_an_account_are_found_when_one_comes(store):
    server = make_server(store)
    alice = Client(server, "alice")
    alice.subscribe_list([f"sip:dave@{DOMAIN}", f"tel:{NOBODY_PHONE}"])
    assert all(view is None for view in views(alice.answer_all()[0]).values())
    store.add_account("dave", DOMAIN, PASSWORD, NOBODY_PHONE)
    changes = store.changes(DOMAIN)
    alice.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    [partial] = alice.answer_all()
    seen = {uri: summarize(view).sip_address for uri, view in views(partial).items()}
    assert seen == {f"sip:dave@{DOMAIN}": f"sip:dave@{DOMAIN}", f"tel:{NOBODY_PHONE}": f"sip:dave@{DOMAIN}"}


def test_a_friend_whose_phone_is_off_shows_offline_not_hidden(store):
    server = make_server(store, notify_interval=0.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    published = bob.publish(pidf(bob.aor, note="here"))
    bob_list = bob.subscribe_list([alias(ALICE_PHONE)])
    bob.answer_all()
    alice.answer_all()
    # Bob's phone goes off: it unpublishes and unsubscribes.
    bob.publish(b"", expires=0, etag=published.headers.get("SIP-ETag"))
    bob.send(
        bob.request(
            "SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "0"}, to_tag=bob_list.to_tag
        )
    )
    bob.answer_all()
    [*_, last] = alice.answer_all()
    summary = summarize(views(last)[alias(BOB_PHONE)])
    assert (summary.has_account, summary.status) == (True, Availability.OFFLINE)


def test_the_gate_remembers_through_a_change_of_the_account(store):
    server = make_server(store, notify_interval=0.0)
    alice, bob = Client(server, "alice"), Client(server, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    bob_list = bob.subscribe_list([alias(ALICE_PHONE)])
    bob.send(
        bob.request(
            "SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "0"}, to_tag=bob_list.to_tag
        )
    )
    bob.answer_all()
    alice.answer_all()
    store.set_public_presence("bob", DOMAIN, True)
    store.set_public_presence("bob", DOMAIN, False)
    changes = store.changes(DOMAIN)
    alice.take(server.accounts_changed(changes.numbers, changes.usernames, 5.0))
    alice.answer_all()
    bob.publish(pidf(bob.aor, note="back"))
    [*_, last] = alice.answer_all()
    assert summarize(views(last)[alias(BOB_PHONE)]).note == "back"
