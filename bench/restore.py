"""How soon a restarted server has its subscribers current again (issue 13, finding 4), and what keeping its
publications and registrations costs.

1. A UDP `smartbook watch` of a one-entry book; bob publishes a new note, which the server saves but holds from the
   watcher (a 60 s notify interval); the server is killed (SIGKILL) and started again on its port and database;
   the time from the new process's launch (the interpreter's start-up included) to the watcher's line with that
   note (the restored full state, bob's restored publication in it), `--runs` times: the median and the range.
2. `--dialogs` UDP dialogs (lists of `--entries` numbers, a tenth of them with accounts) saved in the database of a
   server that starts: the time from its launch to the last dialog's full-state NOTIFY at a UDP sink that
   answers each 200, and to the first and the middle one; without, then with `--state` publications and UDP
   registrations saved too (of other accounts: what their restoring, before any full state, delays).
3. In this process: writing `--state` new publications and registrations in one batch, then as many refreshes
   (`Store.save_state`), and restoring them (`saved_state.restore_state`: read, parse, bind): best of 3.

    .venv/bin/python bench/restore.py [--runs 5] [--dialogs 5000] [--entries 20] [--state 5000]

The server is this tree's (`python -m smartbook_tui.cli`), run with `--udp-rate 0` in part 2: the sink is one
address answering thousands of NOTIFYs, which the per-address read budget is not made for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import NO_SOURCE_LIMITS
from smartbook_tui.server.publications import Publications
from smartbook_tui.server.registrar import Registrar
from smartbook_tui.server.replies import response_to
from smartbook_tui.server.saved_state import restore_state
from smartbook_tui.server.store import PublicationChange, SavedBinding, SavedDialog, SavedPublication, Store
from smartbook_tui.sip.message import SipParseError, SipRequest, parse_message
from tests.interop.test_server_watch import BOB, is_phase, phone, presence_of, start_watch, stop, vcard
from tests.peers.sip_publish import pidf, publish
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer

ALICE = "+33611111111"
TIMEOUT = 120.0  # seconds for a restore, before the run is called broken
SAVED_PUBLICATION = "saved publications and registrations: 1 publication changes"
HELD = ("--notify-interval", "60")  # a publication after the watcher's last NOTIFY waits: only a restore shows it


class BenchFailed(Exception):
    pass


async def watcher_times(directory: Path, runs: int) -> list[float]:
    book = directory / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}"))
    server = SmartbookServer(directory / "server", HELD)
    server.add_account("alice", ALICE)
    server.add_account("bob", BOB, public=True)
    server.start()
    watch = await start_watch(server, "alice", "--vcard", str(book), "--transport", "udp", "--expires", "3600")
    times = []
    try:
        await watch.until(is_phase("active"))
        for run in range(runs):
            note = f"run {run}"
            saved = server.log.count(SAVED_PUBLICATION)
            assert await publish(server.sip, "bob", PASSWORD, pidf(f"sip:bob@{DOMAIN}", note=note)) == 200
            while server.log.count(SAVED_PUBLICATION) == saved:
                await asyncio.sleep(0.02)
            mark = watch.mark()
            server.stop(signal.SIGKILL)
            started = time.monotonic()
            starting = asyncio.create_task(asyncio.to_thread(server.start))  # the watcher is read meanwhile
            await watch.until(presence_of(phone(BOB), note=note), after=mark, timeout=TIMEOUT)
            times.append(time.monotonic() - started)
            await starting
    finally:
        await stop(watch)
        server.stop()
    if watch.phases.count("subscribing") != 1:
        raise BenchFailed(f"the watcher subscribed anew ({watch.phases}): its state did not come from a restore")
    return times


class Sink(asyncio.DatagramProtocol):
    """Answers every NOTIFY 200 and notes when each dialog's first one came."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.first: dict[str, float] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        if isinstance(message, SipRequest) and message.method == "NOTIFY":
            self.first.setdefault(message.call_id or "", time.monotonic())
            assert self.transport is not None
            self.transport.sendto(response_to(message, 200, "OK").to_bytes(), addr)


def save_dialogs(db: Path, sink: tuple[str, int], dialogs: int, entries: int) -> None:
    watchers = max(1, dialogs // 5)  # 5 dialogs each: an account has at most 32
    with Store.open(db) as store:
        for number in range(watchers):
            store.add_account(f"w{number}", DOMAIN, PASSWORD, f"+3361{number:07d}")
        saved = []
        for index in range(dialogs):
            listed = tuple(
                f"sip:+3361{(index * entries + n) % (watchers * 10):07d}@{DOMAIN};user=phone" for n in range(entries)
            )
            watcher = f"w{index % watchers}"
            saved.append(
                SavedDialog(
                    (f"bench-{index}", "sub-tag", f"srv-{index}"),
                    watcher,
                    f"sip:rls@{DOMAIN}",
                    "list",
                    listed,
                    False,
                    False,
                    sink,
                    f"<sip:{watcher}@{DOMAIN}>;tag=sub-tag",
                    f"<sip:rls@{DOMAIN}>;tag=srv-{index}",
                    f"sip:{sink[0]}:{sink[1]}",
                    3600.0,
                    1,
                    1,
                )
            )
        store.save_dialogs(DOMAIN, saved, [], [])


def state_rows(count: int) -> tuple[list[SavedPublication], dict[str, list[SavedBinding]]]:
    """A publication and a UDP registration for each of `count` accounts s0, s1...: a phone's, as pjsua2 sends."""
    publications, registrations = [], {}
    for number in range(count):
        user, aor = f"s{number}", f"sip:s{number}@{DOMAIN}"
        body = pidf(aor, note=f"in a meeting until {number % 24}:00")
        port = 10_000 + number % 50_000
        publications.append(SavedPublication(user, aor, f"etag-{number}", body, "application/pidf+xml", None, 3600.0))
        contact = f'<sip:{user}@192.0.2.{number % 250 + 1}:{port};ob>;+sip.instance="<urn:uuid:{number:032x}>"'
        registrations[user] = [
            SavedBinding(user, aor, contact, f"reg-{number}", 5, ("192.0.2.1", port), "pjsua2 2.14", 3600.0)
        ]
    return publications, registrations


def save_state(db: Path, count: int) -> None:
    with Store.open(db) as store:
        for number in range(count):
            store.add_account(f"s{number}", DOMAIN, PASSWORD)
        store.save_state(DOMAIN, *state_rows(count))


async def restore_times(directory: Path, dialogs: int, entries: int, state: int) -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    server = SmartbookServer(directory / f"many-{state}", NO_SOURCE_LIMITS)
    try:
        save_dialogs(server.db, transport.get_extra_info("sockname")[:2], dialogs, entries)
        save_state(server.db, state)
        launched = time.monotonic()
        await asyncio.to_thread(server.start)  # the sink is read meanwhile
        deadline = launched + TIMEOUT
        while len(sink.first) < dialogs:
            if time.monotonic() > deadline:
                raise BenchFailed(f"only {len(sink.first)} of {dialogs} restored dialogs notified in {TIMEOUT:.0f} s")
            await asyncio.sleep(0.01)
    finally:
        server.stop()
        transport.close()
    if state and f"restored {state} registrations and {state} publications" not in server.log:
        raise BenchFailed(f"the server did not restore the {state} registrations and publications saved")
    arrivals = sorted(sink.first.values())
    return arrivals[0] - launched, arrivals[len(arrivals) // 2] - launched, arrivals[-1] - launched


def state_costs(directory: Path, count: int) -> tuple[float, float, float]:
    """Seconds to write `count` new publications and registrations in one batch, then `count` refreshes of each,
    and to restore them all: the best of 3."""
    writes, refreshes, restores = [], [], []
    publications, registrations = state_rows(count)
    for attempt in range(3):
        with Store.open(directory / f"costs-{attempt}.sqlite3") as store:
            for number in range(count):
                store.add_account(f"s{number}", DOMAIN, PASSWORD)
            started = time.perf_counter()
            store.save_state(DOMAIN, publications, registrations)
            writes.append(time.perf_counter() - started)
            moved = [PublicationChange(p.etag, f"{p.etag}-2", 3600.0) for p in publications]
            started = time.perf_counter()
            store.save_state(DOMAIN, moved, registrations)
            refreshes.append(time.perf_counter() - started)
            started = time.perf_counter()
            published = Publications(etag=lambda: "unused")
            registrar = Registrar()
            restore_state(store, DOMAIN, published, registrar, 0.0)
            restores.append(time.perf_counter() - started)
            if published.compose(f"sip:s{count - 1}@{DOMAIN}") is None or not registrar.bindings(
                f"sip:s{count - 1}@{DOMAIN}", 0.0
            ):
                raise BenchFailed("the saved publications and registrations did not come back")
    return min(writes), min(refreshes), min(restores)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dialogs", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--state", type=int, default=5000)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # the server processes run this tree too
    with tempfile.TemporaryDirectory(prefix="smartbook-restore-") as temporary:
        directory = Path(temporary)
        times = await watcher_times(directory, args.runs)
        print(
            f"UDP watcher, server killed and started: launch -> full state median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} runs)"
        )
        for state in (0, args.state):
            first, middle, last = await restore_times(directory, args.dialogs, args.entries, state)
            print(
                f"{args.dialogs:,} saved dialogs of {args.entries} entries, {state:,} publications and registrations: "
                f"launch -> first full state {first:.3f} s, half {middle:.3f} s, all {last:.3f} s"
            )
        write, refresh, restore = state_costs(directory, args.state)
        per = 1e6 / args.state
        print(
            f"{args.state:,} publications and UDP registrations (best of 3): written in one batch {write:.3f} s "
            f"({write * per:.0f} us each pair), refreshed {refresh:.3f} s ({refresh * per:.0f} us), "
            f"restored {restore:.3f} s ({restore * per:.0f} us)"
        )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (BenchFailed, AssertionError) as error:
        sys.exit(f"bench/restore.py: {str(error).splitlines()[0]}")
