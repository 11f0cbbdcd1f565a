import hashlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from smartbook_tui.server.store import (
    SCHEMA_VERSION,
    AccountChanges,
    AccountExists,
    DatabaseUnusable,
    InvalidValue,
    NoSuchAccount,
    NumberTaken,
    ResourceList,
    Store,
    StoreError,
    compute_ha1,
)
from smartbook_tui.server.store_sqlite import _MIGRATIONS, APPLICATION_ID
from tests.peers import postgres

database = postgres.database  # the fixture: each test of a store runs on SQLite and on PostgreSQL

DOMAIN = "example.org"
ALICE_PHONE = "+33612345678"
INJECTION = "'; DROP TABLE accounts; --"
INJECTION_URI = "sip:%27%3B%20DROP%20TABLE%20accounts%3B%20--@example.org"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "data" / "smartbook" / "server.sqlite3"


@pytest.fixture
def store(database):
    with Store.open(database, clock=lambda: 1_700_000_000.5) as opened:
        yield opened


def raw(path):
    return sqlite3.connect(path)


def one_line(error: pytest.ExceptionInfo[StoreError]) -> str:
    message = str(error.value)
    assert message
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------------ the file


def test_open_creates_a_private_file_with_the_current_schema(path):
    with Store.open(path) as store:
        store.add_account("alice", DOMAIN, "secret")
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    assert path.parent.is_dir()
    connection = raw(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert {"accounts", "phone_numbers", "lists", "list_entries", "account_changes"} <= tables
    assert "phone_changes" not in tables
    connection.close()


def test_reopening_keeps_the_data_and_the_mode(path):
    with Store.open(path) as store:
        store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    os.chmod(path, 0o640)  # an operator's choice for an existing file is left alone
    with Store.open(path) as store:
        assert store.get_account("alice", DOMAIN).phone == ALICE_PHONE
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_newer_database_is_refused(path):
    Store.open(path).close()
    connection = raw(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(DatabaseUnusable) as error:
        Store.open(path)
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this smartbook knows ({SCHEMA_VERSION})" in one_line(error)


def test_other_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite3"
    connection = raw(foreign)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(DatabaseUnusable) as error:
        Store.open(foreign)
    assert "another program's SQLite database" in one_line(error)
    assert raw(foreign).execute("SELECT count(*) FROM notes").fetchone() == (0,)  # untouched

    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all, " * 100)
    with pytest.raises(DatabaseUnusable) as error:
        Store.open(junk)
    assert "file is not a database" in one_line(error)

    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(DatabaseUnusable) as error:
        Store.open(blocked / "server.sqlite3")
    assert "cannot open the database" in one_line(error)


# ------------------------------------------------------------------------------------------------ accounts


def test_add_account_returns_it_with_its_creation_time(store):
    alice = store.add_account("alice", "Example.ORG", "secret", ALICE_PHONE)
    assert alice.username == "alice"
    assert alice.domain == DOMAIN  # host names in lower case
    assert alice.phone == ALICE_PHONE
    assert alice.activated
    assert alice.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert alice.name == "alice@example.org"
    assert alice.address == "sip:alice@example.org"
    assert store.get_account("alice", "EXAMPLE.org") == alice
    assert store.get_account("Alice", DOMAIN) is None  # user parts are case-sensitive (RFC 3261 19.1.4)
    assert store.get_account("alice", "example.com") is None


def test_ha1_values_are_the_digests_of_user_realm_password(store):
    password = "pässwörd:with colon"
    store.add_account("alice", "Example.org", password)
    a1 = f"alice:example.org:{password}".encode()
    assert store.ha1("alice", DOMAIN, "MD5") == hashlib.md5(a1).hexdigest()
    assert store.ha1("alice", DOMAIN, "md5") == hashlib.md5(a1).hexdigest()
    assert store.ha1("alice", DOMAIN, "SHA-256") == hashlib.sha256(a1).hexdigest()
    assert store.ha1("alice", "EXAMPLE.ORG", "sha-256") == hashlib.sha256(a1).hexdigest()
    assert store.ha1("bob", DOMAIN, "MD5") is None
    with pytest.raises(InvalidValue) as error:
        store.ha1("alice", DOMAIN, "SHA-512")
    assert "MD5 and SHA-256" in one_line(error)


def test_an_account_not_activated_has_no_ha1(store):
    bob = store.add_account("bob", DOMAIN, "secret", activated=False)
    assert not bob.activated
    assert store.ha1("bob", DOMAIN, "MD5") is None
    assert store.get_account("bob", DOMAIN) == bob


def test_the_password_is_never_in_the_files(path):
    password = "Tr0ub4dor&3-unique-password"
    with Store.open(path) as store:
        store.add_account("alice", DOMAIN, password, ALICE_PHONE)
        store.add_account("bob", DOMAIN, password)
        files = list(path.parent.iterdir())
        assert any(file.name.endswith("-wal") for file in files)
        for file in files:
            assert password.encode() not in file.read_bytes(), file
    for file in path.parent.iterdir():  # after the checkpoint at close
        assert password.encode() not in file.read_bytes(), file
    columns = raw(path).execute("SELECT * FROM accounts").fetchall()
    assert all(password not in str(value) for row in columns for value in row)


def test_a_duplicate_account_is_refused(store):
    store.add_account("alice", DOMAIN, "secret")
    with pytest.raises(AccountExists) as error:
        store.add_account("alice", "EXAMPLE.ORG", "other")
    assert one_line(error) == "the account alice@example.org exists already"
    store.add_account("alice", "example.com", "secret")  # another domain, another account
    assert [account.name for account in store.accounts()] == ["alice@example.com", "alice@example.org"]
    assert [account.name for account in store.accounts(DOMAIN)] == ["alice@example.org"]


@pytest.mark.parametrize(
    "username", ["", "alice@example.org", "a b", "alice:x", "al%20ice", "tab\there", "é", "x" * 65, "<a>", 'a"b']
)
def test_usernames_outside_rfc_3261_are_refused(store, username):
    with pytest.raises(InvalidValue) as error:
        store.add_account(username, DOMAIN, "secret")
    assert "is not a username" in one_line(error)
    assert store.accounts() == []


@pytest.mark.parametrize("username", ["a", "alice.martin", "o'brien", "x-_.!~*'()&=+$,;?/", "1001", "123456"])
def test_usernames_of_rfc_3261_characters_are_taken(store, username):
    assert store.add_account(username, DOMAIN, "secret").username == username


@pytest.mark.parametrize("username", ["+33612345678", "+1", "0612345678", "06.12.34.56.78", "(061)2345678"])
def test_a_username_that_looks_like_a_phone_number_is_refused(store, username):
    with pytest.raises(InvalidValue) as error:
        store.add_account(username, DOMAIN, "secret")
    assert "looks like a phone number" in one_line(error)
    with pytest.raises(InvalidValue):
        store.add_account(username, DOMAIN, "secret", "+33699999999")


def test_an_account_may_be_named_after_its_own_verified_number(store):
    account = store.add_account(ALICE_PHONE, DOMAIN, "secret", ALICE_PHONE)
    assert (account.username, account.phone) == (ALICE_PHONE, ALICE_PHONE)
    with pytest.raises(InvalidValue) as error:
        store.set_phone(ALICE_PHONE, DOMAIN, "+33699999999")
    assert "named after its number" in one_line(error)
    with pytest.raises(InvalidValue):
        store.set_phone(ALICE_PHONE, DOMAIN, None)
    assert store.set_phone(ALICE_PHONE, DOMAIN, ALICE_PHONE).phone == ALICE_PHONE


@pytest.mark.parametrize("password", ["", "two\nlines", "nul\x00"])
def test_unusable_passwords_are_refused(store, password):
    with pytest.raises(InvalidValue):
        store.add_account("alice", DOMAIN, password)
    assert store.accounts() == []


@pytest.mark.parametrize("domain", ["", "a b", "example.org:5060", "alice@example.org", "example.org;x=1"])
def test_bad_domains_are_refused(store, domain):
    with pytest.raises(InvalidValue) as error:
        store.add_account("alice", domain, "secret")
    assert "is not a SIP domain" in one_line(error)


def test_remove_account_takes_its_number_and_lists_with_it(store):
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    store.set_list("alice", DOMAIN, "sip:friends@example.org", ["sip:bob@example.org"])
    store.remove_account("alice", DOMAIN)
    assert store.get_account("alice", DOMAIN) is None
    assert store.account_for_phone(ALICE_PHONE, DOMAIN) is None
    bob = store.add_account("bob", DOMAIN, "secret", ALICE_PHONE)  # the number is free again
    assert store.account_for_phone(ALICE_PHONE, DOMAIN) == bob
    store.add_account("alice", DOMAIN, "secret")
    assert store.lists_of("alice", DOMAIN) == []  # foreign keys on: the old lists went with the old account
    with pytest.raises(NoSuchAccount) as error:
        store.remove_account("carol", DOMAIN)
    assert one_line(error) == "no account carol@example.org"


# ------------------------------------------------------------------------------------------------ phone numbers


@pytest.mark.parametrize(
    "number", ["33612345678", "+033612345678", "+33 6 12 34 56 78", "+33-612345678", "+123456", "+1234567890123456"]
)
def test_numbers_must_be_strict_e164(store, number):
    with pytest.raises(InvalidValue) as error:
        store.add_account("alice", DOMAIN, "secret", number)
    assert "is not an E.164 number" in one_line(error)
    store.add_account("alice", DOMAIN, "secret")
    with pytest.raises(InvalidValue):
        store.set_phone("alice", DOMAIN, number)
    assert store.account_for_phone(number, DOMAIN) is None  # no such string has an account


def test_a_number_belongs_to_one_account(store):
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    with pytest.raises(NumberTaken) as error:
        store.add_account("bob", DOMAIN, "secret", ALICE_PHONE)
    assert one_line(error) == f"the number {ALICE_PHONE} is another account's already"
    assert store.get_account("bob", DOMAIN) is None  # nothing half-made
    with pytest.raises(NumberTaken):
        store.add_account("bob", "example.com", "secret", ALICE_PHONE)  # in any domain
    store.add_account("bob", DOMAIN, "secret")
    with pytest.raises(NumberTaken):
        store.set_phone("bob", DOMAIN, ALICE_PHONE)
    assert store.get_account("bob", DOMAIN).phone is None


def test_set_phone_replaces_the_one_number_of_the_account(store):
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    alice = store.set_phone("alice", DOMAIN, "+33699999999")
    assert alice.phone == "+33699999999"
    assert store.account_for_phone(ALICE_PHONE, DOMAIN) is None
    assert store.account_for_phone("+33699999999", DOMAIN) == alice
    assert store.set_phone("alice", DOMAIN, None).phone is None
    assert store.account_for_phone("+33699999999", DOMAIN) is None
    bob = store.add_account("bob", DOMAIN, "secret", ALICE_PHONE)  # alice's old number is free
    assert store.account_for_phone(ALICE_PHONE, DOMAIN) == bob
    assert store.account_for_phone(ALICE_PHONE, "example.com") is None
    with pytest.raises(NoSuchAccount):
        store.set_phone("carol", DOMAIN, "+33611111111")


def test_changes_say_which_numbers_changed_hands(store):
    start = store.changes(DOMAIN)
    assert start == AccountChanges(0, frozenset(), frozenset())
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    store.add_account("bob", DOMAIN, "secret")
    store.add_account("carol", "example.com", "secret", "+33611111111")
    changes = store.changes(DOMAIN, start.last)
    assert changes.numbers == {ALICE_PHONE}
    assert changes.usernames == {"alice", "bob"}
    assert changes.last == 3  # carol's change too: `last` covers every domain
    store.set_phone("alice", DOMAIN, "+33699999999")
    store.set_phone("bob", DOMAIN, ALICE_PHONE)
    later = store.changes(DOMAIN, changes.last)
    assert later.numbers == {ALICE_PHONE, "+33699999999"}
    assert later.usernames == {"alice", "bob"}
    assert store.changes(DOMAIN, later.last) == AccountChanges(later.last, frozenset(), frozenset())
    store.remove_account("bob", DOMAIN)
    assert store.changes("EXAMPLE.org", later.last).numbers == {ALICE_PHONE}
    assert store.changes("EXAMPLE.org", later.last).usernames == {"bob"}
    assert store.changes("example.com").usernames == {"carol"}


def logged(store, after=0):
    return store._db.query("SELECT domain, username, e164 FROM account_changes WHERE seq > ? ORDER BY seq", (after,))


def last_seq(store):
    return store._db.query("SELECT coalesce(max(seq), 0) FROM account_changes")[0][0]


def test_every_change_logs_one_row_per_account_and_number(store):
    other = "+33699999999"
    steps = [
        (lambda: store.add_account("alice", DOMAIN, "secret", ALICE_PHONE), [("alice", ALICE_PHONE)]),
        (lambda: store.add_account("bob", DOMAIN, "secret"), [("bob", None)]),
        (lambda: store.set_phone("bob", DOMAIN, other), [("bob", other)]),  # from nobody to bob
        (lambda: store.set_phone("alice", DOMAIN, "+33611111111"), [("alice", ALICE_PHONE), ("alice", "+33611111111")]),
        (lambda: store.set_phone("alice", DOMAIN, "+33611111111"), []),  # the same number: no change
        (lambda: store.set_phone("alice", DOMAIN, None), [("alice", "+33611111111")]),
        (lambda: store.set_phone("alice", DOMAIN, None), []),
        (lambda: store.set_public_presence("bob", DOMAIN, True), [("bob", other)]),
        (lambda: store.set_public_presence("bob", DOMAIN, True), []),
        (lambda: store.set_public_presence("alice", DOMAIN, False), []),  # the default already
        (lambda: store.set_activated("alice", DOMAIN, False), [("alice", None)]),
        (lambda: store.set_activated("alice", DOMAIN, False), []),
        (lambda: store.set_activated("alice", DOMAIN, True), [("alice", None)]),
        (lambda: store.set_list("alice", DOMAIN, "sip:friends@example.org", ["sip:bob@example.org"]), []),
        (lambda: store.remove_account("bob", DOMAIN), [("bob", other)]),
        (lambda: store.remove_account("alice", DOMAIN), [("alice", None)]),
    ]
    for index, (change, rows) in enumerate(steps):
        before = last_seq(store)
        change()
        assert logged(store, before) == [(DOMAIN, username, e164) for username, e164 in rows], index
        seen = store.changes(DOMAIN, before)
        assert seen.usernames == {username for username, _ in rows}, index
        assert seen.numbers == {e164 for _, e164 in rows if e164 is not None}, index


def test_a_refused_change_logs_nothing(store):
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    store.add_account("bob", DOMAIN, "secret")
    before = last_seq(store)
    with pytest.raises(AccountExists):
        store.add_account("alice", DOMAIN, "secret")
    with pytest.raises(NumberTaken):
        store.add_account("carol", DOMAIN, "secret", ALICE_PHONE)
    with pytest.raises(NumberTaken):
        store.set_phone("bob", DOMAIN, ALICE_PHONE)
    with pytest.raises(NoSuchAccount):
        store.remove_account("carol", DOMAIN)
    for setter in (store.set_public_presence, store.set_activated):
        with pytest.raises(NoSuchAccount) as error:
            setter("carol", DOMAIN, True)
        assert one_line(error) == "no account carol@example.org"
    assert logged(store, before) == []
    assert store.changes(DOMAIN, before) == AccountChanges(before, frozenset(), frozenset())


def test_changes_are_kept_a_week(database):
    now = [1_700_000_000.0]
    with Store.open(database, clock=lambda: now[0]) as store:
        store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
        now[0] += 7 * 24 * 3600
        store.add_account("bob", DOMAIN, "secret")
        assert store.changes(DOMAIN).usernames == {"alice", "bob"}  # a week old: still there
        now[0] += 1
        store.set_public_presence("bob", DOMAIN, True)
        changes = store.changes(DOMAIN)
        assert changes.usernames == {"bob"}
        assert changes.numbers == frozenset()
        assert changes.last == 3  # the numbering goes on


# ------------------------------------------------------------------------------------------------ presence


def test_public_presence_is_off_unless_asked_for(store):
    alice = store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    assert not alice.public_presence
    bob = store.add_account("bob", DOMAIN, "secret", public_presence=True)
    assert bob.public_presence
    assert store.get_account("bob", DOMAIN) == bob
    public = store.set_public_presence("alice", "EXAMPLE.org", True)
    assert public.public_presence
    assert public == store.get_account("alice", DOMAIN) == store.account_for_phone(ALICE_PHONE, DOMAIN)
    assert [account.public_presence for account in store.accounts(DOMAIN)] == [True, True]
    assert not store.set_public_presence("alice", DOMAIN, False).public_presence
    assert not store.get_account("alice", DOMAIN).public_presence
    assert store.accounts_for_phones([ALICE_PHONE], DOMAIN)[ALICE_PHONE].public_presence is False
    with pytest.raises(NoSuchAccount) as error:
        store.set_public_presence("carol", DOMAIN, True)
    assert one_line(error) == "no account carol@example.org"


def test_set_activated_decides_whether_the_account_may_sign_in(store):
    store.add_account("alice", DOMAIN, "secret")
    assert store.ha1("alice", DOMAIN) is not None
    assert not store.set_activated("alice", DOMAIN, False).activated
    assert store.ha1("alice", DOMAIN) is None
    assert store.set_activated("alice", DOMAIN, True).activated
    assert store.ha1("alice", DOMAIN) == compute_ha1("alice", DOMAIN, "secret", "MD5")


def test_the_public_flag_is_a_boolean_in_the_database(store):
    store.add_account("alice", DOMAIN, "secret", public_presence=True)
    assert store._db.query("SELECT public_presence FROM accounts") == [(1,)]
    with pytest.raises(store._db.errors):
        store._db.execute("UPDATE accounts SET public_presence = 2")


# ------------------------------------------------------------------------------------------------ migrations


def make_version_1(path):
    """A file as smartbook wrote it at schema version 1: alice with her number, and three logged phone changes
    of which the last was since pruned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in _MIGRATIONS[1]:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO accounts (id, username, domain, ha1_md5, ha1_sha256, activated, created_at) "
        "VALUES (1, 'alice', ?, ?, ?, 1, 1700000000)",
        (DOMAIN, compute_ha1("alice", DOMAIN, "secret", "MD5"), compute_ha1("alice", DOMAIN, "secret", "SHA-256")),
    )
    connection.execute(
        "INSERT INTO phone_numbers (e164, account_id, verified_at) VALUES (?, 1, 1700000000)", (ALICE_PHONE,)
    )
    connection.executemany(
        "INSERT INTO phone_changes (domain, e164, changed_at) VALUES (?, ?, 1700000000)",
        [(DOMAIN, "+33600000000"), (DOMAIN, ALICE_PHONE), ("example.com", "+33611111111")],
    )
    connection.execute("DELETE FROM phone_changes WHERE seq = 3")
    assert connection.execute("PRAGMA user_version").fetchone() == (1,)
    connection.close()


def test_a_version_1_file_is_migrated_in_place(path):
    make_version_1(path)
    with Store.open(path, clock=lambda: 1_700_000_100.0) as store:
        alice = store.get_account("alice", DOMAIN)
        assert (alice.phone, alice.activated, alice.public_presence) == (ALICE_PHONE, True, False)
        assert alice.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
        assert store.ha1("alice", DOMAIN, "SHA-256") == compute_ha1("alice", DOMAIN, "secret", "SHA-256")
        old = store.changes(DOMAIN)  # the old notices, their usernames unknown
        assert old == AccountChanges(2, frozenset({"+33600000000", ALICE_PHONE}), frozenset())
        assert store.set_public_presence("alice", DOMAIN, True).public_presence
        new = store.changes(DOMAIN, old.last)
        assert new == AccountChanges(4, frozenset({ALICE_PHONE}), frozenset({"alice"}))  # 3 is never reused
        assert store.add_account("bob", DOMAIN, "secret", public_presence=True).public_presence
    connection = raw(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert connection.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert "phone_changes" not in tables
    connection.close()
    with Store.open(path) as store:  # opened again: nothing left to migrate
        assert [account.username for account in store.accounts()] == ["alice", "bob"]


def test_a_migrated_file_has_the_schema_of_a_new_one(path, tmp_path):
    make_version_1(path)
    Store.open(path).close()
    fresh = tmp_path / "fresh.sqlite3"
    Store.open(fresh).close()

    def schema(file):
        connection = raw(file)
        rows = connection.execute("SELECT type, name, sql FROM sqlite_schema ORDER BY name").fetchall()
        connection.close()
        return rows

    assert schema(path) == schema(fresh)


def test_ten_thousand_numbers_are_looked_up_in_batches(store):
    numbers = [f"+336{index:08d}" for index in range(10_000)]
    owners = {number: f"user{index}" for index, number in enumerate(numbers) if index % 5 == 0}  # 2,000 accounts
    for number, username in owners.items():
        store.add_account(username, DOMAIN, "secret", number)
    store.add_account("elsewhere", "example.com", "secret", numbers[1])
    asked = [*reversed(numbers), numbers[0], "not a number", "' OR 1=1 --"]
    found = store.accounts_for_phones(iter(asked), DOMAIN)
    assert {number: account.username for number, account in found.items()} == owners
    assert all(account.phone == number and account.domain == DOMAIN for number, account in found.items())
    assert store.accounts_for_phones([], DOMAIN) == {}


# ------------------------------------------------------------------------------------------------ lists


def test_lists_round_trip_in_order(store):
    store.add_account("alice", DOMAIN, "secret")
    entries = [
        "sip:zoe@example.org",
        "sip:+33612345678@example.org;user=phone",
        "SIP:bob@example.org",  # kept in its canonical spelling
        "sip:adam@example.com",
    ]
    stored = store.set_list("alice", DOMAIN, "sip:friends@example.org", entries)
    expected = ("sip:zoe@example.org", entries[1], "sip:bob@example.org", "sip:adam@example.com")
    assert stored == ResourceList("alice", DOMAIN, "sip:friends@example.org", expected)
    assert store.get_list("alice", DOMAIN, "sip:friends@example.org") == stored
    assert store.get_list("alice", DOMAIN, "sip:family@example.org") is None
    assert store.get_list("alice", DOMAIN, "not a uri") is None

    store.set_list("alice", DOMAIN, "sip:friends@example.org", ["sip:adam@example.com", "sip:zoe@example.org"])
    store.set_list("alice", DOMAIN, "sip:empty@example.org", [])
    assert store.lists_of("alice", DOMAIN) == [
        ResourceList("alice", DOMAIN, "sip:empty@example.org", ()),
        ResourceList("alice", DOMAIN, "sip:friends@example.org", ("sip:adam@example.com", "sip:zoe@example.org")),
    ]
    store.remove_list("alice", DOMAIN, "sip:empty@example.org")
    assert [found.uri for found in store.lists_of("alice", DOMAIN)] == ["sip:friends@example.org"]
    with pytest.raises(StoreError) as error:
        store.remove_list("alice", DOMAIN, "sip:empty@example.org")
    assert one_line(error) == "alice@example.org has no list sip:empty@example.org"


def test_a_long_list_keeps_its_order(store):
    store.add_account("alice", DOMAIN, "secret")
    entries = [f"sip:+33{(index * 7919) % 10**9:09d}@example.org;user=phone" for index in range(10_000)]
    store.set_list("alice", DOMAIN, "sip:book@example.org", entries)
    assert store.get_list("alice", DOMAIN, "sip:book@example.org").entries == tuple(entries)


def test_bad_lists_are_refused_and_change_nothing(store):
    store.add_account("alice", DOMAIN, "secret")
    store.set_list("alice", DOMAIN, "sip:friends@example.org", ["sip:bob@example.org"])
    bad = [
        ("sip:friends@example.org", ["sip:carol@example.org", "carol@example.org"], "bad list entry"),
        (
            "sip:friends@example.org",
            ["sip:carol@example.org", "sip:CAROL@example.org", "SIP:carol@example.org"],  # the 1st and the 3rd
            "twice",
        ),
        ("friends", ["sip:carol@example.org"], "bad list URI"),
        ("sip:friends@example.org", "sip:carol@example.org", "not one string"),
    ]
    for list_uri, entries, message in bad:
        with pytest.raises(InvalidValue) as error:
            store.set_list("alice", DOMAIN, list_uri, entries)
        assert message in one_line(error)
    assert store.get_list("alice", DOMAIN, "sip:friends@example.org").entries == ("sip:bob@example.org",)
    with pytest.raises(NoSuchAccount):
        store.set_list("bob", DOMAIN, "sip:friends@example.org", [])
    with pytest.raises(NoSuchAccount):
        store.get_list("bob", DOMAIN, "sip:friends@example.org")
    with pytest.raises(NoSuchAccount):
        store.lists_of("bob", DOMAIN)


# ------------------------------------------------------------------------------------------------ safety


def test_quotes_and_sql_stay_data(store):
    username = "o'brien';--"
    store.add_account(username, DOMAIN, INJECTION)
    store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    store.set_list(username, DOMAIN, INJECTION_URI, [INJECTION_URI, "sip:a'b'c@example.org;x=';--"])
    assert store.get_account(username, DOMAIN).username == username
    a1 = f"{username}:{DOMAIN}:{INJECTION}".encode()
    assert store.ha1(username, DOMAIN, "MD5") == hashlib.md5(a1).hexdigest()
    stored = store.get_list(username, DOMAIN, INJECTION_URI)
    assert stored.uri == "sip:';%20DROP%20TABLE%20accounts;%20--@example.org"
    assert stored.entries == (stored.uri, "sip:a'b'c@example.org;x=';--")
    assert store.get_account("' OR '1'='1", DOMAIN) is None
    assert store.get_account(username, "' OR '1'='1") is None
    assert store.accounts_for_phones(["' OR 1=1 --", f"{ALICE_PHONE}' OR '1'='1"], DOMAIN) == {}
    assert store.ha1("' OR 1=1 --", DOMAIN, "MD5") is None
    assert [account.username for account in store.accounts(DOMAIN)] == ["alice", username]
    assert store._db.query("SELECT count(*) FROM accounts") == [(2,)]


def test_an_exception_inside_the_transaction_leaves_no_half_account(store, monkeypatch):
    def broken(*args):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(Store, "_link_phone", broken)  # runs after the account row is written
    with pytest.raises(RuntimeError):
        store.add_account("alice", DOMAIN, "secret", ALICE_PHONE)
    assert store.get_account("alice", DOMAIN) is None
    assert store.accounts() == []
    monkeypatch.undo()
    assert store.add_account("alice", DOMAIN, "secret", ALICE_PHONE).phone == ALICE_PHONE


CRASHER = """
import sys, time
from smartbook_tui.server.store import Store

store = Store.open(sys.argv[1])
store.add_account("bob", "example.org", "secret")  # committed before the crash

def stall(*args):  # the account row is written, its number not yet
    print("inside", flush=True)
    time.sleep(60)

Store._link_phone = stall
store.add_account("alice", "example.org", "secret", "+33612345678")
"""


def test_a_process_killed_mid_transaction_leaves_no_half_account(database):
    Store.open(database).close()
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHER, database], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "inside\n", process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(10)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    with Store.open(database) as store:
        assert [account.username for account in store.accounts()] == ["bob"]
        assert store.account_for_phone(ALICE_PHONE, DOMAIN) is None
        assert store.add_account("alice", DOMAIN, "secret", ALICE_PHONE).phone == ALICE_PHONE


def test_list_owners_names_who_has_a_list_of_that_uri(store):
    store.add_account("alice", DOMAIN, "secret")
    store.set_list("alice", DOMAIN, "sip:friends@example.org", [])
    assert store.list_owners("sip:friends@example.org", DOMAIN) == ["alice"]
    assert store.list_owners("sip:nobody@example.org", DOMAIN) == []
    assert store.list_owners("not a uri", DOMAIN) == []
