"""`smartbook watch` against `smartbook server run`, end to end: both real processes on 127.0.0.1.

The server holds accounts made with its admin commands; the watcher is alice, subscribing to her vCard book
(RFC 5367) or to a list stored on the server. PUBLISHes come from smartbook's own SIP stack
(`tests.peers.sip_publish`, whose `Publisher` keeps its ETag as a phone does).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tests.peers.json_lines import JsonLines, Line
from tests.peers.sip_publish import Publisher, pidf, publish
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

# Short waits: coalesced NOTIFYs 0.2 s apart, and a change log the server reads every second.
FAST = ("--notify-interval", "0.2")

ALICE, BOB, CAROL, ERIN = "+33611111111", "+33612345678", "+33622222222", "+33633333333"
NOBODY = "+33699999999"


def phone(number: str) -> str:
    """The resource a book's number becomes: the server's phone alias of it."""
    return f"sip:{number}@127.0.0.1;user=phone"


def address(user: str) -> str:
    return f"sip:{user}@127.0.0.1"


def vcard(name: str, *properties: str) -> str:
    return "".join(f"{line}\r\n" for line in ("BEGIN:VCARD", "VERSION:3.0", f"FN:{name}", *properties, "END:VCARD"))


def write_book(path: Path, *cards: str) -> Path:
    path.write_text("".join(cards))
    return path


class Watch(JsonLines):
    """`smartbook watch` in a subprocess, its JSON lines read as they come (as in test_watch_kamailio)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__(process, "watch")
        self.exit: tuple[int | None, str] = (None, "still running")

    def presence(self, uri: str, *, after: int = 0) -> list[Line]:
        return [line for line in self.lines[after:] if line.get("event") == "presence" and line.get("uri") == uri]

    @property
    def phases(self) -> list[object]:
        return [line["phase"] for line in self.lines if line.get("event") == "state"]


async def start_watch(server: SmartbookServer, user: str, *args: str) -> Watch:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartbook_tui.cli", "watch",
        "--sip-uri", server.aor(user), "--proxy", server.proxy, "--password-file", str(server.password_file),
        "--region", "FR", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Watch(process)


async def watch_once(server: SmartbookServer, user: str, *args: str) -> list[Line]:
    watch = await start_watch(server, user, "--once", *args)
    out, err = await asyncio.wait_for(watch.process.communicate(), 20.0)
    assert watch.process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.splitlines()]


def presence_of(uri: str, **expected: object) -> Callable[[Line], bool]:
    def matches(line: Line) -> bool:
        return (
            line.get("event") == "presence"
            and line.get("uri") == uri
            and all(line.get(key) == value for key, value in expected.items())
        )

    return matches


def is_phase(phase: str) -> Callable[[Line], bool]:
    return lambda line: line.get("event") == "state" and line.get("phase") == phase


def by_uri(lines: list[Line]) -> dict[object, Line]:
    return {line["uri"]: line for line in lines if line.get("event") == "presence"}


async def stop(watch: Watch) -> None:
    """Ctrl-C; in a `finally`, so it asserts nothing that would hide the test's own failure."""
    code, stderr = await watch.stop(signal.SIGINT)
    watch.exit = (code, stderr)


def assert_unsubscribed(watch: Watch) -> None:
    code, stderr = watch.exit
    assert code == 0, stderr
    assert watch.lines[-1] == {"event": "state", "phase": "stopped", "detail": "unsubscribed"}


# ---------------------------------------------------------------------------------------------- the lists


async def test_a_book_shows_which_numbers_and_addresses_have_an_account(tmp_path):
    book = write_book(
        tmp_path / "book.vcf",
        vcard("Bob", "TEL;TYPE=cell:+33 6 12 34 56 78"),
        vcard("Nobody", "TEL;TYPE=cell:06 99 99 99 99"),  # a national number: --region FR makes it +33
        vcard("Dave", "IMPP:sip:dave@127.0.0.1"),
        vcard("Ghost", "IMPP:sip:ghost@127.0.0.1"),
    )
    accounts = [("alice", ALICE), ("bob", BOB), ("dave", None)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts) as server:
        lines = await watch_once(server, "alice", "--vcard", str(book))

    seen = by_uri(lines)
    assert sorted(seen) == sorted([phone(BOB), phone(NOBODY), address("dave"), address("ghost")])
    assert seen[phone(BOB)]["contacts"] == ["Bob"]
    assert (seen[phone(BOB)]["has_account"], seen[phone(BOB)]["sip_address"]) == (True, address("bob"))
    assert (seen[address("dave")]["has_account"], seen[address("dave")]["sip_address"]) == (True, address("dave"))
    for uri in (phone(NOBODY), address("ghost")):
        assert (seen[uri]["has_account"], seen[uri]["sip_address"]) == (False, None)
    assert lines[-1] == {"event": "state", "phase": "stopped", "detail": "unsubscribed"}


async def test_each_unreadable_card_is_a_line_on_stderr_and_the_rest_is_watched(tmp_path):
    good = write_book(tmp_path / "good.vcf", vcard("Bob", "TEL;TYPE=cell:+33 6 12 34 56 78"))
    broken = write_book(
        tmp_path / "broken.vcf",
        vcard("Nobody", "TEL;TYPE=cell 06 99 99 99 99"),  # no colon: not a vCard line
        vcard("Carol", "TEL;TYPE=cell:+33 6 22 22 22 22"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cut short\r\n",
    )
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("bob", BOB)]) as server:
        watch = await start_watch(server, "alice", "--once", "--vcard", str(good), "--vcard", str(broken))
        out, err = await asyncio.wait_for(watch.process.communicate(), 20.0)
    assert watch.process.returncode == 0, err.decode()
    warnings = err.decode().splitlines()
    assert [line.split(": card ")[1].split(" ")[0] for line in warnings] == ["1", "3"]
    assert all(line.startswith(f"smartbook: {broken}: card ") for line in warnings)
    seen = by_uri([json.loads(line) for line in out.splitlines()])
    assert seen[phone(BOB)]["has_account"] is True
    assert phone(CAROL) in seen


async def test_a_server_stored_list(tmp_path):
    entries = tmp_path / "friends.txt"
    entries.write_text(f"# alice's friends\n{BOB}\nsip:dave@127.0.0.1\n{NOBODY}\n")
    accounts = [("alice", ALICE), ("bob", BOB), ("dave", None)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts) as server:
        server.admin("list", "set", "alice", "sip:friends@127.0.0.1", "--entries", str(entries))
        lines = await watch_once(server, "alice", "--list-uri", "sip:friends@127.0.0.1")

    seen = by_uri(lines)
    assert sorted(seen) == sorted([phone(BOB), address("dave"), phone(NOBODY)])
    assert (seen[phone(BOB)]["has_account"], seen[phone(BOB)]["sip_address"]) == (True, address("bob"))
    assert (seen[address("dave")]["has_account"], seen[address("dave")]["sip_address"]) == (True, address("dave"))
    assert (seen[phone(NOBODY)]["has_account"], seen[phone(NOBODY)]["sip_address"]) == (False, None)


async def test_numbers_linked_to_accounts_appear_live_without_resubscribing(tmp_path):
    book = write_book(
        tmp_path / "book.vcf",
        vcard("Bob", f"TEL:{BOB}"),
        vcard("Carol", f"TEL:{CAROL}"),
        vcard("Erin", f"TEL:{ERIN}"),
    )
    accounts = [("alice", ALICE), ("bob", BOB), ("erin", None)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts) as server:
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            await watch.until(is_phase("active"))
            for number in (CAROL, ERIN):
                await watch.until(presence_of(phone(number), has_account=False))

            # A new account with one of the book's numbers.
            mark = watch.mark()
            server.add_account("carol", CAROL)
            carol = await watch.until(presence_of(phone(CAROL), has_account=True), after=mark)
            assert carol["sip_address"] == address("carol")
            assert carol["contacts"] == ["Carol"]

            # An existing account links one of the book's numbers, then unlinks it.
            mark = watch.mark()
            server.admin("account", "set", "erin", "--phone", ERIN)
            erin = await watch.until(presence_of(phone(ERIN), has_account=True), after=mark)
            assert erin["sip_address"] == address("erin")
            mark = watch.mark()
            server.admin("account", "set", "erin", "--no-phone")
            await watch.until(presence_of(phone(ERIN), has_account=False, sip_address=None), after=mark)
        finally:
            await stop(watch)
    assert_unsubscribed(watch)
    assert watch.phases.count("subscribing") == 1  # all of it in the first subscription
    assert "waiting" not in watch.phases
    assert watch.presence(phone(BOB))[-1]["has_account"] is True  # the others untouched


# ---------------------------------------------------------------------------------------------- presence


async def test_publications_reach_the_watcher_the_gate_lets_through(tmp_path):
    """bob's presence is public, dave's is not: alice sees bob's status, and dave's only once dave watches her (and
    still after he stops: the gate remembers whom he listed, so his phone going off shows as offline, not hidden)."""
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Dave", "IMPP:sip:dave@127.0.0.1"))
    dave_book = write_book(tmp_path / "dave.vcf", vcard("Alice", f"TEL:{ALICE}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("dave", None)]) as server:
        server.add_account("bob", BOB, public=True)
        bob_phone, dave_phone = Publisher(server.sip, "bob", PASSWORD), Publisher(server.sip, "dave", PASSWORD)
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            await watch.until(is_phase("active"))
            # Allowed, nothing published: an offline user. Gated: a user whose status is hidden.
            await watch.until(presence_of(phone(BOB), has_account=True, sip_address=address("bob"), status="offline"))
            await watch.until(presence_of(address("dave"), has_account=True, status="unknown", note=None))

            mark = watch.mark()
            assert await dave_phone.publish("open", "secret plans") == 200
            assert await bob_phone.publish("open", "at lunch") == 200
            bob = await watch.until(presence_of(phone(BOB), status="online"), after=mark)
            assert (bob["note"], bob["has_account"], bob["sip_address"]) == ("at lunch", True, address("bob"))
            # dave published first; what alice may see of him did not change, so nothing came of it.
            assert watch.presence(address("dave"), after=mark) == []

            mark = watch.mark()
            assert await bob_phone.publish("closed") == 200  # the same publication, now closed
            bob = await watch.until(presence_of(phone(BOB), status="offline"), after=mark)
            assert (bob["has_account"], bob["sip_address"], bob["note"]) == (True, address("bob"), None)

            # dave subscribes to a book that holds alice: the gate opens, alice sees his live status.
            mark = watch.mark()
            dave_watch = await start_watch(server, "dave", "--vcard", str(dave_book))
            try:
                await dave_watch.until(is_phase("active"))
                dave = await watch.until(presence_of(address("dave"), status="online"), after=mark)
                assert (dave["note"], dave["has_account"]) == ("secret plans", True)
            finally:
                await stop(dave_watch)
            # ... and stays open once he stops watching: his last list held alice.
            mark = watch.mark()
            assert await dave_phone.publish("open", "back soon") == 200
            dave = await watch.until(presence_of(address("dave"), status="online"), after=mark)
            assert dave["note"] == "back soon"
        finally:
            await stop(watch)
    assert_unsubscribed(dave_watch)
    assert_unsubscribed(watch)
    assert watch.phases.count("subscribing") == 1


async def test_a_short_subscription_is_refreshed_past_its_expiry(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, "--min-expires", "2", accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        watch = await start_watch(server, "alice", "--vcard", str(book), "--expires", "4")
        try:
            await watch.until(is_phase("active"))
            await watch.until(presence_of(phone(BOB), status="offline"))
            await asyncio.sleep(5.0)  # past the first expiry: only refreshes keep the subscription
            mark = watch.mark()
            assert await publish(server.sip, "bob", PASSWORD, pidf(address("bob"), note="still here")) == 200
            bob = await watch.until(presence_of(phone(BOB), status="online"), after=mark)
            assert bob["note"] == "still here"
            assert " ends: " not in server.log  # the server never let the subscription lapse
        finally:
            await stop(watch)
    assert_unsubscribed(watch)
    assert watch.phases.count("subscribing") == 1  # refreshed in its dialog, never subscribed anew
    assert "waiting" not in watch.phases


async def test_the_watcher_comes_back_after_a_server_restart_with_no_stale_state(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Nobody", f"TEL:{NOBODY}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            await watch.until(is_phase("active"))
            assert await publish(server.sip, "bob", PASSWORD, pidf(address("bob"), note="before")) == 200
            await watch.until(presence_of(phone(BOB), status="online", note="before"))

            mark = watch.mark()
            server.restart()  # SIGTERM: every subscriber is told to come back in 5 s; publications are kept
            await watch.until(is_phase("waiting"), after=mark)
            await watch.until(is_phase("active"), after=watch.mark(), timeout=30.0)

            # The new subscription is live, and its full state, before this, showed bob as he was.
            assert await publish(server.sip, "bob", PASSWORD, pidf(address("bob"), note="after")) == 200
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=mark)
            assert [line["note"] for line in watch.presence(phone(BOB), after=mark)] == ["after"]
            assert watch.presence(phone(NOBODY), after=mark) == []  # unchanged, so not repeated
        finally:
            await stop(watch)
    assert_unsubscribed(watch)
    waiting = [line["detail"] for line in watch.lines if line.get("phase") == "waiting"]
    assert "the server ended the subscription (probation); trying again in 5 s" in waiting
