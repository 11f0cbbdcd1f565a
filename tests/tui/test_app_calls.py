"""Calls from the app against the real parts: the app's pjsua2 phone (null audio) and a second pjsua2 endpoint in a
child process, both registered to smartbook's server, which routes the calls. Keys through Textual's pilot, the
screen read as a person reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from smartbook_tui.tui.screens.call_dialogs import IncomingCallDialog, NumberChooser
from smartbook_tui.tui.screens.call_log import CallLogScreen
from tests.interop.pjsua2_call_peer import peer_command
from tests.interop.test_phone_calls import Peer
from tests.peers.smartbook_server import SmartbookServer
from tests.tui.screen import call_bar, cursor_to, notifications, status_bar, wait_until
from tests.tui.test_app_live import SIZE, live

pytestmark = pytest.mark.peer("pjsua2")

ALICE = "sip:alice@127.0.0.1"


@asynccontextmanager
async def phone_of(server: SmartbookServer, user: str) -> AsyncIterator[Peer]:
    """A user whose number is in the book, on their own phone registered to the server."""
    command = peer_command(transport="tcp", server_port=server.sip[1], user=user)
    phone = await Peer.start(*command, "--password-file", str(server.password_file), "--name", f"{user} M.")
    try:
        await phone.event("registered")
        yield phone
    finally:
        await phone.quit()


def camille_phone(server: SmartbookServer) -> AbstractAsyncContextManager[Peer]:
    return phone_of(server, "camille")


def said(app, words: str) -> bool:
    return any(words in text for text in notifications(app))


async def test_a_contact_is_called_from_the_list_then_muted_held_resumed_and_hung_up(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot, camille_phone(server) as camille:
        await live(pilot)
        await cursor_to(pilot, "Camille Martin")
        lines = camille.mark()
        await pilot.press("enter")  # one number: no question asked
        await wait_until(pilot, "the call under way", lambda: "Camille Martin" in call_bar(app))
        await camille.event("incoming", after=lines)
        camille.send("answer")
        await wait_until(pilot, "the call answered", lambda: "talking" in call_bar(app))
        await pilot.press("m")
        await wait_until(pilot, "the microphone off", lambda: "muted" in call_bar(app))
        await pilot.press("o")
        await wait_until(pilot, "the call held", lambda: "on hold" in call_bar(app))
        await pilot.press("o")
        await wait_until(pilot, "the call resumed", lambda: "talking" in call_bar(app))
        await pilot.press("h")
        await camille.event("state", state="DISCONNECTED", after=lines)
        await wait_until(pilot, "the call bar gone", lambda: call_bar(app) == "")
        await wait_until(pilot, "the end said", lambda: said(app, "Call with Camille Martin ended"))


async def test_several_numbers_ask_which_and_a_number_nobody_has_says_not_found(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        await cursor_to(pilot, "Julien Bernard")
        await pilot.press("c")
        await wait_until(pilot, "the number chooser", lambda: isinstance(app.screen, NumberChooser))
        await pilot.press("enter")
        await wait_until(
            pilot,
            "the refusal",
            lambda: said(app, "Nobody on the service has the number or address you called for Julien Bernard"),
        )
        assert call_bar(app) == ""


async def test_an_incoming_call_shows_the_book_name_and_is_answered_or_declined(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot, camille_phone(server) as camille:
        await live(pilot)
        lines = camille.send("call", uri=ALICE)
        await wait_until(pilot, "the call ringing", lambda: isinstance(app.screen, IncomingCallDialog))
        assert app.screen.caller == "Camille Martin"  # the book's name, not the one her phone gives
        await pilot.press("a")
        await wait_until(pilot, "the call answered", lambda: "talking" in call_bar(app))
        await camille.event("state", state="CONFIRMED", after=lines)
        camille.send("hangup")
        await wait_until(pilot, "the call bar gone", lambda: call_bar(app) == "")

        lines = camille.send("call", uri=ALICE)
        await wait_until(pilot, "the call ringing again", lambda: isinstance(app.screen, IncomingCallDialog))
        await pilot.press("d")
        await camille.event("state", state="DISCONNECTED", code=603, after=lines)
        assert "registered" in status_bar(app)


async def test_a_missed_call_is_said_and_the_call_log_keeps_every_call_after_a_restart(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot, camille_phone(server) as camille:
        await live(pilot)
        lines = camille.send("call", uri=ALICE)
        await wait_until(pilot, "the call ringing", lambda: isinstance(app.screen, IncomingCallDialog))
        await camille.event("state", state="EARLY", after=lines)
        camille.send("hangup")  # she gives up before an answer
        await wait_until(pilot, "the dialog gone", lambda: not isinstance(app.screen, IncomingCallDialog))
        await wait_until(pilot, "the missed call said", lambda: said(app, "Missed call from Camille Martin"))
        await cursor_to(pilot, "Julien Bernard")
        await pilot.press("c", "enter")  # to his first number: nobody's
        await wait_until(pilot, "the refusal", lambda: said(app, "Nobody on the service has the number"))
        await pilot.press("q")

    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await live(pilot)
        await pilot.press("r")
        await wait_until(pilot, "the call log", lambda: isinstance(again.screen, CallLogScreen))
        shown = [str(option.prompt) for option in again.screen.query_one("#call-records").options]
        assert len(shown) == 2
        assert "Julien Bernard" in shown[0]
        assert "not found" in shown[0]
        assert "missed" in shown[1]
        assert "Camille Martin" in shown[1]


async def test_a_call_that_stops_ringing_under_another_goes_when_that_one_is_answered(make_app, server):
    app = make_app()
    pilot_and_phones = (app.run_test(size=SIZE, notifications=True), camille_phone(server), phone_of(server, "ines"))
    async with pilot_and_phones[0] as pilot, pilot_and_phones[1] as camille, pilot_and_phones[2] as ines:
        await live(pilot)
        lines = ines.send("call", uri=ALICE)
        await wait_until(pilot, "Inès's call", lambda: getattr(app.screen, "caller", "") == "Inès Durand")
        camille.send("call", uri=ALICE)
        await wait_until(pilot, "Camille's call", lambda: getattr(app.screen, "caller", "") == "Camille Martin")
        ines.send("hangup")  # she gives up while Camille's call is the one shown
        await ines.event("state", state="DISCONNECTED", after=lines)
        await wait_until(pilot, "the missed call said", lambda: said(app, "Missed call from Inès Durand"))
        await pilot.press("a")
        await wait_until(pilot, "Camille's call answered", lambda: "talking" in call_bar(app))
        await wait_until(pilot, "no dialog left", lambda: app.screen is app.main)
        await pilot.press("h")
        await wait_until(pilot, "the call bar gone", lambda: call_bar(app) == "")
