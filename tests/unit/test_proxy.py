"""Call routing through the server's sans-IO core: phones registered to it, messages in, what each phone receives
out, the clock passed in (timers run at once)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from smartbook_tui.server.cluster.journal import ClusterJournal
from smartbook_tui.server.core import ALLOWED_METHODS, PresenceServer, Send, ServerConfig
from smartbook_tui.server.discovery import DiscoveryPolicy
from smartbook_tui.server.store import SavedBinding, Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipRequest, SipResponse, parse_message
from smartbook_tui.sip.peer import Peer

DOMAIN = "example.org"
PASSWORD = "open sesame"
BOB_PHONE = "+33687654321"
VIA = {"UDP": "192.0.2.1:5060", "TCP": "192.0.2.1:5060"}
RECORD_ROUTE = "<sip:192.0.2.1:5060;transport=udp;lr>"


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Store.open(tmp_path / "server.sqlite3") as opened:
        opened.add_account("alice", DOMAIN, PASSWORD)
        opened.add_account("bob", DOMAIN, PASSWORD, BOB_PHONE)
        opened.add_account("carol", DOMAIN, PASSWORD)
        yield opened


class Net:
    """The server and the phones: what the server sends lands in the inbox of the phone at that address."""

    def __init__(self, store: Store, cluster: ClusterJournal | None = None, **config: object) -> None:
        counter = itertools.count()
        self.server = PresenceServer(
            ServerConfig(DOMAIN, VIA, **config),  # type: ignore[arg-type]
            store,
            secret=b"k" * 32,
            token=lambda: f"t{next(counter)}",
            cluster=cluster,
        )
        self.now = 0.0
        self.phones: dict[Peer, Phone] = {}
        self.strays: list[tuple[object, SipMessage]] = []

    def deliver(self, sends: list[Send]) -> None:
        for send in sends:
            message = parse_message(send.data)
            phone = self.phones.get(send.peer)  # type: ignore[call-overload]
            if phone is None:
                self.strays.append((send.peer, message))
            else:
                phone.inbox.append(message)

    def advance(self, seconds: float) -> None:
        """Let time pass, running every timer due on the way."""
        end = self.now + seconds
        while (deadline := self.server.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.deliver(self.server.on_timer(self.now))
        self.now = end

    @property
    def transactions(self) -> int:
        return self.server.proxy.transactions


class Phone:
    """A user agent at one UDP address: it builds requests and responses and reads what reaches it."""

    def __init__(self, net: Net, user: str, port: int, *, password: str = PASSWORD) -> None:
        self.net, self.user, self.password = net, user, password
        self.peer = Peer("UDP", ("127.0.0.1", port))
        self.contact = f"sip:{user}@127.0.0.1:{port}"
        self.inbox: list[SipMessage] = []
        self.branches = itertools.count()
        net.phones[self.peer] = self

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{DOMAIN}"

    def request(
        self,
        method: str,
        uri: str,
        *,
        call_id: str = "call-1",
        cseq: int = 1,
        to: str | None = None,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        branch: str | None = None,
    ) -> SipRequest:
        fields = Headers(
            [
                ("Via", f"SIP/2.0/UDP {self.peer.address[0]}:{self.peer.address[1]};branch={branch or self.branch()}"),
                ("Max-Forwards", "70"),
                ("From", f"<{self.aor}>;tag={self.user}-tag"),
                ("To", f"<{to or uri}>" + (f";tag={to_tag}" if to_tag else "")),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} {method}"),
                ("Contact", f"<{self.contact}>"),
            ]
        )
        for name, value in headers or []:
            fields.add(name, value)
        return SipRequest(method, uri, fields, b"v=0\r\n" if method == "INVITE" else b"")

    def branch(self) -> str:
        return f"z9hG4bK{self.user}{next(self.branches)}"

    def send(self, message: SipMessage) -> None:
        self.net.deliver(self.net.server.receive(parse_message(message.to_bytes()), self.peer, self.net.now))

    def take(self) -> list[SipMessage]:
        taken, self.inbox = self.inbox, []
        return taken

    def statuses(self) -> list[int]:
        return [m.status for m in self.take() if isinstance(m, SipResponse)]

    def requests(self, method: str | None = None) -> list[SipRequest]:
        return [m for m in self.take() if isinstance(m, SipRequest) and method in (None, m.method)]

    def authorized(self, request: SipRequest, challenge: SipResponse, *, user: str | None = None) -> SipRequest:
        """`request` again with credentials for `challenge` (a 401 or 407): a new branch, the next CSeq."""
        name, header = (
            ("WWW-Authenticate", "Authorization")
            if challenge.status == 401
            else ("Proxy-Authenticate", "Proxy-Authorization")
        )
        value = DigestSession(Credentials(user or self.user, self.password)).answer(
            challenge.headers.get_all(name), method=request.method, uri=request.uri, cnonce="c"
        )
        headers = request.headers.copy()
        headers.set("Via", f"SIP/2.0/UDP {self.peer.address[0]}:{self.peer.address[1]};branch={self.branch()}")
        headers.set("CSeq", f"{request.cseq[0] + 1} {request.method}")
        headers.add(header, value)
        return SipRequest(request.method, request.uri, headers, request.body)

    def register(self) -> None:
        register = self.request(
            "REGISTER", self.aor, call_id=f"reg-{self.peer.address[1]}", headers=[("Expires", "3600")]
        )
        self.send(register)
        challenge = self.take()[-1]
        assert isinstance(challenge, SipResponse)
        assert challenge.status == 401
        self.send(self.authorized(register, challenge))
        assert self.statuses() == [200]

    def call(self, uri: str, *, call_id: str = "call-1", headers: list[tuple[str, str]] | None = None) -> SipRequest:
        """Send an INVITE, answering the server's 407: the INVITE that went through (with its credentials)."""
        invite = self.request("INVITE", uri, call_id=call_id, headers=headers)
        self.send(invite)
        challenge = [m for m in self.take() if isinstance(m, SipResponse) and m.status == 407]
        assert challenge, "no 407 to an INVITE without credentials"
        self.send(self.ack_for(invite, challenge[0]))
        authorized = self.authorized(invite, challenge[0])
        self.send(authorized)
        return authorized

    def reply(self, request: SipRequest, status: int, reason: str = "", *, tag: str | None = None) -> SipResponse:
        """The phone's response to a request it received: its Via, From, To (with the phone's tag), Record-Route."""
        headers = request.headers.only("Via", "Record-Route", "From", "Call-ID", "CSeq")
        to = request.headers.get("To") or ""
        headers.add("To", to if request.to_tag or status == 100 else f"{to};tag={tag or self.user + '-dev'}")
        headers.add("Contact", f"<{self.contact}>")
        return SipResponse(status, reason or "Whatever", headers)

    def ack_for(self, invite: SipRequest, response: SipResponse) -> SipRequest:
        """The ACK of a non-2xx: the INVITE's branch and CSeq number, the response's To."""
        headers = invite.headers.only("Via", "Max-Forwards", "From", "Call-ID")
        headers.add("To", response.headers.get("To") or "")
        headers.add("CSeq", f"{invite.cseq[0]} ACK")
        return SipRequest("ACK", invite.uri, headers)

    def in_dialog(
        self, method: str, response: SipResponse, *, cseq: int, routes: list[str], remote: str, caller: bool = True
    ) -> SipRequest:
        """A request of the dialog `response` (the 2xx) made: to the remote target, through the route set."""
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {self.peer.address[0]}:{self.peer.address[1]};branch={self.branch()}"),
                ("Max-Forwards", "70"),
                ("From", response.headers.get("From" if caller else "To") or ""),
                ("To", response.headers.get("To" if caller else "From") or ""),
                ("Call-ID", response.call_id or ""),
                ("CSeq", f"{cseq} {method}"),
            ]
        )
        for route in routes:
            headers.add("Route", route)
        return SipRequest(method, remote, headers)


@pytest.fixture
def net(store: Store) -> Net:
    return Net(store)


@pytest.fixture
def alice(net: Net) -> Phone:
    phone = Phone(net, "alice", 41000)
    phone.register()
    return phone


@pytest.fixture
def bob(net: Net) -> Phone:
    phone = Phone(net, "bob", 42000)
    phone.register()
    return phone


def one(messages: list[SipMessage]) -> SipMessage:
    assert len(messages) == 1, messages
    return messages[0]


def ring_and_answer(caller: Phone, callee: Phone) -> SipResponse:
    """The callee's device rings then answers the INVITE it got; the 200 the caller receives."""
    invite = one(callee.requests("INVITE"))
    assert isinstance(invite, SipRequest)
    callee.send(callee.reply(invite, 180, "Ringing"))
    callee.send(callee.reply(invite, 200, "OK"))
    responses = [m for m in caller.take() if isinstance(m, SipResponse)]
    assert [r.status for r in responses] == [100, 180, 200]
    return responses[-1]


def ring(caller: Phone, callee: Phone) -> tuple[SipRequest, SipRequest]:
    """The caller calls the callee, whose device rings: the INVITE sent and the one the device got."""
    invite = caller.call(f"sip:{callee.user}@{DOMAIN}")
    ringing = one(callee.requests("INVITE"))
    assert isinstance(ringing, SipRequest)
    callee.send(callee.reply(ringing, 180, "Ringing"))
    caller.take()
    return invite, ringing


# ---------------------------------------------------------------------------------------------- calls


def test_a_call_by_username_is_answered_and_hung_up_through_the_record_route(net, alice, bob):
    alice.call(f"sip:bob@{DOMAIN}")
    invite = bob.inbox[0]
    assert isinstance(invite, SipRequest)
    assert invite.uri == bob.contact
    assert invite.headers.get_all("Record-Route") == [RECORD_ROUTE]
    assert invite.headers.get("Max-Forwards") == "69"
    assert len(invite.headers.get_all("Via")) == 2
    assert "Proxy-Authorization" not in invite.headers  # the server's own credentials stop here
    ok = ring_and_answer(alice, bob)
    assert ok.headers.get_all("Record-Route") == [RECORD_ROUTE]
    assert len(ok.headers.get_all("Via")) == 1

    alice.send(alice.in_dialog("ACK", ok, cseq=2, routes=[RECORD_ROUTE], remote=bob.contact))
    ack = one(bob.requests("ACK"))
    assert isinstance(ack, SipRequest)
    assert "Route" not in ack.headers
    alice.send(alice.in_dialog("BYE", ok, cseq=3, routes=[RECORD_ROUTE], remote=bob.contact))
    bye = one(bob.requests("BYE"))
    assert isinstance(bye, SipRequest)
    bob.send(bob.reply(bye, 200, "OK"))
    assert alice.statuses() == [200]

    net.advance(64)
    assert net.transactions == 0
    assert net.server.proxy.pending == 0


def test_the_callee_hangs_up_through_the_record_route(net, alice, bob):
    alice.call(f"sip:bob@{DOMAIN}")
    ok = ring_and_answer(alice, bob)
    alice.send(alice.in_dialog("ACK", ok, cseq=2, routes=[RECORD_ROUTE], remote=bob.contact))
    bye = bob.in_dialog("BYE", ok, cseq=1, routes=[RECORD_ROUTE], remote=alice.contact, caller=False)
    bob.take()
    bob.send(bye)
    received = one(alice.requests("BYE"))
    assert isinstance(received, SipRequest)
    alice.send(alice.reply(received, 200, "OK"))
    assert bob.statuses() == [200]


@pytest.mark.parametrize("uri", [f"sip:{BOB_PHONE}@{DOMAIN};user=phone", f"sip:{BOB_PHONE}@{DOMAIN}"])
def test_a_call_to_a_verified_number_reaches_its_account(net, alice, bob, uri):
    alice.call(uri)
    ring_and_answer(alice, bob)


def test_a_call_is_forked_to_every_device_and_the_loser_is_cancelled(net, alice, bob):
    desk = Phone(net, "bob", 42001)
    desk.register()
    alice.call(f"sip:bob@{DOMAIN}")
    mobile_invite, desk_invite = one(bob.requests("INVITE")), one(desk.requests("INVITE"))
    assert isinstance(mobile_invite, SipRequest)
    assert isinstance(desk_invite, SipRequest)
    desk.send(desk.reply(desk_invite, 180, "Ringing", tag="desk"))
    bob.send(bob.reply(mobile_invite, 180, "Ringing", tag="mobile"))
    bob.send(bob.reply(mobile_invite, 200, "OK", tag="mobile"))
    cancel = one(desk.requests("CANCEL"))
    assert isinstance(cancel, SipRequest)
    assert cancel.via_branch == desk_invite.via_branch
    desk.send(desk.reply(cancel, 200, "OK", tag="desk"))
    terminated = desk.reply(desk_invite, 487, "Request Terminated", tag="desk")
    desk.send(terminated)
    assert [m.method for m in desk.requests()] == ["ACK"]  # the 487 is acknowledged by the server
    assert alice.statuses() == [100, 180, 180, 200]
    net.advance(64)
    assert net.transactions == 0


def test_the_best_refusal_comes_back_when_every_device_refuses(net, alice, bob):
    desk = Phone(net, "bob", 42001)
    desk.register()
    alice.call(f"sip:bob@{DOMAIN}")
    desk.send(desk.reply(one(desk.requests("INVITE")), 480, "Away", tag="desk"))  # type: ignore[arg-type]
    assert alice.statuses() == [100]  # the other device is still ringing
    bob.send(bob.reply(one(bob.requests("INVITE")), 486, "Busy Here"))  # type: ignore[arg-type]
    assert alice.statuses() == [486]  # 4xx both: the one that says why


@pytest.mark.parametrize(("status", "reason"), [(486, "Busy Here"), (603, "Decline")])
def test_busy_and_decline_are_passed_back_and_the_ack_stops_at_the_server(net, alice, bob, status, reason):
    invite = alice.call(f"sip:bob@{DOMAIN}")
    bob.send(bob.reply(one(bob.requests("INVITE")), status, reason))  # type: ignore[arg-type]
    assert [m.method for m in bob.requests()] == ["ACK"]
    final = [m for m in alice.take() if isinstance(m, SipResponse)][-1]
    assert (final.status, final.reason) == (status, reason)
    alice.send(alice.ack_for(invite, final))
    assert bob.take() == []
    net.advance(64)
    assert net.transactions == 0


def test_an_unknown_user_is_404_and_one_without_devices_480(net, alice):
    alice.call(f"sip:nobody@{DOMAIN}", call_id="c1")
    assert alice.statuses() == [100, 404]
    alice.call(f"sip:carol@{DOMAIN}", call_id="c2")
    assert alice.statuses() == [100, 480]
    alice.call(f"sip:+33600000000@{DOMAIN};user=phone", call_id="c3")
    assert alice.statuses() == [100, 404]


def test_cancel_before_the_answer_ends_the_call_with_487(net, alice, bob):
    invite, ringing = ring(alice, bob)
    cancel = alice.request("CANCEL", invite.uri, cseq=invite.cseq[0], branch=invite.via_branch)
    alice.send(cancel)
    assert alice.statuses() == [200, 487]
    bob_cancel = one(bob.requests("CANCEL"))
    assert isinstance(bob_cancel, SipRequest)
    bob.send(bob.reply(bob_cancel, 200, "OK"))
    bob.send(bob.reply(ringing, 487, "Request Terminated"))
    assert [m.method for m in bob.requests()] == ["ACK"]
    assert alice.take() == []  # the caller had its 487 already
    net.advance(64)
    assert net.transactions == 0


def test_a_request_of_a_dialog_not_record_routed_here_is_not_relayed(net, alice, bob):
    bye = alice.request("BYE", bob.contact, to_tag="x")
    alice.send(bye)
    assert alice.statuses() == [403]
    alice.send(alice.request("ACK", bob.contact, to_tag="x"))
    assert alice.take() == []
    assert bob.take() == []


def test_a_malformed_cancel_is_400_and_cancels_nothing(net, alice, bob):
    invite, _ = ring(alice, bob)
    cancel = alice.request("CANCEL", invite.uri, cseq=invite.cseq[0], branch=invite.via_branch)
    cancel.headers.set("CSeq", f"{invite.cseq[0]} INVITE")  # RFC 3261 9.1: a CANCEL's CSeq names CANCEL
    alice.send(cancel)
    assert alice.statuses() == [400]
    assert bob.requests("CANCEL") == []  # the call rings on


def test_a_malformed_ack_of_a_dialog_is_not_passed_on(net, alice, bob):
    alice.call(f"sip:bob@{DOMAIN}")
    ok = ring_and_answer(alice, bob)
    ack = alice.in_dialog("ACK", ok, cseq=2, routes=[RECORD_ROUTE], remote=bob.contact)
    ack.headers.add("Call-ID", "a-second-one")  # a single-value header twice
    alice.send(ack)
    assert bob.requests("ACK") == []
    alice.send(alice.in_dialog("ACK", ok, cseq=2, routes=[RECORD_ROUTE], remote=bob.contact))
    assert len(bob.requests("ACK")) == 1


def test_a_cancel_that_matches_no_call_is_481(net, alice):
    alice.send(alice.request("CANCEL", f"sip:bob@{DOMAIN}"))
    assert alice.statuses() == [481]


def test_a_device_that_never_answers_gets_retransmissions_then_the_caller_408(net, alice, bob):
    invite = alice.call(f"sip:bob@{DOMAIN}")
    assert len(bob.requests("INVITE")) == 1
    net.advance(10)
    assert len(bob.requests("INVITE")) == 4  # timer A: at 0.5, 1.5 and 3.5 s, then 7.5 s
    net.advance(30)
    final = [m for m in alice.take() if isinstance(m, SipResponse)]
    assert {r.status for r in final} == {100, 408}  # the 408 is sent again until the caller acknowledges it
    alice.send(alice.ack_for(invite, final[-1]))
    net.advance(64)
    assert net.transactions == 0
    assert net.server.proxy.pending == 0


def test_a_device_that_rings_forever_is_cancelled_after_timer_c(net, alice, bob):
    alice.call(f"sip:bob@{DOMAIN}")
    invite = one(bob.requests("INVITE"))
    assert isinstance(invite, SipRequest)
    bob.send(bob.reply(invite, 180, "Ringing"))
    net.advance(181)
    assert bob.requests("CANCEL")
    assert [m.status for m in alice.take() if isinstance(m, SipResponse)][:3] == [100, 180, 408]
    net.advance(100)
    assert net.transactions == 0


def test_a_caller_without_credentials_gets_407_and_the_callee_nothing(net, alice, bob):
    alice.send(alice.request("INVITE", f"sip:bob@{DOMAIN}"))
    responses = [m for m in alice.take() if isinstance(m, SipResponse)]
    assert [r.status for r in responses] == [100, 407]
    assert responses[-1].headers.get("Proxy-Authenticate")
    assert bob.take() == []


def test_a_wrong_password_is_challenged_again_and_another_accounts_credentials_are_403(net, bob):
    mallory = Phone(net, "alice", 43000, password="guess")
    invite = mallory.request("INVITE", f"sip:bob@{DOMAIN}")
    mallory.send(invite)
    challenge = mallory.take()[-1]
    assert isinstance(challenge, SipResponse)
    mallory.send(mallory.authorized(invite, challenge))
    assert mallory.statuses()[-1] == 407
    carol = Phone(net, "carol", 44000)
    mallory.send(invite)
    challenge = mallory.take()[-1]
    assert isinstance(challenge, SipResponse)
    carol_signs = carol.authorized(invite, challenge)  # carol's credentials, alice's From
    mallory.send(carol_signs)
    assert mallory.statuses()[-1] == 403
    assert bob.take() == []


def test_a_callers_own_asserted_identity_is_neither_believed_nor_passed_on(net, alice, bob):
    """P-Asserted-Identity is a trusted proxy's word (the front of a cluster); a phone's own is ignored: it is
    still challenged, and the header does not reach the callee."""
    alice.call(f"sip:bob@{DOMAIN}", headers=[("P-Asserted-Identity", f"<sip:carol@{DOMAIN}>")])  # asserts the 407
    invite = one(bob.requests("INVITE"))
    assert isinstance(invite, SipRequest)
    assert invite.headers.get("P-Asserted-Identity") is None


def test_a_node_of_a_cluster_routes_a_call_by_the_registrations_another_node_holds(store):
    """bob registered through another node (one that died, maybe): the call waits for what Redis holds of his
    registrations, then rings there; with none, 480."""
    net = Net(store, cluster=ClusterJournal())
    alice = Phone(net, "alice", 41000)
    alice.register()
    bob = Phone(net, "bob", 42000)  # registered elsewhere: this node has no binding of his
    aor = f"sip:bob@{DOMAIN}"
    alice.call(aor)
    assert net.server.cluster_changes(net.now).lookups == [aor]
    assert bob.requests("INVITE") == []  # it waits for them
    elsewhere = SavedBinding("bob", aor, "<sip:bob@127.0.0.1:42000>", "reg-1", 1, ("127.0.0.1", 42000), None, 300.0)
    net.deliver(net.server.bindings_found(aor, [elsewhere], net.now))
    ring_and_answer(alice, bob)

    alice.call(aor, call_id="call-2")
    net.server.cluster_changes(net.now)
    net.deliver(net.server.bindings_found(aor, [], net.now))
    assert 480 in alice.statuses()


def test_a_call_from_another_domain_needs_no_credentials(net, bob):
    outsider = Phone(net, "dave", 45000)
    invite = outsider.request("INVITE", f"sip:bob@{DOMAIN}")
    invite.headers.set("From", "<sip:dave@elsewhere.test>;tag=d")
    outsider.send(invite)
    assert outsider.statuses() == [100]
    assert one(bob.requests("INVITE"))


def test_a_message_is_authenticated_and_delivered(net, alice, bob):
    message = alice.request("MESSAGE", f"sip:bob@{DOMAIN}")
    message.headers.add("Content-Type", "text/plain")
    message.body = b"hello"
    alice.send(message)
    challenge = alice.take()[-1]
    assert isinstance(challenge, SipResponse)
    assert challenge.status == 407
    alice.send(alice.authorized(message, challenge))
    delivered = one(bob.requests("MESSAGE"))
    assert isinstance(delivered, SipRequest)
    assert delivered.body == b"hello"
    assert "Record-Route" not in delivered.headers
    bob.send(bob.reply(delivered, 200, "OK"))
    assert alice.statuses() == [200]
    net.advance(64)
    assert net.transactions == 0


def test_options_for_a_user_goes_to_their_device_and_options_for_the_server_is_answered_by_it(net, alice, bob):
    alice.send(alice.request("OPTIONS", f"sip:bob@{DOMAIN}"))
    options = one(bob.requests("OPTIONS"))
    assert isinstance(options, SipRequest)
    alice.send(alice.request("OPTIONS", f"sip:{DOMAIN}", headers=[("Route", RECORD_ROUTE)]))  # a preloaded Route
    answer = one(alice.take())
    assert isinstance(answer, SipResponse)
    assert answer.status == 200
    assert ", ".join(answer.headers.get_all("Allow")) == ALLOWED_METHODS
    assert "INVITE" in ALLOWED_METHODS


def test_a_call_with_a_preloaded_route_to_the_server_is_routed_like_any_other(net, alice, bob):
    alice.call(f"sip:bob@{DOMAIN}", headers=[("Route", RECORD_ROUTE)])
    invite = one(bob.requests("INVITE"))
    assert isinstance(invite, SipRequest)
    assert "Route" not in invite.headers
    assert invite.uri == bob.contact


def test_a_retransmitted_invite_gets_the_last_answer_and_is_not_forwarded_again(net, alice, bob):
    invite = alice.call(f"sip:bob@{DOMAIN}")
    alice.take()
    assert len(bob.requests("INVITE")) == 1
    alice.send(invite)
    assert alice.statuses() == [100]
    assert bob.take() == []


# ---------------------------------------------------------------------------------------------- bad requests


def test_max_forwards_spent_is_483(net, alice, bob):
    message = alice.request("MESSAGE", f"sip:bob@{DOMAIN}")
    message.headers.set("Max-Forwards", "0")
    alice.send(message)
    assert alice.statuses() == [483]
    assert bob.take() == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda r: r.headers.set("Max-Forwards", "many"), 400),
        (lambda r: r.headers.set("From", f"<sip:alice@{DOMAIN}>"), 400),  # no tag
        (lambda r: r.headers.remove("Call-ID"), 400),
        (lambda r: r.headers.set("CSeq", "1 BYE"), 400),
        (lambda r: r.headers.add("Route", "<nonsense"), 400),
        (lambda r: r.headers.add("Proxy-Require", "foo"), 420),
        (lambda r: setattr(r, "uri", "mailto:bob@example.org"), 416),
        (lambda r: setattr(r, "uri", "sip:bob@elsewhere.test"), 403),
    ],
)
def test_bad_requests_are_refused_with_a_status(net, alice, bob, change, status):
    request = alice.request("OPTIONS", f"sip:bob@{DOMAIN}")
    change(request)
    alice.send(request)
    assert alice.statuses() == [status]
    assert bob.take() == []
    net.advance(64)
    assert net.transactions == 0


def test_a_source_past_its_pending_limit_gets_503_with_retry_after(store):
    net = Net(store, max_pending_per_source=2)
    bob = Phone(net, "bob", 42000)
    bob.register()
    outsider = Phone(net, "dave", 45000)
    for number in range(3):
        invite = outsider.request("INVITE", f"sip:bob@{DOMAIN}", call_id=f"c{number}")
        invite.headers.set("From", "<sip:dave@elsewhere.test>;tag=d")
        outsider.send(invite)
    answers = [m for m in outsider.take() if isinstance(m, SipResponse)]
    assert [r.status for r in answers] == [100, 100, 503]
    assert answers[-1].headers.get("Retry-After")
    assert net.server.proxy.pending == 2
    for invite in bob.requests("INVITE"):
        bob.send(bob.reply(invite, 486, "Busy Here"))
    assert net.server.proxy.pending == 0


def test_garbage_in_any_header_gets_an_answer_or_is_dropped_never_a_crash(net, alice, bob):
    base = alice.request("INVITE", f"sip:bob@{DOMAIN}")
    for name in ("Via", "From", "To", "Call-ID", "CSeq", "Route", "Max-Forwards", "Contact", "Record-Route"):
        for junk in ("", ";;;", "<sip:", "\u00e9\u00e9", "x" * 3000, "sip:@", ",,,"):
            request = SipRequest("INVITE", base.uri, base.headers.copy(), base.body)
            request.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bK{name}{len(junk)}")
            if junk:
                request.headers.set(name, junk)
            else:
                request.headers.remove(name)
            net.server.receive(request, alice.peer, net.now)
        response = SipResponse(200, "OK", base.headers.copy())
        response.headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsbpnothing")
        response.headers.set(name, "<sip:")
        net.server.receive(response, bob.peer, net.now)
    net.advance(300)
    assert net.transactions == 0


# ---------------------------------------------------------------------------------------------- discovery


BOB_BY_NUMBER = f"sip:{BOB_PHONE}@{DOMAIN};user=phone"


def test_a_number_hidden_from_the_caller_without_a_device_is_404_not_480(store):
    store.set_discoverable("bob", DOMAIN, "nobody")
    net = Net(store)
    alice = Phone(net, "alice", 41000)
    alice.register()
    alice.call(BOB_BY_NUMBER, call_id="c1")
    assert alice.statuses() == [100, 404]  # as a number without an account: nothing to tell the two apart
    alice.call(f"sip:bob@{DOMAIN}", call_id="c2")
    assert alice.statuses() == [100, 480]  # by address she knows him already
    alice.send(alice.request("OPTIONS", BOB_BY_NUMBER, call_id="c3"))
    assert alice.statuses() == [404]


def test_a_call_to_a_hidden_number_still_rings_its_device(store):
    store.set_discoverable("bob", DOMAIN, "nobody")
    net = Net(store)
    alice, bob = Phone(net, "alice", 41000), Phone(net, "bob", 42000)
    alice.register()
    bob.register()
    alice.call(BOB_BY_NUMBER)
    ring_and_answer(alice, bob)


def test_calls_to_numbers_charge_the_callers_discovery_quota(store):
    net = Net(store, discovery=DiscoveryPolicy(quota=1))
    alice, bob = Phone(net, "alice", 41000), Phone(net, "bob", 42000)
    alice.register()
    bob.register()
    alice.call(BOB_BY_NUMBER, call_id="c1")
    ring_and_answer(alice, bob)
    alice.call(f"sip:+33600000001@{DOMAIN};user=phone", call_id="c2")
    refused = [m for m in alice.take() if isinstance(m, SipResponse)]
    assert [r.status for r in refused] == [100, 403]
    assert "at most 1 new numbers a day" in refused[-1].reason
    alice.call(BOB_BY_NUMBER, call_id="c3")  # a number called before costs nothing again
    assert one(bob.requests("INVITE"))
