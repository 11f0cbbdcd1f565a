"""Subscription dialogs that survive a restart: the store's part (schema version 4) and the core's (saved as they
are made, refreshed and ended; restored, each with its full state, by a core built over the same store)."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterator

import pytest

from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.saved_dialogs import RESERVE
from smartbook_tui.server.store import SCHEMA_VERSION, DialogProgress, SavedDialog, Store
from smartbook_tui.sip.message import SipRequest
from tests.peers import postgres
from tests.unit.test_server_core import (
    BOB_PHONE,
    DOMAIN,
    PASSWORD,
    Client,
    FakePeer,
    alias,
    list_state,
    make_server,
    pidf,
)

database = postgres.database  # the fixture: the store's tests run on SQLite and on PostgreSQL
UDP = FakePeer(transport="UDP", address=("198.51.100.7", 40000), connection=None)
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database, clock) -> Iterator[Store]:
    with Store.open(database, clock=clock) as opened:
        opened.add_account("alice", DOMAIN, PASSWORD)
        opened.add_account("bob", DOMAIN, PASSWORD, BOB_PHONE, public_presence=True)
        yield opened


def saved(call_id: str, *, expires_in: float = 600.0, watcher: str = "alice") -> SavedDialog:
    return SavedDialog(
        (call_id, "their-tag", "our-tag"),
        watcher,
        f"sip:rls@{DOMAIN}",
        "list",
        (alias(BOB_PHONE), f"sip:carol@{DOMAIN}"),
        False,
        True,
        ("198.51.100.7", 40000),
        f"<sip:{watcher}@{DOMAIN}>;tag=their-tag",
        f"<sip:rls@{DOMAIN}>;tag=our-tag",
        "sip:198.51.100.7:40000",
        expires_in,
        7,
        3,
    )


# ------------------------------------------------------------------------------------------------ the store


def test_a_version_3_file_is_migrated_with_its_data_kept(tmp_path):
    path = tmp_path / "old.sqlite3"
    with Store.open(path) as store:
        store.add_account("alice", DOMAIN, PASSWORD, "+33612345678", public_presence=True)
        store.set_list("alice", DOMAIN, f"sip:friends@{DOMAIN}", [alias(BOB_PHONE)])
        store.add_token("ab" * 32, "alice", DOMAIN, T0 + 60, T0)
    connection = sqlite3.connect(path, isolation_level=None)
    for table in ("subscription_dialogs", "publications", "registrations", "discovery", "discovery_sources"):  # v3
        connection.execute(f"DROP TABLE {table}")
    connection.execute("ALTER TABLE accounts DROP COLUMN discoverable")
    connection.execute("PRAGMA user_version = 3")
    connection.close()

    with Store.open(path, clock=lambda: T0) as store:
        alice = store.get_account("alice", DOMAIN)
        assert (alice.phone, alice.public_presence) == ("+33612345678", True)
        assert store.get_list("alice", DOMAIN, f"sip:friends@{DOMAIN}").entries == (alias(BOB_PHONE),)
        assert store.token_account("ab" * 32, T0).username == "alice"
        store.save_dialogs(DOMAIN, [saved("call-1")], [], [])
        assert [dialog.id for dialog in store.resume_dialogs(DOMAIN, RESERVE)] == [("call-1", "their-tag", "our-tag")]
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    connection.close()


def test_a_saved_dialog_comes_back_as_it_was_written(store, clock):
    store.save_dialogs(DOMAIN, [saved("call-1")], [], [])
    clock.now += 100
    [back] = store.resume_dialogs(DOMAIN, RESERVE)
    assert back == saved("call-1", expires_in=500.0)


def test_an_expired_dialog_is_not_restored_and_leaves_the_table(store, clock):
    store.save_dialogs(DOMAIN, [saved("short", expires_in=60), saved("long", expires_in=600)], [], [])
    clock.now += 61
    assert [dialog.id[0] for dialog in store.resume_dialogs(DOMAIN, RESERVE)] == ["long"]
    assert store._db.query("SELECT call_id FROM subscription_dialogs") == [("long",)]


def test_a_refresh_moves_the_expiry_and_an_end_removes_the_dialog(store, clock):
    store.save_dialogs(DOMAIN, [saved("kept", expires_in=60), saved("ended")], [], [])
    refreshed = DialogProgress(("kept", "their-tag", "our-tag"), 600.0, 50, 40)
    store.save_dialogs(DOMAIN, [], [refreshed], [("ended", "their-tag", "our-tag")])
    clock.now += 100
    [kept] = store.resume_dialogs(DOMAIN, RESERVE)
    assert (kept.id[0], kept.expires_in, kept.cseq, kept.version) == ("kept", 500.0, 50, 40)


def test_each_restore_moves_the_ceilings_on_so_that_two_crashes_never_repeat_a_cseq(store):
    store.save_dialogs(DOMAIN, [saved("call-1")], [], [])
    first = store.resume_dialogs(DOMAIN, RESERVE)[0]
    second = store.resume_dialogs(DOMAIN, RESERVE)[0]
    assert (first.cseq, first.version) == (7, 3)
    assert (second.cseq, second.version) == (7 + RESERVE, 3 + RESERVE)


def test_a_removed_watcher_takes_its_saved_dialogs_with_it(store):
    store.save_dialogs(DOMAIN, [saved("call-1"), saved("call-2", watcher="bob")], [], [])
    store.remove_account("alice", DOMAIN)
    assert [dialog.watcher for dialog in store.resume_dialogs(DOMAIN, RESERVE)] == ["bob"]


# ------------------------------------------------------------------------------------------------ the core


def subscribed(server: PresenceServer, peer: FakePeer = UDP, *, expires: int = 600) -> tuple[Client, str]:
    """alice subscribed to a list of bob, her full state answered; the server's tag."""
    alice = Client(server, "alice", peer)
    response = alice.subscribe_list([alias(BOB_PHONE)], expires=expires)
    assert response.status == 200
    alice.answer_all()
    return alice, response.to_tag or ""


def restarted(store: Store, now: float) -> tuple[PresenceServer, list[SipRequest]]:
    """A new core over the store (the old one killed: no shutdown), and the NOTIFYs it sends on its own."""
    server = make_server(store)
    watcher = Client(server, "alice", UDP)
    seen: list[SipRequest] = []
    for step in range(200):
        watcher.now = now + step * 0.01
        watcher.take(server.on_timer(watcher.now))
        seen += watcher.answer_all()
    return server, seen


def test_a_killed_server_restores_a_udp_dialog_and_sends_its_full_state_above_what_was_sent(store):
    server = make_server(store)
    alice, tag = subscribed(server)
    bob = Client(server, "bob", FakePeer(connection=9))
    assert bob.publish(pidf(f"sip:bob@{DOMAIN}", note="before")).status == 200
    alice.take(server.on_timer(2.0))  # the coalescing interval is over, and the batch written
    [before] = alice.answer_all()

    server, notifies = restarted(store, 5_000.0)
    [notify] = notifies
    assert (notify.call_id, notify.from_tag, notify.to_tag) == (before.call_id, tag, "alice-tag")
    assert notify.cseq[0] > before.cseq[0]
    state = list_state(notify)
    assert state.full_state
    assert state.version > list_state(before).version
    assert [resource.uri for resource in state.resources] == [alias(BOB_PHONE)]
    assert (notify.headers.get("Subscription-State") or "").startswith("active;expires=")

    # The dialog is live: a refresh in it is answered, and a PUBLISH reaches it.
    alice = Client(server, "alice", UDP)
    alice.now = 5_010.0
    refresh = alice.request(
        "SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "600"}, to_tag=tag
    )
    assert alice.send(refresh).status == 200


def test_a_dialog_a_proxy_record_routed_keeps_its_route_set_across_a_restart(store):
    """Behind a proxy (Kamailio in front of several nodes), the 200 gives the watcher the proxy as its route set, and
    every NOTIFY, restored ones too, carries it as Route (RFC 3261 12.1.1)."""
    proxy = ["<sip:192.0.2.50;lr;r2=on>", "<sip:192.0.2.50;transport=tcp;lr;r2=on>"]  # (one hop, two transports)
    server = make_server(store)
    alice = Client(server, "alice", UDP)
    response = alice.subscribe_list([alias(BOB_PHONE)], expires=600, headers={"Record-Route": ", ".join(proxy)})
    assert response.headers.get_all("Record-Route") == proxy
    [notify] = alice.answer_all()
    assert notify.headers.get_all("Route") == proxy
    server.on_timer(1.0)  # the batch written

    _, [restored] = restarted(store, 5_000.0)
    assert restored.headers.get_all("Route") == proxy
    assert list_state(restored).full_state


def test_a_refresh_before_its_turn_is_answered_in_its_dialog(store):
    server = make_server(store)
    _, tag = subscribed(server)
    server.on_timer(1.0)
    server = make_server(store)  # restarted, and the refresh comes before any timer
    alice = Client(server, "alice", UDP)
    alice.now = 50.0
    refresh = alice.request(
        "SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "600"}, to_tag=tag
    )
    assert alice.send(refresh).status == 200
    [notify] = alice.notifies  # its full state, once
    assert list_state(notify).full_state
    assert notify.cseq[0] > RESERVE


def test_a_tcp_dialog_is_not_saved(store):
    server = make_server(store)
    subscribed(server, FakePeer(transport="TCP", connection=3))
    server.on_timer(1.0)
    server, notifies = restarted(store, 10.0)
    assert (server.subscriptions, notifies) == (0, [])


def test_a_dialog_ended_by_its_subscriber_is_not_restored(store):
    server = make_server(store)
    alice, tag = subscribed(server)
    end = alice.request("SUBSCRIBE", f"sip:rls@{DOMAIN}", headers={"Event": "presence", "Expires": "0"}, to_tag=tag)
    assert alice.send(end).status == 200
    alice.answer_all()
    server.on_timer(1.0)
    server, notifies = restarted(store, 10.0)
    assert (server.subscriptions, notifies) == (0, [])


def test_an_expired_dialog_is_not_restored(store, clock):
    server = make_server(store)
    subscribed(server, expires=60)
    server.on_timer(1.0)
    clock.now += 61  # the server was down past the dialog's expiry
    server, notifies = restarted(store, 10.0)
    assert (server.subscriptions, notifies) == (0, [])


def test_a_dialog_ended_by_a_graceful_stop_is_not_restored(store):
    server = make_server(store)
    alice, _ = subscribed(server)
    server.on_timer(1.0)
    alice.take(server.shutdown(2.0))
    [last] = alice.notifies
    assert last.headers.get("Subscription-State") == "terminated;reason=probation;retry-after=5"
    server, notifies = restarted(store, 10.0)
    assert (server.subscriptions, notifies) == (0, [])


def test_many_dialogs_are_restored_in_slices_each_with_its_full_state(store):
    server = make_server(store, max_subscriptions_per_account=200)
    for number in range(100):
        alice = Client(server, "alice", FakePeer(transport="UDP", address=("198.51.100.7", 41000 + number)))
        alice.branches = itertools.count(number * 10)  # each phone its own transactions
        alice.subscribe_list([alias(BOB_PHONE)], expires=600)
    assert server.subscriptions == 100
    server.on_timer(1.0)
    restored = make_server(store, max_subscriptions_per_account=200)
    first = restored.on_timer(100.0)
    assert 0 < len(first) < 100  # not all at once: the sockets are read in between
    sends = first
    for step in range(1, 100):
        sends += restored.on_timer(100.0 + step * 0.01)
    assert len({send.peer.address for send in sends}) == 100  # type: ignore[attr-defined]


def test_a_saved_dialog_whose_values_would_break_its_notifies_is_dropped_and_the_others_restored(store, caplog):
    # its NOTIFYs carry the saved From, To, Call-ID and target as they are: an edited row must not inject headers
    damaged = dataclasses.replace(saved("damaged"), local="<sip:rls@x>;tag=our-tag\r\nX-Injected: 1")
    store.save_dialogs(DOMAIN, [damaged, saved("sound")], [], [])
    _, notifies = restarted(store, 5_000.0)
    assert [notify.call_id for notify in notifies] == ["sound"]
    assert "not restoring the subscription of alice" in caplog.text
    assert [dialog.id[0] for dialog in store.resume_dialogs(DOMAIN, RESERVE)] == ["sound"]
