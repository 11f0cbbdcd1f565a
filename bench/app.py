"""Figures of the app (issue 10) on a generated book: N contacts with two numbers each (`bench/make_book.py`), 30 %
of them users with a status (their mobile has an account). Each book size runs in a fresh process, so its peak RSS
is its own.

    .venv/bin/python bench/app.py [--contacts 10000 50000] [--repeat 7] [--model-only]

The roster (`smartbook_tui/roster/`, no screen), as the app's main screen drives it:
* build: `Roster(contacts, domain)` and its `RosterView` (after the book is read; reading it is printed apart);
* full state: the list subscription's first full state (every resource: the users' accounts, nothing for the
  others) through `Roster.apply` and `RosterView.rows_changed`;
* toggle: "users only" on, then off (`set_users_only`);
* keystroke: one key of a search typed letter by letter ("mar", then erased) or as a number ("06 39");
* burst: 1,000 status changes (some users leaving, some joining) through `apply` + `rows_changed`, in three views:
  every contact by name, users only by name, users only by status.

The screen (`smartbook_tui.tui.app.SmartbookApp` headless under `run_test`, fed by a session that hands the app the
book and the presence, and nothing else): launch to the first frame and to the full table, the toggle, a search
keystroke and a 1,000-change burst each from the event to the frame written after it, key latency during a burst
(a key's creation to the frame that shows it), idle CPU. Times are the app's own, read in its process (frames are
stamped as the app writes them), not the test driver's pauses.
"""

from __future__ import annotations

import argparse
import json
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_book import REGION, make_book

from smartbook_tui.contacts import Contact, normalize_contacts, read_vcard_paths
from smartbook_tui.presence import NO_PRESENCE, Availability, PresenceSummary
from smartbook_tui.roster.model import Roster
from smartbook_tui.roster.view import RosterView, SortKey
from smartbook_tui.subscriber.tracker import PresenceUpdate

DOMAIN = "example.org"
USERS_SHARE = 0.3
BURST = 1000
# How often a user shows each status (the rest of the status mix of a real list: mostly online or offline).
STATUS_WEIGHTS = {
    Availability.ONLINE: 40,
    Availability.OFFLINE: 25,
    Availability.AWAY: 15,
    Availability.BUSY: 8,
    Availability.ON_THE_PHONE: 7,
    Availability.UNKNOWN: 5,
}
KEYSTROKES = ("m", "ma", "mar", "ma", "m", "", "0", "06", "06 ", "06 3", "06 39", "06 3", "06 ", "06", "0", "")

# figure -> (target at 10,000 contacts in ms, or MB for RSS); 50,000 contacts: within 3x
TARGETS_MS = {
    "toggle": 20.0,
    "keystroke": 20.0,
    "burst": 20.0,
    "first frame": 400.0,
    "full paint": 1200.0,
    "key latency in burst": 50.0,
}
TARGET_RSS_MB = 150.0
TARGET_IDLE_CPU = 2.0  # % of a core


@dataclass
class Book:
    path: Path
    contacts: list[Contact]
    users: dict[str, int]  # the users' resource URI -> their row index
    uris: list[str]  # every resource of the book


@dataclass
class Figures:
    contacts: int
    times: dict[str, list[float]] = field(default_factory=dict)  # figure -> seconds, one per run
    values: dict[str, float] = field(default_factory=dict)  # counts and sizes

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)


def write_book(n: int, directory: Path) -> Book:
    path = directory / f"book-{n}.vcf"
    path.write_text(make_book(n, seed=1))
    contacts = normalize_contacts(read_vcard_paths([path]).contacts, REGION)
    rng = random.Random(n)
    users: dict[str, int] = {}
    for index in rng.sample(range(len(contacts)), int(len(contacts) * USERS_SHARE)):
        mobile = contacts[index].numbers[0]
        if mobile.e164:
            users[f"sip:{mobile.e164}@{DOMAIN};user=phone"] = index
    uris = sorted({f"sip:{n.e164}@{DOMAIN};user=phone" for c in contacts for n in c.numbers if n.e164})
    return Book(path, contacts, users, uris)


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
    for uri in rng.sample(users, int(BURST * 0.95)):
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
        figures.values["users shown"] = view.shown
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
        contact_id = book.contacts[rng.randrange(len(book.contacts))].id
        figures.add("position_of", timed(lambda: view.position_of(contact_id)))  # noqa: B023


def child(n: int, repeat: int) -> None:
    figures = Figures(n)
    with tempfile.TemporaryDirectory(prefix="smartbook-bench-app-") as directory:
        start = time.perf_counter()
        book = write_book(n, Path(directory))
        figures.values["book written and read s"] = time.perf_counter() - start
        model_figures(book, repeat, figures)
    figures.values["peak RSS MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(json.dumps({"contacts": n, "times": figures.times, "values": figures.values}))


def report(result: dict) -> None:
    n = result["contacts"]
    scale = 1.0 if n <= 10_000 else 3.0
    print(f"\n{n:,} contacts ({int(result['values']['users']):,} users), median / best of the runs, ms:")
    for name, runs in result["times"].items():
        median, best = statistics.median(runs) * 1e3, min(runs) * 1e3
        base = next((target for key, target in TARGETS_MS.items() if name.startswith(key)), None)
        goal = f"<= {base * scale:g} ms" if base is not None else ""
        print(f"  {name:<28} {median:9.2f} {best:9.2f}   {goal}")
    for name, value in result["values"].items():
        goal = ""
        if name == "peak RSS MB":
            goal = f"<= {TARGET_RSS_MB * scale:g} MB"
        elif name.startswith("idle CPU"):
            goal = f"<= {TARGET_IDLE_CPU * scale:g} %"
        print(f"  {name:<28} {value:9.1f}   {goal}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Figures of the roster and the app on a generated book.")
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--model-only", action="store_true", help="the roster alone, not the screen")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.repeat)
        return
    for n in args.contacts:
        command = [sys.executable, __file__, "--child", str(n), "--repeat", str(args.repeat)]
        if args.model_only:
            command.append("--model-only")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{n:,} contacts: the run failed:\n{done.stderr}", file=sys.stderr)
            continue
        report(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
