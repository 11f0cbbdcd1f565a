"""`smartbook server run --db postgresql://...` as a process, with its accounts made by `smartbook server account add
--db postgresql://...`, on a throwaway PostgreSQL cluster: a phone registers with an account made before the start
and with one made while it runs, and a server that cannot use its database says so in one line, without the
password."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.peers.postgres import PASSWORD as DATABASE_PASSWORD
from tests.peers.postgres import PostgresCluster, shared_cluster
from tests.peers.sip_phone import SipPhone
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, smartbook

pytestmark = pytest.mark.peer("postgresql")


@dataclass
class ServerOnPostgres(SmartbookServer):
    url: str = ""

    @property
    def db(self) -> str:  # type: ignore[override]
        return self.url


@pytest.fixture
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database's URL over TCP, with the password."""
    cluster: PostgresCluster = shared_cluster(request)
    name = cluster.new_database()
    yield cluster.tcp_url(name)
    cluster.drop_database(name)


def test_a_server_on_postgresql_registers_accounts_added_before_and_while_it_runs(tmp_path, url):
    server = ServerOnPostgres(tmp_path / "server", url=url)
    server.add_account("alice", "+33612345678")
    server.start()
    try:
        with SipPhone(server.sip, "alice", PASSWORD, DOMAIN) as alice:
            alice.register()
        server.add_account("bob")
        with SipPhone(server.sip, "bob", PASSWORD, DOMAIN) as bob:
            bob.register()
        listed = server.admin("account", "list").stdout
        assert listed.split()[:2] == ["alice@127.0.0.1", "+33612345678"]
    finally:
        server.stop()
    assert "Traceback" not in server.log
    assert DATABASE_PASSWORD not in server.log
    assert DATABASE_PASSWORD.replace(" ", "%20") not in server.log


def test_a_wrong_database_password_is_one_line_without_the_password(tmp_path, url):
    wrong = "not-the-" + DATABASE_PASSWORD.replace(" ", "-")
    given = url.replace(DATABASE_PASSWORD.replace(" ", "%20"), wrong)
    for command in (("account", "list"), ("run", "--sip", "127.0.0.1:0")):
        done = smartbook("server", *command, "--db", given, "--domain", DOMAIN)
        assert done.returncode != 0
        assert done.stderr.count("\n") == 1, done.stderr
        assert "password authentication failed" in done.stderr
        assert wrong not in done.stderr
        assert "Traceback" not in done.stderr
