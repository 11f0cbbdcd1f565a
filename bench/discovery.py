"""What discovery without harvesting (issue 15) costs and what it holds back, in-process on the server's sans-IO core
(tests/unit/core_kit.py `make_core`, over a SQLite store opened as the server opens it: synchronous=FULL).

* cpu: the server's CPU (process time: parsing the request, the core, the store, each NOTIFY of the full state and
  its 200) for one 10,000-entry list SUBSCRIBE (request-contained, deflated, half the numbers with an account),
  a fresh account's first (every number charged) and its resubscription in a new dialog (every number free), with
  the quota and discoverability on versus off (`DiscoveryPolicy(quota=0)`, `discoverable="everyone"`), and with
  `discoverable="contacts"` (the watcher a stranger: the accounts show as none, as with "nobody", whose NOTIFYs
  are lighter, so "contacts" is set against "nobody" too). The settings take turns run after run; medians, the
  best, and the ratios to "off".
  Also `DiscoveryQuota.withheld` alone on the same list.
* memory: the record stored per account for a 10,000-number book, and the peak extra memory (tracemalloc) while
  one list is checked.
* yield: a harvester's accounts found a day, with and without the quota, extrapolated; then measured: N rounds of
  10,000 random numbers of a block holding the accounts, through the core with the quota and without, the NOTIFYs
  decoded as a client decodes them.

    python bench/discovery.py [--repeat 7] [--rounds 5] [--parts cpu memory yield]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartbook_tui.presence import (
    InstanceState,
    ListState,
    build_resource_lists,
    decode_notify_body,
    summarize,
)
from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.discovery import DAY, DiscoveryPolicy
from smartbook_tui.server.discovery_quota import DiscoveryQuota
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from tests.peers.sip_kit import list_subscribe
from tests.unit.core_kit import make_core

DOMAIN = "example.org"
PASSWORD = "bench password"
VIA = {"UDP": "192.0.2.1:5070", "TCP": "192.0.2.1:5070", "TLS": "192.0.2.1:5071"}
RLS = f"sip:rls@{DOMAIN}"
BLOCK = range(33_610_000_000, 33_610_100_000)  # +33 6 10 00 00 00 .. +33 6 10 09 99 99: French mobiles
ACCOUNTS = 5_000  # numbers of the block with an account: 5 %, and half of the measured list
LIST_SIZE = 10_000
PER_MINUTE = 10_000  # the issue's harvester: a list of 10,000 numbers every minute
COUNTRY_BLOCK = 100_000_000  # a country's mobile block: one leading digit of a 9-digit plan (France's 06)

SETTINGS: dict[str, dict[str, object]] = {
    "off (quota 0, everyone)": {"discovery": DiscoveryPolicy(quota=0), "discoverable": "everyone"},
    "on (quota 12,000, everyone)": {"discovery": DiscoveryPolicy(), "discoverable": "everyone"},
    "on (quota 12,000, contacts)": {"discovery": DiscoveryPolicy(), "discoverable": "contacts"},
    # what a stranger sees under "contacts", no account, at no check's cost: the reference for the line above
    "off (quota 0, nobody)": {"discovery": DiscoveryPolicy(quota=0), "discoverable": "nobody"},
}
OFF, CONTACTS, NOBODY = "off (quota 0, everyone)", "on (quota 12,000, contacts)", "off (quota 0, nobody)"


def alias(number: int) -> str:
    return f"sip:+{number}@{DOMAIN};user=phone"


@dataclass(frozen=True)
class Peer:
    address: tuple[str, int]
    connection: int
    transport: str = "TCP"


class Watcher:
    """One account talking to the core: list SUBSCRIBEs with digest credentials, each NOTIFY answered 200. Only
    the core's work (the request's parsing included) is counted in `cpu`."""

    _connections = itertools.count(1)

    def __init__(self, core: PresenceServer, user: str) -> None:
        self.core, self.user = core, user
        connection = next(self._connections)
        # an address each, as users have: the ceiling per address is not what is measured
        address = f"10.{connection >> 16 & 255}.{connection >> 8 & 255}.{connection & 255}"
        self.peer = Peer((address, 40_000), connection)
        self.digest = DigestSession(Credentials(user, PASSWORD))
        self.cseq = itertools.count(1)
        self.cpu = 0.0
        self.now = 1_000.0
        self.challenged = False

    def _request(self, call_id: str, body: bytes) -> bytes:
        credentials = self.digest.authorize(method="SUBSCRIBE", uri=RLS, cnonce=secrets.token_hex(8))
        return list_subscribe(
            self.user,
            DOMAIN,
            f"{self.peer.address[0]}:{self.peer.address[1]}",
            call_id=call_id,
            cseq=next(self.cseq),
            body=body,
            branch=secrets.token_hex(6),
            auth=("Proxy-Authorization", credentials) if credentials is not None else None,
        ).to_bytes()

    def _timed(self, work: Callable[[], list]) -> list:
        started = time.process_time()
        sends = work()
        self.cpu += time.process_time() - started
        return sends

    def subscribe(self, body: bytes) -> tuple[SipResponse, list[SipRequest]]:
        """A list SUBSCRIBE in a new dialog (after a challenge the first time, not counted): its response, and
        every NOTIFY of its full state."""
        call_id = f"{self.user}-{secrets.token_hex(4)}"
        if not self.challenged:
            [challenge] = self.core.receive(parse_message(self._request(call_id, body)), self.peer, self.now)
            response = parse_message(challenge.data)
            assert isinstance(response, SipResponse), response
            self.digest.answer(response.headers.get_all("Proxy-Authenticate"), method="SUBSCRIBE", uri=RLS, cnonce="-")
            self.challenged = True
        data = self._request(call_id, body)
        sends = self._timed(lambda: self.core.receive(parse_message(data), self.peer, self.now))
        messages = [parse_message(send.data) for send in sends]
        [response] = [m for m in messages if isinstance(m, SipResponse)]
        waiting = [m for m in messages if isinstance(m, SipRequest)]
        notifies: list[SipRequest] = []
        while waiting:
            notify = waiting.pop(0)
            notifies.append(notify)
            names = ("Via", "From", "To", "Call-ID", "CSeq")
            ok = SipResponse(200, "OK", Headers([(name, notify.headers.get(name) or "") for name in names]))
            sends = self._timed(lambda ok=ok: self.core.receive(ok, self.peer, self.now))
            waiting += [m for m in map(parse_message, (send.data for send in sends)) if isinstance(m, SipRequest)]
        return response, notifies


def make_store(path: Path, watchers: int) -> tuple[list[int], list[int]]:
    """The accounts (their numbers in the block), `watchers` accounts without a number (w0...) and those the memory
    and yield parts use; the numbers with an account, and those without in the block."""
    rng = random.Random(15)
    numbers = rng.sample(BLOCK, ACCOUNTS)
    store = Store.open(path)
    try:
        store._db.execute("PRAGMA synchronous = OFF")  # setup only: reopened below as the server opens it
        for index, number in enumerate(numbers):
            store.add_account(f"a{index}", DOMAIN, PASSWORD, f"+{number}")
        for user in [f"w{index}" for index in range(watchers)] + ["memory", "harvest-off", "harvest-on"]:
            store.add_account(user, DOMAIN, PASSWORD)
    finally:
        store.close()
    with_account = set(numbers)
    return numbers, [number for number in BLOCK if number not in with_account]


def list_body(numbers: Sequence[int]) -> bytes:
    return zlib.compress(build_resource_lists(alias(number) for number in numbers))


def ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms {min(values) * 1000:7.1f} ms"


# ---------------------------------------------------------------------------------------------- cpu


def cpu_part(store: Store, numbers: list[int], others: list[int], repeat: int) -> None:
    rng = random.Random(7)
    book = rng.sample(numbers, LIST_SIZE // 2) + rng.sample(others, LIST_SIZE // 2)
    body = list_body(book)
    cores = {name: make_core(store, DOMAIN, VIA, **settings) for name, settings in SETTINGS.items()}
    first: dict[str, list[float]] = {name: [] for name in SETTINGS}
    again: dict[str, list[float]] = {name: [] for name in SETTINGS}
    fresh = (f"w{index}" for index in itertools.count())
    names = list(SETTINGS)
    for run in range(repeat + 1):  # the first run warms the caches and is not counted
        for name in names[run % len(names) :] + names[: run % len(names)]:  # each setting takes its turn first
            watcher = Watcher(cores[name], next(fresh))
            response, notifies = watcher.subscribe(body)
            assert response.status == 200, response
            assert response.headers.get("Warning") is None, response.headers.get("Warning")
            assert len(notifies) == LIST_SIZE // 200, len(notifies)
            cost = watcher.cpu
            watcher.cpu = 0.0
            watcher.subscribe(body)  # a new dialog with the same list: every number named before
            if run:
                first[name].append(cost)
                again[name].append(watcher.cpu)
    print(f"server CPU per 10,000-entry list SUBSCRIBE, full state and its 200s included ({repeat} runs each)")
    print(f"  {'':<46} {'median':>10} {'best':>10}   median / off   contacts / nobody")
    for label, figures in (("first subscription of a fresh account", first), ("resubscription", again)):
        print(f"  {label}")
        for name in SETTINGS:
            ratio = statistics.median(figures[name]) / statistics.median(figures[OFF])
            print(f"    {name:<44} {ms(figures[name])}   {ratio:12.3f}")
        contacts = statistics.median(figures[CONTACTS]) / statistics.median(figures[NOBODY])
        print(f"    {'contacts / nobody':<44} {'':<21}   {'':<12}   {contacts:17.3f}")
    quota = DiscoveryQuota(store, DiscoveryPolicy())
    keys = [f"+{number}" for number in book]
    charged, free = [], []
    for _ in range(repeat):
        account = store.get_account(next(fresh), DOMAIN)
        assert account is not None
        started = time.process_time()
        quota.withheld(account, keys)
        charged.append(time.process_time() - started)
        started = time.process_time()
        quota.withheld(account, keys)
        free.append(time.process_time() - started)
    print("  DiscoveryQuota.withheld alone, the same 10,000 numbers (the store's read and write included)")
    print(f"    {'all charged (a fresh account)':<44} {ms(charged)}")
    print(f"    {'all free (named before)':<44} {ms(free)}")
    for label, values, base in (("charged", charged, first[OFF]), ("free", free, again[OFF])):
        share = statistics.median(values) / statistics.median(base)
        print(f"    {label}, over the subscription's median with the quota off: {share:.1%}")


# ---------------------------------------------------------------------------------------------- memory


def memory_part(store: Store, numbers: list[int], others: list[int]) -> None:
    book = random.Random(8).sample(numbers + others, LIST_SIZE)
    keys = [f"+{number}" for number in book]
    quota = DiscoveryQuota(store, DiscoveryPolicy())
    account = store.get_account("memory", DOMAIN)
    assert account is not None
    peaks = []
    for label in ("first check (all charged)", "second check (all free)"):
        tracemalloc.start()
        quota.withheld(account, keys)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks.append((label, peak))
    stored = len(store.named_numbers("memory", DOMAIN) or b"")
    print("memory of the quota's window, a 10,000-number book")
    print(f"  stored per account (Store.named_numbers): {stored:,} bytes ({stored / LIST_SIZE:.0f} a number)")
    for label, peak in peaks:
        print(f"  peak extra memory while checking it, {label}: {peak / 1e6:.2f} MB (tracemalloc)")


# ---------------------------------------------------------------------------------------------- yield


def found_in(notifies: list[SipRequest]) -> tuple[set[str], int]:
    """The resources a list's NOTIFYs show with an account, and how many they withheld."""
    found, withheld = set(), 0
    for notify in notifies:
        headers = notify.headers
        state = decode_notify_body(headers.get("Content-Type"), headers.get("Content-Encoding"), notify.body)
        assert isinstance(state, ListState)
        for resource in state.resources:
            if any(i.state is InstanceState.TERMINATED and i.reason == "rejected" for i in resource.instances):
                withheld += 1
            elif resource.presence is not None and summarize(resource.presence).has_account:
                found.add(resource.uri)
    return found, withheld


def yield_part(store: Store, rounds: int) -> None:
    policy = DiscoveryPolicy()
    density = ACCOUNTS / len(BLOCK)
    per_day = PER_MINUTE * DAY / 60
    print("a harvester's yield, per account and per day")
    print(f"  without the quota: {per_day:,.0f} numbers checked a day (10,000 a minute)")
    print(f"  with the quota:    {policy.quota:,} numbers a day ({per_day / policy.quota:,.0f}x fewer)")
    for share in (0.05, 0.30):
        print(
            f"  accounts found a day at a density of {share:.0%}: {per_day * share:,.0f} without, "
            f"{policy.quota * share:,.0f} with"
        )
    print(
        f"  a country's block of {COUNTRY_BLOCK:,} numbers: {COUNTRY_BLOCK / per_day:,.1f} account-days without "
        f"the quota, {COUNTRY_BLOCK / policy.quota:,.0f} with (one account for "
        f"{COUNTRY_BLOCK / policy.quota / 365:,.1f} years, or {COUNTRY_BLOCK / policy.quota:,.0f} accounts for a day)"
    )
    print(f"measured: {rounds} rounds of {LIST_SIZE:,} random numbers of a block of {len(BLOCK):,} numbers holding")
    print(f"{ACCOUNTS:,} accounts (density {density:.0%}), a list a round as the issue's harvester sends one a minute")
    print(f"  {'rounds':>6}  {'found, no quota':>16}  {'found, quota':>13}  {'withheld, quota':>16}")
    rng = {name: random.Random(21) for name in ("off", "on")}  # the same numbers each way
    watchers = {
        "off": Watcher(make_core(store, DOMAIN, VIA, discovery=DiscoveryPolicy(quota=0)), "harvest-off"),
        "on": Watcher(make_core(store, DOMAIN, VIA, discovery=policy), "harvest-on"),
    }
    found: dict[str, set[str]] = {"off": set(), "on": set()}
    withheld = 0
    for number in range(1, rounds + 1):
        for name, watcher in watchers.items():
            _, notifies = watcher.subscribe(list_body(rng[name].sample(BLOCK, LIST_SIZE)))
            shown, held = found_in(notifies)
            found[name] |= shown
            withheld += held if name == "on" else 0
        print(f"  {number:>6}  {len(found['off']):>16,}  {len(found['on']):>13,}  {withheld:>16,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each setting (cpu)")
    parser.add_argument("--rounds", type=int, default=5, help="lists the measured harvester sends (yield)")
    parser.add_argument("--parts", nargs="+", choices=("cpu", "memory", "yield"), default=["cpu", "memory", "yield"])
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the quota's log line for each list past it
    with tempfile.TemporaryDirectory(prefix="smartbook-discovery-bench-") as scratch:
        path = Path(scratch) / "server.sqlite3"
        numbers, others = make_store(path, watchers=len(SETTINGS) * (args.repeat + 1) + args.repeat + 1)
        with Store.open(path) as store:  # synchronous=FULL, as the server opens it
            print(f"bench/discovery.py on {time.strftime('%Y-%m-%d %H:%M')} ({ACCOUNTS:,} accounts in the store)")
            if "cpu" in args.parts:
                cpu_part(store, numbers, others, args.repeat)
            if "memory" in args.parts:
                memory_part(store, numbers, others)
            if "yield" in args.parts:
                yield_part(store, args.rounds)


if __name__ == "__main__":
    main()
