"""A restarted `smartbook server run` and `smartbook watch`, both real processes: the server's UDP subscription
dialogs survive a kill -9 (saved in its database, restored with their full state), a TCP watcher subscribes again
once its connection drops, and a graceful stop ends every dialog for good (its watchers told to come back)."""

from __future__ import annotations

import asyncio
import signal

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
from tests.peers.sip_publish import pidf, publish
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

# Far from its refresh (at half of 600 s): what the watcher sees after a restart comes from the server.
LONG = ("--expires", "600")


async def bob_says(server: SmartbookServer, note: str) -> None:
    assert await publish(server.sip, "bob", PASSWORD, pidf(address("bob"), note=note)) == 200


async def saved_twice(server: SmartbookServer) -> None:
    """The server has saved a second new dialog."""
    while server.log.count("saved subscription dialogs: 1 new") < 2:
        await asyncio.sleep(0.05)


def killed_and_started(server: SmartbookServer) -> None:
    server.stop(signal.SIGKILL)
    server.start()


async def test_a_udp_watcher_gets_the_full_state_from_a_server_killed_and_started_again(tmp_path):
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
            killed_and_started(server)
            # The new server never heard bob's publication: its full state shows him offline.
            bob = await watch.until(presence_of(phone(BOB)), after=mark)
            assert (bob["status"], bob["note"], bob["has_account"]) == ("offline", None, True)
            back = watch.mark()
            await bob_says(server, "after")  # and the dialog is live
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=back)
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
            bob = await watch.until(presence_of(phone(BOB)), after=mark)
            assert (bob["status"], bob["note"], bob["has_account"]) == ("offline", None, True)
            back = watch.mark()
            await bob_says(server, "after")
            await watch.until(presence_of(phone(BOB), status="online", note="after"), after=back)
        finally:
            await stop(watch)
    assert "restoring" not in server.log  # a TCP dialog is not saved: it died with its connection


async def test_a_graceful_restart_ends_the_dialogs_and_only_the_new_one_survives_a_kill(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        watch = await start_watch(server, "alice", "--vcard", str(book), "--transport", "udp", *LONG)
        try:
            await watch.until(is_phase("active"))
            server.wait_for_log("saved subscription dialogs: 1 new")

            mark = watch.mark()
            server.restart()  # SIGTERM: the watcher is told to come back in 5 s, and nothing is left to restore
            await watch.until(is_phase("waiting"), after=mark)
            await watch.until(is_phase("active"), after=watch.mark(), timeout=30.0)
            assert "restoring" not in server.log
            await saved_twice(server)
            await bob_says(server, "between")
            await watch.until(presence_of(phone(BOB), status="online", note="between"), after=mark)

            mark = watch.mark()
            killed_and_started(server)
            server.wait_for_log("restoring 1 saved subscription dialogs")  # the new dialog, not the ended one
            bob = await watch.until(presence_of(phone(BOB)), after=mark)
            assert (bob["status"], bob["note"]) == ("offline", None)
        finally:
            await stop(watch)
    assert watch.phases.count("subscribing") == 2  # the first dialog and the one after the graceful stop
    assert_unsubscribed(watch)  # Ctrl-C ended the restored dialog in the server's answer
