"""Figures for a whole book against `smartbook server run` (issue 10): `smartbook watch --once` on a generated book of
N numbers (two a contact), from its launch to the first presence it prints, to the line that says the whole list
has arrived, and to its exit. Both are real processes on 127.0.0.1; a share of the book's mobile numbers belong to
accounts. A book over the server's 10,000-entry limit is split over list subscriptions. Prints figures; asserts
nothing.

    python bench/list.py [--numbers 10000 20000] [--repeat R] [--users 0.3] [--no-once]

`--no-once` runs watch until every number has been heard of (for a smartbook without --once that waits for the
whole list); the figures are the same clocks. Targets (issue 10): a 10,000-number book's badges within 1.5 s of
launch, in the app; here, watch with its book reading and JSON printing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOMAIN = "127.0.0.1"
PASSWORD = "bench password"
WAIT = 120.0  # seconds a watch may take by default before it is stopped and the run said to be incomplete


def write_book(path: Path, contacts: int, seed: int = 3) -> list[str]:
    """`contacts` vCards with a mobile and a landline each, in E.164; returns the mobiles (in book order)."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10**8), 2 * contacts)
    mobiles, cards = [], []
    for index in range(contacts):
        mobile, landline = f"+336{numbers[2 * index]:08d}", f"+331{numbers[2 * index + 1]:08d}"
        mobiles.append(mobile)
        cards.append(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Contact {index}\r\nTEL;TYPE=cell:{mobile}\r\n"
            f"TEL;TYPE=home:{landline}\r\nEND:VCARD\r\n"
        )
    path.write_text("".join(cards))
    return mobiles


def make_accounts(db: Path, mobiles: list[str], share: float) -> int:
    from smartbook_tui.server.store import Store

    store = Store.open(db)
    try:
        store.add_account("alice", DOMAIN, PASSWORD)
        users = random.Random(5).sample(mobiles, int(len(mobiles) * share))
        for index, number in enumerate(users):
            store.add_account(f"u{index}", DOMAIN, PASSWORD, number)
    finally:
        store.close()
    return len(users)


def start_server(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = directory / "ready.json"
    command = [sys.executable, "-m", "smartbook_tui.cli", "server", "run", "--sip", f"{DOMAIN}:0"]
    command += ["--db", str(directory / "server.sqlite3"), "--domain", DOMAIN, "--ready-file", str(ready)]
    log = (directory / "server.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start; see {directory / 'server.log'}")
        time.sleep(0.02)
    return process, json.loads(ready.read_text())["tcp"]


def run_watch(
    proxy: str, book: Path, password: Path, numbers: int, *, once: bool, wait: float
) -> dict[str, float | int]:
    command = [sys.executable, "-m", "smartbook_tui.cli", "watch", "--sip-uri", f"sip:alice@{DOMAIN}"]
    command += ["--proxy", proxy, "--password-file", str(password), "--region", "FR", "--vcard", str(book)]
    command += ["--once"] if once else []
    launched = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    figures: dict[str, float | int] = {}
    heard: set[str] = set()
    assert process.stdout is not None
    deadline = launched + wait
    for raw in process.stdout:
        now = time.perf_counter() - launched
        line = json.loads(raw)
        if line.get("event") == "presence":
            figures.setdefault("first_presence", now)
            heard.add(line["uri"])
            if len(heard) == numbers:
                figures.setdefault("all_heard", now)
                if not once:
                    break
        elif line.get("event") == "state" and "has arrived" in str(line.get("detail")):
            figures.setdefault("complete_said", now)
        if time.perf_counter() > deadline:
            break
    if process.poll() is None and (not once or time.perf_counter() > deadline):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    figures["exit"] = time.perf_counter() - launched
    figures["heard"] = len(heard)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, nargs="+", default=[10_000, 20_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--users", type=float, default=0.3, help="share of the mobiles with an account")
    parser.add_argument("--no-once", dest="once", action="store_false", help="run watch without --once")
    parser.add_argument("--wait", type=float, default=WAIT, help="seconds before a run is given up")
    args = parser.parse_args()
    print("smartbook watch against smartbook server run, both on 127.0.0.1 (seconds from watch's launch)")
    for numbers in args.numbers:
        with tempfile.TemporaryDirectory(prefix="smartbook-list-bench-") as scratch:
            directory = Path(scratch)
            book = directory / "book.vcf"
            mobiles = write_book(book, numbers // 2)
            users = make_accounts(directory / "server.sqlite3", mobiles, args.users)
            password = directory / "password"
            password.write_text(PASSWORD + "\n")
            server, proxy = start_server(directory)
            try:
                runs = [
                    run_watch(proxy, book, password, numbers, once=args.once, wait=args.wait)
                    for _ in range(args.repeat)
                ]
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(20)
        print(f"{numbers:,} numbers ({numbers // 2:,} contacts, {users:,} of them users), {len(runs)} runs")
        for key, label in (
            ("first_presence", "to the first presence printed"),
            ("all_heard", "to every number heard of"),
            ("complete_said", "to 'the state of all ... has arrived'"),
            ("exit", "to the exit of watch" + (" --once" if args.once else "")),
        ):
            values = [run[key] for run in runs if key in run]
            if values:
                print(f"  {label:<44} median {statistics.median(values):6.2f} s   best {min(values):6.2f} s")
            else:
                print(f"  {label:<44} never (numbers heard of: {[run['heard'] for run in runs]})")


if __name__ == "__main__":
    main()
