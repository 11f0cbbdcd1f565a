"""Calls through `smartbook server run` on real sockets: small UDP phones built on smartbook's message code call
each other through the server (by username, by number, to two devices), are refused (busy, unknown, offline),
cancel, and hang up through the Record-Route; the server's log has no traceback and its call transactions end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartbook_tui.sip.message import SipRequest, SipResponse
from tests.peers.sip_phone import SipPhone
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, run_smartbook_server

BOB_PHONE = "+33687654321"
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartbookServer]:
    accounts = [("alice", None), ("bob", BOB_PHONE), ("carol", None)]
    with run_smartbook_server(tmp_path_factory.mktemp("proxy"), accounts=accounts) as running:
        yield running
        assert "Traceback" not in running.log, running.log[-4000:]


def phone(server: SmartbookServer, user: str, *, register: bool = True) -> SipPhone:
    made = SipPhone(server.sip, user, PASSWORD, DOMAIN)
    if register:
        made.register()
    return made


def answer(callee: SipPhone) -> SipRequest:
    invite = callee.wait_for("INVITE")
    assert isinstance(invite, SipRequest)
    callee.reply(invite, 180, "Ringing")
    callee.reply(invite, 200, "OK", body=SDP)
    return invite


def acknowledge_and_hang_up(caller: SipPhone, callee: SipPhone, ok: SipResponse) -> None:
    """The caller acknowledges the callee's 200 and hangs up; each request reaches the callee through the server."""
    caller.send(caller.caller_request("ACK", ok, cseq=ok.cseq[0]))
    assert isinstance(callee.wait_for("ACK"), SipRequest)
    caller.send(caller.caller_request("BYE", ok))
    bye = callee.wait_for("BYE")
    assert isinstance(bye, SipRequest)
    callee.reply(bye, 200, "OK")
    assert isinstance(caller.wait_for(200), SipResponse)


@pytest.mark.parametrize("target", ["sip:bob@127.0.0.1", f"sip:{BOB_PHONE}@127.0.0.1;user=phone"])
def test_a_call_is_answered_and_hung_up_through_the_server(server: SmartbookServer, target: str) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as bob:
        alice.call(target, body=SDP)
        invite = answer(bob)
        assert invite.body == SDP
        assert invite.headers.get("Record-Route")
        ok = alice.wait_for(200)
        assert isinstance(ok, SipResponse)
        assert ok.body == SDP
        acknowledge_and_hang_up(alice, bob, ok)


def test_the_callee_hangs_up_and_a_re_invite_passes_through(server: SmartbookServer) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as bob:
        alice.call("sip:bob@127.0.0.1", body=SDP)
        invite = answer(bob)
        ok = alice.wait_for(200)
        assert isinstance(ok, SipResponse)
        alice.send(alice.caller_request("ACK", ok, cseq=ok.cseq[0]))
        bob.wait_for("ACK")
        reinvite = alice.caller_request("INVITE", ok)
        reinvite.body = SDP
        alice.send(reinvite)
        received = bob.wait_for("INVITE")
        assert isinstance(received, SipRequest)
        bob.reply(received, 200, "OK", body=SDP)
        assert isinstance(alice.wait_for(200), SipResponse)
        bye = bob.callee_request("BYE", invite)
        bob.send(bye)
        received_bye = alice.wait_for("BYE")
        assert isinstance(received_bye, SipRequest)
        alice.reply(received_bye, 200, "OK")
        assert isinstance(bob.wait_for(200), SipResponse)


def test_two_devices_ring_and_the_one_that_does_not_answer_is_cancelled(server: SmartbookServer) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as mobile, phone(server, "bob") as desk:
        alice.call("sip:bob@127.0.0.1", body=SDP)
        desk_invite = desk.wait_for("INVITE")
        assert isinstance(desk_invite, SipRequest)
        desk.reply(desk_invite, 180, "Ringing")
        answer(mobile)
        cancel = desk.wait_for("CANCEL")
        assert isinstance(cancel, SipRequest)
        desk.reply(cancel, 200, "OK")
        desk.reply(desk_invite, 487, "Request Terminated")
        assert isinstance(desk.wait_for("ACK"), SipRequest)
        ok = alice.wait_for(200)
        assert isinstance(ok, SipResponse)
        alice.send(alice.caller_request("ACK", ok, cseq=ok.cseq[0]))
        alice.send(alice.caller_request("BYE", ok))
        bye = mobile.wait_for("BYE")
        assert isinstance(bye, SipRequest)
        mobile.reply(bye, 200, "OK")
        assert isinstance(alice.wait_for(200), SipResponse)


@pytest.mark.parametrize(("callee", "status"), [("nobody", 404), ("carol", 480), ("bob", 486), ("bob", 603)])
def test_refusals_reach_the_caller(server: SmartbookServer, callee: str, status: int) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as bob:
        invite = alice.call(f"sip:{callee}@127.0.0.1")
        if status >= 486:
            received = bob.wait_for("INVITE")
            assert isinstance(received, SipRequest)
            bob.reply(received, status, "Busy Here" if status == 486 else "Decline")
        final = alice.final_to(invite)
        assert final.status == status, f"{final.status} {final.reason}"
        alice.send(alice.ack(invite, final))


def cancel_of(invite: SipRequest) -> SipRequest:
    """The caller's CANCEL of `invite` (RFC 3261 9.1: its Via, From, To, Call-ID and CSeq number)."""
    cancel = SipRequest("CANCEL", invite.uri, invite.headers.only("Via", "From", "To", "Call-ID", "Max-Forwards"))
    cancel.headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
    return cancel


def test_cancel_before_the_answer(server: SmartbookServer) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as bob:
        invite = alice.call("sip:bob@127.0.0.1")
        ringing = bob.wait_for("INVITE")
        assert isinstance(ringing, SipRequest)
        bob.reply(ringing, 180, "Ringing")
        assert alice.response_to(invite).status in (100, 180)
        alice.send(cancel_of(invite))
        final = alice.final_to(invite)
        assert final.status == 487
        alice.send(alice.ack(invite, final))
        bob_cancel = bob.wait_for("CANCEL")
        assert isinstance(bob_cancel, SipRequest)
        bob.reply(bob_cancel, 200, "OK")
        bob.reply(ringing, 487, "Request Terminated")
        assert isinstance(bob.wait_for("ACK"), SipRequest)


def test_an_unauthenticated_caller_gets_407_and_the_callee_hears_nothing(server: SmartbookServer) -> None:
    with phone(server, "alice", register=False) as alice, phone(server, "bob") as bob:
        invite = alice.request("INVITE", "sip:bob@127.0.0.1")
        alice.send(invite)
        final = alice.final_to(invite)
        assert final.status == 407
        alice.send(alice.ack(invite, final))
        assert bob.nothing_for(0.3) == []


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [("Max-Forwards", "0", 483), ("Max-Forwards", "lots", 400), ("Route", "<sip:", 400)],
)
def test_bad_in_dialog_requests_are_refused(server: SmartbookServer, header: str, value: str, status: int) -> None:
    with phone(server, "alice") as alice, phone(server, "bob") as bob:
        bye = alice.request("BYE", bob.contact, to=f"<{bob.aor}>;tag=x")
        bye.headers.set(header, value)
        alice.send(bye)
        assert alice.final_to(bye).status == status
        assert bob.nothing_for(0.3) == []
