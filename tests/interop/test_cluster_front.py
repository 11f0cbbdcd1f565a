"""Nodes behind the Kamailio front (deploy/kamailio) sharing a real Redis, as an operator runs them.

* A node dies and its watchers do not notice: the node holding a watcher's subscription is killed (SIGKILL: no
  goodbye), another takes its dialogs over from Redis and sends the full state through the front, and the dialog
  lives on there, refreshes included.
* A call between users registered on two nodes: the front sends the INVITE to the callee's node (it hashes on the
  user called, as on the user registering), which authenticates the caller and forks to the callee's phone."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from smartbook_tui.sip.message import SipRequest, SipResponse
from tests.interop.test_kamailio_front import (
    DOMAIN,
    SDP,
    USERS,
    Node,
    answer,
    is_phase,
    phone,
    presence_of,
    registered_on,
    run_nodes,
    start_watch,
)
from tests.peers.kamailio_front import run_kamailio_front
from tests.peers.redis import run_redis
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD

BOB = f"sip:bob@{DOMAIN}"
TAKEOVER_LIMIT = 15.0  # a generous bound on the wait, not a measure: the test prints what it took


def cluster_args(redis_url: str) -> tuple[str, ...]:
    return ("--notify-interval", "0.2", "--min-expires", "2", "--cluster", redis_url, "--trusted-proxy", "127.0.0.1")


def holder(nodes: list[Node], user: str) -> Node:
    [node] = [node for node in nodes if f"{user}@{DOMAIN}" in node.log and " subscribes to " in node.log]
    return node


async def test_a_dead_nodes_watchers_get_their_full_state_from_another_node_and_stay_subscribed(tmp_path: Path):
    with run_redis(tmp_path / "redis") as redis:
        args = (
            "--notify-interval",
            "0.2",
            "--min-expires",
            "2",
            "--cluster",
            redis.url,
            "--trusted-proxy",
            "127.0.0.1",
        )
        with (
            run_nodes(tmp_path, 3, ["alice", "bob"], *args) as nodes,
            run_kamailio_front(tmp_path, [node.sip for node in nodes]) as front,
        ):
            entries = tmp_path / "friends.txt"
            entries.write_text(f"{BOB}\n")
            nodes[0].admin("list", "set", "alice", f"sip:friends@{DOMAIN}", "--entries", str(entries))
            nodes[0].admin("account", "set", "bob", "--public-presence")
            watch = await start_watch(
                front, nodes[0], "alice", "udp", "--list-uri", f"sip:friends@{DOMAIN}", "--expires", "4"
            )
            try:
                await watch.until(is_phase("active"))
                bob = Publisher(front.address, "bob", PASSWORD)
                assert await bob.publish("open", "before") == 200
                await watch.until(presence_of(BOB, status="online", note="before"))
                dead = holder(nodes, "alice")
                await asyncio.sleep(0.5)  # (its dialog saved: a kill -9 loses at most the last 0.2 s)

                killed_at = time.monotonic()
                dead.stop(signal.SIGKILL)
                survivors = [node for node in nodes if node is not dead]
                mark = watch.mark()
                deadline = killed_at + TAKEOVER_LIMIT
                while not any("takes over its 1 subscription dialogs" in node.log for node in survivors):
                    assert time.monotonic() < deadline, [node.log[-2000:] for node in survivors]
                    await asyncio.sleep(0.05)
                taken_at = time.monotonic()
                # bob's phone publishes again (through the front, to whichever node lives): alice hears it in the
                # dialog she had, now held by the node that took it over.
                assert await bob.publish("open", "after") == 200
                await watch.until(presence_of(BOB, status="online", note="after"), after=mark, timeout=TAKEOVER_LIMIT)
                print(f"\ntakeover {taken_at - killed_at:.2f} s after the kill")

                await asyncio.sleep(5.0)  # past the dialog's expiry: refreshed through the front, to the new node
                mark = watch.mark()
                assert await bob.publish("closed") == 200
                await watch.until(presence_of(BOB, status="offline"), after=mark)
            finally:
                code, stderr = await watch.stop(signal.SIGINT)
            assert code == 0, stderr
            assert watch.phases.count("subscribing") == 1  # never subscribed anew: the dialog lived on
            assert "waiting" not in watch.phases


def test_a_call_between_users_registered_on_two_nodes(tmp_path: Path):
    with (
        run_redis(tmp_path / "redis") as redis,
        run_nodes(tmp_path, 2, USERS, *cluster_args(redis.url)) as nodes,
        run_kamailio_front(tmp_path, [node.sip for node in nodes]) as front,
    ):
        for user in USERS:
            with phone(front, user) as device:
                device.register(expires=60)
        homes = {user: registered_on(nodes, user) for user in USERS}
        caller = next(user for user, home in homes.items() if home == [1])
        callee = next(user for user, home in homes.items() if home == [2])
        with phone(front, caller) as calling, phone(front, callee) as called:
            calling.register()
            called.register()
            calling.call(f"sip:{callee}@{DOMAIN}", body=SDP)
            assert answer(called).body == SDP
            ok = calling.wait_for(200)
            assert isinstance(ok, SipResponse)
            assert ok.body == SDP
            calling.send(calling.caller_request("ACK", ok, cseq=ok.cseq[0]))
            assert isinstance(called.wait_for("ACK"), SipRequest)
            calling.send(calling.caller_request("BYE", ok))
            bye = called.wait_for("BYE")
            assert isinstance(bye, SipRequest)
            called.reply(bye, 200, "OK")
            assert isinstance(calling.wait_for(200), SipResponse)
        assert f"-> {callee}@{DOMAIN} (1 devices)" in nodes[1].log  # routed by the callee's node
