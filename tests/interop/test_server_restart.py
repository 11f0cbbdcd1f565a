"""A restarted `smartbook server run` and `smartbook watch`, both real processes: the server's UDP subscription
dialogs survive a kill -9 (saved in its database, restored with their full state, which shows the publishers as they
were), a TCP watcher subscribes again once its connection drops, a graceful stop ends every dialog for good (its
watchers told to come back) but keeps the publications, and a UDP phone registered before a kill -9 is still called
without registering again."""

from __future__ import annotations

import asyncio
import signal

from smartbook_tui.sip.message import SipRequest, SipResponse
from tests.interop.test_proxy_calls import acknowledge_and_hang_up
from tests.interop.test_server_watch import (
    ALICE,
    BOB,
    FAST,
    address,
    assert_unsubscribed,
    is_phase,
    phone,
    presence_of,
    start_watch,
    stop,
    vcard,
    write_book,
)
from tests.peers.sip_phone import SipPhone
from tests.peers.sip_publish import pidf, publish
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, run_smartbook_server

# Far from its refresh (at half of 600 s): what the watcher sees after a restart comes from the server.
LONG = ("--expires", "600")
# A NOTIFY waits this long after the one before it: a publication made just after the watcher subscribed is saved,
# and reaches the watcher only through a restored full state when the server is killed meanwhile.
HELD = ("--notify-interval", "60")
SAVED_PUBLICATION = "saved publications and registrations: 1 publication changes"
SAVED_REGISTRATION = "saved publications and registrations: 0 publication changes, registrations of 1 accounts"


async def bob_says(server: SmartbookServer, note: str) -> None:
    """bob publishes `note`, and the server saves it."""
    saved = server.log.count(SAVED_PUBLICATION)
    assert await publish(server.sip, "bob", PASSWORD, pidf(address("bob"), note=note)) == 200
    while server.log.count(SAVED_PUBLICATION) == saved:
        await asyncio.sleep(0.05)


async def saved_twice(server: SmartbookServer) -> None:
    """The server has saved a second new dialog."""
    while server.log.count("saved subscription dialogs: 1 new") < 2:
        await asyncio.sleep(0.05)


def killed_and_started(server: SmartbookServer) -> None:
    server.stop(signal.SIGKILL)
    server.start()


async def test_a_udp_watcher_gets_the_full_state_from_a_server_killed_and_started_again(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *HELD, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        server.wait_for_log("accounts changed")  # before the watcher subscribes: its NOTIFYs are far apart
        watch = await start_watch(server, "alice", "--vcard", str(book), "--transport", "udp", *LONG)
        try:
            await watch.until(presence_of(phone(BOB), status="offline"))
            server.wait_for_log("saved subscription dialogs: 1 new")
            await bob_says(server, "before")  # its NOTIFY waits for the interval: the watcher has not seen it

            mark = watch.mark()
            killed_and_started(server)
            # The new server's full state shows bob as he published before the kill, not offline.
            bob = await watch.until(presence_of(phone(BOB)), after=mark)
            assert (bob["status"], bob["note"], bob["has_account"]) == ("online", "before", True)
            server.wait_for_log("restored 0 registrations and 1 publications")
        finally:
            await stop(watch)
    assert_unsubscribed(watch)
    assert watch.phases.count("subscribing") == 1  # the same dialog throughout, never subscribed anew
    assert "waiting" not in watch.phases


async def test_a_tcp_watcher_subscribes_again_to_a_server_killed_and_started_again(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        watch = await start_watch(server, "alice", "--vcard", str(book), "--transport", "tcp", *LONG)
        try:
            await watch.until(is_phase("active"))
            await bob_says(server, "before")
            await watch.until(presence_of(phone(BOB), status="online", note="before"))

            mark = watch.mark()
            killed_and_started(server)
            await watch.until(is_phase("subscribing"), after=mark)
            await watch.until(is_phase("active"), after=mark)
            back = watch.mark()
            await bob_says(server, "after")
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=back)
        finally:
            await stop(watch)
    assert "restoring" not in server.log  # a TCP dialog is not saved: it died with its connection
    # bob was not seen offline after the kill: his publication came back with the server
    assert not [line for line in watch.lines[mark:] if line.get("status") == "offline"]


async def test_a_graceful_restart_ends_the_dialogs_keeps_the_publications_and_only_the_new_dialog_survives_a_kill(
    tmp_path,
):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        watch = await start_watch(server, "alice", "--vcard", str(book), "--transport", "udp", *LONG)
        try:
            await watch.until(is_phase("active"))
            await bob_says(server, "before")
            await watch.until(presence_of(phone(BOB), status="online", note="before"))
            server.wait_for_log("saved subscription dialogs: 1 new")

            mark = watch.mark()
            server.restart()  # SIGTERM: the watcher is told to come back in 5 s, and no dialog is left to restore
            await watch.until(is_phase("waiting"), after=mark)
            await watch.until(is_phase("active"), after=watch.mark(), timeout=30.0)
            assert "restoring" not in server.log
            await saved_twice(server)
            await bob_says(server, "between")
            await watch.until(presence_of(phone(BOB), status="online", note="between"), after=mark)
            # bob's publication outlived the stop: the new dialog's full state never showed him offline
            assert not [line for line in watch.lines[mark:] if line.get("status") == "offline"]

            mark = watch.mark()
            killed_and_started(server)
            server.wait_for_log("restoring 1 saved subscription dialogs")  # the new dialog, not the ended one
            await bob_says(server, "after")
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=mark)
            assert not [line for line in watch.lines[mark:] if line.get("status") == "offline"]
        finally:
            await stop(watch)
    assert watch.phases.count("subscribing") == 2  # the first dialog and the one after the graceful stop
    assert_unsubscribed(watch)  # Ctrl-C ended the restored dialog in the server's answer


def test_a_udp_phone_registered_before_a_kill_is_called_without_registering_again(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None), ("bob", None)]) as server:
        with SipPhone(server.sip, "bob", PASSWORD, DOMAIN) as bob:
            bob.register(expires=600)
            server.wait_for_log(SAVED_REGISTRATION)
            killed_and_started(server)
            with SipPhone(server.sip, "alice", PASSWORD, DOMAIN) as alice:
                alice.call("sip:bob@127.0.0.1")
                invite = bob.wait_for("INVITE")  # where bob registered from, before the kill
                assert isinstance(invite, SipRequest)
                bob.reply(invite, 200, "OK", body=b"v=0\r\n")
                ok = alice.wait_for(200)
                assert isinstance(ok, SipResponse)
                acknowledge_and_hang_up(alice, bob, ok)
        assert "Traceback" not in server.log
