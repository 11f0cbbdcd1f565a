"""Calls of the phone engine (pjsua2 in this process, null audio) with a second pjsua2 endpoint in a child
process (`pjsua2_call_peer`): straight to the peer's own address, and through `smartbook server run` with both
registered. A call rings, is answered, carries RTP both ways, mutes, holds and resumes, sends and receives DTMF,
and ends with the reason a person reads; refusals, a cancel, a second call, and a shutdown with a call up."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from smartbook_tui.phone.engine import Phone, PhoneAccount, PhoneError, PhoneEvent
from smartbook_tui.phone.states import CallDirection, CallEvent, CallInfo, CallState, RegistrationState
from smartbook_tui.roster.device import device_instance
from tests.interop.pjsua2_call_peer import peer_command
from tests.interop.test_phone import Events, account_of, registration, running_phone
from tests.peers.json_lines import JsonLines, Line
from tests.peers.pjsua2_buddy import REPO_ROOT
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

pytestmark = pytest.mark.peer("pjsua2")

BOB_NUMBER = "+33687654321"


class Peer(JsonLines):
    """The child pjsua2 endpoint: `uri` is where it is called."""

    uri = ""

    @classmethod
    async def start(cls, *args: str) -> Peer:
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        peer = cls(process, "the pjsua2 peer")
        peer.uri = str((await peer.event("ready"))["uri"])
        return peer

    def send(self, do: str, **fields: object) -> int:
        """Send a command; the mark of the lines printed from then on."""
        assert self.process.stdin is not None
        mark = self.mark()
        self.process.stdin.write((json.dumps({"do": do, **fields}) + "\n").encode())
        return mark

    async def event(self, name: str, *, after: int = 0, **fields: object) -> Line:
        return await self.until(
            lambda line: line["event"] == name and all(line.get(key) == value for key, value in fields.items()),
            after=after,
        )

    async def quit(self) -> None:
        if self.process.returncode is None:
            self.send("quit")
        _, stderr = await self.stop()
        assert stderr == ""
        assert [line for line in self.lines if line["event"] == "error"] == []


@asynccontextmanager
async def peer(*args: str) -> AsyncIterator[Peer]:
    started = await Peer.start(*args)
    try:
        yield started
    finally:
        await started.quit()


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serverless_phone() -> AbstractAsyncContextManager[tuple[Phone, Events]]:
    """Alice's phone with no server at all (its REGISTERs go nowhere): it calls addresses straight."""
    return running_phone(PhoneAccount(f"sip:alice@127.0.0.1:{unused_port()}", "alice", PASSWORD, None, "udp"))


def call_in(state: CallState, **fields: object) -> Callable[[PhoneEvent], bool]:
    def matches(event: PhoneEvent) -> bool:
        if not isinstance(event, CallEvent) or event.digit or event.call.state is not state:
            return False
        return all(getattr(event.call, key) == value for key, value in fields.items())

    return matches


async def call_event(events: Events, state: CallState, *, after: int = 0, **fields: object) -> CallInfo:
    event = await events.until(call_in(state, **fields), after=after)
    assert isinstance(event, CallEvent)
    return event.call


async def media_flows(phone: Phone, call: CallInfo, other: Peer) -> None:
    """RTP packets went both ways, as each end counts them (after a second of null-device frames)."""
    await asyncio.sleep(1.0)
    counts = phone.media_counts(call.id)
    assert counts.sent > 0
    assert counts.received > 0
    theirs = await other.event("counts", after=other.send("counts"))
    assert int(theirs["sent"]) > 0
    assert int(theirs["received"]) > 0


async def confirmed_call(phone: Phone, events: Events, other: Peer, uri: str) -> CallInfo:
    """`phone` calls `uri`, `other` rings and answers: the call as the phone sees it once confirmed."""
    mark = other.mark()
    placed = phone.call(uri)
    assert placed.direction is CallDirection.OUTGOING
    assert placed.state is CallState.CALLING
    assert placed in phone.calls
    incoming = await other.event("incoming", after=mark)
    assert "sip:alice@" in str(incoming["remote"])
    await call_event(events, CallState.RINGING, id=placed.id)
    other.send("answer")
    call = await call_event(events, CallState.CONFIRMED, id=placed.id)
    await other.event("state", state="CONFIRMED", after=mark)
    assert call.connected is not None
    return call


# ------------------------------------------------------------------------------------------- straight calls


async def test_a_call_straight_to_an_address_talks_mutes_holds_sends_dtmf_and_is_hung_up(capfd):
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob:
        call = await confirmed_call(phone, events, bob, bob.uri)
        await media_flows(phone, call, bob)

        mark = events.mark()
        phone.set_muted(call.id, True)
        assert (await call_event(events, CallState.CONFIRMED, after=mark, muted=True)).id == call.id
        phone.set_muted(call.id, False)
        await call_event(events, CallState.CONFIRMED, after=mark, muted=False)

        lines = bob.mark()
        phone.send_dtmf(call.id, "4#")
        await bob.event("dtmf", digit="4", after=lines)
        await bob.event("dtmf", digit="#", after=lines)
        mark = events.mark()
        bob.send("dtmf", digits="7")
        digit = await events.until(lambda event: isinstance(event, CallEvent) and event.digit == "7", after=mark)
        assert digit.call.id == call.id

        lines, mark = bob.mark(), events.mark()
        phone.set_held(call.id, True)
        held = await call_event(events, CallState.ON_HOLD, after=mark)
        assert (held.held, held.held_by_them) == (True, False)
        await bob.event("media", status="REMOTE_HOLD", after=lines)  # bob's side hears nothing more: sendonly
        lines = bob.mark()
        phone.set_held(call.id, False)
        await call_event(events, CallState.CONFIRMED, after=mark, held=False)
        await bob.event("media", status="ACTIVE", after=lines)

        mark = events.mark()
        bob.send("hold")
        await call_event(events, CallState.ON_HOLD, after=mark, held=False, held_by_them=True)

        lines, mark = bob.mark(), events.mark()
        phone.hang_up(call.id)
        ended = await call_event(events, CallState.ENDED, after=mark)
        assert ended.end_reason == "hung up by you"
        assert ended.duration(time.time()) == ended.duration(0.0) > 1.0
        await bob.event("state", state="DISCONNECTED", after=lines)
        assert phone.calls == ()
    assert capfd.readouterr() == ("", "")


async def test_the_other_side_hangs_up():
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob:
        call = await confirmed_call(phone, events, bob, bob.uri)
        mark = events.mark()
        bob.send("hangup")
        ended = await call_event(events, CallState.ENDED, after=mark, id=call.id)
        assert (ended.end_reason, ended.end_code) == ("hung up by them", 200)


@pytest.mark.parametrize(("code", "words"), [(486, "busy"), (603, "declined")])
async def test_a_refused_call_says_why(code, words):
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob:
        lines = bob.mark()
        placed = phone.call(bob.uri)
        await bob.event("incoming", after=lines)
        bob.send("decline", code=code)
        ended = await call_event(events, CallState.ENDED, id=placed.id)
        assert (ended.end_reason, ended.end_code, ended.answered) == (words, code, False)


async def test_a_call_cancelled_while_it_rings():
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob:
        lines = bob.mark()
        placed = phone.call(bob.uri)
        await call_event(events, CallState.RINGING, id=placed.id)
        phone.hang_up(placed.id)
        ended = await call_event(events, CallState.ENDED, id=placed.id)
        assert ended.end_reason == "cancelled"
        await bob.event("state", state="DISCONNECTED", code=487, after=lines)


async def test_bad_requests_are_one_line_errors():
    async with serverless_phone() as (phone, _):
        with pytest.raises(PhoneError, match="cannot call 'bob'"):
            phone.call("bob")
        with pytest.raises(PhoneError, match="there is no call 42"):
            phone.hang_up(42)
        with pytest.raises(PhoneError, match="not DTMF"):
            phone.send_dtmf(42, "12x")
    with pytest.raises(PhoneError, match="the phone is not running"):
        phone.call("sip:bob@127.0.0.1")


async def test_placing_a_second_call_holds_the_first():
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob, peer(*peer_command()) as carol:
        first = await confirmed_call(phone, events, bob, bob.uri)
        mark, lines = events.mark(), bob.mark()
        second = await confirmed_call(phone, events, carol, carol.uri)
        await call_event(events, CallState.ON_HOLD, after=mark, id=first.id, held=True)
        await bob.event("media", status="REMOTE_HOLD", after=lines)
        assert [call.state for call in phone.calls] == [CallState.ON_HOLD, CallState.CONFIRMED]
        phone.hang_up(second.id)
        await call_event(events, CallState.ENDED, after=mark, id=second.id)
        assert phone.calls[0].state is CallState.ON_HOLD  # the first waits for the user to take it back


async def test_an_audio_device_that_is_not_there_is_a_one_line_error(capfd):
    account = PhoneAccount(f"sip:alice@127.0.0.1:{unused_port()}", "alice", PASSWORD, None, "udp")
    phone = Phone(account, on_event=Events(), audio_device="no such device")
    with pytest.raises(PhoneError, match=r"^no audio device named 'no such device'; there are: "):
        await phone.start()
    async with serverless_phone() as (started, _):  # the process may start a phone again
        assert all(device.name for device in started.audio_devices())
    assert capfd.readouterr() == ("", "")


async def shut_down_with_a_call_up(phone: Phone, events: Events, bob: Peer, capfd: pytest.CaptureFixture) -> None:
    """The call ends on both sides, as hung up by the user; the time the shutdown took is printed."""
    call = await confirmed_call(phone, events, bob, bob.uri)
    lines = bob.mark()
    began = time.perf_counter()
    await phone.shutdown()
    took = time.perf_counter() - began
    ended = await call_event(events, CallState.ENDED, id=call.id)
    assert ended.end_reason == "hung up by you"
    await bob.event("state", state="DISCONNECTED", code=200, after=lines)
    assert phone.calls == ()
    assert capfd.readouterr() == ("", "")
    with capfd.disabled():
        print(f"\nshutdown with a call up: {took * 1000:.0f} ms")  # measured, not asserted


async def test_shutting_down_with_a_call_up_hangs_it_up(capfd):
    async with serverless_phone() as (phone, events), peer(*peer_command()) as bob:
        await shut_down_with_a_call_up(phone, events, bob, capfd)
    assert capfd.readouterr() == ("", "")


# --------------------------------------------------------------------------------------- through the server


@pytest.fixture
def server(tmp_path) -> Iterator[SmartbookServer]:
    accounts = [("alice", None), ("bob", BOB_NUMBER), ("carol", None), ("dave", None)]
    with run_smartbook_server(tmp_path / "server", accounts=accounts) as running:
        yield running
        assert "Traceback" not in running.log


def registered_peer(server: SmartbookServer, user: str, *extra: str) -> AbstractAsyncContextManager[Peer]:
    command = peer_command(transport="tcp", server_port=server.sip[1], user=user)
    return peer(*command, "--password-file", str(server.password_file), *extra)


@pytest.mark.parametrize("target", ["sip:bob@127.0.0.1", f"sip:{BOB_NUMBER}@127.0.0.1;user=phone"])
async def test_a_call_through_the_server_by_name_and_by_number(server, target):
    async with running_phone(account_of(server, "alice")) as (phone, events), registered_peer(server, "bob") as bob:
        await events.until(registration(RegistrationState.REGISTERED))
        call = await confirmed_call(phone, events, bob, target)
        await media_flows(phone, call, bob)
        lines = bob.mark()
        phone.hang_up(call.id)
        assert (await call_event(events, CallState.ENDED, id=call.id)).end_reason == "hung up by you"
        await bob.event("state", state="DISCONNECTED", after=lines)


async def test_an_incoming_call_rings_with_the_caller_and_is_answered_or_declined(server):
    async with (
        running_phone(account_of(server, "alice")) as (phone, events),
        registered_peer(server, "bob", "--name", "Bob Builder") as bob,
    ):
        await events.until(registration(RegistrationState.REGISTERED))
        lines = bob.send("call", uri="sip:alice@127.0.0.1")
        ringing = await call_event(events, CallState.INCOMING)
        assert ringing.direction is CallDirection.INCOMING
        assert (ringing.remote_uri, ringing.remote_name) == ("sip:bob@127.0.0.1", "Bob Builder")
        await bob.event("state", state="EARLY", code=180, after=lines)
        phone.answer(ringing.id)
        await call_event(events, CallState.CONFIRMED, id=ringing.id)
        await bob.event("state", state="CONFIRMED", after=lines)
        mark = events.mark()
        bob.send("hangup")
        assert (await call_event(events, CallState.ENDED, after=mark)).end_reason == "hung up by them"

        mark, lines = events.mark(), bob.send("call", uri="sip:alice@127.0.0.1")
        ringing = await call_event(events, CallState.INCOMING, after=mark)
        phone.decline(ringing.id, busy=True)
        await bob.event("state", state="DISCONNECTED", code=486, after=lines)
        assert (await call_event(events, CallState.ENDED, after=mark)).end_reason == "busy"


async def test_answering_a_second_call_holds_the_first(server):
    async with (
        running_phone(account_of(server, "alice")) as (phone, events),
        registered_peer(server, "bob") as bob,
        registered_peer(server, "carol") as carol,
    ):
        await events.until(registration(RegistrationState.REGISTERED))
        first = await confirmed_call(phone, events, bob, "sip:bob@127.0.0.1")
        mark, lines = events.mark(), bob.mark()
        carol.send("call", uri="sip:alice@127.0.0.1")
        second = await call_event(events, CallState.INCOMING, after=mark)
        assert second.remote_uri == "sip:carol@127.0.0.1"
        assert phone.calls[0].state is CallState.CONFIRMED  # the first goes on while the second rings
        phone.answer(second.id)
        await call_event(events, CallState.ON_HOLD, after=mark, id=first.id, held=True)
        await call_event(events, CallState.CONFIRMED, after=mark, id=second.id)
        await bob.event("media", status="REMOTE_HOLD", after=lines)


async def test_shutting_down_registered_with_a_call_up_hangs_it_up_and_unregisters(server, capfd):
    async with running_phone(account_of(server, "alice")) as (phone, events), registered_peer(server, "bob") as bob:
        await events.until(registration(RegistrationState.REGISTERED))
        await shut_down_with_a_call_up(phone, events, bob, capfd)
        assert phone.registration.state is RegistrationState.UNREGISTERED
    await asyncio.to_thread(server.wait_for_log, "sip:alice@127.0.0.1 unregisters")


@pytest.mark.parametrize(
    ("callee", "words"), [("sip:nobody@127.0.0.1", "not found"), ("sip:dave@127.0.0.1", "unavailable")]
)
async def test_an_unknown_or_offline_callee(server, callee, words):
    async with running_phone(account_of(server, "alice")) as (phone, events):
        await events.until(registration(RegistrationState.REGISTERED))
        placed = phone.call(callee)
        assert (await call_event(events, CallState.ENDED, id=placed.id)).end_reason == words


async def test_a_caller_with_a_wrong_password_is_refused_in_words(server):
    async with running_phone(account_of(server, "alice", password="not the password")) as (phone, events):
        await events.until(registration(RegistrationState.FAILED))
        placed = phone.call("sip:bob@127.0.0.1")
        assert (await call_event(events, CallState.ENDED, id=placed.id)).end_reason == "wrong password"


async def test_a_callee_with_two_devices_rings_on_both_and_the_other_stops_when_one_answers(server):
    async with (
        running_phone(account_of(server, "alice")) as (phone, events),
        registered_peer(server, "bob") as desk,
        registered_peer(server, "bob") as mobile,
    ):
        await events.until(registration(RegistrationState.REGISTERED))
        desk_lines, mobile_lines = desk.mark(), mobile.mark()
        placed = phone.call("sip:bob@127.0.0.1")
        await desk.event("incoming", after=desk_lines)
        await mobile.event("incoming", after=mobile_lines)
        mobile.send("answer")
        await call_event(events, CallState.CONFIRMED, id=placed.id)
        await desk.event("state", state="DISCONNECTED", code=487, after=desk_lines)  # cancelled by the server
        await mobile.event("state", state="CONFIRMED", after=mobile_lines)


async def test_the_app_rings_beside_another_pjsua_device_of_the_same_account_on_this_host(server, tmp_path):
    # the other keeps pjsua's instance, a hash of the host name: the app's own kept instance makes them two devices
    alice = dataclasses.replace(account_of(server, "alice"), instance=device_instance(tmp_path / "device-instance"))
    async with (
        running_phone(alice) as (_phone, events),
        registered_peer(server, "alice", "--host-instance") as other,
        registered_peer(server, "bob") as bob,
    ):
        await events.until(registration(RegistrationState.REGISTERED))
        lines = other.mark()
        bob.send("call", uri="sip:alice@127.0.0.1")
        await call_event(events, CallState.INCOMING)
        await other.event("incoming", after=lines)
