"""Discovery without harvesting: who can find an account by its number, and the quota on numbers checked
(`server.discovery`, `server.discovery_quota`, the store's record, and the core applying both)."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator

import pytest

from smartbook_tui.presence import InstanceState, build_list_delta, summarize
from smartbook_tui.server.discovery import DAY, DiscoveryPolicy, NamedNumbers, Tally, quota_warning
from smartbook_tui.server.discovery_quota import DiscoveryQuota
from smartbook_tui.server.store import SCHEMA_VERSION, Store
from smartbook_tui.server.store_sqlite import _MIGRATIONS
from smartbook_tui.sip.message import SipResponse
from tests.peers import postgres
from tests.unit.test_server_core import ALICE_PHONE, BOB_PHONE, DOMAIN, PASSWORD, Client, list_state, make_server, views

T0 = 1_800_000_000.0
CAROL_PHONE = "+33622222222"
STRANGERS = [f"+3361000{n:04d}" for n in range(20)]  # numbers without an account


def alias(number: str) -> str:
    return f"sip:{number}@{DOMAIN};user=phone"


database = postgres.database  # the fixture: each test runs on SQLite and on PostgreSQL


@pytest.fixture
def store(database) -> Iterator[Store]:
    with Store.open(database) as opened:
        opened.add_account("alice", DOMAIN, PASSWORD, ALICE_PHONE)
        opened.add_account("bob", DOMAIN, PASSWORD, BOB_PHONE)
        opened.add_account("carol", DOMAIN, PASSWORD, CAROL_PHONE)
        yield opened


def changed(server, store: Store, client: Client, now: float = 5.0) -> None:
    """Tell the core what the store logged (as its poll does), the NOTIFYs landing with the clients."""
    changes = store.changes(DOMAIN)
    client.take(server.accounts_changed(changes.numbers, changes.usernames, now))


def has_account(notify, uri: str) -> bool:
    return summarize(views(notify)[uri]).has_account


def withheld_uris(notify) -> set[str]:
    return {
        resource.uri
        for resource in list_state(notify).resources
        if any(i.state is InstanceState.TERMINATED and i.reason == "rejected" for i in resource.instances)
    }


# ------------------------------------------------------------------------------------------------ the record


def test_new_numbers_are_charged_until_the_quota_then_withheld():
    policy = DiscoveryPolicy(quota=3)
    named = NamedNumbers.empty()
    charge = named.charge(STRANGERS[:5], T0, policy)
    assert (charge.withheld, charge.charged_in_window) == (set(STRANGERS[3:5]), 3)
    again = named.charge(STRANGERS[4::-1], T0 + 60, policy)  # a re-sent book: what it named before is free
    assert (again.withheld, again.changed) == ({STRANGERS[4], STRANGERS[3]}, False)


def test_the_window_slides_and_old_numbers_are_forgotten():
    one, two, three, four = STRANGERS[:4]
    policy = DiscoveryPolicy(quota=2, window=DAY, memory=10 * DAY)
    named = NamedNumbers.empty()
    named.charge([one, two], T0, policy)
    assert named.charge([three], T0 + DAY - 1, policy).withheld == {three}
    assert named.charge([three], T0 + DAY, policy).withheld == set()  # a day on, the first two leave the window
    assert named.charge([one], T0 + 3 * DAY, policy).charged_in_window == 0  # named before: not charged again
    assert len(named) == 3
    named.charge([four], T0 + 20 * DAY, policy)
    assert len(named) == 1  # unnamed for more than the memory: forgotten


def test_the_record_reads_back_from_its_bytes_and_a_damaged_one_is_empty():
    named = NamedNumbers.empty()
    named.charge([ALICE_PHONE, "+447911123456"], T0, DiscoveryPolicy())
    data = named.to_bytes()
    assert len(data) == 4 + 2 * 16 + len(ALICE_PHONE) + 1 + len("+447911123456")
    assert NamedNumbers.from_bytes(data).charge(["+447911123456"], T0, DiscoveryPolicy(quota=1)).withheld == set()
    for damaged in (data[:30], data[:10], b"", b"\xff" * 40, data + b"\n+1"):
        assert len(NamedNumbers.from_bytes(damaged)) == 0


def test_the_store_keeps_the_record_and_the_top_probers(store):
    def save(user: str, named: bytes, charged: int, withheld: int, now: float) -> None:
        store.save_named_numbers(
            user, DOMAIN, named, charged=charged, withheld=withheld, now=now, forget_before=now - 90 * DAY
        )

    save("carol", b"c" * 24, 99, 0, T0 - 2 * DAY)
    save("alice", b"a" * 24, 10, 0, T0)
    save("bob", b"b" * 48, 12_000, 8_000, T0 + 1)
    assert store.named_numbers("bob", DOMAIN) == b"b" * 48
    assert store.named_numbers("nobody", DOMAIN) is None
    top = store.discovery_top(DOMAIN, T0 - DAY, 10)
    assert [(probe.account, probe.charged, probe.withheld) for probe in top] == [
        (f"bob@{DOMAIN}", 12_000, 8_000),
        (f"alice@{DOMAIN}", 10, 0),
    ]
    assert store.discovery_top("example.com", T0 - DAY, 10) == []
    store.remove_account("bob", DOMAIN)
    assert [probe.account for probe in store.discovery_top(DOMAIN, T0 - DAY, 10)] == [f"alice@{DOMAIN}"]
    save("alice", b"a" * 24, 10, 0, T0 + 89 * DAY)
    assert store.named_numbers("carol", DOMAIN) is None  # not written for 90 days: every number in it forgotten


def test_a_version_6_database_gets_the_setting_and_the_record(tmp_path):
    path = tmp_path / "v6.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    for version in range(1, 7):
        for statement in _MIGRATIONS[version]:
            connection.execute(statement)
    connection.execute(
        "INSERT INTO accounts (username, domain, ha1_md5, ha1_sha256, activated, created_at) "
        "VALUES ('alice', ?, ?, ?, 1, 0)",
        (DOMAIN, "0" * 32, "0" * 64),
    )
    connection.close()
    with Store.open(path) as store:
        assert store.get_account("alice", DOMAIN).discoverable is None
        assert store.set_discoverable("alice", DOMAIN, "nobody").discoverable == "nobody"
        assert store.changes(DOMAIN).usernames == {"alice"}  # logged: running servers look again
        store.save_named_numbers("alice", DOMAIN, b"", charged=0, withheld=0, now=T0, forget_before=0)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


# ------------------------------------------------------------------------------------------------ who can find me


def test_contacts_only_a_stranger_sees_no_account_until_the_account_lists_them(store):
    store.set_discoverable("bob", DOMAIN, "contacts")
    server = make_server(store, notify_interval=0.0)
    bob, carol = Client(server, "bob"), Client(server, "carol")
    carol.subscribe_list([alias(BOB_PHONE), f"sip:alice@{DOMAIN}"])
    [first] = carol.answer_all()
    assert views(first)[alias(BOB_PHONE)] is None  # exactly as a number without an account
    assert has_account(first, f"sip:alice@{DOMAIN}")
    bob.subscribe_list([alias(CAROL_PHONE)])  # bob's book names carol now
    [partial] = carol.answer_all()
    assert has_account(partial, alias(BOB_PHONE))


def test_the_operators_default_applies_to_accounts_that_say_nothing(store):
    server = make_server(store, notify_interval=0.0, discoverable="nobody")
    alice, bob = Client(server, "alice"), Client(server, "bob")
    bob.subscribe_list([alias(ALICE_PHONE)])  # even a contact of bob's...
    bob.answer_all()
    alice.subscribe_list([alias(BOB_PHONE), f"sip:bob@{DOMAIN}"])
    [notify] = alice.answer_all()
    assert views(notify)[alias(BOB_PHONE)] is None  # ...does not find him by number
    assert has_account(notify, f"sip:bob@{DOMAIN}")  # by address she already knows him
    single = alice.send(alice.request("SUBSCRIBE", alias(BOB_PHONE), headers={"Event": "presence"}, call_id="one"))
    assert single.status == 404


def test_a_change_of_the_setting_reaches_watchers_at_once(store):
    server = make_server(store, notify_interval=0.0)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(BOB_PHONE)])
    assert has_account(alice.answer_all()[0], alias(BOB_PHONE))
    store.set_discoverable("bob", DOMAIN, "nobody")
    changed(server, store, alice)
    [hidden] = alice.answer_all()
    assert views(hidden)[alias(BOB_PHONE)] is None
    store.set_discoverable("bob", DOMAIN, None)  # back to the server's default, everyone
    changed(server, store, alice, 6.0)
    [shown] = alice.answer_all()
    assert has_account(shown, alias(BOB_PHONE))


# ------------------------------------------------------------------------------------------------ the quota


def quota_server(store: Store, quota: int = 3):
    return make_server(store, notify_interval=0.0, discovery=DiscoveryPolicy(quota=quota))


def test_numbers_past_the_quota_are_unknown_and_the_subscriber_is_told(store, caplog):
    alice = Client(quota_server(store), "alice")
    response = alice.subscribe_list([alias(n) for n in (*STRANGERS[:2], BOB_PHONE, *STRANGERS[2:4])])
    assert response.status == 200
    assert response.headers.get("Warning") == f'399 smartbook "{quota_warning(2, DiscoveryPolicy(quota=3))}"'
    [notify] = alice.answer_all()
    # the list's order decides (the client sends it sorted): bob's number comes after the strangers'
    assert withheld_uris(notify) == {alias(STRANGERS[3]), alias(BOB_PHONE)}
    assert not has_account(notify, alias(STRANGERS[0]))
    assert "alice@example.org hit the discovery quota: 2 numbers" in caplog.text


def test_a_withheld_number_stays_unknown_when_its_account_comes(store):
    server = quota_server(store, quota=1)
    alice = Client(server, "alice")
    alice.subscribe_list([alias(STRANGERS[0]), alias(STRANGERS[1])])
    alice.answer_all()
    store.add_account("dave", DOMAIN, PASSWORD, STRANGERS[1])
    changed(server, store, alice)
    assert alice.answer_all() == []  # nothing told of the withheld entry


def test_a_resubscription_is_free_and_the_quota_survives_a_restart(store):
    alice = Client(quota_server(store), "alice")
    alice.subscribe_list([alias(n) for n in STRANGERS[:3]])
    alice.answer_all()
    restarted = Client(quota_server(store), "alice")  # a new process over the same store
    again = restarted.subscribe_list([alias(n) for n in STRANGERS[:3]])
    assert again.headers.get("Warning") is None
    more = restarted.subscribe_list([alias(STRANGERS[3])])
    assert "were not checked" in (more.headers.get("Warning") or "")
    single = restarted.send(
        restarted.request("SUBSCRIBE", alias(BOB_PHONE), headers={"Event": "presence"}, call_id="one")
    )
    assert (single.status, "lets you check at most 3 new numbers a day" in single.reason) == (403, True)


# ------------------------------------------------------------------------------------------------ list changes


def change_list(client: Client, response: SipResponse, added: list[str], removed: list[str]) -> SipResponse:
    """A refresh of the dialog `response` opened, carrying a list change."""
    return client.send(
        client.request(
            "SUBSCRIBE",
            f"sip:rls@{DOMAIN}",
            headers={
                "Event": "presence",
                "Expires": "3600",
                "Require": "list-delta",
                "Content-Type": "application/resource-lists+xml",
                "Content-Encoding": "deflate",
            },
            body=zlib.compress(build_list_delta(added, removed)),
            to_tag=response.to_tag,
        )
    )


def test_a_list_changes_in_its_dialog_with_its_versions_going_on(store):
    alice = Client(quota_server(store, quota=2), "alice")
    opened = alice.subscribe_list([alias(BOB_PHONE), alias(STRANGERS[0])])
    assert "list-delta" in (opened.headers.get("Supported") or "")
    alice.answer_all()
    answer = change_list(alice, opened, [f"sip:carol@{DOMAIN}", alias(STRANGERS[1])], [alias(STRANGERS[0])])
    assert answer.status == 200
    assert "1 numbers of your book were not checked" in (answer.headers.get("Warning") or "")
    [notify] = alice.answer_all()
    state = list_state(notify)
    assert (state.version, state.full_state) == (1, True)
    assert set(views(notify)) == {alias(BOB_PHONE), f"sip:carol@{DOMAIN}", alias(STRANGERS[1])}
    assert withheld_uris(notify) == {alias(STRANGERS[1])}  # STRANGERS[0], named before, is not charged again


def test_a_change_that_makes_the_list_too_long_is_refused_and_the_list_kept(store):
    alice = Client(make_server(store, notify_interval=0.0, max_list_size=2), "alice")
    opened = alice.subscribe_list([alias(BOB_PHONE)])
    alice.answer_all()
    answer = change_list(alice, opened, [alias(n) for n in STRANGERS[:2]], [])
    assert answer.status == 413
    assert alice.notifies == []


# ------------------------------------------------------------------------------------------------ the ceilings


def test_a_tally_estimates_a_sliding_window_from_two_fixed_ones():
    tally = Tally(T0).plus(100, T0 + 10, DAY)
    assert tally.count(T0 + DAY / 2, DAY) == 100
    later = tally.plus(50, T0 + DAY + DAY / 4, DAY)  # a new window: the first counts for the three quarters left
    assert (later.window_start, later.current, later.previous) == (T0 + DAY, 50, 100)
    assert later.count(T0 + DAY + DAY / 4, DAY) == 50 + 75
    assert later.count(T0 + 3 * DAY, DAY) == 0


def test_many_accounts_from_one_address_share_its_ceiling_and_it_survives_a_restart(store):
    policy = DiscoveryPolicy(quota=10, per_address=12, overall=0)
    clock = lambda: T0  # noqa: E731
    quota = DiscoveryQuota(store, policy, clock=clock)
    alice, bob = store.get_account("alice", DOMAIN), store.get_account("bob", DOMAIN)
    assert quota.withheld(alice, STRANGERS[:8], "198.51.100.0").numbers == set()
    held = quota.withheld(bob, STRANGERS[8:16], "198.51.100.0")  # bob has room of his own: the address has 4 left
    assert held.numbers == set(STRANGERS[12:16])
    assert (
        held.sentence == "4 numbers of your book were not checked: this service checks no more new numbers from "
        "your network today"
    )
    again = DiscoveryQuota(store, policy, clock=clock)  # a restarted server
    assert again.withheld(bob, STRANGERS[16:18], "198.51.100.0").numbers == set(STRANGERS[16:18])
    assert again.withheld(bob, STRANGERS[16:18], "203.0.113.0").numbers == set()  # another address is not held


def test_the_whole_service_has_a_ceiling_too(store):
    quota = DiscoveryQuota(store, DiscoveryPolicy(quota=10, per_address=0, overall=5), clock=lambda: T0)
    alice, bob = store.get_account("alice", DOMAIN), store.get_account("bob", DOMAIN)
    quota.withheld(alice, STRANGERS[:3], "198.51.100.0")
    held = quota.withheld(bob, STRANGERS[3:6], "203.0.113.0")
    assert held.numbers == {STRANGERS[5]}
    assert held.sentence == "1 numbers of your book were not checked: this service checks no more new numbers today"
