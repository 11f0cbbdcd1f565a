"""Calls between the app and Linphone's own client (Debian's `linphonec`, liblinphone 5.1), both registered to
smartbook's server: linphonec calls the app's user, who answers from the app; the app calls linphonec from the list
by its number, which the server resolves to linphonec's account, and linphonec answers by itself. Both reach the
confirmed state with RTP flowing (linphonec streams a WAV file: with no sound card it sends nothing otherwise)."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from smartbook_tui.phone.states import CallState
from smartbook_tui.tui.screens.call_dialogs import IncomingCallDialog
from tests.peers.linphonec import LinphonecSession, linphonec_session, sip_trace
from tests.peers.smartbook_server import PASSWORD, SmartbookServer
from tests.tui.screen import call_bar, cursor_to, wait_until
from tests.tui.test_app_live import SIZE, live

pytestmark = pytest.mark.peer("linphonec")

LIN_NUMBER = "+33655501234"
LIN_CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Lin Phone\r\nTEL;TYPE=CELL:06 55 50 12 34\r\nEND:VCARD\r\n"


def tone_wav(path: Path, seconds: float = 30.0) -> Path:
    """A 440 Hz tone, 8 kHz mono 16-bit: what linphonec's `play` streams into a call."""
    rate = 8000
    samples = (int(8000 * math.sin(2 * math.pi * 440 * index / rate)) for index in range(int(rate * seconds)))
    frames = b"".join(struct.pack("<h", sample) for sample in samples)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(frames)
    return path


@contextmanager
def linphone(server: SmartbookServer, tmp_path: Path) -> Iterator[LinphonecSession]:
    server.add_account("lin", LIN_NUMBER)
    with linphonec_session(
        tmp_path / "linphonec",
        sip_port=server.sip[1],
        vcards="",
        identity=server.aor("lin"),
        password=PASSWORD,
        extra_rc={"sound": {"use_files": "1"}, "video": {"display": "0", "capture": "0"}},
    ) as lin:
        yield lin


def registered(lin: LinphonecSession) -> bool:
    return any(message.status == 200 and "REGISTER" in (message.header("CSeq") or "") for message in sip_trace(lin.log))


def media_flows(app) -> bool:
    """The app's call is confirmed and RTP went both ways."""
    phone = app.session.calls.phone
    calls = [call for call in phone.calls if call.state is CallState.CONFIRMED]
    if not calls:
        return False
    counts = phone.media_counts(calls[0].id)
    return counts.sent > 0 and counts.received > 0


async def test_linphonec_calls_the_app_which_answers(make_app, server, tmp_path):
    app = make_app()
    wav = tone_wav(tmp_path / "tone.wav")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        with linphone(server, tmp_path) as lin:
            await live(pilot)
            await wait_until(pilot, "linphonec registered", lambda: registered(lin))
            lin.command(f"call {server.aor('alice')}")
            await wait_until(pilot, "the call ringing", lambda: isinstance(app.screen, IncomingCallDialog))
            assert app.screen.address == server.aor("lin")
            await pilot.press("a")
            await wait_until(pilot, "the call answered", lambda: "talking" in call_bar(app))
            await wait_until(pilot, "linphonec connected", lambda: "connected" in lin.stdout)
            lin.command(f"play {wav}")
            await wait_until(pilot, "RTP both ways", lambda: media_flows(app))
            await pilot.press("h")
            await wait_until(pilot, "the call bar gone", lambda: call_bar(app) == "")
            await wait_until(pilot, "linphonec's end of the call", lambda: "ended" in lin.stdout.lower())


async def test_the_app_calls_linphonec_by_its_number_and_linphonec_answers(make_app, server, book, tmp_path):
    (book / "lin.vcf").write_text(LIN_CARD)
    app = make_app()
    wav = tone_wav(tmp_path / "tone.wav")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        with linphone(server, tmp_path) as lin:
            lin.command("autoanswer enable")
            await live(pilot)
            await wait_until(pilot, "linphonec registered", lambda: registered(lin))
            await cursor_to(pilot, "Lin Phone")
            await pilot.press("enter")
            await wait_until(pilot, "linphonec answering", lambda: "talking" in call_bar(app))
            await wait_until(pilot, "linphonec connected", lambda: "connected" in lin.stdout)
            lin.command(f"play {wav}")
            await wait_until(pilot, "RTP both ways", lambda: media_flows(app))
            lin.command("terminate")
            await wait_until(pilot, "the call bar gone", lambda: call_bar(app) == "")
