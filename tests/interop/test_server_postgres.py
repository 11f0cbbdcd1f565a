"""`smartbook server run --db postgresql://...` as a process, with its accounts made by `smartbook server account add
--db postgresql://...`, on a throwaway PostgreSQL cluster: a phone registers with an account made before the start
and with one made while it runs, and a server that cannot use its database says so in one line, without the
password. A watcher sees an account change made by another process as soon as PostgreSQL announces it, also after
the server's listening connection was cut, and one made as PostgreSQL came back from a stop."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartbook_tui.server.core import ServerConfig
from smartbook_tui.server.runner import RunOptions, serve
from smartbook_tui.server.store import PostgresUrl
from tests.interop.test_server_watch import FAST, is_phase, phone, presence_of, start_watch, stop
from tests.peers.postgres import PASSWORD as DATABASE_PASSWORD
from tests.peers.postgres import PostgresCluster, shared_cluster, start_cluster
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


def test_while_postgresql_is_down_known_accounts_still_sign_in_and_the_log_says_it_once(tmp_path):
    cluster = start_cluster()  # a cluster of its own, to stop
    running = True
    try:
        server = ServerOnPostgres(tmp_path / "server", url=cluster.socket_url(cluster.new_database()))
        server.add_account("alice")
        server.start()
        try:
            with SipPhone(server.sip, "alice", PASSWORD, DOMAIN) as alice:
                alice.register()
                cluster.stop()
                running = False
                for _ in range(5):  # from the accounts it has read; each one fails at once, not after a connection
                    alice.register()
        finally:
            server.stop()
    finally:
        if running:
            cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
    said = [line for line in server.log.splitlines() if "WARNING smartbook_tui.server.authentication" in line]
    assert len(said) == 1, said  # not once a request
    assert "could not read account changes" in said[0]
    assert "Traceback" not in server.log


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


# A poll of the change log no sooner than this: far beyond the watcher's wait, so only a notification can tell the
# server of a change in time.
NO_POLL = 30.0
ERIN = "+33633333333"
LISTENING = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"


@asynccontextmanager
async def serving_here(server: ServerOnPostgres) -> AsyncIterator[None]:
    """`server` served by this process, as `smartbook server run` serves (no option sets its poll interval), until
    a SIGTERM that its own handler takes."""
    ready = server.directory / "ready.json"
    config = ServerConfig(domain=DOMAIN, via={}, notify_interval=float(FAST[1]))
    options = RunOptions("127.0.0.1", 0, PostgresUrl(server.url), config, ready_file=ready, poll_interval=NO_POLL)
    serving = asyncio.create_task(serve(options))
    while not ready.exists():
        assert not serving.done(), serving.exception()
        await asyncio.sleep(0.02)
    host, _, port = json.loads(ready.read_text())["tcp"].rpartition(":")
    server.sip = (host, int(port))
    try:
        yield
    finally:
        if not serving.done():
            signal.raise_signal(signal.SIGTERM)
        await serving


async def logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    while text not in caplog.text:
        await asyncio.sleep(0.05)


def list_erin(server: ServerOnPostgres, tmp_path: Path) -> None:
    """alice's list `sip:friends@...` of erin's number, which erin's account does not have yet."""
    server.add_account("alice", "+33611111111")
    server.add_account("erin")
    entries = tmp_path / "friends.txt"
    entries.write_text(f"{ERIN}\n")
    server.admin("list", "set", "alice", "sip:friends@127.0.0.1", "--entries", str(entries))


async def test_an_account_changed_by_another_process_reaches_the_watcher_without_waiting_for_a_poll(
    tmp_path, url, request, caplog
):
    caplog.set_level(logging.INFO)
    cluster: PostgresCluster = shared_cluster(request)
    server = ServerOnPostgres(tmp_path / "server", url=url)
    list_erin(server, tmp_path)
    async with serving_here(server):
        watch = await start_watch(server, "alice", "--list-uri", "sip:friends@127.0.0.1")
        try:
            await watch.until(is_phase("active"))
            await watch.until(presence_of(phone(ERIN), has_account=False))

            mark = watch.mark()
            await asyncio.to_thread(server.admin, "account", "set", "erin", "--phone", ERIN)
            erin = await watch.until(presence_of(phone(ERIN), has_account=True), after=mark)
            assert erin["sip_address"] == "sip:erin@127.0.0.1"

            # The listening connection cut: the server listens again, and hears the next change.
            await asyncio.to_thread(cluster.admin, LISTENING)
            await asyncio.wait_for(logged(caplog, "listening again"), 15)
            mark = watch.mark()
            await asyncio.to_thread(server.admin, "account", "set", "erin", "--no-phone")
            await watch.until(presence_of(phone(ERIN), has_account=False, sip_address=None), after=mark)
        finally:
            await stop(watch)
    lost = [record.getMessage() for record in caplog.records if "listening again" in record.getMessage()]
    assert len(lost) == 1
    assert lost[0].startswith("lost the connection listening for account changes in postgresql://smartbook:***@")
    assert DATABASE_PASSWORD.replace(" ", "%20") not in caplog.text


async def test_a_change_made_as_postgresql_comes_back_reaches_the_watcher(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cluster = start_cluster()  # a cluster of its own, to stop and start again
    try:
        server = ServerOnPostgres(tmp_path / "server", url=cluster.socket_url(cluster.new_database()))
        list_erin(server, tmp_path)
        async with serving_here(server):
            watch = await start_watch(server, "alice", "--list-uri", "sip:friends@127.0.0.1")
            try:
                await watch.until(presence_of(phone(ERIN), has_account=False))
                await asyncio.to_thread(cluster.stop)
                await asyncio.wait_for(logged(caplog, "trying again every 5 s"), 15)
                await asyncio.to_thread(cluster.run_server)
                mark = watch.mark()
                await asyncio.to_thread(server.admin, "account", "set", "erin", "--phone", ERIN)
                await watch.until(presence_of(phone(ERIN), has_account=True), after=mark)
                await asyncio.wait_for(logged(caplog, "listening for account changes again"), 15)
            finally:
                await stop(watch)
    finally:
        cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
