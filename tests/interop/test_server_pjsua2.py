"""A pjsua2 Buddy (one presentity, RFC 3856: no eventlist, no list body) against `smartbook server run`: what
another SIP stack's presence subscription sees of a user's PUBLISHed status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.peers.json_lines import JsonLines, Line
from tests.peers.pjsua2_buddy import REPO_ROOT, pjsua2_buddy_command
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD, run_smartbook_server


def buddy_state(**expected: object) -> Callable[[Line], bool]:
    def matches(line: Line) -> bool:
        return line.get("event") == "buddy" and all(line.get(key) == value for key, value in expected.items())

    return matches


@pytest.mark.peer("pjsua2")
async def test_a_pjsua2_buddy_sees_a_published_status_change(tmp_path):
    with run_smartbook_server(tmp_path / "server", "--notify-interval", "0.2", accounts=[("alice", None)]) as server:
        server.add_account("bob", "+33612345678", public=True)  # public: the gate lets alice see bob's status
        command = pjsua2_buddy_command(
            server.sip[1], user="alice", password_file=server.password_file, buddy=server.aor("bob")
        )
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        buddy = JsonLines(process, "the pjsua2 agent")
        bob = Publisher(server.sip, "bob", PASSWORD)
        try:
            assert (await buddy.until(lambda line: line.get("event") == "registered"))["code"] == 200
            # Subscribed, nothing published yet: bob is offline.
            await buddy.until(buddy_state(sub_state="ACTIVE", status="offline"))

            mark = buddy.mark()
            assert await bob.publish("open", "Gone fishing") == 200
            online = await buddy.until(buddy_state(status="online"), after=mark)
            assert online["note"] == "Gone fishing"
            assert online["sub_state"] == "ACTIVE"

            mark = buddy.mark()
            assert await bob.publish("closed") == 200
            offline = await buddy.until(buddy_state(status="offline"), after=mark)
            assert offline["sub_state"] == "ACTIVE"
        finally:
            code, stderr = await buddy.stop()
        log = server.log
    assert code == 0, stderr
    assert buddy.lines[-1] == {"event": "stopped"}
    assert "alice@127.0.0.1 subscribes to sip:bob@127.0.0.1 (presentity, 1 entries" in log  # not a list
