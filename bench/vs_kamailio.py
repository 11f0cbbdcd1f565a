"""Kamailio 5.6 and the smartbook presence server side by side, under the same load from the same generator.

Kamailio runs tuned (tests/peers/kamailio.py with `tuned=True`: 4 UDP and 4 TCP children, `-m 2048`, a 4 MB UDP
receive buffer, 1 MB db_text rows; presence, rls and db_text as the tests use them; warnings only in its log);
smartbook as `smartbook server run` with
`--udp-rate 0 --stream-rate 0 --rate-limit 0` (the generator is one address: no per-address budget may throttle
it) and `--notify-interval 0` (Kamailio sends each change at once; smartbook's default 2 s would measure the
interval, not the server), its defaults otherwise (`--smartbook-flags` replaces these). Each part starts a fresh
server; the parts run A, B, A, B (`--repeats`), so the shared machine's noise hits both. The load is this process:
bench/server.py's lean client (a UDP flavour of it for UDP) and its `FanOut` pacing. A SUBSCRIBE or initial
PUBLISH answered 503 is sent again after its Retry-After (the count is printed).

    python bench/vs_kamailio.py [--quick] [--repeats 2] [--parts udp tcp list memory]

* fan-out over UDP and TCP: N publishers x M watchers (N x M presentity subscriptions, from N x M / 25 watcher
  accounts of 25 subscriptions each: smartbook caps an account at 32; the accounts share 50 sockets); the PUBLISH
  rate steps up a ladder (every other rung with --quick; a later repeat starts two rungs below the last figure)
  until a step fails. A step holds when the generator kept the pace, every PUBLISH was answered 200, every watcher
  got every publisher's last state, and the p99 of PUBLISH written -> NOTIFY carrying it received is <= 100 ms.
  The figure is the highest rate that held. Then the same load is offered at 2x and 3x that rate, judged as a
  client sees it: a PUBLISH refused 503 is sent again after its Retry-After until taken, and then every watcher
  must hold every publisher's last state; the final states lost and the PUBLISHes never answered are printed (a
  publisher waits for the answer to its last PUBLISH before the next, so what is sent may fall short of the offer).
* list fan-out: stored lists (RFC 4662, bodyless SUBSCRIBE to the list's URI, over TCP), each publisher in F lists
  of E entries, as bench/server.py's (b). Kamailio's rls sends a list's changes on a timer (waitn_time, 1 s at the
  least), so here the bound on p99 is `--list-p99-ms` (1,500 ms); both p99s are printed.
* memory: K stored-list subscriptions of 200 entries (one TCP connection each) from a pool of 1,000 published
  accounts; the server's processes' data memory together (Pss_Anon + Pss_Shmem: Kamailio's shared memory counted
  once, libraries and files left out) before and after, over K; the summed RSS is printed beside it.
* full state: a stored list of 200 and of 1,000 entries: from the authenticated SUBSCRIBE written to every entry
  seen with an RLMI <instance> (all NOTIFYs, all chunks); over `--full-state-timeout` counts as not complete.

The generator's CPU is measured every step; a step where it used >= 90 % of a core is marked, and so is the table.
Exits 1 with one line when Kamailio is missing or a run breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peer_load import (
    INSTANCE,
    RESOURCE,
    RESOURCE_URI,
    RETRIES,
    SMARTBOOK_FLAGS,
    Accounts,
    KamailioServer,
    PeerMissing,
    Server,
    SmartbookServer,
    Watch,
    WatchedFanOut,
    aor,
    connect_tcp,
    fanout_watches,
    hold_subscriptions,
    kamailio_version,
    make_publishers,
    notify_body,
    publish_all,
    require_peers,
    retried,
    step_verdict,
    subscribe,
    subscribe_headers,
)
from bench.server import Conn, first_line, pct

perf = time.perf_counter
LADDER = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400)
GENERATOR_BOUND = 0.9
OVERLOAD = (2, 3)  # multiples of the clean fan-out rate offered after the search
COST_RATE = 100  # PUBLISH/s of the fan-out step whose server CPU per NOTIFY is compared (both servers hold it)
RESEND_LIMIT = 15.0  # seconds the publishers refused 503 keep sending their state again


@dataclass
class Figure:
    """One figure's runs for one server, and what marks them."""

    values: list[float] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")


@dataclass
class Plan:
    """The accounts of every part, the same on both servers."""

    accounts: Accounts
    publishers: list[str]
    watches: list[Watch]  # the fan-out's presentity subscriptions
    list_publishers: list[str]
    list_watches: list[Watch]
    pool: list[str]
    memory_watchers: list[str]
    memory_targets: list[str]
    full_state: dict[int, list[tuple[str, str]]]  # size -> (watcher, list URI) per run


def make_plan(args: argparse.Namespace) -> Plan:
    rng = random.Random(args.seed)
    accounts = Accounts()
    publishers = accounts.add([f"p{i}" for i in range(args.publishers)])
    count = args.publishers * args.watchers // args.per_watcher
    watchers = accounts.add([f"w{i}" for i in range(count)])
    watches = fanout_watches(publishers, watchers, args.watchers, min(count, args.watcher_sockets))
    list_publishers = accounts.add([f"q{i}" for i in range(args.list_publishers)])
    count = args.list_publishers * args.list_fanout // args.list_entries
    list_watchers = accounts.add([f"l{i}" for i in range(count)])
    stride = args.list_entries // args.list_fanout
    order = rng.sample(list_publishers, len(list_publishers))
    list_watches = []
    for w, watcher in enumerate(list_watchers):
        entries = tuple(order[(stride * w + j) % len(order)] for j in range(args.list_entries))
        list_watches.append(Watch(watcher, accounts.store_list(watcher, [aor(user) for user in entries]), w, entries))
    pool = accounts.add([f"s{i}" for i in range(args.pool)])
    memory_watchers = accounts.add([f"m{i}" for i in range(args.memory_subscriptions + args.memory_warmup)])
    memory_targets = [
        accounts.store_list(user, [aor(entry) for entry in rng.sample(pool, args.memory_entries)])
        for user in memory_watchers
    ]
    full_state: dict[int, list[tuple[str, str]]] = {}
    for size in (20, *args.full_state):  # the 20-entry list warms the server up
        runs = []
        for run in range(args.repeats):
            user = accounts.add([f"f{size}x{run}"])[0]
            runs.append((user, accounts.store_list(user, [aor(entry) for entry in rng.sample(pool, size)])))
        full_state[size] = runs
    return Plan(
        accounts,
        publishers,
        watches,
        list_publishers,
        list_watches,
        pool,
        memory_watchers,
        memory_targets,
        full_state,
    )


# ============================================================================================ the parts


async def search_rate(
    server: Server, fan: WatchedFanOut, args: argparse.Namespace, rates: Sequence[int], label: str
) -> tuple[float, float, float | None]:
    """Step the PUBLISH rate up `rates` until a step fails; the highest rate that held (0 for none), the most of a
    core the generator used, and the server's CPU per NOTIFY (us) in the step at `COST_RATE` (None without it)."""
    best, generator, cost = 0.0, 0.0, None
    for rate in rates:
        fan.refused.clear()
        step = await fan.run_step(rate, server)
        deadline = perf() + args.final_wait  # a last state may still be on its way (Kamailio's rls timer)
        while fan.lost_finals() and perf() < deadline:
            await asyncio.sleep(0.05)
        p99 = pct(step.latency_ms, 0.99) if step.latency_ms else float("nan")
        p50 = pct(step.latency_ms, 0.5) if step.latency_ms else float("nan")
        top = max(step.latency_ms, default=float("nan"))
        got = len(step.latency_ms) / (step.sent * args.fanout) if step.sent else 0.0
        verdict = step_verdict(step, args, fan, p99)
        own = step.own_cpu / step.seconds
        generator = max(generator, own)
        per_notify = 1e6 * step.server_cpu / step.notifies if step.notifies else float("nan")
        if rate == COST_RATE:
            cost = per_notify
        print(
            f"    {label:<22} {rate:6.0f}/s sent {step.sent / step.send_seconds:6.0f}/s  NOTIFY {step.notifies:6d}  "
            f"p50 {p50:6.1f} p99 {p99:6.1f} max {top:6.0f} ms  states {got:4.0%}  "
            f"server CPU {step.server_cpu / step.seconds:5.0%} ({per_notify:4.0f} us/NOTIFY)  "
            f"generator {own:4.0%}{'  (generator-bound)' if own >= GENERATOR_BOUND else ''}"
            f"  {'held' if not verdict else 'FAILED: ' + verdict}",
            flush=True,
        )
        if verdict:
            fan.reset_busy()
            break
        best = rate
        await server.settle(quiet=0.3, limit=5)
    return best, generator, cost


async def part_fanout(server: Server, plan: Plan, args: argparse.Namespace, transport: str, start: int) -> dict:
    ns = argparse.Namespace(
        step_seconds=args.step_seconds,
        drain=args.drain,
        fanout=args.watchers,
        p99_ms=args.p99_ms,
        final_wait=args.final_wait,
    )
    fan = WatchedFanOut(ns)
    pub_conns = await make_publishers(server, fan, plan.publishers, transport, args.publish_connections)
    conns = await hold_subscriptions(server, fan, plan.watches, transport, as_list=False)
    await server.settle()
    rate, generator, cost = await search_rate(server, fan, ns, args.ladder[start:], f"fan-out {transport.upper()}")
    overload = {}
    for multiple in OVERLOAD if rate else ():
        await server.settle(quiet=0.3, limit=5)
        label = f"{transport.upper()} at {multiple}x clean"
        overload[multiple] = await overload_step(server, fan, ns, multiple * rate, label)
    for conn in pub_conns + conns:
        conn.close()
    return {"rate": rate, "generator": generator, "overload": overload, "cost": cost}


async def overload_step(
    server: Server, fan: WatchedFanOut, args: argparse.Namespace, rate: float, label: str
) -> tuple[int, int]:
    """A step offered above the clean rate, judged as a client sees it: a PUBLISH refused 503 is sent again after
    its Retry-After (until taken), then every watcher must hold every publisher's last state. The final states
    lost and the PUBLISHes never answered (the generator does not retransmit over UDP: a datagram the server
    dropped stays unanswered)."""
    fan.refused.clear()
    step = await fan.run_step(rate, server)
    resent = await fan.resend_refused(len(fan.steps) - 1, RESEND_LIMIT)
    deadline = perf() + args.drain
    while fan.lost_finals() and perf() < deadline:
        await asyncio.sleep(0.05)
    lost, unanswered = fan.lost_finals(), step.sent - step.answered
    refusals = ", ".join(f"{count} x {status}" for status, count in sorted(fan.refused.items())) or "none"
    print(
        f"    {label:<22} {rate:6.0f}/s sent {step.sent / step.send_seconds:6.0f}/s  refused {refusals}, sent again "
        f"{resent}  unanswered {unanswered}  final states lost {lost}  server CPU "
        f"{step.server_cpu / step.seconds:5.0%}  generator {step.own_cpu / step.seconds:4.0%}",
        flush=True,
    )
    fan.reset_busy()
    return lost, unanswered


async def part_list(server: Server, plan: Plan, args: argparse.Namespace, start: int) -> dict:
    ns = argparse.Namespace(
        step_seconds=args.step_seconds,
        drain=args.drain + 1.5,
        fanout=args.list_fanout,
        p99_ms=args.list_p99_ms,
        final_wait=5.0,  # Kamailio's rls sends some last states seconds late; they count when they come
    )
    fan = WatchedFanOut(ns)
    pub_conns = await make_publishers(server, fan, plan.list_publishers, "tcp", args.publish_connections)
    conns = await hold_subscriptions(server, fan, plan.list_watches, "tcp", as_list=True)
    await server.settle(quiet=1.5, limit=30)  # Kamailio's rls fetches each entry's state after its first NOTIFY
    rate, generator, _ = await search_rate(server, fan, ns, args.ladder[start:], "list fan-out")
    for conn in pub_conns + conns:
        conn.close()
    return {"rate": rate, "generator": generator}


async def part_memory(server: Server, plan: Plan, args: argparse.Namespace, repeat: int) -> dict:
    """The full-state times on the idle server, then the memory per stored-list subscription, on one start."""
    await publish_all(server, plan.pool)
    await server.settle(quiet=1.0, limit=30)
    result: dict[str, object] = {}
    for size, runs in plan.full_state.items():
        user, target = runs[repeat]
        took = await full_state_once(server, user, target, size, args.full_state_timeout)
        await server.settle(quiet=0.5, limit=15)
        if size != 20:
            print(f"    full state of a {size}-entry list: {took:.1f} ms")
            result[f"full_{size}"] = [took]
    sink = WatchedFanOut(argparse.Namespace())
    count = args.memory_subscriptions
    conns = [await connect_tcp(server.tcp) for _ in plan.memory_watchers]
    for conn in conns:
        conn.on_notify = sink.on_notify
    window = asyncio.Semaphore(16)

    async def one(index: int) -> None:
        async with window:
            user = plan.memory_watchers[index]
            await subscribe(conns[index], user, plan.memory_targets[index], f"m-{user}", as_list=True)

    await asyncio.gather(*(one(i) for i in range(count, len(plan.memory_watchers))))  # the warm-up
    await server.settle(quiet=1.0, limit=30)
    before, rss_before = server.data_kb(), server.rss_kb()
    started = perf()
    await asyncio.gather(*(one(i) for i in range(count)))
    await server.settle(quiet=1.0, limit=60)
    seconds = perf() - started
    after, rss_after = server.data_kb(), server.rss_kb()
    print(
        f"    memory: {count} list subscriptions of {args.memory_entries} entries in {seconds:.1f} s: data "
        f"{before / 1024:.1f} -> {after / 1024:.1f} MB, {(after - before) / count:.1f} KB each (summed RSS "
        f"{rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB, {(rss_after - rss_before) / count:.1f} KB each)"
    )
    if sink.initial_notifies < len(plan.memory_watchers):
        raise RuntimeError(f"{server.name}: {sink.initial_notifies} of {len(plan.memory_watchers)} lists notified")
    for conn in conns:
        conn.close()
    return result | {"memory_kb": (after - before) / count}


async def full_state_once(server: Server, user: str, target: str, size: int, timeout: float) -> float:
    """Milliseconds from the authenticated SUBSCRIBE written to every entry seen with an instance; the timeout
    (as a figure over it) when it did not come whole. A 503 has the SUBSCRIBE sent again after its Retry-After."""
    for attempt in range(RETRIES + 1):
        took = await full_state_try(server, user, target, size, timeout=timeout, dialog=f"fs-{user}-{attempt}")
        if took is not None:
            return took
        retried[0] += 1
        await asyncio.sleep(1)
    raise RuntimeError(f"{server.name}: a list SUBSCRIBE was answered 503 {RETRIES + 1} times")


async def full_state_try(
    server: Server, user: str, target: str, size: int, *, timeout: float, dialog: str
) -> float | None:
    """One full-state measure; None when the server answered 503."""
    conn = await connect_tcp(server.tcp)
    loop = asyncio.get_running_loop()
    complete: asyncio.Future[float] = loop.create_future()
    answered: asyncio.Future[int] = loop.create_future()
    with_instance: set[bytes] = set()

    def on_notify(_conn: Conn, _head: bytes, body: bytes, when: float) -> None:
        plain = notify_body(body)
        starts = [match.start() for match in RESOURCE.finditer(plain)]
        for k, begin in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(plain)
            chunk = plain[begin:end]
            uri = RESOURCE_URI.search(chunk)
            if uri and INSTANCE.search(chunk):
                with_instance.add(uri.group(1))
        if len(with_instance) >= size and not complete.done():
            complete.set_result(when)

    def on_answer(status: int, _head: bytes, _body: bytes, _when: float) -> None:
        if not answered.done():
            answered.set_result(status)
            if status == 503 and not complete.done():
                complete.cancel()

    conn.on_notify = on_notify
    headers = subscribe_headers(user, target, dialog, conn, as_list=True)
    try:
        status, head, _, _ = await conn.transact("SUBSCRIBE", target, headers(1))
        if status == 503:
            return None
        if status != 407 or not conn.take_challenge(head):
            raise RuntimeError(f"{server.name}: a list SUBSCRIBE was answered {first_line(head)!r}, not 407")
        sent = conn.send(
            "SUBSCRIBE", target, headers(2) + conn.authorization(user, "SUBSCRIBE", target), b"", on_answer
        )
        try:
            done = await asyncio.wait_for(complete, timeout)
        except asyncio.CancelledError:
            return None
        except TimeoutError:
            print(
                f"    {server.name}: {size}-entry list: {len(with_instance)} entries with an instance in {timeout:g} s"
            )
            done = sent + timeout
    finally:
        conn.close()
    return (done - sent) * 1000


# ============================================================================================ the driver


def start_server(name: str, plan: Plan, workdir: Path, template: Path, *, label: str, flags: Sequence[str]) -> Server:
    if name == "kamailio":
        return KamailioServer(workdir / label, plan.accounts).start()
    return SmartbookServer(workdir, template, label, flags).start()


async def run_all(args: argparse.Namespace, plan: Plan, workdir: Path, template: Path) -> dict[str, dict[str, Figure]]:
    figures: dict[str, dict[str, Figure]] = {"kamailio": {}, "smartbook": {}}
    starts: dict[tuple[str, str], int] = {}
    for repeat in range(args.repeats):
        for part in args.parts:
            for name in args.servers:
                label = f"{name}-{part}-{repeat}"
                print(f"  {label}", flush=True)
                server = start_server(name, plan, workdir, template, label=label, flags=args.smartbook_flags)
                try:
                    start = starts.get((name, part), 0)
                    if part in ("udp", "tcp"):
                        result = await part_fanout(server, plan, args, part, start)
                    elif part == "list":
                        result = await part_list(server, plan, args, start)
                    else:
                        result = await part_memory(server, plan, args, repeat)
                finally:
                    server.stop()
                record(figures[name], part, result)
                if result.get("rate"):  # the next repeat starts two rungs below this one's
                    starts[(name, part)] = max(0, args.ladder.index(int(result["rate"])) - 2)
    return figures


def record(figures: dict[str, Figure], part: str, result: dict) -> None:
    if "rate" in result:
        figure = figures.setdefault(part, Figure())
        figure.values.append(result["rate"])
        if result["generator"] >= GENERATOR_BOUND:
            figure.notes.add("generator-bound")
        if result.get("cost") is not None:
            figures.setdefault(f"{part}_cost", Figure()).values.append(result["cost"])
        for multiple, (lost, unanswered) in result.get("overload", {}).items():
            figures.setdefault(f"{part}_lost_{multiple}x", Figure()).values.append(lost)
            figures.setdefault(f"{part}_unanswered_{multiple}x", Figure()).values.append(unanswered)
        return
    figures.setdefault("memory", Figure()).values.append(result["memory_kb"])
    for key, times in result.items():
        if key.startswith("full_"):
            figures.setdefault(key, Figure()).values.extend(times)


ROWS = (
    ("udp", "fan-out UDP: clean PUBLISH/s", "higher"),
    ("tcp", "fan-out TCP: clean PUBLISH/s", "higher"),
    ("udp_cost", f"fan-out UDP: CPU us/NOTIFY at {COST_RATE}/s", "lower"),
    ("tcp_cost", f"fan-out TCP: CPU us/NOTIFY at {COST_RATE}/s", "lower"),
    ("list", "stored-list fan-out: clean PUBLISH/s", "higher"),
    ("memory", "memory per list subscription (KB)", "lower"),
)


def print_table(args: argparse.Namespace, figures: dict[str, dict[str, Figure]]) -> None:
    rows = [*ROWS, *((f"full_{size}", f"{size}-entry list full state (ms)", "lower") for size in args.full_state)]
    print()
    print(f"  {'median of the runs (the runs)':<40} {'kamailio':>24} {'smartbook':>24} {'smartbook ahead':>16}")
    for key, label, better in rows:
        kam, sb = figures["kamailio"].get(key), figures["smartbook"].get(key)
        if kam is None or sb is None:
            continue
        k, s = kam.median(), sb.median()
        ratio = (s / k if better == "higher" else k / s) if k and s else float("nan")
        capped = key.startswith("full_") and max(kam.values) >= args.full_state_timeout * 1000
        print(
            f"  {label:<40} {cell(kam, capped):>24} {cell(sb, False):>24} "
            f"{('>= ' if capped else '') + f'{ratio:.1f}x' if math.isfinite(ratio) else 'n/a':>16}"
        )
    for transport in ("udp", "tcp"):
        for multiple in OVERLOAD:
            runs = {
                name: (parts.get(f"{transport}_lost_{multiple}x"), parts.get(f"{transport}_unanswered_{multiple}x"))
                for name, parts in figures.items()
            }
            if any(lost is None for lost, _ in runs.values()):
                continue
            label = f"{transport.upper()} at {multiple}x its clean rate: final states lost (PUBLISHes unanswered)"
            print(f"  {label}: " + "; ".join(f"{name} {counts(*pair)}" for name, pair in runs.items()))
    bound = [name for name, parts in figures.items() for figure in parts.values() if "generator-bound" in figure.notes]
    if bound:
        print(
            f"  the generator used >= {GENERATOR_BOUND:.0%} of a core in some step of {', '.join(sorted(set(bound)))}:"
            " those figures are the generator's limit, not the server's"
        )
    else:
        print(f"  the generator stayed under {GENERATOR_BOUND:.0%} of a core in every step")
    if retried[0]:
        print(f"  {retried[0]} SUBSCRIBEs were answered 503 (overloaded) and sent again after their Retry-After")


def counts(lost: Figure, unanswered: Figure) -> str:
    return ", ".join(f"{a:.0f} ({b:.0f})" for a, b in zip(lost.values, unanswered.values, strict=True))


def cell(figure: Figure, capped: bool) -> str:
    runs = ", ".join(f"{value:.0f}" if value >= 100 else f"{value:.1f}" for value in figure.values)
    median = figure.median()
    text = f"{median:.0f}" if median >= 100 else f"{median:.1f}"
    return f"{'> ' if capped else ''}{text} ({runs})"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under 2 minutes: fewer, shorter")
    parser.add_argument("--repeats", type=int, help="runs of each part on each server (default 2; 1 with --quick)")
    parser.add_argument("--parts", nargs="+", choices=("udp", "tcp", "list", "memory"), default=None)
    parser.add_argument("--publishers", type=int, help="fan-out publishers (default 100; 20 with --quick)")
    parser.add_argument("--watchers", type=int, help="fan-out: watchers of each publisher (default 50; 10)")
    parser.add_argument(
        "--per-watcher",
        type=int,
        help="fan-out: publishers each watcher account subscribes to (default 25, under smartbook's cap of 32 "
        "subscriptions an account; 20 with --quick)",
    )
    parser.add_argument("--watcher-sockets", type=int, default=50, help="fan-out: sockets the watchers share")
    parser.add_argument("--list-publishers", type=int, help="list fan-out publishers (default 200; 40)")
    parser.add_argument("--list-entries", type=int, help="entries of a list in the list fan-out (default 100; 20)")
    parser.add_argument("--list-fanout", type=int, help="lists each list publisher is in (default 25; 10)")
    parser.add_argument("--memory-subscriptions", type=int, help="stored-list subscriptions measured (50; 20)")
    parser.add_argument("--step-seconds", type=float, help="seconds of each rate (default 2; 1 with --quick)")
    parser.add_argument("--full-state-timeout", type=float, help="seconds a full state may take (default 10; 5)")
    parser.add_argument("--p99-ms", type=float, default=100.0, help="fan-out: the p99 a rate must hold")
    parser.add_argument("--list-p99-ms", type=float, default=1500.0, help="list fan-out: the p99 a rate must hold")
    parser.add_argument("--publish-connections", type=int, default=4, help="connections (sockets) of the publishers")
    parser.add_argument(
        "--smartbook-flags",
        type=shlex.split,
        default=list(SMARTBOOK_FLAGS),
        help=f"flags of smartbook server run (default {shlex.join(SMARTBOOK_FLAGS)!r})",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--servers", nargs="+", choices=("kamailio", "smartbook"), default=["kamailio", "smartbook"], help="(to debug)"
    )
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "repeats": (2, 1),
        "publishers": (100, 20),
        "watchers": (50, 10),
        "per_watcher": (25, 20),
        "list_publishers": (200, 40),
        "list_entries": (100, 20),
        "list_fanout": (25, 10),
        "memory_subscriptions": (50, 20),
        "step_seconds": (2.0, 1.0),
        "full_state_timeout": (10.0, 5.0),
    }
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    args.parts = args.parts or ["udp", "tcp", "list", "memory"]
    args.drain, args.final_wait = 3.0, 1.0
    args.ladder = LADDER[1::2] if quick else LADDER
    args.pool, args.memory_entries, args.memory_warmup, args.full_state = 1000, 200, 5, (200, 1000)
    if args.publishers * args.watchers % args.per_watcher or args.per_watcher > args.publishers:
        parser.error("--publishers x --watchers must be a multiple of --per-watcher, at most --publishers")
    if args.list_entries % args.list_fanout or args.list_publishers * args.list_fanout % args.list_entries:
        parser.error("--list-entries must be a multiple of --list-fanout, and publishers x fan-out of the entries")
    return args


def main() -> int:
    args = parse_args()
    started = perf()
    try:
        require_peers()
        plan = make_plan(args)
        with tempfile.TemporaryDirectory(prefix="smartbook-vs-kamailio-") as directory:
            workdir = Path(directory)
            template = workdir / "template.sqlite3"
            plan.accounts.write_smartbook_store(template)
            print(
                f"{kamailio_version()} (tuned: 4+4 children, -m 2048, 4 MB UDP buffer) vs smartbook server run "
                f"{shlex.join(args.smartbook_flags)}; {len(plan.accounts.users):,} accounts; fan-out "
                f"{args.publishers} publishers x {args.watchers} watchers; lists of {args.list_entries} "
                f"(each publisher in {args.list_fanout}); {args.repeats} repeat(s), A,B per part",
                flush=True,
            )
            figures = asyncio.run(run_all(args, plan, workdir, template))
    except PeerMissing as error:
        print(f"vs_kamailio: {error}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as error:
        print(f"vs_kamailio: a run broke: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print_table(args, figures)
    print(f"  total {perf() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
