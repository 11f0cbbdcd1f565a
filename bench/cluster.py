"""Presence nodes behind Kamailio, sharing their live state through Redis (issue 14): the fan-out of one node and of
two through the front, the latency the front and Redis add, and the per-node figures a capacity plan needs.

The cluster is bench/cluster_setup.py's: a throwaway Redis, `smartbook server run` nodes over one SQLite accounts
file (`--cluster redis://... --node-id nodeK --trusted-proxy 127.0.0.1 --udp-rate 0 --stream-rate 0 --rate-limit 0
--notify-interval 0`), Kamailio 5.6 in front with the shipped deploy/kamailio/kamailio.cfg as it is, run with
4 UDP and 4 TCP children (`--front-children`), `-m 1024` and a 4 MB UDP buffer (bench/cluster_setup.py's
`TunedFront`). Clients send to the front; it hashes a SUBSCRIBE to a node by its From user (the watcher) and a
PUBLISH by its Request-URI user (the presentity). Which node each user hashes to is asked of the front first, and
the users are picked so that publishers and watchers are half on each node, and each publisher's watchers half on
its own node, half on the other. The load is bench/peer_load.py's
(bench/server.py's lean client and `FanOut` pacing, every watcher's last state checked), from this process.

    python bench/cluster.py [--quick] [--repeats 1] [--parts fanout latency cost memory takeover]
                            [--transports udp tcp]

* fan-out: N publishers x M watchers each (presentity subscriptions, 25 an account), through the front to 1 node,
  then to 2 nodes (both in the cluster, with Redis), the clients over UDP then over TCP (the front talks UDP to
  the nodes); the PUBLISH rate climbs a ladder of ~15 % steps until a step fails. A step holds when the generator
  kept the pace, every PUBLISH got 200, every watcher got every publisher's last state and the p99 of PUBLISH
  written -> NOTIFY received is <= 100 ms (bench/vs_kamailio.py's rule); a rate that fails is run once more (the
  machine is shared) and ends the search if it fails again; the figure is the highest rate that held.
  Each step prints each process's CPU; the table gives each one's CPU per PUBLISH at the last rate held, and the
  rate two cores could carry at that cost.
* latency, at a modest rate on a 2-node cluster: PUBLISH -> NOTIFY at the watcher, p50 and p99, (a) to node 1
  directly, (b) publishers and watchers both hashed to node 1, through the front, (c) publishers on node 1,
  watchers on node 2, through the front (node 1 -> Redis -> node 2 on the path).
* cost, on the same cluster, each from process CPU time over counts: publishers on node 1 with no watchers (CPU
  per PUBLISH; and on a node without --cluster), with watchers on node 1 (CPU per NOTIFY, the PUBLISH's share
  taken off), with watchers on node 2 (node 2's CPU per change heard through Redis, its NOTIFYs' share taken off);
  Redis commands (INFO commandstats: those its scripts run included) and Redis CPU per PUBLISH, Kamailio CPU per
  request it relays.
* memory: stored-list subscriptions of 200 entries (from a pool of published accounts), half on each node, one
  TCP connection each: each node's RSS delta over its subscriptions, and Redis's used_memory delta over all.
* takeover, on a 2-node cluster of its own: 40 stored-list subscriptions (`--takeover-dialogs`) held by node 1,
  node 1 killed (SIGKILL): the time from the kill to each watcher's full state sent by node 2 (first and last).

Prints figures; asserts nothing. The machine is shared (2 cores: the nodes, Kamailio, Redis and this generator
compete), so read the rates with the CPU columns. Exits 1 with one line when a peer is missing or a run breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster_setup import FRONT_CHILDREN, Cluster, Entry, alternate, hash_users, require_cluster_peers
from bench.peer_load import (
    CALL_ID,
    Accounts,
    PeerMissing,
    Server,
    Watch,
    WatchedFanOut,
    aor,
    connect_tcp,
    fanout_watches,
    hold_subscriptions,
    kamailio_version,
    make_publishers,
    publish_all,
    step_verdict,
    subscribe,
)
from bench.server import Conn, pct

perf = time.perf_counter
LADDER = (50, 60, 70, 80, 90, 100, 115, 130, 150, 170, 200, 230, 260, 300, 350, 400, 460, 530, 600, 700, 800)
QUICK_LADDER = (100, 200, 400, 800)
GENERATOR_BOUND = 0.9
LATENCY_PARTS = {
    "a": "(a) one node, direct",
    "b": "(b) one node, through Kamailio",
    "c": "(c) two nodes through Kamailio (Redis)",
}


@dataclass
class Load:
    """Publishers and the presentity subscriptions that watch them."""

    publishers: list[str]
    watches: list[Watch]

    @property
    def fanout(self) -> int:
        return len(self.watches) // len(self.publishers)


@dataclass
class Plan:
    accounts: Accounts
    node_of: dict[str, int]  # user -> the node (0-based) it hashes to behind a 2-node front
    fanout: Load
    latency: dict[str, Load]  # "a", "b", "c"
    cost: dict[str, Load]  # "publish" (no watchers), "notify" (watchers on the node), "mirror" (on the other)
    pool: list[str]
    memory_watchers: list[str]
    memory_targets: list[str]


# ============================================================================================ the users


def wanted(args: argparse.Namespace) -> dict[str, tuple[int, int]]:
    """Name prefix -> how many users of it on node 1 and on node 2."""
    half = args.publishers // 2
    watchers = args.publishers * args.watchers // args.per_watcher
    lat, lat_watchers = args.latency_publishers, args.latency_watchers
    cost, cost_watchers = args.cost_publishers, args.cost_fanout  # each cost watcher watches every publisher
    return {
        "p": (half, args.publishers - half),
        "w": (watchers // 2, watchers - watchers // 2),
        "la": (lat, 0),
        "law": (lat_watchers, 0),
        "lb": (lat, 0),
        "lbw": (lat_watchers, 0),
        "lc": (lat, 0),
        "lcw": (0, lat_watchers),
        "cp": (cost, 0),
        "cn": (cost, 0),
        "cnw": (cost_watchers, 0),
        "cm": (cost, 0),
        "cmw": (0, cost_watchers),
        "s": (args.pool // 2, args.pool - args.pool // 2),
        "m": (args.memory_subscriptions // 2 + 3, args.memory_subscriptions - args.memory_subscriptions // 2 + 3),
    }


def candidates(counts: dict[str, tuple[int, int]]) -> list[str]:
    """Enough names of each prefix that the wanted count of each node is among them (the hash is near even)."""
    return [f"{prefix}{i}" for prefix, (a, b) in counts.items() for i in range(3 * max(a, b) + 20)]


def make_plan(args: argparse.Namespace, node_of: dict[str, int]) -> Plan:
    rng = random.Random(args.seed)
    counts = wanted(args)
    names = candidates(counts)
    picked = {prefix: alternate([n for n in names if n.rstrip("0123456789") == prefix], node_of, pair)
              for prefix, pair in counts.items()}  # fmt: skip
    accounts = Accounts()
    for users in picked.values():
        accounts.add(users)
    publishers = picked["p"]
    watchers = spread(picked["w"], node_of, max(1, len(publishers) // args.per_watcher))
    watches = on_node_sockets(fanout_watches(publishers, watchers, args.watchers, len(watchers)), node_of,
                              args.watcher_sockets)  # fmt: skip
    latency = {}
    for part in LATENCY_PARTS:
        lat_publishers, lat_watchers = picked[f"l{part}"], picked[f"l{part}w"]
        latency[part] = Load(lat_publishers, fanout_watches(lat_publishers, lat_watchers, len(lat_watchers), 8))
    cost = {"publish": Load(picked["cp"], [])}
    for part, prefix in (("notify", "cn"), ("mirror", "cm")):
        cost_watchers = picked[f"{prefix}w"]
        cost[part] = Load(picked[prefix], fanout_watches(picked[prefix], cost_watchers, args.cost_fanout, 8))
    pool = picked["s"]
    memory_watchers = picked["m"]
    memory_targets = [
        accounts.store_list(user, [aor(entry) for entry in rng.sample(pool, args.memory_entries)])
        for user in memory_watchers
    ]
    return Plan(accounts, node_of, Load(publishers, watches), latency, cost, pool, memory_watchers, memory_targets)


def spread(watchers: Sequence[str], node_of: dict[str, int], windows: int) -> list[str]:
    """`watchers` ordered so that watcher w is on node (w // windows) % 2: fanout_watches gives watcher w the w-th
    window of publishers, `windows` of them going round the publishers once, so each publisher's watchers come
    from both nodes in turn (plain alternation would put them all on one)."""
    queues = [[w for w in watchers if node_of[w] == node] for node in (0, 1)]
    order = []
    for w in range(len(watchers)):
        node = (w // windows) % 2
        queue = queues[node] or queues[1 - node]
        order.append(queue.pop(0))
    return order


def on_node_sockets(watches: Sequence[Watch], node_of: dict[str, int], sockets: int) -> list[Watch]:
    """The watches moved so that each socket carries one node's watchers (even sockets node 1, odd node 2): a
    node's nonce serves on that node only."""
    rank: dict[str, int] = {}
    per_node = [0, 0]
    moved = []
    for watch in watches:
        node = node_of[watch.user]
        if watch.user not in rank:
            rank[watch.user] = per_node[node]
            per_node[node] += 1
        moved.append(dataclasses.replace(watch, socket=node + 2 * (rank[watch.user] % (sockets // 2))))
    return moved


# ============================================================================================ the fan-out


@dataclass
class Search:
    rate: float = 0.0
    generator: float = 0.0  # the most of a core the generator used in a step
    ended_by: str = ""  # the first failed step's verdict
    cost_ms: dict[str, float] = field(default_factory=dict)  # the last held step: process -> CPU ms per PUBLISH


async def part_fanout(
    cluster: Cluster, plan: Plan, args: argparse.Namespace, *, transport: str, start: int, label: str
) -> Search:
    ns = argparse.Namespace(
        step_seconds=args.step_seconds, drain=args.drain, fanout=args.watchers, p99_ms=args.p99_ms, final_wait=1.0
    )
    fan = WatchedFanOut(ns)
    pub_conns = await make_publishers(cluster, fan, plan.fanout.publishers, transport, args.publish_connections)
    conns = await hold_subscriptions(cluster, fan, plan.fanout.watches, transport, as_list=False)
    await cluster.settle()
    search = Search()
    rungs, again = list(args.ladder[start:]), False
    while rungs:
        rate = rungs[0]
        fan.refused.clear()
        before = cluster.cpu_by_part()
        step = await fan.run_step(rate, cluster)
        deadline = perf() + ns.final_wait
        while fan.lost_finals() and perf() < deadline:
            await asyncio.sleep(0.05)
        used = {name: (cpu - before[name]) / step.seconds for name, cpu in cluster.cpu_by_part().items()}
        p50 = pct(step.latency_ms, 0.5) if step.latency_ms else float("nan")
        p99 = pct(step.latency_ms, 0.99) if step.latency_ms else float("nan")
        got = len(step.latency_ms) / (step.sent * ns.fanout) if step.sent else 0.0
        verdict = step_verdict(step, ns, fan, p99)
        own = step.own_cpu / step.seconds
        search.generator = max(search.generator, own)
        cpu = " ".join(f"{name} {share:4.0%}" for name, share in used.items())
        print(
            f"    {label:<8} {rate:5.0f}/s sent {step.sent / step.send_seconds:5.0f}/s  NOTIFY {step.notifies:6d}  "
            f"p50 {p50:5.1f} p99 {p99:6.1f} ms  states {got:4.0%}  CPU {cpu}  generator {own:4.0%}"
            f"{' (bound)' if own >= GENERATOR_BOUND else ''}  {'held' if not verdict else 'FAILED: ' + verdict}"
            f"{' (again)' if again else ''}",
            flush=True,
        )
        if verdict:
            fan.reset_busy()
            if args.again and not again:  # a shared machine: a failed rate is tried once more before it ends the search
                again = True
                await cluster.settle(quiet=0.3, limit=5)
                continue
            search.ended_by = verdict
            break
        again = False
        rungs.pop(0)
        search.rate = rate
        search.cost_ms = {name: 1000 * share * step.seconds / step.sent for name, share in used.items()}
        search.cost_ms["generator"] = 1000 * step.own_cpu / step.sent
        await cluster.settle(quiet=0.3, limit=5)
    for conn in pub_conns + conns:
        conn.close()
    return search


# ============================================================================================ latency and cost


@dataclass
class Measured:
    """One fixed-rate run: its latencies, what each process used, what Redis was asked."""

    latency_ms: list[float]
    published: int
    notifies: int
    seconds: float
    lost: int
    errors: int
    cpu: dict[str, float]
    redis_calls: dict[str, int]


async def fixed_rate(
    cluster: Cluster, entry: Server, load: Load, *, rate: float, seconds: float, args: argparse.Namespace
) -> Measured:
    """`load` set up through `entry`, then PUBLISHes at `rate` for `seconds`; what it cost (CPU from the step's start
    to its NOTIFYs drained)."""
    ns = argparse.Namespace(step_seconds=seconds, drain=args.drain, fanout=load.fanout)
    fan = WatchedFanOut(ns)
    conns = await make_publishers(entry, fan, load.publishers, "tcp", 2)
    if load.watches:
        conns += await hold_subscriptions(entry, fan, load.watches, "tcp", as_list=False)
    await cluster.settle()
    calls, cpu = redis_calls(cluster), cluster.cpu_by_part()
    step = await fan.run_step(rate, entry)
    deadline = perf() + 2
    while fan.in_flight and perf() < deadline:  # the last answers (without watchers nothing drains)
        await asyncio.sleep(0.02)
    used = {name: seconds - cpu[name] for name, seconds in cluster.cpu_by_part().items()}
    after = redis_calls(cluster)
    deadline = perf() + 1.0
    while load.watches and fan.lost_finals() and perf() < deadline:
        await asyncio.sleep(0.05)
    lost = fan.lost_finals() if load.watches else 0
    for conn in conns:
        conn.close()
    return Measured(
        step.latency_ms,
        step.sent,
        step.notifies,
        step.seconds,
        lost,
        step.errors + step.sent - step.answered,
        used,
        {command: count - calls.get(command, 0) for command, count in after.items() if count > calls.get(command, 0)},
    )


def redis_calls(cluster: Cluster) -> dict[str, int]:
    """Redis's commands so far (INFO commandstats), by command; the INFO calls themselves left out."""
    if cluster.redis is None:
        return {}
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items() if name != "cmdstat_info"
    }


def redis_memory(cluster: Cluster) -> int:
    assert cluster.redis is not None
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


async def part_latency(cluster: Cluster, plan: Plan, args: argparse.Namespace) -> dict[str, Measured]:
    node1 = cluster.nodes[0]
    entries = {"a": Entry(cluster, "node1", node1.tcp), "b": cluster, "c": cluster}
    results = {}
    for part, label in LATENCY_PARTS.items():
        load = plan.latency[part]
        measured = await fixed_rate(
            cluster, entries[part], load, rate=args.latency_rate, seconds=args.latency_seconds, args=args
        )
        results[part] = measured
        print(
            f"    {label:<40} {len(load.publishers)} x {load.fanout} at {args.latency_rate:g}/s: "
            f"p50 {pct(measured.latency_ms, 0.5):5.1f} p99 {pct(measured.latency_ms, 0.99):5.1f} "
            f"max {max(measured.latency_ms):5.1f} ms ({len(measured.latency_ms)} NOTIFYd states, {measured.lost} "
            f"final states lost, {measured.errors} PUBLISHes not 200)",
            flush=True,
        )
    return results


async def part_cost(cluster: Cluster, plan: Plan, args: argparse.Namespace) -> dict[str, Measured]:
    results = {}
    for part, load in plan.cost.items():
        measured = await fixed_rate(cluster, cluster, load, rate=args.cost_rate, seconds=args.cost_seconds, args=args)
        results[part] = measured
        cpu = " ".join(f"{name} {1e6 * used / measured.published:5.0f}" for name, used in measured.cpu.items())
        calls = ", ".join(
            f"{name} {count / measured.published:.2f}" for name, count in sorted(measured.redis_calls.items())
        )
        print(
            f"    cost, {part:<8} {len(load.publishers)} publishers x {load.fanout} watchers on node "
            f"{'2' if part == 'mirror' else '1'}: {measured.published} PUBLISH, {measured.notifies} NOTIFY, "
            f"{measured.lost} final states lost; CPU us/PUBLISH: {cpu}; Redis calls/PUBLISH: {calls or 'none'}",
            flush=True,
        )
    return results


@dataclass
class Memory:
    node_kb: list[float]  # per node: RSS delta over that node's subscriptions
    redis_kb: float  # Redis used_memory delta over all subscriptions
    count: int


async def part_memory(cluster: Cluster, plan: Plan, args: argparse.Namespace) -> Memory:
    await publish_all(cluster, plan.pool)
    await cluster.settle(quiet=1.0, limit=30)
    sink = WatchedFanOut(argparse.Namespace())
    conns: list[Conn] = [await connect_tcp(cluster.tcp) for _ in plan.memory_watchers]
    for conn in conns:
        conn.on_notify = sink.on_notify
    window = asyncio.Semaphore(16)

    async def one(index: int) -> None:
        async with window:
            user = plan.memory_watchers[index]
            await subscribe(conns[index], user, plan.memory_targets[index], f"m-{user}", as_list=True)

    warm = [
        i for node in (0, 1) for i in [k for k, u in enumerate(plan.memory_watchers) if plan.node_of[u] == node][:3]
    ]
    measured = [i for i in range(len(plan.memory_watchers)) if i not in warm]
    await asyncio.gather(*(one(i) for i in warm))  # each node's first lists (imports, caches) are not counted
    await cluster.settle(quiet=1.0, limit=30)
    rss_before, redis_before = cluster.node_rss_kb(), redis_memory(cluster)
    started = perf()
    await asyncio.gather(*(one(i) for i in measured))
    await cluster.settle(quiet=1.0, limit=60)
    seconds = perf() - started
    rss_after, redis_after = cluster.node_rss_kb(), redis_memory(cluster)
    per_node = [sum(1 for i in measured if plan.node_of[plan.memory_watchers[i]] == node) for node in (0, 1)]
    node_kb = [(after - before) / count for before, after, count in zip(rss_before, rss_after, per_node, strict=True)]
    redis_kb = (redis_after - redis_before) / 1024 / len(measured)
    rss = " / ".join(f"{b / 1024:.1f} -> {a / 1024:.1f} MB" for b, a in zip(rss_before, rss_after, strict=True))
    print(
        f"    memory: {len(measured)} list subscriptions of {args.memory_entries} entries ({per_node[0]} + "
        f"{per_node[1]}) in {seconds:.1f} s: node RSS {rss} ({' / '.join(f'{kb:.1f}' for kb in node_kb)} KB each); "
        f"Redis {redis_before / 2**20:.1f} -> {redis_after / 2**20:.1f} MB ({redis_kb:.1f} KB each)",
        flush=True,
    )
    if sink.initial_notifies < len(plan.memory_watchers):
        raise RuntimeError(f"{sink.initial_notifies} of {len(plan.memory_watchers)} lists notified")
    for conn in conns:
        conn.close()
    return Memory(node_kb, redis_kb, len(measured))


@dataclass
class Takeover:
    dialogs: int  # list subscriptions held by the node killed
    first_ms: float  # from the kill to the first watcher's full state from the node that took them
    all_ms: float  # ... to the last one's


class _FirstAfter:
    """When each dialog's first NOTIFY came after `since` (perf clock)."""

    def __init__(self) -> None:
        self.since = math.inf
        self.first: dict[bytes, float] = {}

    def on_notify(self, conn: Conn, head: bytes, body: bytes, when: float) -> None:
        found = CALL_ID.search(head)
        if found is not None and when >= self.since:
            self.first.setdefault(found.group(1).strip(), when)


async def part_takeover(cluster: Cluster, plan: Plan, args: argparse.Namespace) -> Takeover:
    """Node 1 killed (SIGKILL) with list subscriptions on it: how long until node 2 has sent each its full state
    (the watchers over TCP to the front, which talks UDP to the nodes: every dialog is saved in Redis)."""
    await publish_all(cluster, plan.pool)
    await cluster.settle(quiet=1.0, limit=30)
    held = [i for i, user in enumerate(plan.memory_watchers) if plan.node_of[user] == 0][: args.takeover_dialogs]
    sink = _FirstAfter()
    conns: list[Conn] = [await connect_tcp(cluster.tcp) for _ in held]
    for conn in conns:
        conn.on_notify = sink.on_notify
    call_ids = [
        await subscribe(conn, plan.memory_watchers[i], plan.memory_targets[i], f"t-{i}", as_list=True)
        for conn, i in zip(conns, held, strict=True)
    ]
    await asyncio.sleep(1.0)  # every dialog saved (the node writes them 0.2 s after they are made)
    sink.since = perf()
    os.killpg(cluster.nodes[0].pgid, signal.SIGKILL)
    deadline = sink.since + 30
    while len(sink.first) < len(call_ids) and perf() < deadline:
        await asyncio.sleep(0.01)
    for conn in conns:
        conn.close()
    if len(sink.first) < len(call_ids):
        raise RuntimeError(f"{len(sink.first)} of {len(call_ids)} taken-over dialogs got their full state in 30 s")
    times = sorted((when - sink.since) * 1000 for when in sink.first.values())
    print(
        f"    takeover: node 1 killed with {len(call_ids)} list subscriptions: full states from node 2 after "
        f"{times[0]:.0f} ms (first) to {times[-1]:.0f} ms (last)",
        flush=True,
    )
    return Takeover(len(call_ids), times[0], times[-1])


# ============================================================================================ the driver


@dataclass
class Results:
    searches: dict[tuple[str, int], list[Search]] = field(default_factory=dict)  # (transport, nodes) -> runs
    latency: dict[str, Measured] = field(default_factory=dict)
    cost: dict[str, Measured] = field(default_factory=dict)
    memory: Memory | None = None
    takeover: Takeover | None = None
    problems: list[str] = field(default_factory=list)
    front_events: list[str] = field(default_factory=list)
    misrouted: int = 0


def start_cluster(
    workdir: Path, template: Path, count: int, label: str, *, args: argparse.Namespace, redis: bool = True
) -> Cluster:
    store = workdir / f"{label}.sqlite3"
    shutil.copy(template, store)  # each cluster its own accounts file: nodes keep dialogs there when stopped
    return Cluster(workdir, store, count, label=label, redis=redis, children=args.front_children).start()


def finish(cluster: Cluster, results: Results, plan: Plan) -> None:
    cluster.stop()
    results.problems += cluster.node_problems()
    results.front_events += cluster.front_events()
    if cluster.count == 2:
        results.misrouted += cluster.misrouted(plan.node_of)


async def run_all(args: argparse.Namespace, plan: Plan, workdir: Path, template: Path) -> Results:
    results = Results()
    starts: dict[tuple[str, int], int] = {}
    for repeat in range(args.repeats if "fanout" in args.parts else 0):
        for transport in args.transports:
            for count in (1, 2):
                key, nodes = (transport, count), f"{count} node{'s' if count > 1 else ''}"
                label = f"fanout-{transport}-{count}n-{repeat}"
                print(f"  {label}: {nodes} behind the front, clients over {transport.upper()}", flush=True)
                cluster = start_cluster(workdir, template, count, label, args=args)
                try:
                    search = await part_fanout(
                        cluster, plan, args, transport=transport, start=starts.get(key, 0), label=nodes
                    )
                finally:
                    finish(cluster, results, plan)
                results.searches.setdefault(key, []).append(search)
                if search.rate:  # the next repeat starts two rungs below this one's figure
                    starts[key] = max(0, args.ladder.index(int(search.rate)) - 2)
    rest = [part for part in ("latency", "cost", "memory") if part in args.parts]
    if rest:
        print("  2 nodes behind the front: " + ", ".join(rest), flush=True)
        cluster = start_cluster(workdir, template, 2, "figures", args=args)
        try:
            if "latency" in rest:
                results.latency = await part_latency(cluster, plan, args)
            if "cost" in rest:
                results.cost = await part_cost(cluster, plan, args)
            if "memory" in rest:
                results.memory = await part_memory(cluster, plan, args)
        finally:
            finish(cluster, results, plan)
    if "takeover" in args.parts:  # on a cluster of its own: it kills a node
        results.takeover = await run_takeover(args, plan, workdir, template, results)
    if "cost" in rest:  # what the same PUBLISHes cost a node that is not in a cluster (no Redis)
        results.cost["standalone"] = await run_standalone(args, plan, workdir, template, results)
    return results


async def run_standalone(
    args: argparse.Namespace, plan: Plan, workdir: Path, template: Path, results: Results
) -> Measured:
    """What the cost part's PUBLISHes cost a node that is not in a cluster (no Redis)."""
    cluster = start_cluster(workdir, template, 1, "standalone", args=args, redis=False)
    try:
        load = plan.cost["publish"]
        measured = await fixed_rate(cluster, cluster, load, rate=args.cost_rate, seconds=args.cost_seconds, args=args)
        print(
            f"    cost, one node without --cluster, {len(load.publishers)} publishers, no watchers: "
            f"{1e6 * measured.cpu['node1'] / measured.published:.0f} us/PUBLISH",
            flush=True,
        )
    finally:
        finish(cluster, results, plan)
    return measured


async def run_takeover(
    args: argparse.Namespace, plan: Plan, workdir: Path, template: Path, results: Results
) -> Takeover:
    print("  2 nodes behind the front: takeover", flush=True)
    cluster = start_cluster(workdir, template, 2, "takeover", args=args)
    try:
        return await part_takeover(cluster, plan, args)
    finally:
        finish(cluster, results, plan)


def print_fanout(transport: str, one: list[Search], two: list[Search], args: argparse.Namespace) -> None:
    a, b = statistics.median(s.rate for s in one), statistics.median(s.rate for s in two)
    print(
        f"  fan-out through Kamailio ({args.publishers} x {args.watchers}, clients over {transport.upper()}), clean "
        "PUBLISH/s, median (runs):"
    )
    print(f"    1 node  {a:6.0f} ({', '.join(f'{s.rate:.0f}' for s in one)})")
    ratio = f"{b / a:.2f}x" if a else "n/a"
    print(f"    2 nodes {b:6.0f} ({', '.join(f'{s.rate:.0f}' for s in two)})   2 nodes / 1 node: {ratio} (target 1.6x)")
    for count, searches in ((1, one), (2, two)):
        ended = "; ".join(s.ended_by or "the top of the ladder" for s in searches)
        print(f"    what ended the search, {count} node(s): {ended}")
        if last := searches[-1].cost_ms:
            total = sum(last.values())
            parts = " ".join(f"{name} {ms:.2f}" for name, ms in last.items())
            print(f"    CPU ms per PUBLISH at the last rate held, {count} node(s): {parts}; total {total:.2f} "
                  f"(2 cores: at most ~{2000 / total:.0f} PUBLISH/s)")  # fmt: skip
    ones, twos = [s.cost_ms for s in one if s.cost_ms], [s.cost_ms for s in two if s.cost_ms]
    if ones and twos:
        alone = statistics.median(cost["node1"] for cost in ones)
        busier = statistics.median(max(cost["node1"], cost["node2"]) for cost in twos)
        print(f"    node CPU alone: 1 node {alone:.2f} ms a PUBLISH, the busier of 2 nodes {busier:.2f} ms: with a "
              f"core each (the front and the load elsewhere) 2 nodes would carry {alone / busier:.2f}x")  # fmt: skip
    bound = max(s.generator for s in one + two)
    print(f"    the generator used at most {bound:.0%} of a core in a step"
          f"{' (generator-bound: the figures are its limit)' if bound >= GENERATOR_BOUND else ''}")  # fmt: skip


def print_table(args: argparse.Namespace, results: Results) -> None:
    print()
    for transport in args.transports:
        one, two = results.searches.get((transport, 1), []), results.searches.get((transport, 2), [])
        if one and two:
            print_fanout(transport, one, two, args)
    if results.latency:
        print(f"  PUBLISH -> NOTIFY at the watcher, {args.latency_rate:g} PUBLISH/s (ms):")
        for part, label in LATENCY_PARTS.items():
            m = results.latency[part]
            print(f"    {label:<40} p50 {pct(m.latency_ms, 0.5):5.1f}  p99 {pct(m.latency_ms, 0.99):5.1f}")
    if results.cost:
        publish, notify, mirror = results.cost["publish"], results.cost["notify"], results.cost["mirror"]
        per_publish = publish.cpu["node1"] / publish.published
        per_notify = (notify.cpu["node1"] - per_publish * notify.published) / notify.notifies
        per_mirror = (mirror.cpu["node2"] - per_notify * mirror.notifies) / mirror.published
        relayed = (notify.cpu["kamailio"]) / (notify.published + notify.notifies)
        print(f"  per node, at {args.cost_rate:g} PUBLISH/s (process CPU time / count):")
        print(f"    CPU per PUBLISH taken (no watchers)               {1e6 * per_publish:6.0f} us")
        if standalone := results.cost.get("standalone"):
            alone = standalone.cpu["node1"] / standalone.published
            print(f"      the same on a node without --cluster (no Redis) {1e6 * alone:6.0f} us")
        print(f"    CPU per NOTIFY (watchers on the publisher's node) {1e6 * per_notify:6.0f} us")
        print(f"    CPU per change heard from another node            {1e6 * per_mirror:6.0f} us (its NOTIFYs off)")
        print(f"    Kamailio CPU per request relayed                  {1e6 * relayed:6.0f} us")
        for part, label in (("publish", "no watchers"), ("mirror", "watchers on the other node")):
            m = results.cost[part]
            ops = sum(m.redis_calls.values()) / m.published
            names = ", ".join(f"{name} {count / m.published:.2f}" for name, count in sorted(m.redis_calls.items()))
            print(f"    Redis per PUBLISH, {label + ':':<28} {ops:.2f} commands ({names}), "
                  f"{1e6 * m.cpu['redis'] / m.published:.0f} us CPU")  # fmt: skip
    if results.memory:
        mem = results.memory
        nodes = " / ".join(f"{kb:.1f}" for kb in mem.node_kb)
        print(f"  memory per {args.memory_entries}-entry list subscription: node RSS {nodes} KB (node 1 / node 2), "
              f"Redis {mem.redis_kb:.1f} KB")  # fmt: skip
    if results.takeover:
        taken = results.takeover
        print(f"  takeover of {taken.dialogs} list subscriptions after a kill -9: full states {taken.first_ms:.0f} ms "
              f"(first) to {taken.all_ms:.0f} ms (last) after it")  # fmt: skip
    print("  figures from a shared 2-core machine: the nodes, Kamailio, Redis and the generator compete for it")
    if results.misrouted:
        print(f"  {results.misrouted} users were passed to another node than the hash probe said")
    print(f"  the front's log on the nodes' health (a node unanswered, out of or back in the hash): "
          f"{len(results.front_events)} lines")  # fmt: skip
    for line in results.front_events[:10]:
        print(f"    {line[:200]}")
    print(f"  node log lines at WARNING or above: {len(results.problems)}")
    for line in results.problems[:10]:
        print(f"    {line[:200]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute: fewer, shorter")
    parser.add_argument("--repeats", type=int, default=1, help="fan-out searches of each cluster size and transport")
    parser.add_argument("--parts", nargs="+", choices=("fanout", "latency", "cost", "memory", "takeover"), default=None)
    parser.add_argument("--takeover-dialogs", type=int, default=40, help="list subscriptions on the node killed")
    parser.add_argument(
        "--transports",
        nargs="+",
        choices=("udp", "tcp"),
        help="the fan-out clients' transports (default udp tcp; udp with --quick)",
    )
    parser.add_argument("--publishers", type=int, help="fan-out publishers (default 100; 20 with --quick)")
    parser.add_argument("--watchers", type=int, help="fan-out: watchers of each publisher (default 50; 10)")
    parser.add_argument("--per-watcher", type=int, help="fan-out: subscriptions of a watcher account (25; 20)")
    parser.add_argument("--watcher-sockets", type=int, default=50, help="fan-out: sockets the watchers share (even)")
    parser.add_argument("--publish-connections", type=int, default=4, help="fan-out: publishers' sockets (even)")
    parser.add_argument("--step-seconds", type=float, help="seconds of each rate (default 2; 1 with --quick)")
    parser.add_argument("--p99-ms", type=float, default=100.0, help="fan-out: the p99 a rate must hold")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="PUBLISH/s of the latency runs")
    parser.add_argument("--latency-seconds", type=float, help="seconds of each latency run (default 10; 1)")
    parser.add_argument("--cost-rate", type=float, default=100.0, help="PUBLISH/s of the cost runs")
    parser.add_argument("--cost-seconds", type=float, help="seconds of each cost run (default 8; 1.5)")
    parser.add_argument("--memory-subscriptions", type=int, help="list subscriptions measured (default 100; 10)")
    parser.add_argument(
        "--front-children",
        type=int,
        default=FRONT_CHILDREN,
        help=f"Kamailio's UDP children, and TCP children as many (default {FRONT_CHILDREN})",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "publishers": (100, 20),
        "watchers": (50, 10),
        "per_watcher": (25, 20),
        "step_seconds": (2.0, 1.0),
        "latency_seconds": (10.0, 1.0),
        "cost_seconds": (8.0, 1.5),
        "memory_subscriptions": (100, 10),
    }
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    args.parts = args.parts or ["fanout", "latency", "cost", "memory", "takeover"]
    args.transports = args.transports or (["udp"] if quick else ["udp", "tcp"])
    args.drain = 3.0
    args.ladder = QUICK_LADDER if quick else LADDER
    args.again = not quick  # a failed rate runs once more
    args.latency_publishers, args.latency_watchers = 10, 10
    args.cost_publishers, args.cost_fanout = 20, 25
    args.pool, args.memory_entries = (1000, 200) if not quick else (300, 200)
    if args.publishers * args.watchers % args.per_watcher or args.per_watcher > args.publishers:
        parser.error("--publishers x --watchers must be a multiple of --per-watcher, at most --publishers")
    if args.watcher_sockets % 2 or args.publish_connections % 2:
        parser.error("--watcher-sockets and --publish-connections must be even (half for each node)")
    return args


def main() -> int:
    args = parse_args()
    started = perf()
    try:
        require_cluster_peers()
        with tempfile.TemporaryDirectory(prefix="smartbook-cluster-") as directory:
            workdir = Path(directory)
            empty = workdir / "empty.sqlite3"
            Accounts().write_smartbook_store(empty)
            node_of = hash_users(workdir, empty, candidates(wanted(args)), 2)
            plan = make_plan(args, node_of)
            template = workdir / "accounts.sqlite3"
            plan.accounts.write_smartbook_store(template)
            print(
                f"{kamailio_version()} ({args.front_children}+{args.front_children} children, -m 1024, 4 MB UDP "
                f"buffer) in front of smartbook nodes with Redis; {len(plan.accounts.users):,} accounts; fan-out "
                f"{args.publishers} x {args.watchers} over {' and '.join(t.upper() for t in args.transports)}; "
                f"{args.repeats} repeat(s); a shared 2-core machine",
                flush=True,
            )
            results = asyncio.run(run_all(args, plan, workdir, template))
    except PeerMissing as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as error:
        print(f"cluster: a run broke: {chr(10).join(str(error).splitlines()[:20])}", file=sys.stderr)
        return 1
    print_table(args, results)
    print(f"  total {perf() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
