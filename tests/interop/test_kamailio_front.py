"""Kamailio 5.6 in front of `smartbook server run` nodes, with the shipped deploy/kamailio/kamailio.cfg: clients
know only the front's address; it hashes each user's requests to one node, relays the nodes' NOTIFYs and calls
back out, and moves a dead node's users to a live one.

The nodes are real server processes sharing one SQLite database (the accounts); the clients are small UDP
phones (`tests.peers.sip_phone`), smartbook's PUBLISH helper and `smartbook watch`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartbook_tui.sip.message import SipRequest, SipResponse
from tests.interop.test_proxy_calls import SDP, acknowledge_and_hang_up, answer, cancel_of
from tests.interop.test_server_watch import is_phase, presence_of
from tests.peers.json_lines import JsonLines
from tests.peers.kamailio_front import KamailioFront, run_kamailio_front
from tests.peers.sip_phone import SipPhone
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer

pytestmark = pytest.mark.peer("kamailio")

# Short waits: coalesced NOTIFYs 0.2 s apart; subscriptions as short as 2 s, to see one refreshed.
FAST = ("--notify-interval", "0.2", "--min-expires", "2")
FAILOVER_LIMIT = 15.0  # a generous bound on the wait, not a measure: the test prints what it took


@dataclass
class Node(SmartbookServer):
    """One node: a server whose database is `store`, the file every node of the test shares."""

    store: Path = Path()

    @property
    def db(self) -> Path:
        return self.store


@contextmanager
def run_nodes(directory: Path, count: int, users: Sequence[str], *extra_args: str) -> Iterator[list[Node]]:
    """`count` started nodes on one database holding `users`' accounts; stopped at the end."""
    store = directory / "shared.sqlite3"
    nodes = [Node(directory / f"node{number}", extra_args, store=store) for number in range(1, count + 1)]
    for user in users:
        nodes[0].add_account(user)
    with ExitStack() as stack:
        for node in nodes:
            node.start()
            stack.callback(node.stop)
        yield nodes
        for node in nodes:
            assert "Traceback" not in node.log, node.log[-4000:]


def phone(front: KamailioFront, user: str) -> SipPhone:
    return SipPhone(front.address, user, PASSWORD, DOMAIN)


def registered_on(nodes: Sequence[Node], user: str) -> list[int]:
    """The numbers (1-based) of the nodes that logged a registration of `user`."""
    line = f"sip:{user}@{DOMAIN} registers "
    return [number for number, node in enumerate(nodes, start=1) if line in node.log]


# ---------------------------------------------------------------------------------------------- one node


class Watch(JsonLines):
    """`smartbook watch` through the front, its JSON lines read as they come."""

    @property
    def phases(self) -> list[object]:
        return [line["phase"] for line in self.lines if line.get("event") == "state"]


async def start_watch(front: KamailioFront, node: Node, user: str, transport: str, *args: str) -> Watch:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartbook_tui.cli", "watch",
        "--sip-uri", f"sip:{user}@{DOMAIN}", "--proxy", f"{front.address[0]}:{front.port}", "--transport", transport,
        "--password-file", str(node.password_file), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Watch(process, "watch")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_watch_a_list_publish_and_refresh_through_the_front(tmp_path: Path, transport: str) -> None:
    """The watcher on UDP or TCP; the front talks UDP to the node, and relays the node's NOTIFYs back on the
    watcher's own transport (over TCP, on the watcher's connection)."""
    with (
        run_nodes(tmp_path, 1, ["alice", "bob", "carol"], *FAST) as nodes,
        run_kamailio_front(tmp_path, [node.sip for node in nodes]) as front,
    ):
        (node,) = nodes
        with phone(front, "carol") as carol:
            carol.register()  # asserts the 200
        assert registered_on(nodes, "carol") == [1]
        assert f"registers sip:carol@{DOMAIN}:{carol.address[1]} from UDP 127.0.0.1:{front.port}" in node.log

        entries = tmp_path / "friends.txt"
        entries.write_text(f"sip:bob@{DOMAIN}\nsip:carol@{DOMAIN}\n")
        node.admin("list", "set", "alice", f"sip:friends@{DOMAIN}", "--entries", str(entries))
        node.admin("account", "set", "bob", "--public-presence")
        watch = await start_watch(
            front, node, "alice", transport, "--list-uri", f"sip:friends@{DOMAIN}", "--expires", "3"
        )
        try:
            # The list's first NOTIFY: the node sends it to the front, which relays it to alice's Contact.
            await watch.until(is_phase("active"))
            await watch.until(presence_of(f"sip:bob@{DOMAIN}", status="offline"))

            # bob publishes through the front; alice sees it, relayed the same way.
            mark = watch.mark()
            bob = Publisher(front.address, "bob", PASSWORD)
            assert await bob.publish("open", "at lunch") == 200
            seen = await watch.until(presence_of(f"sip:bob@{DOMAIN}", status="online"), after=mark)
            assert seen["note"] == "at lunch"

            # Past the first expiry only in-dialog refreshes through the front keep the subscription alive.
            await asyncio.sleep(4.0)
            mark = watch.mark()
            assert await bob.publish("open", "still here") == 200
            seen = await watch.until(presence_of(f"sip:bob@{DOMAIN}", status="online"), after=mark)
            assert seen["note"] == "still here"
            assert " ends: " not in node.log  # the node never let the subscription lapse
        finally:
            code, stderr = await watch.stop(signal.SIGINT)
        assert code == 0, stderr
        assert watch.phases.count("subscribing") == 1  # refreshed in its dialog, never subscribed anew
        assert "waiting" not in watch.phases
        assert watch.lines[-1] == {"event": "state", "phase": "stopped", "detail": "unsubscribed"}


# ---------------------------------------------------------------------------------------------- two nodes


USERS = [f"user{number}" for number in range(8)]


def test_each_user_lands_on_one_node_and_moves_when_it_dies(tmp_path: Path) -> None:
    with run_nodes(tmp_path, 2, USERS) as nodes, run_kamailio_front(tmp_path, [node.sip for node in nodes]) as front:
        for _ in range(2):
            for user in USERS:
                with phone(front, user) as device:
                    device.register(expires=60)
        homes = {user: registered_on(nodes, user) for user in USERS}
        assert all(len(home) == 1 for home in homes.values()), homes  # each user's REGISTERs on one node only
        assert {home[0] for home in homes.values()} == {1, 2}, homes  # and the users spread over both
        print(f"\nhomes: {homes}")

        victim, bystander = [user for user, home in homes.items() if home == [1]][:2]

        # A request reaching a dead node before the probes noticed: after the node's 2 s timeout, the next node.
        nodes[0].stop(signal.SIGKILL)
        killed = time.monotonic()
        with phone(front, victim) as device:
            device.register(expires=60)  # asserts the 200, waiting up to 10 s for it
        print(f"{victim}'s REGISTER right after node 1 died: 200 from node 2 after {time.monotonic() - killed:.2f} s")
        assert registered_on(nodes, victim) == [1, 2]
        assert f"node sip:{nodes[0].proxy} failed (408) for REGISTER" in front.log(), front.log()[-3000:]

        # Node 1 back on its port: once it answers the front's probes, its users come back to it.
        registrations = nodes[0].log.count(f"sip:{victim}@{DOMAIN} registers ")
        up = f"node sip:{nodes[0].proxy} is up"
        ups = front.log().count(up)
        nodes[0].start()
        restarted = time.monotonic()
        wait_for_another(front, up, ups, since=restarted)
        print(f"node 1 back in the hash {time.monotonic() - restarted:.2f} s after it started again")
        with phone(front, victim) as device:
            device.register(expires=60)
        assert nodes[0].log.count(f"sip:{victim}@{DOMAIN} registers ") == registrations + 1

        # Dead with nobody sending to it: the probes alone take it out, then its users go straight to node 2.
        down = f"node sip:{nodes[0].proxy} is down"
        downs = front.log().count(down)
        nodes[0].stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for_another(front, down, downs, since=killed)
        print(f"node 1 out of the hash {time.monotonic() - killed:.2f} s after it died, by the probes alone")
        failovers = front.log().count("failed (408)")
        with phone(front, bystander) as device:
            device.register(expires=60)
        assert registered_on(nodes, bystander) == [1, 2]
        assert front.log().count("failed (408)") == failovers  # no request waited for the dead node


def wait_for_another(front: KamailioFront, text: str, seen: int, *, since: float) -> None:
    """Wait (up to a generous bound from `since`) until the front's log holds `text` more than `seen` times."""
    while front.log().count(text) <= seen:
        assert time.monotonic() - since < FAILOVER_LIMIT, f"no new {text!r} in:\n{front.log()[-3000:]}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- a call


@pytest.fixture(scope="module")
def call_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, KamailioFront]]:
    """One node holding alice and bob, behind a front: for the calls and messages between them."""
    directory = tmp_path_factory.mktemp("calls")
    with run_nodes(directory, 1, ["alice", "bob"]) as (node,), run_kamailio_front(directory, [node.sip]) as front:
        yield node, front


def test_a_call_through_the_front_and_a_node(call_front: tuple[Node, KamailioFront]) -> None:
    node, front = call_front
    with phone(front, "alice") as alice, phone(front, "bob") as bob:
        alice.register()
        bob.register()
        alice.call(f"sip:bob@{DOMAIN}", body=SDP)
        invite = answer(bob)
        assert invite.body == SDP
        # The front record-routed it on the way in and on the way out, the node in between.
        front_route = f"sip:127.0.0.1:{front.port};"
        routes = invite.headers.get_all("Record-Route")
        assert len(routes) == 3, routes
        assert front_route in routes[0], routes
        assert f"sip:{node.proxy};" in routes[1], routes
        assert front_route in routes[2], routes

        ok = alice.wait_for(200)
        assert isinstance(ok, SipResponse)
        assert ok.body == SDP
        acknowledge_and_hang_up(alice, bob, ok)
    assert "INVITE sip:alice@127.0.0.1 -> bob@127.0.0.1 (1 devices)" in node.log


def test_a_call_cancelled_while_ringing(call_front: tuple[Node, KamailioFront]) -> None:
    _, front = call_front
    with phone(front, "alice") as alice, phone(front, "bob") as bob:
        alice.register()
        bob.register()
        invite = alice.call(f"sip:bob@{DOMAIN}")
        ringing = bob.wait_for("INVITE")
        assert isinstance(ringing, SipRequest)
        bob.reply(ringing, 180, "Ringing")
        assert alice.response_to(invite).status in (100, 180)
        alice.send(cancel_of(invite))
        assert alice.final_to(invite).status == 487
        bob_cancel = bob.wait_for("CANCEL")
        assert isinstance(bob_cancel, SipRequest)
        bob.reply(bob_cancel, 200, "OK")
        bob.reply(ringing, 487, "Request Terminated")
        assert isinstance(bob.wait_for("ACK"), SipRequest)


def test_a_message_answered_after_the_node_timeout_still_arrives(call_front: tuple[Node, KamailioFront]) -> None:
    """The node passes a MESSAGE on and answers only with bob's answer: the front waits as long as for a phone,
    and the node stays in (a silent node is one that does not answer its REGISTERs or probes within 2 s)."""
    node, front = call_front
    with phone(front, "alice") as alice, phone(front, "bob") as bob:
        bob.register()
        message = alice.request("MESSAGE", f"sip:bob@{DOMAIN}")
        message.headers.add("Content-Type", "text/plain")
        message.body = b"lunch?"
        alice.send(message)
        challenge = alice.final_to(message)
        assert challenge.status == 407
        message = alice.with_credentials(message, challenge)
        alice.send(message)
        received = bob.wait_for("MESSAGE")
        assert isinstance(received, SipRequest)
        assert received.body == b"lunch?"
        time.sleep(3.0)  # a phone slower than the 2 s a node has to answer its own requests
        bob.reply(received, 200, "OK")
        assert alice.final_to(message).status == 200
    assert f"node sip:{node.proxy} failed" not in front.log()
