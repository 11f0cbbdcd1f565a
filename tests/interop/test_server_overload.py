"""The server under more UDP load than it can handle (single-presentity subscriptions: many publishers, each watched
by every watcher): every PUBLISH is answered, 2xx or 503 with Retry-After, none silently dropped; and once the
publishers stop, every watcher has been sent each publisher's last state (intermediate ones may be skipped)."""

from __future__ import annotations

import asyncio
import time

from tests.peers.smartbook_server import PASSWORD, SmartbookServer

from .overload_load import Endpoint, Publisher, Watcher, fetch_flood, write_accounts

PUBLISHERS = 30  # each watcher subscribes to every publisher: within the 32 subscriptions of an account
WATCHERS = 40
LOAD_SECONDS = 8.0
FLOOD_RATE = 2500.0  # new SUBSCRIBEs a second on top: far more than the server can serve, far less than it can refuse
ANSWER_TIMEOUT = 10.0  # a PUBLISH unanswered this long was dropped: the server answers within its lag
SETTLE_TIMEOUT = 60.0


async def overload(server: SmartbookServer) -> tuple[list[Publisher], list[Watcher]]:
    publishers = [Publisher(await Endpoint.open(f"p{n}", PASSWORD, server.sip)) for n in range(PUBLISHERS)]
    watchers = [Watcher(await Endpoint.open(f"w{n}", PASSWORD, server.sip)) for n in range(WATCHERS)]
    for publisher in publishers:  # an initial state, before anyone subscribes
        await publisher.publish_until_accepted(ANSWER_TIMEOUT)

    async def subscribe_all(watcher: Watcher) -> None:
        for publisher in publishers:
            assert await watcher.subscribe(publisher.endpoint.user, ANSWER_TIMEOUT)

    await asyncio.gather(*(subscribe_all(watcher) for watcher in watchers))
    stop = time.monotonic() + LOAD_SECONDS

    async def keep_publishing(publisher: Publisher) -> None:
        while time.monotonic() < stop:
            await publisher.publish(ANSWER_TIMEOUT)
        await publisher.publish_until_accepted(ANSWER_TIMEOUT)

    flooder = await Endpoint.open("f0", PASSWORD, server.sip)
    await asyncio.gather(
        fetch_flood(flooder, f"sip:p0@{server.domain}", FLOOD_RATE, LOAD_SECONDS),
        *(keep_publishing(publisher) for publisher in publishers),
    )
    flooder.close()
    last = {publisher.endpoint.user: publisher.accepted for publisher in publishers}
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline and any(watcher.seen != last for watcher in watchers):
        await asyncio.sleep(0.2)
    for endpoint in [*(p.endpoint for p in publishers), *(w.endpoint for w in watchers)]:
        endpoint.close()
    return publishers, watchers


def test_under_overload_every_publish_is_answered_and_every_last_state_arrives(tmp_path):
    server = SmartbookServer(tmp_path / "server", ("--udp-rate", "0", "--rate-limit", "0", "--log-level", "INFO"))
    write_accounts(
        server.db, [f"p{n}" for n in range(PUBLISHERS)] + [f"w{n}" for n in range(WATCHERS)] + ["f0"], PASSWORD
    )
    server.start()
    try:
        publishers, watchers = asyncio.run(overload(server))
    finally:
        server.stop()
    sent = sum(publisher.sent for publisher in publishers)
    silent = sum(publisher.silent for publisher in publishers)
    statuses: dict[int, int] = {}
    for publisher in publishers:
        for status, count in publisher.answers.items():
            statuses[status] = statuses.get(status, 0) + count
    assert silent == 0, f"{silent} of {sent} PUBLISHes got no answer; answers: {statuses}"
    assert set(statuses) <= {200, 407, 503}, statuses
    assert statuses.get(503), f"the load did not overload the server: {statuses}"
    last = {publisher.endpoint.user: publisher.accepted for publisher in publishers}
    missed = [
        (watcher.endpoint.user, user, watcher.seen.get(user), state)
        for watcher in watchers
        for user, state in last.items()
        if watcher.seen.get(user) != state
    ]
    assert not missed, (
        f"{len(missed)} last states never reached their watcher, e.g. (watcher, publisher, seen, last): {missed[:5]}"
    )
    assert "new requests 503" in server.log
