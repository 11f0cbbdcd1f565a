"""A whole book against `smartbook server run` on 127.0.0.1: split over list subscriptions when it is over the
server's limit, known complete only when every part of it has arrived, and not throttled for clients that are not
legacy Linphone."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from smartbook_tui.server.notifier import SPLIT_DELAY
from smartbook_tui.sip.aio import open_flow
from smartbook_tui.sip.auth import Credentials
from smartbook_tui.sip.message import SipMessage, SipResponse
from smartbook_tui.subscriber.book import SERVER_LIST_LIMIT, BookSubscription, ListLimits
from smartbook_tui.subscriber.machine import Phase, Status, SubscriptionConfig, Updates
from smartbook_tui.subscriber.runner import Event, Subscriber
from tests.interop.test_server_watch import FAST, by_uri, phone, vcard, watch_once, write_book
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

ALICE, BOB = "+33611111111", "+33612345678"
WAIT = 120.0  # seconds before a test gives up (a safety net, not a figure)
# A book of 20,000 numbers is more than the discovery quota lets an account check in a day: these tests are about
# splitting a book, so their servers check every number.
NO_QUOTA = ("--discovery-quota", "0")


def book(count: int) -> tuple[str, ...]:
    return tuple(phone(f"+3367{index:07d}") for index in range(count))


@dataclass
class Seen:
    """What a subscription told its owner, and the answers its connections read."""

    updates: dict[str, object] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    notifies_at: list[float] = field(default_factory=list)
    started: float = 0.0

    def on_event(self, event: Event) -> None:
        if isinstance(event, Updates):
            self.notifies_at.append(time.monotonic())
            for update in event.updates:
                self.updates[update.uri] = update
        else:
            self.statuses.append(event)


def config(server: SmartbookServer, resources: tuple[str, ...], user_agent: str = "smartbook") -> SubscriptionConfig:
    return SubscriptionConfig(
        server.aor("alice"),
        f"sip:rls@{server.domain}",
        resources,
        Credentials("alice", PASSWORD),
        user_agent=user_agent,
    )


def connector(server: SmartbookServer, seen: Seen):  # type: ignore[no-untyped-def]
    async def connect(on_message, on_lost):  # type: ignore[no-untyped-def]
        def deliver(message: SipMessage, _source: object) -> None:
            if isinstance(message, SipResponse) and message.cseq[1] == "SUBSCRIBE":
                seen.answers.append(message.status)
            on_message(message)

        return await open_flow("tcp", server.sip, on_message=deliver, on_lost=on_lost, max_body=16 * 1024 * 1024)

    return connect


async def until_complete(subscription: BookSubscription | Subscriber, seen: Seen) -> Phase:
    def on_event(event: Event) -> None:
        seen.on_event(event)
        if subscription.complete or (isinstance(event, Status) and event.phase is Phase.FAILED):
            subscription.stop()

    seen.started = time.monotonic()
    return await asyncio.wait_for(subscription.run(on_event), WAIT)


async def test_a_book_over_the_servers_limit_is_split_and_arrives_whole(tmp_path):
    numbers = book(20_000)  # the server takes 10,000 entries a list
    accounts = [("alice", ALICE), ("bob", "+33670000007"), ("carol", "+33670019999")]
    with run_smartbook_server(tmp_path / "server", *FAST, *NO_QUOTA, accounts=accounts) as server:
        seen, limits = Seen(), ListLimits()
        subscription = BookSubscription(
            config(server, numbers), connector(server, seen), transport="tcp", limits=limits
        )
        phase = await until_complete(subscription, seen)

        assert phase is Phase.STOPPED
        assert subscription.parts == 2
        assert seen.answers.count(413) == 1  # refused once, then never sent again as it was
        assert limits.get(f"sip:rls@{server.domain}") == 10_000  # what the server said it takes
        assert set(seen.updates) == set(numbers)
        assert [uri for uri, update in seen.updates.items() if update.summary.has_account] == [
            phone("+33670000007"),
            phone("+33670019999"),
        ]  # one user in each half
        done = [status for status in seen.statuses if status.complete]
        assert done[0].detail == "the state of all 20000 resources has arrived, over 2 list subscriptions"
        assert not any(status.phase is Phase.FAILED for status in seen.statuses)  # the 413 is no failure

        # The limit learnt is used from the start: the same book again is never refused.
        again = Seen()
        second = BookSubscription(config(server, numbers), connector(server, again), transport="tcp", limits=limits)
        await until_complete(second, again)
        assert 413 not in again.answers
        assert len(again.updates) == 20_000

        # A new session takes the server to take what smartbook's does, so its first launch is not refused either.
        fresh = Seen()
        third = BookSubscription(config(server, numbers), connector(server, fresh), transport="tcp",
                                 limits=ListLimits(SERVER_LIST_LIMIT))  # fmt: skip
        await until_complete(third, fresh)
        assert 413 not in fresh.answers
        assert third.parts == 2
        assert len(fresh.updates) == 20_000


async def test_once_waits_for_the_whole_book_sent_in_many_notifies(tmp_path):
    numbers = [f"+3367{index:07d}" for index in range(1000)]
    path = write_book(tmp_path / "book.vcf", *(vcard(f"Contact {n}", f"TEL;TYPE=cell:{n}") for n in numbers))
    accounts = [("alice", ALICE), ("bob", numbers[-1])]
    # 100 resources a NOTIFY: the full state comes in 10 of them.
    with run_smartbook_server(tmp_path / "server", *FAST, "--notify-max-resources", "100", accounts=accounts) as server:
        lines = await watch_once(server, "alice", "--vcard", str(path))

    seen = by_uri([line for line in lines if line.get("event") == "presence"])
    assert sorted(seen) == sorted(phone(number) for number in numbers)
    assert seen[phone(numbers[-1])]["has_account"] is True  # in the last NOTIFY
    states = [line for line in lines if line.get("event") == "state"]
    assert {"event": "state", "phase": "active", "detail": "the state of all 1000 resources has arrived"} in states
    assert lines[-1] == {"event": "state", "phase": "stopped", "detail": "unsubscribed"}


async def test_only_legacy_linphone_gets_its_full_state_spaced(tmp_path):
    numbers = book(1000)  # 5 NOTIFYs of 200 for an RFC client, 10 of 100 for a legacy one
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("bob", BOB)]) as server:
        legacy, rfc = Seen(), Seen()
        old = Subscriber(config(server, numbers, "Linphone/4.4 (belle-sip/4.4.0) LinphoneCore/5.1.0"),
                         connector(server, legacy), transport="tcp")  # fmt: skip
        await until_complete(old, legacy)
        new = Subscriber(config(server, numbers), connector(server, rfc), transport="tcp")
        await until_complete(new, rfc)
        log = server.log

    assert "(list, 1000 entries, legacy form" in log
    assert "(list, 1000 entries, RFC form" in log
    assert len(legacy.updates) == len(rfc.updates) == 1000
    assert len(legacy.notifies_at) == 10
    assert len(rfc.notifies_at) == 5
    # The server sends a legacy client its last piece no sooner than 9 x SPLIT_DELAY after it subscribed; the RFC
    # client gets its pieces back to back, well within the time that spacing would take for its 5.
    assert legacy.notifies_at[-1] - legacy.started >= 9 * SPLIT_DELAY
    assert rfc.notifies_at[-1] - rfc.started < 4 * SPLIT_DELAY


async def test_a_book_that_grows_over_the_limit_and_shrinks_back_changes_its_parts(tmp_path):
    small, big = book(5_000), book(20_000)  # big starts with small's numbers
    accounts = [("alice", ALICE), ("bob", "+33670019999")]  # in big only
    with run_smartbook_server(tmp_path / "server", *FAST, *NO_QUOTA, accounts=accounts) as server:
        seen, limits = Seen(), ListLimits()
        limits.learn(f"sip:rls@{server.domain}", 10_000)  # learnt earlier in the session
        subscription = BookSubscription(config(server, small), connector(server, seen), transport="tcp", limits=limits)
        steps = iter([big, small])
        parts: list[int] = []

        def on_event(event: Event) -> None:
            seen.on_event(event)
            if subscription.complete and isinstance(event, Status) and event.phase is Phase.ACTIVE:
                parts.append(subscription.parts)
                following = next(steps, None)
                if following is None:
                    subscription.stop()
                else:
                    subscription.replace_list(following)

        await asyncio.wait_for(subscription.run(on_event), WAIT)

    assert parts == [1, 2, 1]  # the book alone, then in two parts, then alone again
    assert 413 not in seen.answers  # the limit was known: nothing too large was ever sent
    assert set(seen.updates) == set(big)
    assert seen.updates[phone("+33670019999")].summary.has_account
    assert seen.statuses[-1].phase is Phase.STOPPED
