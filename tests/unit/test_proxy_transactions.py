"""The INVITE transactions of `sip.transaction` (RFC 3261 17.1.1 and 17.2.1, with RFC 6026), driven by hand: what
they send and when, with the clock passed in."""

from __future__ import annotations

from smartbook_tui.sip.message import Headers, SipRequest, SipResponse
from smartbook_tui.sip.transaction import (
    T1,
    TIMER_C,
    InviteClientTransaction,
    InviteServerTransaction,
    InviteState,
    Retransmit,
    TimedOut,
)

BRANCH = "z9hG4bKone"


def invite() -> SipRequest:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={BRANCH}"),
            ("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKupstream"),
            ("Route", "<sip:192.0.2.5;lr>"),
            ("From", "<sip:alice@example.org>;tag=a"),
            ("To", "<sip:bob@example.org>"),
            ("Call-ID", "c"),
            ("CSeq", "7 INVITE"),
            ("Max-Forwards", "69"),
        ]
    )
    return SipRequest("INVITE", "sip:bob@192.0.2.7:5060", headers, b"v=0\r\n")


def response(status: int, to_tag: str = "b") -> SipResponse:
    headers = invite().headers.only("Via", "From", "Call-ID", "CSeq")
    headers.add("To", f"<sip:bob@example.org>;tag={to_tag}")
    return SipResponse(status, "Whatever", headers)


def run_until(transaction: InviteClientTransaction | InviteServerTransaction, end: float) -> list[tuple[float, object]]:
    happened = []
    while (deadline := transaction.deadline) is not None and deadline <= end:
        outcome = transaction.on_timer(deadline)
        if outcome is not None:
            happened.append((deadline, outcome))
    return happened


def test_a_client_invite_is_sent_again_doubling_then_times_out_after_64_t1():
    client = InviteClientTransaction(invite(), reliable=False, branch=BRANCH)
    client.start(0.0)
    happened = run_until(client, 100.0)
    assert [when for when, outcome in happened if isinstance(outcome, Retransmit)] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert happened[-1] == (64 * T1, TimedOut())
    assert client.state is InviteState.TERMINATED


def test_a_ringing_client_invite_stops_resending_and_times_out_after_timer_c_then_waits_for_the_487():
    client = InviteClientTransaction(invite(), reliable=False, branch=BRANCH)
    client.start(0.0)
    assert client.on_response(response(180), 0.2) is not None
    happened = run_until(client, 1000.0)
    assert happened == [(0.2 + TIMER_C, TimedOut())]  # the owner cancels it now...
    assert client.state is InviteState.TERMINATED  # ...and, no 487 coming, it ends 64*T1 later


def test_a_client_acknowledges_a_refusal_itself_and_absorbs_its_retransmissions():
    client = InviteClientTransaction(invite(), reliable=False, branch=BRANCH)
    client.start(0.0)
    assert client.on_response(response(486), 0.1) is not None
    assert client.ack is not None
    ack = client.ack.decode()
    assert ack.startswith("ACK sip:bob@192.0.2.7:5060 SIP/2.0")
    assert f"branch={BRANCH}" in ack
    assert "z9hG4bKupstream" not in ack  # only its own Via
    assert "CSeq: 7 ACK" in ack
    assert "tag=b" in ack
    assert "Route: <sip:192.0.2.5;lr>" in ack
    assert client.on_response(response(486), 0.3) is None
    run_until(client, 100.0)
    assert client.state is InviteState.TERMINATED


def test_a_client_passes_up_every_2xx_for_64_t1():
    client = InviteClientTransaction(invite(), reliable=False, branch=BRANCH)
    client.start(0.0)
    assert client.on_response(response(200), 0.1) is not None
    assert client.on_response(response(200), 0.6) is not None  # a retransmitted 2xx goes up too
    assert client.on_response(response(200, "other"), 0.7) is not None  # and another fork's
    run_until(client, 100.0)
    assert client.state is InviteState.TERMINATED
    assert client.on_response(response(200), 100.0) is None


def test_a_server_refusal_is_sent_again_until_the_ack_then_ends_after_t4():
    server = InviteServerTransaction(invite(), reliable=False, key=(BRANCH, "192.0.2.1:5060", "INVITE"))
    assert server.respond(response(100), 0.0) is not None
    assert server.on_retransmission() is not None
    assert server.respond(response(486), 1.0) is not None
    happened = run_until(server, 2.6)
    assert [when for when, _ in happened] == [1.5, 2.5]
    assert server.on_ack(2.7)
    assert server.on_ack(2.8)  # a retransmitted ACK is absorbed too
    assert run_until(server, 100.0) == []
    assert server.state is InviteState.TERMINATED


def test_a_server_refusal_never_acknowledged_times_out():
    server = InviteServerTransaction(invite(), reliable=False, key=(BRANCH, "192.0.2.1:5060", "INVITE"))
    server.respond(response(603), 0.0)
    happened = run_until(server, 100.0)
    assert happened[-1] == (64 * T1, TimedOut())
    assert all(outcome.data.startswith(b"SIP/2.0 603") for _, outcome in happened[:-1])  # type: ignore[attr-defined]


def test_a_server_2xx_lets_later_2xx_through_and_no_other_final():
    server = InviteServerTransaction(invite(), reliable=True, key=(BRANCH, "192.0.2.1:5060", "INVITE"))
    assert server.respond(response(200), 0.0) is not None
    assert server.respond(response(200, "other"), 0.1) is not None
    assert server.respond(response(486), 0.2) is None
    assert server.on_retransmission() is None  # a retransmitted INVITE is absorbed
    assert not server.on_ack(0.3)  # the ACK of a 2xx is not the transaction's
    run_until(server, 100.0)
    assert server.state is InviteState.TERMINATED
