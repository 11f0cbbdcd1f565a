"""The account API's state in the server's store (schema 3): accounts waiting for their code, pending codes,
wrong tries, the SMS and code-event counters, bearer tokens; all of it still there after the file is reopened."""

from __future__ import annotations

import sqlite3

import pytest

from smartbook_tui.server.accounts_api.codes import PendingCode
from smartbook_tui.server.store import (
    SCHEMA_VERSION,
    AccountExists,
    NumberTaken,
    Store,
    compute_ha1,
)
from smartbook_tui.server.store_sqlite import _MIGRATIONS
from tests.peers import postgres

DOMAIN = "example.org"
NUMBER, OTHER = "+33612345678", "+33687654321"
T0 = 1_800_000_000.0


database = postgres.database  # the fixture: the store's tests run on SQLite and on PostgreSQL


@pytest.fixture
def path(tmp_path):
    return tmp_path / "server.sqlite3"


def code(number: str = NUMBER, digits: str = "1234", purpose: str = "activate") -> PendingCode:
    return PendingCode(purpose, number, digits, T0 + 600)  # type: ignore[arg-type]


def test_an_account_waits_for_its_code_unable_to_sign_in_then_is_activated_with_its_number(database):
    with Store.open(database, clock=lambda: T0) as store:
        waiting = store.add_waiting_account(NUMBER, DOMAIN, "first", code(), T0)
        assert (waiting.activated, waiting.phone) == (False, None)  # the number is not verified yet
        assert store.ha1(NUMBER, DOMAIN) is None
        assert store.ha1(NUMBER, DOMAIN, activated_only=False) == compute_ha1(NUMBER, DOMAIN, "first", "MD5")
        assert store.waiting_account_for_phone(NUMBER, DOMAIN) == waiting
        assert store.account_for_phone(NUMBER, DOMAIN) is None

        # Asked again for the same number: a new code, one account, the first password kept (whoever asks again
        # cannot choose the password the code will activate).
        store.add_waiting_account(NUMBER, DOMAIN, "second", code(digits="5678"), T0 + 60)
        assert store.pending_code(NUMBER, DOMAIN, "activate") == code(digits="5678")
        assert store.ha1(NUMBER, DOMAIN, activated_only=False) == compute_ha1(NUMBER, DOMAIN, "first", "MD5")
        assert store.sms_sent(NUMBER, T0 - 1) == [T0, T0 + 60]
        assert store.code_events(NUMBER, DOMAIN, T0 - 1) == [T0, T0 + 60]

        seen = store.changes(DOMAIN).last
        active = store.activate_with_number(NUMBER, DOMAIN, NUMBER)
        assert (active.activated, active.phone) == (True, NUMBER)
        assert store.pending_code(NUMBER, DOMAIN, "activate") is None
        assert store.ha1(NUMBER, DOMAIN) == compute_ha1(NUMBER, DOMAIN, "first", "MD5")
        assert NUMBER in store.changes(DOMAIN, seen).numbers  # what makes the watchers' books update
        with pytest.raises(AccountExists):  # the name is an activated account's
            store.add_waiting_account(NUMBER, DOMAIN, "third", code(), T0 + 120)


def test_a_name_someone_has_is_refused_and_a_number_someone_has_only_at_activation(database):
    with Store.open(database) as store:
        store.add_account("bob", DOMAIN, "secret", OTHER)
        with pytest.raises(AccountExists):
            store.add_waiting_account("bob", DOMAIN, "pw", code(), T0)
        # The API answers a taken number as a free one: the account waits, and its activation is refused.
        store.add_waiting_account("robert", DOMAIN, "pw", code(OTHER), T0)
        with pytest.raises(NumberTaken):
            store.activate_with_number("robert", DOMAIN, OTHER)
        assert (store.get_account("robert", DOMAIN).activated, store.account_for_phone(OTHER, DOMAIN).username) == (
            False,
            "bob",
        )
        store.drop_code("robert", DOMAIN, "activate")
        assert store.pending_code("robert", DOMAIN, "activate") is None
        store.add_waiting_account("carol", DOMAIN, "pw", code(), T0)
        with pytest.raises(AccountExists):  # waiting, but for another number
            store.add_waiting_account("carol", DOMAIN, "pw", code("+33699999999"), T0)
        assert store.sms_sent(OTHER, 0) == [T0]


def test_wrong_tries_codes_counters_and_tokens_survive_a_reopening(database):
    with Store.open(database) as store:
        store.add_account("bob", DOMAIN, "secret")
        store.put_code("bob", DOMAIN, code(OTHER, purpose="link"), T0)
        store.wrong_code("bob", DOMAIN, "link", T0 + 1)
        store.add_token("ab" * 32, "bob", DOMAIN, T0 + 3600, T0)
    with Store.open(database) as store:
        assert store.pending_code("bob", DOMAIN, "link") == PendingCode("link", OTHER, "1234", T0 + 600, 1)
        assert store.code_events("bob", DOMAIN, T0 - 1) == [T0, T0 + 1]
        assert store.code_events("bob", DOMAIN, T0) == [T0 + 1]  # only those after `since`
        assert store.sms_sent(OTHER, T0 - 1) == [T0]
        assert store.token_account("ab" * 32, T0 + 3599).username == "bob"
        assert store.token_account("ab" * 32, T0 + 3600) is None  # expired
        assert store.token_account("cd" * 32, T0) is None
        linked = store.link_number("bob", DOMAIN, OTHER)
        assert linked.phone == OTHER
        assert store.pending_code("bob", DOMAIN, "link") is None
        store.put_code("bob", DOMAIN, code(OTHER, purpose="recover"), T0 + 2)
        store.replace_password("bob", DOMAIN, "new secret")
        assert store.ha1("bob", DOMAIN, "SHA-256") == compute_ha1("bob", DOMAIN, "new secret", "SHA-256")
        assert store.pending_code("bob", DOMAIN, "recover") is None
        store.remove_account("bob", DOMAIN)  # its codes, events and tokens go with it
        assert store.code_events("bob", DOMAIN, 0) == []


def test_a_version_2_file_gets_the_api_tables_and_keeps_its_accounts(path):
    connection = sqlite3.connect(path, isolation_level=None)
    for version in (1, 2):
        for statement in _MIGRATIONS[version]:
            connection.execute(statement)
    connection.execute(
        "INSERT INTO accounts (username, domain, ha1_md5, ha1_sha256, activated, created_at) VALUES (?, ?, ?, ?, 1, 0)",
        ("alice", DOMAIN, compute_ha1("alice", DOMAIN, "pw", "MD5"), compute_ha1("alice", DOMAIN, "pw", "SHA-256")),
    )
    connection.close()
    with Store.open(path) as store:
        assert store.get_account("alice", DOMAIN).activated
        store.put_code("alice", DOMAIN, code(purpose="link"), T0)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    connection.close()


def test_only_accounts_whose_activation_code_expired_are_removed_and_the_change_is_logged(database):
    with Store.open(database, clock=lambda: T0) as store:
        store.add_waiting_account("squatter", DOMAIN, "first", code(), T0)
        store.add_waiting_account("fresh", DOMAIN, "first", PendingCode("activate", OTHER, "9999", T0 + 1_200), T0)
        store.add_account("stopped", DOMAIN, "by the operator")
        store.set_activated("stopped", DOMAIN, False)  # no activation code: the operator's, never removed
        # an account with a verified number is never a waiting one, whatever activation code it was sent
        store.add_account("owner", DOMAIN, "by the operator", "+33699999999")
        store.put_code("owner", DOMAIN, code("+33699999999"), T0)
        store.set_activated("owner", DOMAIN, False)
        seen = store.changes(DOMAIN).last
        assert store.remove_expired_waiting(T0 + 599) == []
        assert store.remove_expired_waiting(T0 + 600) == [f"squatter@{DOMAIN}"]
        assert [account.username for account in store.accounts(DOMAIN)] == ["fresh", "owner", "stopped"]
        assert "squatter" in store.changes(DOMAIN, seen).usernames  # the authenticator forgets its password
