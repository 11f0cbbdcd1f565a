"""What only the PostgreSQL store does: its schema's version in the database, the databases it refuses, the one line
it says when PostgreSQL cannot be reached or used (never with the password), a connection lost and opened again,
writers taking turns so that the change log is read in order, and account changes announced as they commit. The
store's behaviour on both databases is tested in test_server_store.py and the others that take the `database`
fixture."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from smartbook_tui.server.store import (
    SCHEMA_VERSION,
    ChangeNotifications,
    DatabaseUnusable,
    PostgresUrl,
    Store,
    StoreError,
)
from tests.peers.postgres import PASSWORD, PostgresCluster, shared_cluster
from tests.peers.radicale import free_port

pytestmark = pytest.mark.peer("postgresql")

DOMAIN = "example.org"


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    return shared_cluster(request)


@pytest.fixture
def name(cluster: PostgresCluster) -> Iterator[str]:
    database = cluster.new_database()
    yield database
    cluster.drop_database(database)


def sql(cluster: PostgresCluster, name: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(cluster.socket_url(name), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def refusal(location: str) -> str:
    with pytest.raises(DatabaseUnusable) as error:
        Store.open(location)
    message = str(error.value)
    assert "\n" not in message
    assert PASSWORD not in message
    assert PASSWORD.replace(" ", "%20") not in message
    return message


def test_a_new_database_gets_the_current_schema_and_keeps_its_data_over_tcp_with_the_password(cluster, name):
    with Store.open(cluster.socket_url(name)) as store:
        store.add_account("alice", DOMAIN, "secret", "+33612345678")
    assert sql(cluster, name, "SELECT version FROM smartbook_schema") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in sql(cluster, name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"accounts", "phone_numbers", "lists", "list_entries", "account_changes", "publications"} <= tables
    with Store.open(cluster.tcp_url(name)) as store:
        assert store.get_account("alice", DOMAIN).phone == "+33612345678"
        assert PASSWORD not in store.where
        assert PASSWORD.replace(" ", "%20") not in store.where


def test_a_newer_database_is_refused(cluster, name):
    Store.open(cluster.socket_url(name)).close()
    sql(cluster, name, f"UPDATE smartbook_schema SET version = {SCHEMA_VERSION + 1}")
    message = refusal(cluster.socket_url(name))
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this smartbook knows ({SCHEMA_VERSION})" in message


def test_another_programs_database_is_refused_and_left_alone(cluster, name):
    sql(cluster, name, "CREATE TABLE notes (text TEXT)")
    assert "another program's PostgreSQL database" in refusal(cluster.socket_url(name))
    tables = {row[0] for row in sql(cluster, name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"notes"}


def test_an_unusable_postgresql_is_one_line_that_says_why_without_the_password(cluster, name):
    assert "password authentication failed" in refusal(cluster.tcp_url(name, password="not " + PASSWORD))
    assert 'database "no_such_database" does not exist' in refusal(cluster.tcp_url("no_such_database"))
    nobody = f"postgresql://smartbook:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{free_port()}/{name}"
    message = refusal(nobody)
    assert "Connection refused" in message
    assert message.startswith("cannot connect to the database postgresql://smartbook:***@127.0.0.1:")


def test_the_url_prints_without_its_password():
    assert str(PostgresUrl("postgresql://alice:s3cret@db.example:5433/smartbook")) == (
        "postgresql://alice:***@db.example:5433/smartbook"
    )
    assert str(PostgresUrl("postgresql://alice@db.example/smartbook?password=s3cret&sslmode=require")) == (
        "postgresql://alice@db.example/smartbook?password=***&sslmode=require"
    )
    assert "s3cret" not in repr(PostgresUrl("postgres://alice:s3cret@db.example/smartbook"))


def test_a_lost_connection_is_opened_again(cluster, name):
    with Store.open(cluster.socket_url(name)) as store:
        store.add_account("alice", DOMAIN, "secret")
        sql(cluster, "postgres", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        assert store.get_account("alice", DOMAIN) is not None  # a read finds the connection lost and opens it again
        sql(cluster, "postgres", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        store.add_account("bob", DOMAIN, "secret")  # so does a write, before its transaction begins
        assert [account.username for account in store.accounts()] == ["alice", "bob"]


def test_a_writer_waits_for_the_one_before_so_that_a_poller_never_skips_a_change(cluster, name):
    url = cluster.socket_url(name)
    with Store.open(url) as first, Store.open(url) as second, Store.open(url) as poller:
        done = threading.Event()

        def add_bob() -> None:
            second.add_account("bob", DOMAIN, "secret")
            done.set()

        with first._write():
            first._log_change(DOMAIN, "alice", None, int(time.time()))  # a change logged, not yet committed
            writer = threading.Thread(target=add_bob)
            writer.start()
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            while sql(cluster, name, waiting) != [(1,)]:  # the second writer now waits for the first
                assert writer.is_alive()
            assert poller.changes(DOMAIN) == poller.changes(DOMAIN, 0)
            assert poller.changes(DOMAIN).usernames == frozenset()
        writer.join(30)
        assert done.is_set()
        seen = poller.changes(DOMAIN)
        assert seen.usernames == {"alice", "bob"}
        assert poller.changes(DOMAIN, seen.last).usernames == frozenset()
        first_change = poller.changes(DOMAIN, seen.last - 1)
        assert first_change.usernames == {"bob"}  # bob's change is numbered after alice's


def heard(notifications: ChangeNotifications) -> frozenset[str]:
    """The domains of the next notifications to arrive, waiting for them."""
    deadline = time.monotonic() + 30
    while not (domains := notifications.domains()):
        assert time.monotonic() < deadline, "no notification arrived"
        select.select([notifications.fileno()], [], [], 1)
    return domains


def listening(store: Store) -> ChangeNotifications:
    assert store.listen is not None
    return store.listen()


def log_a_change_then_fail(store: Store) -> None:
    with store._write():
        store._log_change("rolled.back.example", "bob", None, int(time.time()))
        raise RuntimeError("the write fails after logging its change")


def test_each_committed_account_change_is_heard_with_its_domain_and_a_rolled_back_one_is_not(cluster, name):
    url = cluster.socket_url(name)
    with Store.open(url) as writer, Store.open(url) as server:
        notifications = listening(server)
        try:
            writer.add_account("alice", DOMAIN, "secret")
            assert heard(notifications) == {DOMAIN}
            with pytest.raises(RuntimeError):
                log_a_change_then_fail(writer)
            writer.add_account("carol", "other.example", "secret")
            assert heard(notifications) == {"other.example"}  # what was rolled back was never sent
        finally:
            notifications.close()


def test_a_lost_listening_connection_is_one_line_without_the_password(cluster, name):
    with Store.open(cluster.tcp_url(name)) as server:
        notifications = listening(server)
        try:
            sql(
                cluster,
                "postgres",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'",
            )
            with pytest.raises(StoreError) as error:
                heard(notifications)
        finally:
            notifications.close()
        assert str(error.value).startswith("lost the connection listening for account changes in postgresql://")
        assert "\n" not in str(error.value)
        assert PASSWORD.replace(" ", "%20") not in str(error.value)
        assert server.get_account("nobody", DOMAIN) is None  # the store's own connection is untouched
