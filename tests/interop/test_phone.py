"""The phone engine (pjsua2, in this process, null audio) against `smartbook server run`: registration, a wrong
password, a server restart, own presence as a watcher (`smartbook watch`) sees it, and a clean shutdown.

Each test makes and shuts down its own Phone; nothing may be printed on the terminal (pjsip's log goes to
`logging`), which `capfd` checks at the file-descriptor level.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from smartbook_tui.phone.engine import DEFAULT_USER_AGENT, Phone, PhoneAccount, PhoneError, PhoneEvent
from smartbook_tui.phone.states import OwnPresence, OwnStatus, Registration, RegistrationState
from tests.peers.json_lines import JsonLines, Line
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

pytestmark = pytest.mark.peer("pjsua2")

WAIT = 15.0


class Events:
    """What a Phone told its owner, with a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[PhoneEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: PhoneEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def mark(self) -> int:
        return len(self.seen)

    async def until(self, predicate: Callable[[PhoneEvent], bool], *, after: int = 0) -> PhoneEvent:
        async def wait() -> PhoneEvent:
            while True:
                for event in self.seen[after:]:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), WAIT)
        except TimeoutError:
            raise AssertionError(f"the phone never said that; it said {self.seen[after:]}") from None


def registration(state: RegistrationState) -> Callable[[PhoneEvent], bool]:
    return lambda event: isinstance(event, Registration) and event.state is state


def published(status: OwnStatus) -> Callable[[PhoneEvent], bool]:
    return lambda event: isinstance(event, OwnPresence) and event.status is status and event.published


def account_of(server: SmartbookServer, user: str, password: str = PASSWORD) -> PhoneAccount:
    return PhoneAccount(server.aor(user), user, password, server.sip, "tcp")


@asynccontextmanager
async def running_phone(account: PhoneAccount) -> AsyncIterator[tuple[Phone, Events]]:
    events = Events()
    phone = Phone(account, on_event=events, null_audio=True)
    await phone.start()
    try:
        yield phone, events
    finally:
        await phone.shutdown()


def process_resources() -> tuple[int, int]:
    """Open file descriptors, and threads Python does not know of (pjsip's own), in this process."""
    native_threads = len(os.listdir("/proc/self/task")) - threading.active_count()
    return len(os.listdir("/proc/self/fd")), native_threads


async def test_registers_then_leaves_nothing_behind(tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="smartbook_tui.phone")
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        before = process_resources()
        async with running_phone(account_of(server, "alice")) as (phone, events):
            await events.until(registration(RegistrationState.REGISTERED))
            assert phone.registration == Registration(RegistrationState.REGISTERED)
            await events.until(published(OwnStatus.ONLINE))  # registered, and online for the contacts
            await asyncio.to_thread(server.wait_for_log, f"(User-Agent: {DEFAULT_USER_AGENT})")
        assert phone.registration == Registration(RegistrationState.UNREGISTERED)
        assert events.seen[-1] == Registration(RegistrationState.UNREGISTERED)
        assert process_resources() == before  # no socket, no thread of pjsip's left
        server.wait_for_log("sip:alice@127.0.0.1 unregisters")
        await phone.shutdown()  # a second time: nothing happens
    assert capfd.readouterr() == ("", "")
    # pjsip's log, SIP messages included, went to `logging`, without the credentials.
    assert "Response msg 200/REGISTER" in caplog.text
    assert "Authorization: (not logged)" in caplog.text
    assert 'response="' not in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_status_set_before_start_is_published_once_registered(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        events = Events()
        phone = Phone(account_of(server, "alice"), on_event=events, null_audio=True)
        phone.set_presence(OwnStatus.BUSY, "Writing")
        await phone.start()
        try:
            await events.until(published(OwnStatus.BUSY))
        finally:
            await phone.shutdown()
    assert [type(event).__name__ for event in events.seen] == [
        "OwnPresence",  # asked for
        "Registration",  # registering
        "Registration",  # registered
        "OwnPresence",  # published
        "Registration",  # unregistered
    ]


async def test_registers_over_udp_straight_to_the_domain(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        host, port = server.sip
        account = PhoneAccount(f"sip:alice@{host}:{port}", "alice", PASSWORD, None, "udp")  # no proxy
        async with running_phone(account) as (_, events):
            await events.until(registration(RegistrationState.REGISTERED))
            await asyncio.to_thread(server.wait_for_log, "sip:alice@127.0.0.1 registers")
        server.wait_for_log("sip:alice@127.0.0.1 unregisters")


async def test_one_phone_at_a_time_and_an_owner_error_is_logged_not_printed(tmp_path, caplog, capfd):
    seen: list[PhoneEvent] = []

    def broken_owner(event: PhoneEvent) -> None:
        seen.append(event)
        raise RuntimeError("the owner's own bug")

    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        phone = Phone(account_of(server, "alice"), on_event=broken_owner, null_audio=True)
        await phone.start()
        try:
            with pytest.raises(PhoneError, match="a phone is already running in this process"):
                await Phone(account_of(server, "alice"), on_event=broken_owner).start()
            await asyncio.to_thread(server.wait_for_log, "sip:alice@127.0.0.1 registers")
        finally:
            await phone.shutdown()
    assert [event.state for event in seen if isinstance(event, Registration)] == [
        RegistrationState.REGISTERING,
        RegistrationState.REGISTERED,
        RegistrationState.UNREGISTERED,
    ]
    assert "the owner's own bug" in caplog.text
    assert capfd.readouterr() == ("", "")


async def test_a_wrong_password_is_said_once_and_not_retried(tmp_path, capfd):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        async with running_phone(account_of(server, "alice", "wrong horse")) as (phone, events):
            failed = await events.until(registration(RegistrationState.FAILED))
            assert failed == Registration(
                RegistrationState.FAILED, "wrong password for alice at 127.0.0.1", retrying=False
            )
            refused = server.log.count("refused credentials for REGISTER")
            await asyncio.sleep(3.0)  # longer than the first retry of a failure that is retried
            assert phone.registration == failed
            assert server.log.count("refused credentials for REGISTER") == refused  # no more tries: no storm
    assert capfd.readouterr() == ("", "")


async def test_registers_again_when_the_server_comes_back_after_being_killed(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        async with running_phone(account_of(server, "alice")) as (phone, events):
            await events.until(registration(RegistrationState.REGISTERED))
            mark = events.mark()
            await asyncio.to_thread(server.stop, signal.SIGKILL)
            lost = await events.until(lambda event: isinstance(event, Registration), after=mark)
            assert lost == Registration(
                RegistrationState.REGISTERING, f"lost the connection to {server.proxy}; registering again"
            )
            failed = await events.until(registration(RegistrationState.FAILED), after=mark)
            assert server.proxy in failed.detail  # "cannot reach 127.0.0.1:PORT: Connection refused"
            assert failed.retrying

            await asyncio.to_thread(server.start)
            await events.until(registration(RegistrationState.REGISTERED), after=mark)
            assert phone.registration == Registration(RegistrationState.REGISTERED)
            await asyncio.to_thread(server.wait_for_log, "sip:alice@127.0.0.1 registers")


async def test_registers_over_tls_with_the_ca_file(tmp_path, certificates):
    tls = ("--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key), "--tls-port", "0")
    with run_smartbook_server(tmp_path / "server", *tls, accounts=[("alice", None)]) as server:
        assert server.tls is not None
        account = PhoneAccount(server.aor("alice"), "alice", PASSWORD, server.tls, "tls", certificates.ca)
        async with running_phone(account) as (_, events):
            await events.until(registration(RegistrationState.REGISTERED))
        server.wait_for_log("sip:alice@127.0.0.1 unregisters")


# ------------------------------------------------------------------------------------------ own presence


class Watch(JsonLines):
    """`smartbook watch` as alice, on a book with bob's address: what a contact's list shows of bob."""

    @classmethod
    async def start(cls, server: SmartbookServer, book: Path) -> Watch:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartbook_tui.cli", "watch",
            "--sip-uri", server.aor("alice"), "--proxy", server.proxy, "--password-file", str(server.password_file),
            "--vcard", str(book),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process, "watch")

    async def bob(self, status: str, note: str | None, *, after: int) -> Line:
        return await self.until(
            lambda line: (
                line.get("event") == "presence"
                and line.get("uri") == "sip:bob@127.0.0.1"
                and (line.get("status"), line.get("note")) == (status, note)
            ),
            after=after,
        )


async def test_own_presence_is_what_a_watcher_sees(tmp_path, capfd):
    book = tmp_path / "book.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nIMPP:sip:bob@127.0.0.1\r\nEND:VCARD\r\n")
    fast = ("--notify-interval", "0.2")
    with run_smartbook_server(tmp_path / "server", *fast, accounts=[("alice", None)]) as server:
        server.add_account("bob", public=True)  # public: alice may see bob's status
        watch = await Watch.start(server, book)
        try:
            async with running_phone(account_of(server, "bob")) as (phone, events):
                await events.until(registration(RegistrationState.REGISTERED))
                steps = [
                    (OwnStatus.AWAY, "Gone fishing", "away"),
                    (OwnStatus.BUSY, None, "busy"),
                    (OwnStatus.DO_NOT_DISTURB, "In a meeting", "busy"),
                    (OwnStatus.OFFLINE, None, "offline"),
                    (OwnStatus.ONLINE, "Back", "online"),
                ]
                for status, note, seen in steps:
                    mark, lines = events.mark(), watch.mark()
                    phone.set_presence(status, note)
                    assert events.seen[mark] == OwnPresence(status, note, published=False)
                    await events.until(published(status), after=mark)
                    await watch.bob(seen, note, after=lines)

                # A server restart forgets publications: the phone publishes its status again.
                mark, lines = events.mark(), watch.mark()
                await asyncio.to_thread(server.restart)
                await events.until(registration(RegistrationState.REGISTERED), after=mark)
                await watch.bob("online", "Back", after=lines)
                assert phone.presence == OwnPresence(OwnStatus.ONLINE, "Back", published=True)
                lines = watch.mark()
            await watch.bob("offline", None, after=lines)  # bob's phone withdrew its status when it shut down
            server.wait_for_log("sip:bob@127.0.0.1 unregisters")
        finally:
            await watch.stop()
    assert capfd.readouterr() == ("", "")


async def test_quitting_before_the_first_publish_is_answered_still_withdraws_it(tmp_path, caplog, capfd):
    book = tmp_path / "book.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nIMPP:sip:bob@127.0.0.1\r\nEND:VCARD\r\n")
    caplog.set_level(logging.DEBUG, logger="smartbook_tui.phone")
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        server.add_account("bob", public=True)
        async with running_phone(account_of(server, "bob")) as (_, events):
            await events.until(registration(RegistrationState.REGISTERED))  # its PUBLISH is on the way: quit now
        # A watcher arriving afterwards finds bob offline: the server was told, not left to wait for the expiry.
        watch = await Watch.start(server, book)
        try:
            seen = await watch.until(lambda line: line.get("uri") == "sip:bob@127.0.0.1" and "status" in line)
        finally:
            await watch.stop()
    assert seen["status"] == "offline"
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert capfd.readouterr() == ("", "")
