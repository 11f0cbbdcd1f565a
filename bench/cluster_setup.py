"""The cluster bench/cluster.py measures: a throwaway Redis (tests/peers/redis.py), N `smartbook server run` nodes
over one SQLite accounts file, and Kamailio in front of them with the shipped deploy/kamailio/kamailio.cfg
(tests/peers/kamailio_front.py), run with more memory and fewer children than Kamailio's defaults (`TunedFront`);
and which node each user hashes to, asked of the front itself. Not run on its own.

Each node runs `--cluster redis://... --node-id nodeK --trusted-proxy 127.0.0.1` with bench/peer_load.py's flags
(no per-address limits, `--notify-interval 0`); a node's digest nonces serve on that node only (each has its own
secret), so the load keeps each of its sockets to the users of one node (`alternate`).
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.peer_load import SMARTBOOK_FLAGS, PeerMissing, Server, SmartbookServer, cpu_seconds, group_pids, status_kb
from bench.server import DOMAIN
from tests.peers.kamailio import free_port
from tests.peers.kamailio_front import KamailioFront
from tests.peers.redis import RedisServer

NODE_FLAGS = (*SMARTBOOK_FLAGS, "--trusted-proxy", DOMAIN)
FRONT_CHILDREN = 4  # UDP workers, and TCP workers as many (tests/peers/kamailio.py's tuned=True count)
FRONT_SHARED_MEMORY_MB = 1024  # tm keeps each relayed NOTIFY's transaction ~5 s after its 200: 64 MB runs out
FRONT_UDP_BUFFER = 4 * 1024 * 1024
# What the shipped configuration logs (L_INFO) for each request it passes to a node.
ROUTED = re.compile(r"\b([A-Z]+) from \S+ for '([^']*)' -> sip:[\d.]+:(\d+)")
PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")
# What the shipped configuration logs when a node does not answer (a request or a probe) and when it is back.
NODE_EVENT = re.compile(r"node \S+ (?:failed|is down|is up|did not answer).*")


def require_cluster_peers() -> None:
    """PeerMissing unless kamailio (with its dispatcher module) and redis-server are installed."""
    for name, package in (("kamailio", "kamailio"), ("redis-server", "redis-server")):
        if not (shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")):
            raise PeerMissing(f"{name} is not installed (Debian package {package})")


class TunedFront(KamailioFront):
    """The shipped front, its file as it is, with Kamailio's own command-line options for load: `children`
    children a transport (FRONT_CHILDREN unless told; the file sets none, so Kamailio would fork 8 of each onto 2
    cores), FRONT_SHARED_MEMORY_MB of shared memory, a 4 MB UDP receive buffer. Its log stays at the file's level 2:
    one line for each request passed to a node."""

    children = FRONT_CHILDREN

    def defines(self) -> list[str]:
        tuning = ["-n", str(self.children), "-m", str(FRONT_SHARED_MEMORY_MB), "-b", str(FRONT_UDP_BUFFER)]
        return [*super().defines(), *tuning]

    @property
    def pgid(self) -> int:
        """Its main process's id, which is also its group's (it runs in a session of its own)."""
        assert self._process is not None, "the front is not running"
        return self._process.pid


class Cluster(Server):
    """Redis (unless `redis` is False), `count` nodes over the accounts file `store`, and the front; clients send to
    `udp`/`tcp`, the front's address. `cpu_by_part` says what each process (group) used."""

    name = "cluster"

    def __init__(
        self,
        workdir: Path,
        store: Path,
        count: int,
        *,
        label: str,
        redis: bool = True,
        children: int = FRONT_CHILDREN,
    ) -> None:
        self.workdir, self.store, self.count, self.label = workdir, store, count, label
        self.redis: RedisServer | None = None
        if redis:
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            directory = workdir / f"{label}-redis"
            directory.mkdir(parents=True)
            self.redis = RedisServer(binary, directory, free_port())
        self.nodes: list[SmartbookServer] = []
        self.front = TunedFront(workdir / f"{label}-front", [], DOMAIN)
        self.front.children = children

    def start(self) -> Cluster:
        try:
            cluster_flags: tuple[str, ...] = ()
            if self.redis is not None:
                self.redis.start()
                cluster_flags = ("--cluster", self.redis.url)
            for k in range(1, self.count + 1):
                flags = [*NODE_FLAGS, *cluster_flags, "--node-id", f"node{k}", "--db", str(self.store)]
                # (the copy of `store` SmartbookServer makes for the node is overridden by the --db given last)
                self.nodes.append(SmartbookServer(self.workdir, self.store, f"{self.label}-node{k}", flags).start())
            self.front.nodes = [node.udp for node in self.nodes]
            self.front.start()
        except BaseException:
            self.stop()
            raise
        self.udp = self.tcp = self.front.address
        return self

    def stop(self) -> None:
        self.front.stop()
        for node in self.nodes:
            node.stop()
        if self.redis is not None:
            self.redis.stop()

    def parts(self) -> dict[str, Callable[[], list[int]]]:
        """Each process group measured: node1..nodeN, kamailio, redis -> its live pids."""
        parts: dict[str, Callable[[], list[int]]] = {
            f"node{k}": (lambda pgid=node.pgid: group_pids(pgid)) for k, node in enumerate(self.nodes, start=1)
        }
        front_pgid = self.front.pgid
        parts["kamailio"] = lambda: group_pids(front_pgid)
        if self.redis is not None and self.redis.process is not None:
            redis_pid = self.redis.process.pid
            parts["redis"] = lambda: [redis_pid]
        return parts

    def cpu_by_part(self) -> dict[str, float]:
        return {name: cpu_seconds(pids()) for name, pids in self.parts().items()}

    def cpu(self) -> float:
        return sum(self.cpu_by_part().values())

    def node_rss_kb(self) -> list[int]:
        return [status_kb(group_pids(node.pgid)) for node in self.nodes]

    def node_problems(self) -> list[str]:
        """The lines of the nodes' logs (written at WARNING) that say something went wrong, each with its node."""
        lines = []
        for k, node in enumerate(self.nodes, start=1):
            text = node.process.log.read_text(errors="replace") if node.process.log.exists() else ""
            lines += [f"node{k}: {line}" for line in text.splitlines() if PROBLEM.search(line)]
        return lines

    def front_events(self) -> list[str]:
        """What the front said of the nodes' health: a request or probe unanswered, a node out of or back in it."""
        return [f"front: {match.group(0)}" for match in NODE_EVENT.finditer(self.front.log())]

    def routed(self) -> dict[str, int]:
        """user -> the node (0-based) the front passed that user's requests to, from its log."""
        index = {port: k for k, (_, port) in enumerate(self.front.nodes)}
        return {user: index[int(port)] for _, user, port in ROUTED.findall(self.front.log()) if int(port) in index}

    def misrouted(self, expected: dict[str, int]) -> int:
        """Users the front passed to another node than `expected` says (the load's sockets assume it)."""
        return sum(1 for user, node in self.routed().items() if user in expected and expected[user] != node)


class Entry(Server):
    """Another way into a cluster for the load: `udp`/`tcp` somewhere else (a node directly), the cluster's CPU."""

    def __init__(self, cluster: Cluster, name: str, address: tuple[str, int]) -> None:
        self.cluster, self.name = cluster, name
        self.udp = self.tcp = address

    def cpu(self) -> float:
        return self.cluster.cpu()


def hash_users(workdir: Path, store: Path, names: Sequence[str], count: int) -> dict[str, int]:
    """Which of `count` nodes each of `names` hashes to behind the front: an OPTIONS to each name's URI through a
    front of `count` fresh nodes (no Redis), read back from the front's log. The hash depends on the name and on
    the nodes' order in the dispatcher list only, so it holds for every later cluster of `count` nodes."""
    cluster = Cluster(workdir, store, count, label=f"hash{count}", redis=False).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((DOMAIN, 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            for k, name in enumerate(names):
                sock.sendto(options_request(name, port, cluster.front.address), cluster.front.address)
                if k % 100 == 99:
                    time.sleep(0.01)  # the front's receive buffer and the node's: no flood
            deadline = time.monotonic() + 10
            while len(routed := cluster.routed()) < len(names) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        cluster.stop()
    missing = [name for name in names if name not in routed]
    if missing:
        raise RuntimeError(f"the front logged no node for {len(missing)} of {len(names)} names ({missing[0]}...)")
    return {name: routed[name] for name in names}


def options_request(user: str, port: int, front: tuple[str, int]) -> bytes:
    uri = f"sip:{user}@{DOMAIN}"
    return (
        f"OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {DOMAIN}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag={secrets.token_hex(4)}\r\nTo: <{uri}>\r\n"
        f"Call-ID: {secrets.token_hex(8)}@{DOMAIN}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def alternate(names: Sequence[str], node_of: dict[str, int], counts: Sequence[int]) -> list[str]:
    """counts[k] of `names` that hash to node k, interleaved node 0, node 1, ... while each has some left: the
    load's round-robin over an even number of sockets then puts one node's users on each socket."""
    by_node: list[list[str]] = [[] for _ in counts]
    for name in names:
        node = node_of[name]
        if len(by_node[node]) < counts[node]:
            by_node[node].append(name)
    for node, (got, wanted) in enumerate(zip(by_node, counts, strict=True)):
        if len(got) < wanted:
            raise RuntimeError(f"only {len(got)} of {len(names)} candidate names hash to node {node + 1}: {wanted}")
    out: list[str] = []
    for k in range(max(counts, default=0)):
        out += [group[k] for group in by_node if k < len(group)]
    return out
