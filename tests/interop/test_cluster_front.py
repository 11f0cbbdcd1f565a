"""Nodes behind the Kamailio front (deploy/kamailio) sharing a real Redis, as an operator runs them.

* A node dies and its watchers do not notice: the node holding a watcher's subscription is killed (SIGKILL: no
  goodbye), another takes its dialogs over from Redis and sends the full state through the front, and the dialog
  lives on there, refreshes included.
* linphonec, unchanged, on one node, and a watcher of its user on another.
* A call between users registered on two nodes: the front sends the INVITE to the callee's node (it hashes on the
  user called, as on the user registering), which authenticates the caller and forks to the callee's phone; one
  addressed by number comes back from the node the number hashes to, with the caller asserted."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import SipResponse
from tests.interop.test_kamailio_front import (
    DOMAIN,
    USERS,
    Node,
    is_phase,
    phone,
    presence_of,
    registered_on,
    run_nodes,
    start_watch,
)
from tests.interop.test_proxy_calls import SDP, acknowledge_and_hang_up, answer
from tests.interop.test_server_linphonec import (
    ACCOUNTS,
    LIN_BOOK,
    card,
    phone_uri,
    wait_for_the_books_presence,
)
from tests.peers import require_binary
from tests.peers.kamailio_front import KamailioFront, run_kamailio_front
from tests.peers.linphonec import linphonec_session
from tests.peers.redis import run_redis
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD

BOB = f"sip:bob@{DOMAIN}"
TAKEOVER_LIMIT = 15.0  # a generous bound on the wait, not a measure: the test prints what it took


def cluster_args(redis_url: str) -> tuple[str, ...]:
    return ("--notify-interval", "0.2", "--min-expires", "2", "--cluster", redis_url, "--trusted-proxy", "127.0.0.1")


@contextmanager
def front_cluster(tmp_path: Path, count: int, users: Sequence[str]) -> Iterator[tuple[list[Node], KamailioFront]]:
    """Redis, `count` nodes holding `users` and the front before them."""
    with (
        run_redis(tmp_path / "redis") as redis,
        run_nodes(tmp_path, count, users, *cluster_args(redis.url)) as nodes,
        run_kamailio_front(tmp_path, [node.sip for node in nodes]) as front,
    ):
        yield nodes, front


def homes(front: KamailioFront, nodes: list[Node], users: Sequence[str]) -> dict[str, int]:
    """The node (1-based) each user's REGISTER lands on, each registered once through the front."""
    for user in users:
        with phone(front, user) as device:
            device.register(expires=60)
    return {user: registered_on(nodes, user)[0] for user in users}


def holder(nodes: list[Node], user: str) -> Node:
    [node] = [node for node in nodes if f"{user}@{DOMAIN}" in node.log and " subscribes to " in node.log]
    return node


async def test_a_dead_nodes_watchers_get_their_full_state_from_another_node_and_stay_subscribed(tmp_path: Path):
    with front_cluster(tmp_path, 3, ["alice", "bob"]) as (nodes, front):
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
    with front_cluster(tmp_path, 2, USERS) as (nodes, front):
        home = homes(front, nodes, USERS)
        caller = next(user for user in USERS if home[user] == 1)
        callee = next(user for user in USERS if home[user] == 2)
        with phone(front, caller) as calling, phone(front, callee) as called:
            calling.register()
            called.register()
            calling.call(f"sip:{callee}@{DOMAIN}", body=SDP)
            assert answer(called).body == SDP
            ok = calling.wait_for(200)
            assert isinstance(ok, SipResponse)
            assert ok.body == SDP
            acknowledge_and_hang_up(calling, called, ok)
        assert f"-> {callee}@{DOMAIN} (1 devices)" in nodes[1].log  # routed by the callee's node


@pytest.mark.peer("linphonec")
def test_linphonec_on_one_node_and_our_watcher_on_another(tmp_path: Path):
    """linphonec, unchanged, through the front: its book's users shown to it, and its live status shown to a
    watcher on the other node whom its book names (the gate, told across nodes), hidden from one it does not."""
    require_binary("linphonec", "linphone-cli")
    with front_cluster(tmp_path, 2, []) as (nodes, front):
        with Store.open(nodes[0].db) as store:
            for user, number in ACCOUNTS:
                store.add_account(user, DOMAIN, PASSWORD, number)
        home = homes(front, nodes, [user for user, _ in ACCOUNTS])
        listed = ("alice", "bob", "erin", "carol")  # in lin's book
        watcher = next(user for user in listed if home[user] != home["lin"])
        stranger = "frank"
        with linphonec_session(
            tmp_path / "linphonec",
            sip_port=front.port,
            vcards=LIN_BOOK,
            identity=f"sip:lin@{DOMAIN}",
            password=PASSWORD,
        ) as linphonec:
            wait_for_the_books_presence(linphonec)
            book = tmp_path / "book.vcf"
            book.write_text(card("Lin", "TEL;TYPE=cell:+33 6 33 33 33 33"))
            seen = {user: watch_lin(front, nodes[0], user, book) for user in (watcher, stranger)}
        assert (seen[watcher]["has_account"], seen[watcher]["status"]) == (True, "online"), (watcher, home)
        assert (seen[stranger]["has_account"], seen[stranger]["status"]) == (True, "unknown")


def watch_lin(front: KamailioFront, node: Node, user: str, book: Path) -> dict[str, object]:
    """What `smartbook watch --once` through the front, as `user` with `book`, says of lin's number."""
    command = [
        sys.executable, "-m", "smartbook_tui.cli", "watch", "--sip-uri", f"sip:{user}@{DOMAIN}",
        "--proxy", f"{front.address[0]}:{front.port}", "--password-file", str(node.password_file),
        "--vcard", str(book), "--once",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    lin = [line for line in lines if line.get("event") == "presence" and line.get("uri") == phone_uri("+33633333333")]
    assert lin, lines
    return lin[-1]


def test_a_call_by_phone_number_reaches_the_callee_registered_on_another_node(tmp_path: Path):
    """The front hashes the INVITE on the number, so it reaches a node that does not hold the callee's
    registration: that node authenticates the caller and sends it back through the front, addressed to the
    callee's username and asserting the caller (P-Asserted-Identity), to the callee's node."""
    with front_cluster(tmp_path, 2, USERS) as (nodes, front):
        home = homes(front, nodes, USERS)
        caller, callee = USERS[0], next(user for user in USERS[1:] if home[user] != home[USERS[0]])
        number = next(n for n in NUMBERS if hashed_to(front, nodes, n) != home[callee])
        nodes[0].admin("account", "set", callee, "--phone", number)
        with phone(front, caller) as calling, phone(front, callee) as called:
            called.register()
            calling.call(f"sip:{number}@{DOMAIN};user=phone", body=SDP)
            invite = answer(called)
            assert invite.headers.get("P-Asserted-Identity") == f"<sip:{caller}@{DOMAIN}>"
            ok = calling.wait_for(200)
            assert isinstance(ok, SipResponse)
            acknowledge_and_hang_up(calling, called, ok)
        assert f"-> {number}: not registered here, back to the front" in nodes[2 - home[callee]].log
        assert f"-> {callee}@{DOMAIN} (1 devices)" in nodes[home[callee] - 1].log


def test_a_client_cannot_assert_its_own_identity_through_the_front(tmp_path: Path):
    with (
        front_cluster(tmp_path, 1, USERS[:2]) as (_, front),
        phone(front, USERS[0]) as forger,
        phone(front, USERS[1]) as called,
    ):
        called.register()
        invite = forger.request("INVITE", f"sip:{USERS[1]}@{DOMAIN}")
        invite.headers.add("P-Asserted-Identity", f"<sip:{USERS[0]}@{DOMAIN}>")
        forger.send(invite)
        assert forger.final_to(invite).status == 407  # the front took the header off: credentials needed


NUMBERS = [f"+3361234567{digit}" for digit in range(10)]


def hashed_to(front: KamailioFront, nodes: list[Node], number: str) -> int:
    """The node (1-based) the front sends a request for `number` to, from its log of an OPTIONS sent there."""
    with phone(front, "nobody") as probe:
        options = probe.request("OPTIONS", f"sip:{number}@{DOMAIN};user=phone")
        probe.send(options)
        probe.final_to(options)
    line = [line for line in front.log().splitlines() if f"for '{number}' -> " in line][-1]
    return next(index for index, node in enumerate(nodes, start=1) if line.endswith(f"sip:{node.proxy}"))


def test_a_user_registered_through_a_node_that_died_can_still_be_called(tmp_path: Path):
    """Registrations stay valid until they expire: the node a call for the user now reaches reads them from Redis."""
    with front_cluster(tmp_path, 2, USERS) as (nodes, front):
        home = homes(front, nodes, USERS)
        callee = USERS[0]
        caller = next(user for user in USERS if home[user] != home[callee])
        with phone(front, caller) as calling, phone(front, callee) as called:
            called.register()
            time.sleep(0.5)  # (written to Redis: a node killed within milliseconds of a REGISTER loses it)
            nodes[home[callee] - 1].stop(signal.SIGKILL)
            calling.call(f"sip:{callee}@{DOMAIN}", body=SDP)  # the front finds the node dead and tries the other
            assert answer(called).body == SDP
            ok = calling.wait_for(200)
            assert isinstance(ok, SipResponse)
            acknowledge_and_hang_up(calling, called, ok)
        assert f"-> sip:{callee}@{DOMAIN}, registered through another node" in nodes[2 - home[callee]].log
