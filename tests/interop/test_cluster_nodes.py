"""Server nodes sharing their live state through a real Redis (`--cluster`), with one accounts database: each test
starts two or three `smartbook server run` processes and talks to each node directly (the proxy in front is
tests/interop/test_kamailio_front.py's). `smartbook watch` is the watcher, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.interop.test_server_watch import (
    ALICE,
    BOB,
    FAST,
    address,
    is_phase,
    phone,
    presence_of,
    start_watch,
    stop,
    vcard,
    write_book,
)
from tests.peers.redis import RedisServer, run_redis
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD, SmartbookServer

CAROL = "+33622222222"


@contextmanager
def cluster(tmp_path: Path, count: int) -> Iterator[tuple[RedisServer, list[SmartbookServer]]]:
    """Redis and `count` nodes over one database, alice and bob (and carol, no number yet) in it; node 0 makes the
    accounts (its database is everyone's)."""
    with ExitStack() as stack:
        redis = stack.enter_context(run_redis(tmp_path / "redis"))
        first = SmartbookServer(tmp_path / "node0", (*FAST, "--cluster", redis.url, "--node-id", "node0"))
        for user, number in (("alice", ALICE), ("bob", BOB), ("carol", None)):
            first.add_account(user, number)
        nodes = [first]
        for index in range(1, count):
            args = (*FAST, "--cluster", redis.url, "--node-id", f"node{index}", "--db", str(first.db))
            nodes.append(SmartbookServer(tmp_path / f"node{index}", args))
        for node in nodes:
            node.start()
            stack.callback(node.stop)
        yield redis, nodes


async def test_a_watcher_on_one_node_sees_a_publication_another_node_took(tmp_path):
    book = write_book(tmp_path / "alice.vcf", vcard("Bob", f"TEL:{BOB}"))
    bob_book = write_book(tmp_path / "bob.vcf", vcard("Alice", f"TEL:{ALICE}"))
    with cluster(tmp_path, 3) as (_, (node_a, node_b, node_c)):
        watch = await start_watch(node_a, "alice", "--vcard", str(book))
        bob_watch = await start_watch(node_b, "bob", "--vcard", str(bob_book))  # bob lists alice, on node B
        try:
            await watch.until(is_phase("active"))
            await bob_watch.until(is_phase("active"))
            # The gate on node A knows from node B that bob lists alice: his status shows (offline: nothing yet).
            await watch.until(presence_of(phone(BOB), has_account=True, status="offline"))
            bob_phone = Publisher(node_c.sip, "bob", PASSWORD)  # bob's phone publishes through node C
            mark = watch.mark()
            assert await bob_phone.publish("open", "at lunch") == 200
            seen = await watch.until(presence_of(phone(BOB), status="online"), after=mark)
            assert (seen["note"], seen["sip_address"]) == ("at lunch", address("bob"))
            mark = watch.mark()
            assert await bob_phone.publish("closed") == 200
            await watch.until(presence_of(phone(BOB), status="offline"), after=mark)
        finally:
            await stop(bob_watch)
            await stop(watch)


async def test_a_watcher_that_comes_later_gets_what_another_node_holds(tmp_path):
    book = write_book(tmp_path / "alice.vcf", vcard("Bob", f"TEL:{BOB}"))
    with cluster(tmp_path, 2) as (_, (node_a, node_b)):
        node_a.admin("account", "set", "bob", "--public-presence")
        assert await Publisher(node_b.sip, "bob", PASSWORD).publish("open", "in a meeting") == 200
        await asyncio.sleep(0.3)  # (written to Redis: the node writes as soon as its loop gets to it)
        watch = await start_watch(node_a, "alice", "--vcard", str(book))
        try:
            seen = await watch.until(presence_of(phone(BOB), status="online"))
            assert seen["note"] == "in a meeting"
        finally:
            await stop(watch)


async def test_a_number_linked_shows_on_every_node_and_a_redis_restart_is_caught_up(tmp_path):
    book = write_book(tmp_path / "alice.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Carol", f"TEL:{CAROL}"))
    with cluster(tmp_path, 2) as (redis, (node_a, node_b)):
        for user in ("bob", "carol"):
            node_a.admin("account", "set", user, "--public-presence")  # (node 0 holds the database)
        watch = await start_watch(node_a, "alice", "--vcard", str(book))
        try:
            await watch.until(presence_of(phone(CAROL), has_account=False))
            node_a.admin("account", "set", "carol", "--phone", CAROL)  # carol links her number
            await watch.until(presence_of(phone(CAROL), has_account=True, sip_address=address("carol")))

            bob_phone = Publisher(node_b.sip, "bob", PASSWORD)
            assert await bob_phone.publish("open", "before") == 200
            await watch.until(presence_of(phone(BOB), status="online", note="before"))
            redis.restart()  # everything Redis held is lost
            node_b.wait_for_log("is back", timeout=15.0)
            node_a.wait_for_log("is back", timeout=15.0)
            mark = watch.mark()
            assert await bob_phone.publish("open", "after") == 200  # heard again by node A
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=mark, timeout=20.0)
            # and what node B held was written again: a watcher that comes now sees it
            late = await start_watch(node_a, "bob", "--vcard", str(book))
            try:
                await late.until(presence_of(phone(BOB), status="online", note="after"))
            finally:
                await stop(late)
        finally:
            await stop(watch)
