"""Two cores of one cluster, sans-IO: what one hands out (`cluster_changes`) given to the other (`mirror`), as the
cluster link does through Redis."""

from __future__ import annotations

import itertools

import pytest

from smartbook_tui.presence import parse_pidf
from smartbook_tui.presence.summary import Availability, summarize
from smartbook_tui.server import publications
from smartbook_tui.server.cluster.journal import ClusterChanges, ClusterJournal, PresentityChange
from smartbook_tui.server.core import CLUSTER_WAIT, PresenceServer, ServerConfig
from smartbook_tui.server.publications import PublicationRecord
from tests.unit.test_server_core import BOB_PHONE, DOMAIN, VIA, Client, FakePeer, alias, pidf, store, views  # noqa: F401

BOB = f"sip:bob@{DOMAIN}"


def node(store, name: str) -> PresenceServer:  # noqa: F811 (the fixture's name)
    counter = itertools.count()
    return PresenceServer(
        ServerConfig(DOMAIN, VIA, notify_interval=0.0),
        store,
        secret=b"k" * 32,
        token=lambda: f"{name}{next(counter)}",  # tokens unique across nodes, as random ones are
        cluster=ClusterJournal(),
    )


def carry(source: PresenceServer, target: PresenceServer, watcher: Client) -> None:
    """Give `target` what `source` announced, for the presentities `target` watches; its NOTIFYs to `watcher`."""
    for change in source.cluster_changes(watcher.now).changes:
        added = (change.record,) if change.record is not None else ()
        watcher.take(target.mirror(change.aor, change.removed, added, watcher.now, listed=change.listed))


def followed(node: PresenceServer, watcher: Client) -> ClusterChanges:
    """What `node` hands out, then the link's word that it follows it all (the full states waiting go out)."""
    changes = node.cluster_changes(watcher.now)
    watcher.take(node.followed(changes.serial, watcher.now))
    return changes


def bob_as_alice_sees(alice: Client) -> Availability:
    [notify] = alice.answer_all()[-1:]
    return summarize(views(notify)[alias(BOB_PHONE)]).status


def test_a_publication_taken_by_one_node_reaches_a_watcher_on_another(store):  # noqa: F811
    node_a, node_b = node(store, "a"), node(store, "b")
    alice, bob = Client(node_a, "alice"), Client(node_b, "bob")
    assert alice.subscribe_list([alias(BOB_PHONE)]).status == 200
    assert followed(node_a, alice).watching == {BOB: True}  # node A now follows bob
    alice.answer_all()
    bob.subscribe_list([f"sip:alice@{DOMAIN}"])  # bob lists alice (the gate), on his own node
    published = bob.publish(pidf(BOB, note="at lunch"))
    assert published.status == 200
    carry(node_b, node_a, alice)
    assert bob_as_alice_sees(alice) == Availability.ONLINE
    bob.publish(b"", expires=0, etag=published.headers.get("SIP-ETag"))  # bob's phone says goodbye
    carry(node_b, node_a, alice)
    assert bob_as_alice_sees(alice) == Availability.OFFLINE


def test_the_gate_follows_the_listing_another_node_tells(store):  # noqa: F811
    node_a, node_b = node(store, "a"), node(store, "b")
    alice, bob = Client(node_a, "alice"), Client(node_b, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    followed(node_a, alice)
    alice.answer_all()
    bob.publish(pidf(BOB, note="at lunch"))
    carry(node_b, node_a, alice)
    assert alice.answer_all() == []  # bob lists nobody yet: nothing of his status shows
    bob.subscribe_list([f"sip:alice@{DOMAIN}"])
    carry(node_b, node_a, alice)
    assert bob_as_alice_sees(alice) == Availability.ONLINE


def test_a_snapshot_replaces_what_was_mirrored_and_keeps_the_nodes_own(store):  # noqa: F811
    node_a = node(store, "a")
    alice = Client(node_a, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    followed(node_a, alice)
    alice.answer_all()
    change = node(store, "b").cluster_changes(0.0)  # (nothing yet)
    assert change.changes == []
    other_b = node(store, "b")
    bob = Client(other_b, "bob")
    bob.subscribe_list([f"sip:alice@{DOMAIN}"])
    bob.publish(pidf(BOB))
    records = [c.record for c in other_b.cluster_changes(0.0).changes if c.record is not None]
    alice.take(node_a.mirror(BOB, (), records, alice.now, whole=True, listed=("alice",)))
    assert bob_as_alice_sees(alice) == Availability.ONLINE
    alice.take(node_a.mirror(BOB, (), (), alice.now, whole=True, listed=("alice",)))  # Redis holds none now
    assert bob_as_alice_sees(alice) == Availability.OFFLINE


def test_the_first_full_state_waits_for_what_other_nodes_hold_of_the_presentities_it_names(store):  # noqa: F811
    node_a, node_b = node(store, "a"), node(store, "b")
    alice, bob = Client(node_a, "alice"), Client(node_b, "bob")
    bob.subscribe_list([f"sip:alice@{DOMAIN}"])
    bob.publish(pidf(BOB, note="at lunch"))
    held = node_b.cluster_changes(0.0)
    assert alice.subscribe_list([alias(BOB_PHONE)]).status == 200
    assert alice.notifies == []  # node A does not follow bob yet: its full state waits
    changes = node_a.cluster_changes(alice.now)
    records = [change.record for change in held.changes if change.record is not None]
    alice.take(node_a.mirror(BOB, (), records, alice.now, whole=True, listed=("alice",)))  # the snapshot
    assert alice.notifies == []
    alice.take(node_a.followed(changes.serial, alice.now))
    [full] = alice.answer_all()
    assert summarize(views(full)[alias(BOB_PHONE)]).status == Availability.ONLINE  # right from the first NOTIFY


def test_a_full_state_waits_no_longer_than_the_cluster_wait(store):  # noqa: F811
    node_a = node(store, "a")
    alice = Client(node_a, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    node_a.cluster_changes(alice.now)  # handed to a link that never says it followed (Redis away)
    assert alice.notifies == []
    alice.now = CLUSTER_WAIT
    alice.take(node_a.on_timer(alice.now))
    [full] = alice.answer_all()
    assert summarize(views(full)[alias(BOB_PHONE)]).has_account


@pytest.mark.parametrize(
    ("first", "second", "left"),
    [(True, False, {}), (False, True, {}), (True, True, {"x": True})],
)
def test_the_journal_cancels_opposite_watch_news(first, second, left):
    journal = ClusterJournal()
    journal.watch("x", first)
    journal.watch("x", second)
    changes, _, _ = journal.take()
    assert changes.watching == left


def test_the_journal_hands_out_each_change_once():
    journal = ClusterJournal()
    journal.published("sip:bob@x", ["e1"], None)
    journal.listing_changed("bob")
    changes, usernames, _ = journal.take()
    assert changes.changes == [PresentityChange("sip:bob@x", ("e1",), None)]
    assert usernames == ["bob"]
    assert not journal.pending
    assert journal.take()[0].changes == []


def test_a_node_whose_dialogs_were_taken_ends_its_copies_silently_and_keeps_its_tcp_ones(store):  # noqa: F811
    node_a = node(store, "a")
    over_udp = Client(node_a, "alice", FakePeer(transport="UDP", address=("198.51.100.7", 40000), connection=None))
    over_tcp = Client(node_a, "bob", FakePeer(connection=5))
    for watcher in (over_udp, over_tcp):
        watcher.subscribe_list([alias(BOB_PHONE)])
    followed(node_a, over_udp)
    over_udp.answer_all()
    over_tcp.answer_all()
    assert node_a.subscriptions == 2
    over_udp.take(node_a.give_up_dialogs(over_udp.now))
    assert node_a.subscriptions == 1  # the TCP one, never saved, was not taken
    assert over_udp.notifies == []  # not a word: its subscriber hears from the node that took it


def test_a_publication_another_node_held_goes_when_its_phone_names_it_here_and_gets_412(store):  # noqa: F811
    node_a = node(store, "a")
    bob = Client(node_a, "bob")
    assert bob.publish(pidf(BOB), etag="b7-from-the-dead-node").status == 412  # the phone publishes anew next
    [change] = node_a.cluster_changes(bob.now).changes
    assert change == PresentityChange(BOB, ("b7-from-the-dead-node",), None)  # and no node keeps the old one


def test_publications_mirrored_from_other_nodes_compose_newest_first_whatever_order_they_came_in(store):  # noqa: F811
    node_a = node(store, "a")
    older = PublicationRecord("e-old", pidf(BOB, note="before"), "application/pidf+xml", "phone", 500.0, 10.0)
    newer = PublicationRecord("e-new", pidf(BOB, note="after"), "application/pidf+xml", "desk", 500.0, 20.0)
    node_a.mirror(BOB, (), [newer, older], 30.0, whole=True)  # a snapshot's order is Redis's, not time's
    composed = node_a.publications.compose(BOB)
    assert composed is not None
    assert [note.text for item in composed.tuples for note in item.notes] == ["after", "before"]


def test_a_refresh_on_another_node_moves_the_mirror_on_without_reading_it_again(store, monkeypatch):  # noqa: F811
    """Refreshes are most of a busy service's PUBLISHes: every node that follows the presentity takes one without
    parsing its document again, and no watcher hears of it."""
    node_a, node_b = node(store, "a"), node(store, "b")
    alice, bob = Client(node_a, "alice"), Client(node_b, "bob")
    alice.subscribe_list([alias(BOB_PHONE)])
    followed(node_a, alice)
    alice.answer_all()
    bob.subscribe_list([f"sip:alice@{DOMAIN}"])
    published = bob.publish(pidf(BOB, note="at lunch"))
    carry(node_b, node_a, alice)
    alice.answer_all()
    refresh = bob.send(
        bob.request(
            "PUBLISH",
            BOB,
            headers={"Event": "presence", "Expires": "600", "SIP-If-Match": published.headers.get("SIP-ETag") or ""},
        )
    )
    assert refresh.status == 200
    parsed = []
    monkeypatch.setattr(publications, "parse_pidf", lambda *args: parsed.append(args) or parse_pidf(*args))
    carry(node_b, node_a, alice)
    assert parsed == []
    assert alice.notifies == []  # nothing changed that anyone sees
    assert node_a.publications.mirrored_etags(BOB) == {refresh.headers.get("SIP-ETag")}  # but the new ETag is known
