"""The answering phones (the demo users' calls, `smartbook_tui.phone.answering`) in a child process, registered
at `smartbook server run`, with the phone engine in this process: a call to one of them rings, is answered with
a tone (RTP comes in) and hung up by them; one of them calls the user, who sees who calls."""

from __future__ import annotations

import asyncio
import sys

import pytest

from smartbook_tui.phone.states import CallDirection, CallState, RegistrationState
from tests.interop.test_phone import account_of, registration, running_phone
from tests.interop.test_phone_calls import call_event
from tests.peers.json_lines import JsonLines
from tests.peers.pjsua2_buddy import REPO_ROOT
from tests.peers.smartbook_server import SmartbookServer, run_smartbook_server

pytestmark = pytest.mark.peer("pjsua2")


async def answering(server: SmartbookServer, *extra: str) -> JsonLines:
    command = [sys.executable, "-m", "tests.interop.answering_child", "--port", str(server.sip[1])]
    process = await asyncio.create_subprocess_exec(
        *command, "--password-file", str(server.password_file), "--user", "bob", *extra,
        cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    child = JsonLines(process, "the answering phones")
    await child.until(lambda line: line["event"] == "ready")
    return child


async def stop(child: JsonLines) -> None:
    assert child.process.stdin is not None
    child.process.stdin.close()
    returncode, stderr = await child.stop(0)  # no signal: closing its input stops it
    assert (returncode, stderr) == (0, "")
    assert child.lines[-1] == {"event": "stopped"}


async def test_a_demo_user_answers_with_a_tone_and_hangs_up(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None), ("bob", None)]) as server:
        bob = await answering(server)
        try:
            async with running_phone(account_of(server, "alice")) as (phone, events):
                await events.until(registration(RegistrationState.REGISTERED))
                placed = phone.call("sip:bob@127.0.0.1")
                await call_event(events, CallState.RINGING, id=placed.id)
                await call_event(events, CallState.CONFIRMED, id=placed.id)
                await asyncio.sleep(0.5)
                assert phone.media_counts(placed.id).received > 0  # the tone
                ended = await call_event(events, CallState.ENDED, id=placed.id)
                assert ended.end_reason == "hung up by them"
            await bob.until(lambda line: line.get("state") == "ended")
        finally:
            await stop(bob)


async def test_a_demo_user_calls_the_user(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None), ("bob", None)]) as server:
        async with running_phone(account_of(server, "alice")) as (phone, events):
            await events.until(registration(RegistrationState.REGISTERED))
            bob = await answering(server, "--call", "sip:alice@127.0.0.1")
            try:
                ringing = await call_event(events, CallState.INCOMING)
                assert (ringing.direction, ringing.remote_uri) == (CallDirection.INCOMING, "sip:bob@127.0.0.1")
                phone.answer(ringing.id)
                await call_event(events, CallState.CONFIRMED, id=ringing.id)
                assert (await call_event(events, CallState.ENDED, id=ringing.id)).end_reason == "hung up by them"
            finally:
                await stop(bob)
