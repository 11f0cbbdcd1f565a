"""Figures of the app (issue 10) on a generated book: N contacts with two numbers each (`bench/make_book.py`), 30 %
of them users (their mobile has an account). Each part runs in a fresh process, so its peak RSS is its own.

    .venv/bin/python bench/app.py [--contacts 10000 50000] [--repeat 7] [--parts model screen live]

model: the roster (`smartbook_tui/roster/`, no screen), as the app's main screen drives it:
* build: `Roster(contacts, domain)` and its `RosterView` (the book read before it is printed apart);
* full state: the list's first full state (every resource: the users' accounts with a status, nothing for the
  others) through `Roster.apply` and `RosterView.rows_changed`;
* toggle: "users only" on, then off; keystroke: one key of a search typed and erased ("mar", "06 39");
* burst: 1,000 status changes (5 % of them users leaving, 5 % joining) through `apply` + `rows_changed`, in three
  views: every contact by name, users only by name, users only by status;
* book edited: the book read again with one card changed, through `Roster.set_book` and `RosterView.rebuild`.

screen: `smartbook_tui.tui.app.SmartbookApp` headless under `run_test` (120 x 40), fed by a stand-in session that
reads the book in a thread as the live book does and hands over the book and the presence, nothing else: launch
(the process's start, imports included) to the first frame and to the full paint (with its parts), the toggle, a
search keystroke and a 1,000-change burst each from the event to the frame written after it (and the CPU time in
between), key latency while a burst arrives as ten NOTIFYs 20 ms apart, idle CPU. Frames are stamped as the app
writes them, in its process, so the test driver's pauses are not in the figures; a headless app skips turning a
frame into terminal output, so the stamp does that work too.

live: the app with its real session (live book, list subscription over TCP, the pjsua2 phone with null audio)
against `smartbook server run` on 127.0.0.1, whose database holds an account for each user: launch to the first
frame and to every user's badge painted, idle CPU once registered, peak RSS. The users publish nothing: the server
shows each as an account whose status is hidden.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_book import REGION, make_book

from smartbook_tui.contacts import Contact, normalize_contacts, read_vcard_paths
from smartbook_tui.contacts.book_cache import RECENT_NS
from smartbook_tui.presence import NO_PRESENCE, Availability, PresenceSummary
from smartbook_tui.roster.model import Roster
from smartbook_tui.roster.view import RosterView, SortKey
from smartbook_tui.subscriber.tracker import PresenceUpdate

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot

DOMAIN = "example.org"
USERS_SHARE = 0.3
BURST = 1000
# How often a user shows each status (a made-up mix: mostly online or offline).
STATUS_WEIGHTS = {
    Availability.ONLINE: 40,
    Availability.OFFLINE: 25,
    Availability.AWAY: 15,
    Availability.BUSY: 8,
    Availability.ON_THE_PHONE: 7,
    Availability.UNKNOWN: 5,
}
KEYSTROKES = ("m", "ma", "mar", "ma", "m", "", "0", "06", "06 ", "06 3", "06 39", "06 3", "06 ", "06", "0", "")

# figure -> its target in ms at 10,000 contacts (Figures of issue 10); at 50,000 contacts, 3x
TARGETS_MS = {
    "toggle": 20.0,
    "keystroke": 20.0,
    "burst": 20.0,
    "first frame": 400.0,
    "full paint": 1200.0,
    "every badge painted": 1500.0,  # with the network: the list's full state from the server (Build item 3)
    "key latency in burst": 50.0,
}
TARGET_RSS_MB = 150.0
TARGET_IDLE_CPU = 2.0  # % of a core


@dataclass
class Book:
    contacts: list[Contact]
    users: dict[str, int]  # the users' resource URI -> their contact's index
    uris: list[str]  # every resource of the book


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=dict)  # figure -> seconds, one per run
    values: dict[str, float] = field(default_factory=dict)  # counts and sizes

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)


def read_book(path: Path) -> Book:
    """The book as the app reads it, and who in it is a user: the mobiles of 30 % of the contacts, always the same."""
    return book_of(normalize_contacts(read_vcard_paths([path]).contacts, REGION))


def book_of(contacts: list[Contact]) -> Book:
    rng = random.Random(len(contacts))
    users: dict[str, int] = {}
    for index in rng.sample(range(len(contacts)), int(len(contacts) * USERS_SHARE)):
        mobile = contacts[index].numbers[0]
        if mobile.e164:
            users[f"sip:{mobile.e164}@{DOMAIN};user=phone"] = index
    uris = sorted({f"sip:{n.e164}@{DOMAIN};user=phone" for c in contacts for n in c.numbers if n.e164})
    return Book(contacts, users, uris)


def summary(rng: random.Random, index: int) -> PresenceSummary:
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    note = "back at 3" if rng.random() < 0.1 else None
    return PresenceSummary(True, f"sip:user{index}@{DOMAIN}", status, note, None)


def full_state(book: Book, rng: random.Random) -> list[PresenceUpdate]:
    """What the tracker hands over from a first full state: every resource, an account's summary or nothing."""
    return [
        PresenceUpdate(uri, summary(rng, book.users[uri]) if uri in book.users else NO_PRESENCE) for uri in book.uris
    ]


def burst(book: Book, rng: random.Random) -> list[PresenceUpdate]:
    """1,000 changes: most users change status; 5 % leave the service and 5 % of the others join."""
    users = list(book.users)
    updates = []
    for uri in rng.sample(users, min(int(BURST * 0.95), len(users))):
        if rng.random() < 0.05:
            updates.append(PresenceUpdate(uri, NO_PRESENCE, removed=True))
        else:
            updates.append(PresenceUpdate(uri, summary(rng, book.users[uri])))
    for uri in rng.sample(book.uris, BURST - len(updates)):
        updates.append(PresenceUpdate(uri, summary(rng, 0)))
    return updates


def rss_mb() -> float:
    """The process's resident set now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def model_figures(book: Book, repeat: int, figures: Figures) -> None:
    rng = random.Random(7)
    for run in range(repeat):
        before = rss_mb()
        start = time.perf_counter()
        roster = Roster(book.contacts, DOMAIN)
        view = RosterView(roster)
        figures.add("build", time.perf_counter() - start)
        updates = full_state(book, rng)
        figures.add("full state", timed(lambda: view.rows_changed(roster.apply(updates))))  # noqa: B023
        if run == 0:
            figures.values["roster RSS MB"] = rss_mb() - before
        del updates
    figures.values["users"] = roster.users
    for _ in range(repeat):
        figures.add("toggle on", timed(lambda: view.set_users_only(True)))
        figures.values["users shown after the bursts"] = view.shown
        figures.add("toggle off", timed(lambda: view.set_users_only(False)))
        keystrokes = [timed(lambda: view.set_query(typed)) for typed in KEYSTROKES]  # noqa: B023
        figures.add("keystroke, median", statistics.median(keystrokes))
        figures.add("keystroke, slowest", max(keystrokes))
        for name, users_only, sort in (
            ("burst, all by name", False, SortKey.NAME),
            ("burst, users by name", True, SortKey.NAME),
            ("burst, users by status", True, SortKey.STATUS),
        ):
            view.set_users_only(users_only)
            view.set_sort(sort)
            updates = burst(book, rng)
            figures.add(name, timed(lambda: view.rows_changed(roster.apply(updates))))  # noqa: B023
        view.set_users_only(False)
        view.set_sort(SortKey.NAME)
        edited = [copy.copy(contact) for contact in book.contacts]  # the file read again: equal, not the same
        edited[rng.randrange(len(edited))].name += " Jr"
        figures.add("book edited (one card)", timed(lambda: (roster.set_book(edited, DOMAIN), view.rebuild())))  # noqa: B023
        roster.set_book(book.contacts, DOMAIN)
        view.rebuild()
        contact_id = book.contacts[rng.randrange(len(book.contacts))].id
        figures.add("position_of", timed(lambda: view.position_of(contact_id)))  # noqa: B023


def model_child(path: Path, repeat: int) -> Figures:
    start = time.perf_counter()
    book = read_book(path)
    figures = Figures()
    figures.add("book read (not the roster)", time.perf_counter() - start)
    model_figures(book, repeat, figures)
    figures.values["peak RSS MB, roster alone"] = peak_rss_mb()
    return figures


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


# -- the screen


class BenchSession:
    """Stands in for the Session (the network is not measured here): reads the book with the session's live book
    (its cache included), says it, then the list's first full state; the bench says the rest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.book: Book | None = None
        self.book_said = self.full_state_said = 0.0
        self._on_event: Callable[[object], None] | None = None
        self._stop = asyncio.Event()

    async def run(self, on_event: Callable[[object], None]) -> None:
        from smartbook_tui.config import Settings
        from smartbook_tui.roster.events import BookLoaded, ListStatus, PresenceChanged
        from smartbook_tui.roster.live_book import LiveBook
        from smartbook_tui.subscriber.machine import Phase

        self._on_event = on_event
        first: asyncio.Future[list[Contact]] = asyncio.get_running_loop().create_future()
        live = LiveBook(Settings(vcard=[self.path], region=REGION), domain=DOMAIN, on_notice=lambda _notice: None)
        watching = asyncio.create_task(live.run(lambda snapshot: first.done() or first.set_result(snapshot.contacts)))
        book = book_of(await first)
        self.book_said = time.monotonic()
        on_event(BookLoaded(book.contacts, [], (str(self.path),), DOMAIN))
        on_event(ListStatus(Phase.ACTIVE, "", True, len(book.uris)))
        self.book = book
        self.full_state_said = time.monotonic()
        on_event(PresenceChanged(full_state(book, random.Random(1))))
        await self._stop.wait()
        watching.cancel()

    def say_presence(self, updates: list[PresenceUpdate]) -> None:
        from smartbook_tui.roster.events import PresenceChanged

        assert self._on_event is not None
        self._on_event(PresenceChanged(updates))

    def stop(self) -> None:
        self._stop.set()

    def set_presence(self, status: object, note: str | None) -> None:
        pass

    def share_book(self, allowed: bool) -> None:
        pass


class Stamps:
    """When the app wrote each frame and applied each batch of presence, by the app's clock (monotonic) and the
    process's CPU time. A headless app skips turning a frame into terminal output: the stamp does that work too."""

    def __init__(self, app: App) -> None:
        self.frames: list[tuple[float, float]] = []
        # start, end, CPU time at the start of each Roster.apply, and the users after it
        self.applied: list[tuple[float, float, float, int]] = []
        self.books: list[tuple[float, float]] = []  # start, end of each Roster.set_book
        display = app._display
        roster = app.main.roster
        apply = roster.apply
        set_book = roster.set_book

        def stamped_display(screen: object, renderable: object) -> None:
            display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
                self.frames.append((time.monotonic(), time.process_time()))

        def stamped_apply(updates: list[PresenceUpdate]) -> set[int]:
            start, cpu = time.monotonic(), time.process_time()
            changed = apply(updates)
            self.applied.append((start, time.monotonic(), cpu, roster.users))
            return changed

        def stamped_set_book(contacts: list[Contact], domain: str | None) -> None:
            start = time.monotonic()
            set_book(contacts, domain)
            self.books.append((start, time.monotonic()))

        app._display = stamped_display
        roster.apply = stamped_apply
        roster.set_book = stamped_set_book

    def frame_after(self, moment: float) -> tuple[float, float] | None:
        return next((frame for frame in self.frames if frame[0] > moment), None)


async def wait_until(pilot: Pilot, what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        await pilot.pause(0.01)


async def key_to_frame(pilot: Pilot, stamps: Stamps, key: str) -> tuple[float, float]:
    """A key's creation to the first frame the app wrote after it (wall and CPU seconds): the one that shows what
    the key did (a switch's animation goes on in later frames)."""
    moment, cpu = time.monotonic(), time.process_time()
    await pilot.press(key)
    await pilot.pause()
    frame = stamps.frame_after(moment)
    if frame is None:
        raise RuntimeError(f"no frame after the key {key!r}")
    return frame[0] - moment, frame[1] - cpu


async def burst_to_frame(
    pilot: Pilot, session: BenchSession, stamps: Stamps, updates: list[PresenceUpdate]
) -> tuple[float, float]:
    """A burst said at once, from the flush that applies it to the frame after (wall and CPU seconds)."""
    said = time.monotonic()
    session.say_presence(updates)
    await wait_until(pilot, "the burst applied", lambda: any(applied[0] > said for applied in stamps.applied))
    start, end, cpu, _ = next(applied for applied in stamps.applied if applied[0] > said)
    await wait_until(pilot, "the frame after the burst", lambda: stamps.frame_after(end) is not None)
    frame = stamps.frame_after(end)
    assert frame is not None
    return frame[0] - start, frame[1] - cpu


async def screen_run(path: Path, spawned: float, repeat: int, state: Path, figures: Figures) -> None:
    from smartbook_tui.config import AccountSettings, Settings
    from smartbook_tui.roster.live_book import read_ahead
    from smartbook_tui.roster.session_options import SessionOptions

    read_ahead(Settings(vcard=[path], region=REGION))  # as `smartbook` does, before the screen's modules load
    from smartbook_tui.tui.app import SmartbookApp

    session = BenchSession(path)
    options = SessionOptions(
        settings=Settings(account=AccountSettings(sip_uri=f"sip:bench@{DOMAIN}")),
        password="bench",
        share_book=True,
        null_audio=True,
        log_file=state / "smartbook.log",
    )
    app = SmartbookApp(options, config_path=state / "config.toml", session_factory=lambda _options: session)
    stamps = Stamps(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, session, stamps, spawned, figures)
        await toggles(pilot, stamps, repeat, figures)
        await keystrokes(pilot, stamps, repeat, figures)
        await bursts(pilot, session, stamps, repeat, figures)
        await keys_in_bursts(pilot, session, stamps, repeat, figures)
        await pilot.pause(1.0)
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(5.0)
        figures.values["idle CPU %, not registered"] = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
    figures.values["peak RSS MB, app"] = peak_rss_mb()


async def launch(pilot: Pilot, session: BenchSession, stamps: Stamps, spawned: float, figures: Figures) -> None:
    """From the process's start (imports included) to the first frame, and to the frame after the full state."""
    await wait_until(pilot, "the first frame", lambda: bool(stamps.frames))
    figures.add("first frame after launch", stamps.frames[0][0] - spawned)
    said = lambda: [end for start, end, _, _ in stamps.applied if start > session.full_state_said]  # noqa: E731
    await wait_until(pilot, "the full state applied", lambda: session.full_state_said > 0 and bool(said()))
    applied = said()[0]
    await wait_until(pilot, "the full paint", lambda: stamps.frame_after(applied) is not None)
    painted = stamps.frame_after(applied)[0]  # type: ignore[index]
    # The bench makes the full state between the book and the presence, and the network is not here: the figure
    # is the app's own time, as if the full state arrived when the roster is made. The parts follow it.
    made = stamps.books[-1][1]
    figures.add("full paint after launch", painted - spawned - (session.full_state_said - made))
    figures.add("  book read and said", session.book_said - spawned)
    figures.add("  roster made", made - session.book_said)
    figures.add("  full state applied", applied - session.full_state_said)
    figures.add("  frame", painted - applied)
    figures.values["users"] = pilot.app.main.roster.users  # type: ignore[attr-defined]


async def toggles(pilot: Pilot, stamps: Stamps, repeat: int, figures: Figures) -> None:
    for _ in range(repeat):
        for name in ("toggle on", "toggle off"):
            await pilot.pause(0.2)  # the last switch's later frames (its animation, the detail pane) are not this one's
            wall, cpu = await key_to_frame(pilot, stamps, "l")
            figures.add(name, wall)
            figures.add(f"{name}, CPU", cpu)


async def keystrokes(pilot: Pilot, stamps: Stamps, repeat: int, figures: Figures) -> None:
    from textual.widgets import Input

    await pilot.press("slash")
    pilot.app.query_one("#search", Input).cursor_blink = False
    for _ in range(repeat):
        walls, cpus = [], []
        for key in ("m", "a", "r", "backspace", "backspace", "backspace", "0", "6", "space", "3", "9"):
            wall, cpu = await key_to_frame(pilot, stamps, key)
            walls.append(wall)
            cpus.append(cpu)
        for _ in range(5):
            await pilot.press("backspace")
        figures.add("keystroke, median", statistics.median(walls))
        figures.add("keystroke, slowest", max(walls))
        figures.add("keystroke, slowest CPU", max(cpus))
    await pilot.press("escape")


async def bursts(pilot: Pilot, session: BenchSession, stamps: Stamps, repeat: int, figures: Figures) -> None:
    assert session.book is not None
    rng = random.Random(3)
    for name, keys in (("burst, all by name", ()), ("burst, users by status", ("l", "s"))):
        for key in keys:
            await pilot.press(key)
        for _ in range(repeat):
            wall, cpu = await burst_to_frame(pilot, session, stamps, burst(session.book, rng))
            figures.add(name, wall)
            figures.add(f"{name}, CPU", cpu)
        for key in keys:
            await pilot.press(key)


async def keys_in_bursts(pilot: Pilot, session: BenchSession, stamps: Stamps, repeat: int, figures: Figures) -> None:
    """Keys pressed while a burst arrives as ten NOTIFYs 20 ms apart: each key to the frame that shows it."""
    from smartbook_tui.tui.widgets.contact_table import ContactTable

    assert session.book is not None
    rng = random.Random(4)
    table = pilot.app.query_one(ContactTable)
    handled: list[float] = []
    move = table.action_cursor

    def stamped_move(delta: int) -> None:
        move(delta)
        handled.append(time.monotonic())

    table.action_cursor = stamped_move  # type: ignore[method-assign]
    for _ in range(repeat):
        updates = burst(session.book, rng)
        latencies: list[float] = []

        async def arrive(updates: list[PresenceUpdate] = updates) -> None:
            for part in range(10):
                session.say_presence(updates[part * 100 : (part + 1) * 100])
                await asyncio.sleep(0.02)

        arriving = asyncio.create_task(arrive())
        while not arriving.done():
            pressed = time.monotonic()
            await pilot.press("down")
            await wait_until(pilot, "the key handled", lambda: bool(handled) and handled[-1] > pressed)  # noqa: B023
            done = handled[-1]
            await wait_until(pilot, "the frame after the key", lambda: stamps.frame_after(done) is not None)  # noqa: B023
            latencies.append(stamps.frame_after(done)[0] - pressed)  # type: ignore[index]
        await arriving
        figures.add("key latency in burst, median", statistics.median(latencies))
        figures.add("key latency in burst, slowest", max(latencies))


# -- the app live: the real session against `smartbook server run`


PASSWORD = "bench password"


@dataclass
class LiveServer:
    """`smartbook server run` on a free loopback port, with an account for the app and one for each user of the
    book (its mobile as the account's number), made straight in its database."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None
    proxy: str = ""

    def start(self, book: Book) -> None:
        from smartbook_tui.server.store import Store

        db = self.directory / "server.sqlite3"
        store = Store.open(db)
        store._db.execute("PRAGMA synchronous = OFF")  # setup only: the server opens the file with FULL
        try:
            store.add_account("bench", DOMAIN, PASSWORD)
            for k, uri in enumerate(book.users):
                store.add_account(f"u{k}", DOMAIN, PASSWORD, uri.removeprefix("sip:").partition("@")[0])
        finally:
            store.close()
        ready = self.directory / "ready.json"
        command = [sys.executable, "-m", "smartbook_tui.cli", "server", "run", "--sip", "127.0.0.1:0", "--db", str(db)]
        command += ["--domain", DOMAIN, "--ready-file", str(ready)]
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: see {self.directory / 'server.log'}")
            time.sleep(0.05)
        self.proxy = json.loads(ready.read_text())["tcp"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


async def live_run(args: argparse.Namespace, figures: Figures) -> None:
    from smartbook_tui.config import AccountSettings, Settings
    from smartbook_tui.phone.states import Registration, RegistrationState
    from smartbook_tui.roster.live_book import read_ahead
    from smartbook_tui.roster.session_options import SessionOptions

    path, spawned, users, state = args.book, args.spawned, args.users, args.book.parent
    account = AccountSettings(sip_uri=f"sip:bench@{DOMAIN}", proxy=args.proxy, transport="tcp")
    options = SessionOptions(
        settings=Settings(vcard=[path], region=REGION, account=account),
        password=PASSWORD,
        share_book=True,
        null_audio=True,
        log_file=state / "smartbook-live.log",
    )
    read_ahead(options.settings)  # as `smartbook` does, before the screen's modules load
    from smartbook_tui.tui.app import SmartbookApp

    app = SmartbookApp(options, config_path=state / "config.toml")
    stamps = Stamps(app)
    registrations: list[Registration] = []
    set_registration = app.main.set_registration

    def stamped_registration(registration: Registration) -> None:
        set_registration(registration)
        registrations.append(registration)

    app.main.set_registration = stamped_registration  # type: ignore[method-assign]
    roster = app.main.roster
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, "the first frame", lambda: bool(stamps.frames))
        figures.add("first frame after launch", stamps.frames[0][0] - spawned)
        await wait_until(pilot, f"{users:,} users' badges", lambda: roster.users >= users, timeout=120)
        all_there = next(end for _, end, _, shown in stamps.applied if shown >= users)
        await wait_until(pilot, "the frame", lambda: stamps.frame_after(all_there) is not None)
        figures.add("every badge painted after launch", stamps.frame_after(all_there)[0] - spawned)  # type: ignore[index]
        # Where the time goes: the book in the roster, then the list's presence from its first badge to the last.
        figures.add("  roster made", stamps.books[-1][1] - spawned)
        figures.add("  first badges applied", next(end for _, end, _, shown in stamps.applied if shown) - spawned)
        figures.add("  last badges applied", all_there - spawned)
        registered = lambda: bool(registrations) and registrations[-1].state is RegistrationState.REGISTERED  # noqa: E731
        await wait_until(pilot, "the registration", registered, timeout=60)
        await pilot.pause(2.0)
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(10.0)
        figures.values["idle CPU %, registered"] = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
    figures.values["peak RSS MB, app"] = peak_rss_mb()


# -- the runs


def run_child(arguments: list[str], environment: dict[str, str] | None = None) -> dict | None:
    command = [sys.executable, __file__, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        print(f"{' '.join(arguments)}: the run failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(n: int, result: dict) -> None:
    scale = 1.0 if n <= 10_000 else 3.0
    print(f"\n{n:,} contacts, two numbers each, 30 % users; median / best of the runs, ms:")
    for name, runs in result["times"].items():
        median, best = statistics.median(runs) * 1e3, min(runs) * 1e3
        base = next((target for key, target in TARGETS_MS.items() if name.split(": ", 1)[-1].startswith(key)), None)
        goal = f"<= {base * scale:g} ms" if base is not None and "CPU" not in name else ""
        print(f"  {name:<40} {median:9.2f} {best:9.2f}   {goal}")
    for name, value in result["values"].items():
        goal = ""
        if name.split(": ", 1)[-1].startswith("peak RSS"):
            goal = f"<= {TARGET_RSS_MB * scale:g} MB"
        elif name.split(": ", 1)[-1].startswith("idle CPU"):
            goal = f"<= {TARGET_IDLE_CPU * scale:g} %"
        print(f"  {name:<40} {value:9.1f}   {goal}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Figures of the roster and the app on a generated book.")
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("model", "screen", "live"),
        default=["model", "screen", "live"],
        help="model: the roster alone; screen: the app fed by a stand-in session; live: the app with its real "
        "session (list subscription, phone) against smartbook server run",
    )
    parser.add_argument("--child", choices=("model", "screen", "live"), help=argparse.SUPPRESS)
    parser.add_argument("--book", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--proxy", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        figures = Figures()
        if args.child == "model":
            figures = model_child(args.book, args.repeat)
        elif args.child == "screen":
            asyncio.run(screen_run(args.book, args.spawned, args.repeat, args.book.parent, figures))
        else:
            asyncio.run(live_run(args, figures))
        print(json.dumps({"times": figures.times, "values": figures.values}))
        return
    with tempfile.TemporaryDirectory(prefix="smartbook-bench-app-") as directory:
        # The app keeps its consent answer and log under the XDG directories: a temporary home for them.
        environment = {**os.environ, **{f"XDG_{kind}_HOME": directory for kind in ("CONFIG", "STATE", "DATA", "CACHE")}}
        for n in args.contacts:
            path = Path(directory) / f"book-{n}.vcf"
            path.write_text(make_book(n, seed=1))
            common = ["--book", str(path), "--repeat", str(args.repeat)]
            result: dict = {"times": {}, "values": {}}
            for part in args.parts:
                found = run_part(part, path, common, environment)
                if found is not None:
                    prefix = "" if part == "model" else f"{part}: "
                    result["times"].update({prefix + k: v for k, v in found["times"].items()})
                    result["values"].update({prefix + k: v for k, v in found["values"].items()})
            report(n, result)


def run_part(part: str, path: Path, common: list[str], environment: dict[str, str]) -> dict | None:
    if part == "model":
        return run_child(["--child", "model", *common])
    if part == "screen":
        # The first launch reads the book from its file and caches it; every later one finds it in the cache. A file
        # written a moment before it is read is not cached (book_cache.RECENT_NS): the book must be older.
        time.sleep(max(0.0, RECENT_NS / 1e9 + 0.5 - (time.time() - path.stat().st_ctime)))
        first = run_child(["--child", "screen", "--spawned", str(time.monotonic()), *common], environment)
        found = run_child(["--child", "screen", "--spawned", str(time.monotonic()), *common], environment)
        if first is None or found is None:
            return None
        launch = ("first frame", "full paint", "  ")
        found["times"] |= {f"no cache: {k}": v for k, v in first["times"].items() if k.startswith(launch)}
        return found
    book = read_book(path)
    server = LiveServer(path.parent / f"server-{path.stem}")
    server.directory.mkdir(exist_ok=True)
    try:
        server.start(book)
        users = len(set(book.users.values()))
        live = ["--proxy", server.proxy, "--users", str(users), "--spawned", str(time.monotonic())]
        return run_child(["--child", "live", *live, *common], environment)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
