"""A node dies and its watchers do not notice: three nodes behind the Kamailio front (deploy/kamailio), sharing a real
Redis; the node holding a watcher's subscription is killed (SIGKILL: no goodbye), another takes its dialogs over
from Redis and sends the full state through the front, and the dialog lives on there, refreshes included."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.interop.test_kamailio_front import DOMAIN, Node, is_phase, presence_of, run_nodes, start_watch
from tests.peers.kamailio_front import run_kamailio_front
from tests.peers.redis import run_redis
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD

BOB = f"sip:bob@{DOMAIN}"
TAKEOVER_LIMIT = 15.0  # a generous bound on the wait, not a measure: the test prints what it took


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
