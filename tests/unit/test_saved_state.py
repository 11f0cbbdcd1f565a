"""Publications and registrations that survive a restart: the store's part (schema version 5) and the core's (saved
on each PUBLISH and REGISTER, restored by a core built over the same store before any saved dialog's full state)."""

from __future__ import annotations

import sqlite3

from smartbook_tui.presence import Availability, summarize
from smartbook_tui.server.saved_dialogs import RESERVE
from smartbook_tui.server.store import (
    SCHEMA_VERSION,
    PublicationChange,
    SavedBinding,
    SavedPublication,
    Store,
)
from smartbook_tui.sip.message import SipRequest
from smartbook_tui.sip.peer import Peer
from tests.unit.test_proxy import Net, Phone
from tests.unit.test_server_core import BOB_PHONE, DOMAIN, PASSWORD, Client, alias, make_server, pidf, views
from tests.unit.test_subscription_persist import T0, clock, database, saved, store

__all__ = ["clock", "database", "store"]  # the fixtures

BOB = f"sip:bob@{DOMAIN}"
BOB_UDP = Peer("UDP", ("198.51.100.8", 5062))
ALICE_UDP = Peer("UDP", ("198.51.100.7", 40000))


def publication(
    etag: str, *, expires_in: float = 600.0, username: str = "bob", device: str | None = None
) -> SavedPublication:
    return SavedPublication(
        username, f"sip:{username}@{DOMAIN}", etag, pidf(BOB, note=etag), "application/pidf+xml", device, expires_in
    )


def binding(contact: str, *, expires_in: float = 3600.0, username: str = "bob") -> SavedBinding:
    return SavedBinding(
        username, f"sip:{username}@{DOMAIN}", f"<{contact}>", "reg-1", 2, ("198.51.100.8", 5062), "pjsua2", expires_in
    )


# ------------------------------------------------------------------------------------------------ the store


def test_a_version_4_file_is_migrated_with_its_data_kept(tmp_path):
    path = tmp_path / "old.sqlite3"
    with Store.open(path, clock=lambda: T0) as store:
        store.add_account("bob", DOMAIN, PASSWORD, BOB_PHONE, public_presence=True)
        store.set_list("bob", DOMAIN, f"sip:friends@{DOMAIN}", [alias(BOB_PHONE)])
        store.save_dialogs(DOMAIN, [saved("call-1", watcher="bob")], [], [])
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DROP TABLE discovery")  # back to schema version 4...
    connection.execute("DROP TABLE discovery_sources")
    connection.execute("ALTER TABLE accounts DROP COLUMN discoverable")
    connection.execute("ALTER TABLE subscription_dialogs DROP COLUMN route")
    connection.execute("DROP TABLE publications")
    connection.execute("DROP TABLE registrations")
    connection.execute("PRAGMA user_version = 4")
    connection.close()

    with Store.open(path, clock=lambda: T0) as store:
        bob = store.get_account("bob", DOMAIN)
        assert (bob.phone, bob.public_presence) == (BOB_PHONE, True)
        assert store.get_list("bob", DOMAIN, f"sip:friends@{DOMAIN}").entries == (alias(BOB_PHONE),)
        assert [dialog.id[0] for dialog in store.resume_dialogs(DOMAIN, RESERVE)] == ["call-1"]
        store.save_state(DOMAIN, [publication("e1")], {"bob": [binding("sip:bob@198.51.100.8:5062")]})
        assert store.resume_state(DOMAIN) == ([publication("e1")], [binding("sip:bob@198.51.100.8:5062")])
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    connection.close()


def test_expired_publications_and_registrations_are_not_restored_and_leave_the_tables(store, clock):
    store.save_state(
        DOMAIN,
        [publication("short", expires_in=60), publication("long")],
        {"bob": [binding("sip:a@198.51.100.8", expires_in=60), binding("sip:b@198.51.100.8")]},
    )
    clock.now += 61
    publications, bindings = store.resume_state(DOMAIN)
    assert [p.etag for p in publications] == ["long"]
    assert [b.contact for b in bindings] == ["<sip:b@198.51.100.8>"]
    assert store._db.query("SELECT etag FROM publications") == [("long",)]
    assert store._db.query("SELECT contact FROM registrations") == [("<sip:b@198.51.100.8>",)]


def test_a_refresh_moves_a_publication_to_its_new_etag_and_a_removal_deletes_it(store, clock):
    store.save_state(DOMAIN, [publication("e1", expires_in=60), publication("gone")], {})
    store.save_state(DOMAIN, [PublicationChange("e1", "e2", 600.0), "gone"], {})
    clock.now += 100
    [kept], _ = store.resume_state(DOMAIN)
    assert (kept.etag, kept.expires_in, kept.body) == ("e2", 500.0, pidf(BOB, note="e1"))


def test_a_devices_new_publication_replaces_its_saved_one_even_once_it_is_removed(store):
    store.save_state(DOMAIN, [publication("before the phone restarted", device="urn:1")], {})
    store.save_state(DOMAIN, [publication("after", device="urn:1"), "after"], {})  # then it unpublishes
    assert store.resume_state(DOMAIN) == ([], [])


def test_an_accounts_registrations_are_replaced_as_a_whole(store):
    store.save_state(DOMAIN, [], {"bob": [binding("sip:a@198.51.100.8"), binding("sip:b@198.51.100.8")]})
    store.save_state(DOMAIN, [], {"bob": [binding("sip:c@198.51.100.8")]})
    assert [b.contact for b in store.resume_state(DOMAIN)[1]] == ["<sip:c@198.51.100.8>"]


def test_a_removed_account_takes_its_publications_and_registrations_with_it(store):
    store.save_state(
        DOMAIN,
        [publication("bob's"), publication("alice's", username="alice")],
        {"bob": [binding("sip:bob@198.51.100.8")], "alice": [binding("sip:alice@198.51.100.7", username="alice")]},
    )
    store.remove_account("bob", DOMAIN)
    publications, bindings = store.resume_state(DOMAIN)
    assert ([p.username for p in publications], [b.username for b in bindings]) == (["alice"], ["alice"])


# ------------------------------------------------------------------------------------------------ the core


def restarted(store: Store) -> Client:
    """bob on a new core over the store (the old one killed: no shutdown), a moment after it started."""
    bob = Client(make_server(store), "bob", BOB_UDP)  # type: ignore[arg-type]
    bob.now = 5_000.0
    bob.take(bob.server.on_timer(bob.now))
    return bob


def published(store: Store, *, expires: int = 600) -> str:
    """bob's publication on a core that then saves it; its ETag."""
    server = make_server(store)
    bob = Client(server, "bob", BOB_UDP)  # type: ignore[arg-type]
    response = bob.publish(pidf(BOB, note="in a meeting"), expires=expires)
    assert response.status == 200
    server.on_timer(1.0)  # the batch is written
    return response.headers.get("SIP-ETag") or ""


def test_a_restored_publication_keeps_its_etag_so_that_a_refresh_matches(store):
    etag = published(store)
    bob = restarted(store)
    refresh = bob.request("PUBLISH", BOB, headers={"Event": "presence", "Expires": "600", "SIP-If-Match": etag})
    response = bob.send(refresh)
    assert response.status == 200
    assert response.headers.get("SIP-ETag") not in (None, etag)


def test_a_removed_publication_is_not_restored(store):
    etag = published(store)
    server = make_server(store)
    bob = Client(server, "bob", BOB_UDP)  # type: ignore[arg-type]
    bob.now = 10.0
    removal = bob.request("PUBLISH", BOB, headers={"Event": "presence", "Expires": "0", "SIP-If-Match": etag})
    assert bob.send(removal).status == 200
    server.on_timer(11.0)
    assert restarted(store).server.publications.compose(BOB) is None


def test_an_expired_publication_is_not_restored(store, clock):
    published(store, expires=60)
    clock.now += 61  # the server was down past its expiry
    assert restarted(store).server.publications.compose(BOB) is None


def test_a_restored_dialogs_full_state_shows_the_publisher_as_it_was(store):
    server = make_server(store)
    alice = Client(server, "alice", ALICE_UDP)  # type: ignore[arg-type]
    assert alice.subscribe_list([alias(BOB_PHONE)], expires=600).status == 200
    alice.answer_all()
    bob = Client(server, "bob", BOB_UDP)  # type: ignore[arg-type]
    assert bob.publish(pidf(BOB, note="in a meeting")).status == 200
    alice.take(server.on_timer(2.0))  # the coalescing interval is over, and the batch written

    server = make_server(store)  # killed and started again
    alice = Client(server, "alice", ALICE_UDP)  # type: ignore[arg-type]
    notifies: list[SipRequest] = []
    for step in range(10):
        alice.now = 5_000.0 + step * 0.01
        alice.take(server.on_timer(alice.now))
        notifies += alice.answer_all()
    [notify] = notifies
    presence = views(notify)[alias(BOB_PHONE)]
    assert presence is not None
    assert summarize(presence).status is Availability.ONLINE
    assert [note.text for item in presence.tuples for note in item.notes] == ["in a meeting"]


def test_a_call_reaches_a_udp_phone_registered_before_the_restart(store):
    net = Net(store)
    Phone(net, "bob", 5062).register()
    net.advance(1.0)  # the batch is written

    net = Net(store)  # killed and started again: bob does not register again
    bob, alice = Phone(net, "bob", 5062), Phone(net, "alice", 5064)
    alice.call(f"sip:bob@{DOMAIN}")
    [invite] = bob.requests("INVITE")
    assert invite.uri == "sip:bob@127.0.0.1:5062"


def test_a_tcp_registration_is_not_restored(store):
    server = make_server(store)
    bob = Client(server, "bob")  # TCP: its connection dies with the server
    assert bob.send(bob.request("REGISTER", f"sip:{DOMAIN}", headers={"Expires": "600"}, to=BOB)).status == 200
    server.on_timer(1.0)
    assert restarted(store).server.registrar.bindings(BOB, 5_000.0) == []


def test_a_graceful_stop_keeps_publications_and_registrations(store):
    server = make_server(store)
    bob = Client(server, "bob", BOB_UDP)  # type: ignore[arg-type]
    assert bob.send(bob.request("REGISTER", f"sip:{DOMAIN}", headers={"Expires": "600"}, to=BOB)).status == 200
    etag = bob.publish(pidf(BOB, note="in a meeting")).headers.get("SIP-ETag")
    server.shutdown(0.1)  # before the batch was due: the stop writes it

    bob = restarted(store)
    [restored] = bob.server.registrar.bindings(BOB, bob.now)
    assert restored.source == BOB_UDP
    refresh = bob.request("PUBLISH", BOB, headers={"Event": "presence", "Expires": "600", "SIP-If-Match": etag or ""})
    assert bob.send(refresh).status == 200
