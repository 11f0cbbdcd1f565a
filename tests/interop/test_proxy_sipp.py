"""SIPp against `smartbook server run`'s call routing: SIPp calling SIPp through the server (uac/uas), an INVITE
flood (404 or 503 with Retry-After, never a crash, the call transactions back to zero), broken in-dialog requests
(483/400). Without SIPp the tests are skipped (failed under CI=true).

SIPp 3.6 answers only MD5 digest challenges and the server offers SHA-256 first, so SIPp's phones do not sign in:
the called one is registered by a test phone from the very address SIPp then listens on, and the caller is of
another domain (a call coming in, which needs no credentials)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.sip_phone import SipPhone
from tests.peers.sipp import run_sipp, start_sipp
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, run_smartbook_server

CALLS = 50


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", accounts=[("bob", None)]) as running:
        yield running
        assert "Traceback" not in running.log, running.log[-4000:]


def register_for_sipp(server: SmartbookServer, user: str) -> int:
    """Register `user` from a UDP port that is then left free for SIPp to listen on: the port."""
    phone = SipPhone(server.sip, user, PASSWORD, DOMAIN)
    phone.register()
    port = phone.address[1]
    phone.sock.close()  # still registered: calls for the user go to this port
    return port


def stop_and_count_transactions(server: SmartbookServer) -> int:
    server.stop(signal.SIGTERM)
    line = next(line for line in server.log.splitlines() if "call transactions in progress" in line)
    return int(line.split("stopping: ", 1)[1].split()[0])


def test_sipp_calls_sipp_through_the_server(server: SmartbookServer, tmp_path: Path) -> None:
    port = register_for_sipp(server, "bob")
    callee = start_sipp("uas_answer.xml", server.sip, tmp_path / "uas", "-p", str(port), "-m", str(CALLS))
    time.sleep(0.3)  # SIPp binds its port
    caller = run_sipp("uac_call.xml", server.sip, tmp_path / "uac", "-s", "bob", "-m", str(CALLS), "-r", "25")
    assert caller.process.returncode == 0, caller.stdout[-3000:]
    assert callee.wait() == 0, callee.stdout[-3000:]
    assert caller.statuses().count(200) == 2 * CALLS  # each INVITE and each BYE


def test_an_invite_flood_gets_404_or_503_and_leaves_no_transaction(server: SmartbookServer, tmp_path: Path) -> None:
    flood = run_sipp("invite_flood.xml", server.sip, tmp_path / "flood", "-s", "nobody", "-m", "800", "-r", "2000")
    statuses = flood.statuses()
    assert set(statuses) <= {100, 404, 503}, statuses
    refusals = [r for r in flood.responses if r.status == 503]
    assert refusals, f"no 503 among {len(statuses)} answers:\n{flood.stdout[-3000:]}"
    assert all((r.headers.get("Retry-After") or "").isdigit() for r in refusals)
    assert 404 in statuses
    with SipPhone(server.sip, "bob", PASSWORD, DOMAIN) as bob:
        bob.register()  # still serving
    # A flood loses datagrams both ways (socket buffers): an answer that never got its ACK is given up after 64*T1
    # (timer H), an acknowledged one after T4 (timer I).
    time.sleep(32 + 5 + 1)
    assert stop_and_count_transactions(server) == 0


def test_broken_in_dialog_requests_get_483_and_400(server: SmartbookServer, tmp_path: Path) -> None:
    broken = run_sipp("bad_in_dialog.xml", server.sip, tmp_path / "broken", "-s", "bob", "-m", "1")
    assert broken.process.returncode == 0, broken.stdout[-3000:]
    assert broken.statuses() == [483, 400, 400]
