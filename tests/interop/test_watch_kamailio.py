"""`smartbook watch` against a real Kamailio 5.6 (presence server + RLS, digest auth), as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from tests.peers.kamailio import run_kamailio
from tests.peers.sip_publish import pidf, publish

USERS = {"alice": "wonderland", "bob": "builder", "carol": "singer", "erin": "hidden"}
BUDDIES = ["sip:bob@127.0.0.1", "sip:carol@127.0.0.1", "sip:erin@127.0.0.1"]


class Watch:
    """`smartbook watch` in a subprocess, its JSON lines read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, object]] = []

    async def until(self, predicate, timeout: float = 15.0) -> dict[str, object]:
        async def read() -> dict[str, object]:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                raw = await self.process.stdout.readline()
                if not raw:
                    stderr = (await self.process.stderr.read()).decode()
                    raise AssertionError(f"watch ended: {stderr}; lines: {self.lines}")
                self.lines.append(json.loads(raw))

        return await asyncio.wait_for(read(), timeout)

    async def interrupt(self) -> tuple[int, str]:
        """Ctrl-C, as a user stops it; the lines it printed meanwhile are read too."""
        self.process.send_signal(signal.SIGINT)
        rest, stderr = await asyncio.wait_for(self.process.communicate(), 10.0)
        self.lines += [json.loads(line) for line in rest.splitlines()]
        return self.process.returncode, stderr.decode()


async def start_watch(*args: str, password: str) -> Watch:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartbook_tui.cli", "watch", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SMARTBOOK_PASSWORD": password},
    )  # fmt: skip
    return Watch(process)


def presence_of(uri: str, **expected: object):
    def matches(line: dict[str, object]) -> bool:
        return line.get("uri") == uri and all(line.get(key) == value for key, value in expected.items())

    return matches


@pytest.mark.peer("kamailio")
async def test_watch_a_server_stored_list_then_changes_then_unsubscribe(tmp_path):
    with run_kamailio(tmp_path, users=USERS, lists={"alice": {"buddies": BUDDIES}}) as kamailio:
        server = ("127.0.0.1", kamailio.port)
        assert await publish(server, "bob", "builder", pidf("sip:bob@127.0.0.1", note="at work")) == 200
        watch = await start_watch(
            "--sip-uri", "sip:alice@127.0.0.1", "--proxy", f"127.0.0.1:{kamailio.port}", "--transport", "tcp",
            "--list-uri", kamailio.list_uri("alice", "buddies"),
            password="wonderland",
        )  # fmt: skip
        try:
            await watch.until(lambda line: line.get("phase") == "active")
            for uri in BUDDIES:  # Kamailio's first full state names everyone, with no instance yet
                await watch.until(presence_of(uri))
            bob = await watch.until(presence_of("sip:bob@127.0.0.1", status="online"))
            assert bob["note"] == "at work"
            assert bob["sip_address"] == "sip:bob@127.0.0.1"
            # A change: carol comes online; the watcher sees it about a second later (Kamailio batches).
            assert await publish(server, "carol", "singer", pidf("sip:carol@127.0.0.1")) == 200
            await watch.until(presence_of("sip:carol@127.0.0.1", status="online"))
            assert await publish(server, "carol", "singer", pidf("sip:carol@127.0.0.1", basic="closed")) == 200
            await watch.until(presence_of("sip:carol@127.0.0.1", status="offline"))
        finally:
            code, stderr = await watch.interrupt()
        assert code == 0, stderr
        assert {"event": "state", "phase": "stopped", "detail": "unsubscribed"} in watch.lines


@pytest.mark.peer("kamailio")
async def test_a_book_sent_to_kamailio_is_reported_as_unsupported_not_an_empty_book(tmp_path):
    book = tmp_path / "book.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nIMPP:sip:bob@127.0.0.1\r\nEND:VCARD\r\n")
    with run_kamailio(tmp_path / "k", users=USERS) as kamailio:
        watch = await start_watch(
            "--sip-uri", "sip:alice@127.0.0.1", "--proxy", f"127.0.0.1:{kamailio.port}",
            "--vcard", str(book), "--rls-uri", f"sip:rls@127.0.0.1:{kamailio.port}",
            password="wonderland",
        )  # fmt: skip
        await asyncio.wait_for(watch.process.wait(), 15.0)
        stderr = (await watch.process.stderr.read()).decode()
    assert watch.process.returncode == 2
    assert "no RFC 5367 support" in stderr
    assert stderr.count("\n") == 1


@pytest.mark.peer("kamailio")
async def test_a_wrong_password_is_one_line_and_exit_2(tmp_path):
    with run_kamailio(tmp_path, users=USERS, lists={"alice": {"buddies": BUDDIES}}) as kamailio:
        watch = await start_watch(
            "--sip-uri", "sip:alice@127.0.0.1", "--proxy", f"127.0.0.1:{kamailio.port}",
            "--list-uri", kamailio.list_uri("alice", "buddies"),
            password="not-it",
        )  # fmt: skip
        await asyncio.wait_for(watch.process.wait(), 15.0)
        stderr = (await watch.process.stderr.read()).decode()
    assert watch.process.returncode == 2
    assert stderr == "smartbook: the server refused the user name or password\n"


@pytest.mark.peer("kamailio")
async def test_a_short_subscription_is_refreshed_in_its_dialog(tmp_path):
    with run_kamailio(tmp_path, users=USERS, lists={"alice": {"buddies": BUDDIES}}) as kamailio:
        watch = await start_watch(
            "--sip-uri", "sip:alice@127.0.0.1", "--proxy", f"127.0.0.1:{kamailio.port}",
            "--list-uri", kamailio.list_uri("alice", "buddies"), "--expires", "4",
            password="wonderland",
        )  # fmt: skip
        try:
            await watch.until(lambda line: line.get("phase") == "active")
            await asyncio.sleep(6.5)  # past the first expiry: only a refresh keeps the subscription
            server = ("127.0.0.1", kamailio.port)
            assert await publish(server, "carol", "singer", pidf("sip:carol@127.0.0.1")) == 200
            await watch.until(presence_of("sip:carol@127.0.0.1", status="online"))
        finally:
            code, stderr = await watch.interrupt()
    assert code == 0, stderr
    phases = [line["phase"] for line in watch.lines if line.get("event") == "state"]
    assert phases.count("subscribing") == 1  # refreshed, never subscribed anew
    assert "waiting" not in phases


@pytest.mark.peer("kamailio")
async def test_once_exits_after_the_first_full_state(tmp_path):
    with run_kamailio(tmp_path, users=USERS, lists={"alice": {"buddies": BUDDIES}}) as kamailio:
        watch = await start_watch(
            "--sip-uri", "sip:alice@127.0.0.1", "--proxy", f"127.0.0.1:{kamailio.port}",
            "--list-uri", kamailio.list_uri("alice", "buddies"), "--once",
            password="wonderland",
        )  # fmt: skip
        out, err = await asyncio.wait_for(watch.process.communicate(), 15.0)
    assert watch.process.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["uri"] for line in lines if line["event"] == "presence") == BUDDIES
    assert lines[-1] == {"event": "state", "phase": "stopped", "detail": "unsubscribed"}
