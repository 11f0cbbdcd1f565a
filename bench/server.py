"""Figures for the presence server (`smartbook server run`): the memory a held list subscription costs, the PUBLISH
-> NOTIFY latency under a stepped PUBLISH rate with a fan-out of 50 watchers, and the time to a full-state NOTIFY of
a 1,000-entry list. The server runs as a real process on 127.0.0.1 (TCP) with its own copy of a database made for
the run; the load comes from this script's process, a lean asyncio SIP client (its own framing and digest, no
parsing beyond what it needs: every NOTIFY is answered 200 on its connection). Prints figures; asserts nothing.

    python bench/server.py [--parts a b c] [--subscriptions 2000] [--rates 25 50 ...] [--repeat 7]

(a) memory: N list subscriptions of 200 entries each, one TCP connection per subscriber, the numbers drawn from a
    shared pool with a Zipf-like popularity (address books overlap); a share of the numbers have accounts, some of
    them public, some publishing. Server VmRSS (/proc/PID/status) before and after, divided by N.
(b) PUBLISH -> NOTIFY: public publishing accounts, each in exactly `--fanout` watchers' lists (sliding windows over
    a shuffled set of publishers), server run with `--notify-interval 0 --rate-limit 0 --udp-rate 0 --stream-rate 0`;
    every PUBLISH is a modification (SIP-If-Match) with a new note whose token the watcher side finds in the
    (inflated) NOTIFY. The offered rate is stepped up; for each step: the latency from the PUBLISH written to each
    NOTIFY carrying it received, p50/p99, and what the server's CPU did. The sustained rate is the highest whose
    median p99 over the sweeps is <= 100 ms, with every lower rate's too. `--notify-interval 0.05` measures the
    coalesced case.
(c) full state: from the authenticated SUBSCRIBE written (after the 407 round) to the first and to the last
    full-state NOTIFY received for a 1,000-entry list; with the default 200 resources a NOTIFY (5 NOTIFYs, sent
    SPLIT_DELAY = 0.5 s apart by design) and with `--notify-max-resources 1000` (one NOTIFY).

Targets on the 2-core machine: (a) <= 20 KB a subscription; (b) >= 1,000 PUBLISH/s with p99 <= 100 ms;
(c) <= 50 ms. `--cprofile DIR` runs each server under cProfile (DIR/<part>.prof, written when it stops);
`--tracemalloc` runs part (a)'s server under tracemalloc and prints what the subscriptions allocated; `--py-spy DIR`
samples the server with py-spy (on PATH) while it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isal import isal_zlib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOMAIN = "127.0.0.1"
RLS_URI = f"sip:rls@{DOMAIN}"
PASSWORD = "bench-password"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SPLIT_DELAY = 0.5  # smartbook_tui.server.notifier.SPLIT_DELAY: the pause between the NOTIFYs of a split full state

perf = time.perf_counter


# ============================================================================================ the population


@dataclass
class Population:
    """Who is in the database: the pool of numbers (index -> E.164), which of them have accounts (index ->
    username), which of those publish, and the Zipf weights lists are drawn with."""

    pool: list[str]
    account_of: dict[int, str]
    public: set[str]
    publishing: list[str]
    cum_weights: list[float]
    watchers_a: list[str]
    watchers_c: list[str]
    publishers_b: list[str]
    publisher_numbers_b: list[str]
    watchers_b: list[str]
    setup_seconds: float = 0.0
    number_accounts: set[str] = field(default_factory=set)  # pool numbers with an account
    number_of: dict[str, str] = field(default_factory=dict)  # username -> its number

    def __post_init__(self) -> None:
        self.number_accounts = {self.pool[k] for k in self.account_of}
        self.number_of = {user: self.pool[k] for k, user in self.account_of.items()}

    def draw_list(self, rng: random.Random, size: int) -> list[int]:
        """`size` distinct pool indices, popular numbers more likely (a Zipf-like law, so lists overlap)."""
        seen: set[int] = set()
        out: list[int] = []
        indices = range(len(self.pool))
        while len(out) < size:
            for k in rng.choices(indices, cum_weights=self.cum_weights, k=size):
                if k not in seen:
                    seen.add(k)
                    out.append(k)
                    if len(out) == size:
                        break
        return out

    def uris(self, indices: Sequence[int]) -> list[str]:
        return [f"sip:{self.pool[k]}@{DOMAIN};user=phone" for k in indices]


def build_population(args: argparse.Namespace, path: Path) -> Population:
    """Make the database at `path` (accounts straight in the store, synchronous=OFF for the setup only)."""
    from smartbook_tui.server.store import Store

    started = perf()
    rng = random.Random(args.seed)
    pool = [f"+336{n:08d}" for n in rng.sample(range(10**8), args.pool)]
    weights = [1.0 / (rank + 1) ** args.zipf for rank in range(args.pool)]
    cum_weights = list(itertools.accumulate(weights))
    with_account = rng.sample(range(args.pool), int(args.pool * args.account_share))
    account_of = {k: f"u{k}" for k in with_account}
    public = {f"u{k}" for k in rng.sample(with_account, int(len(with_account) * args.public_share))}
    publishing = [f"u{k}" for k in rng.sample(with_account, int(len(with_account) * args.publishing_share))]
    watchers_a = [f"wa{i}" for i in range(args.subscriptions + args.warmup)]
    watchers_c = [f"wc{i}" for i in range(2 * (args.repeat + 1))]
    count_b = args.publishers * args.fanout // args.entries
    publishers_b = [f"pb{i}" for i in range(args.publishers)]
    publisher_numbers_b = [f"+337{n:08d}" for n in rng.sample(range(10**8), args.publishers)]
    watchers_b = [f"wb{i}" for i in range(count_b)]

    store = Store.open(path)
    store._db.execute("PRAGMA synchronous = OFF")  # setup only: the server opens the file with FULL
    try:
        for k, user in account_of.items():
            store.add_account(user, DOMAIN, PASSWORD, pool[k], public_presence=user in public)
        for user in watchers_a + watchers_c + watchers_b:
            store.add_account(user, DOMAIN, PASSWORD)
        for user, number in zip(publishers_b, publisher_numbers_b, strict=True):
            store.add_account(user, DOMAIN, PASSWORD, number, public_presence=not args.private_publishers)
    finally:
        store.close()
    return Population(
        pool,
        account_of,
        public,
        publishing,
        cum_weights,
        watchers_a,
        watchers_c,
        publishers_b,
        publisher_numbers_b,
        watchers_b,
        perf() - started,
    )


# ============================================================================================ the server process


_TRACEMALLOC_WRAPPER = """
import signal, sys, tracemalloc
tracemalloc.start(int(sys.argv[1]))
snapshots = [0]
def dump(signum, frame):
    snapshots[0] += 1
    tracemalloc.take_snapshot().dump(f"{sys.argv[2]}.{snapshots[0]}")
signal.signal(signal.SIGUSR1, dump)
from smartbook_tui.cli import main
sys.exit(main(sys.argv[3:]))
"""


# The server's per-address limits, off: a bench's load comes from one address, and those limits are not what it
# measures.
NO_SOURCE_LIMITS = ("--rate-limit", "0", "--udp-rate", "0", "--stream-rate", "0")


async def settle(cpu: Callable[[], float], quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until `cpu` (CPU seconds used so far) grows by under 2% of a core in `quiet` seconds, `limit` at most."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu()
        await asyncio.sleep(quiet)
        if cpu() - before < 0.02 * quiet:
            return


class ServerProcess:
    """`smartbook server run` on a free port, with its own copy of the database and a log file."""

    def __init__(self, workdir: Path, template: Path, name: str, extra: Sequence[str], args: argparse.Namespace):
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir()
        self.db = self.dir / "server.sqlite3"
        shutil.copy(template, self.db)
        self.ready = self.dir / "ready.json"
        self.log = self.dir / "server.log"
        self.snapshots = self.dir / "tracemalloc"
        run = [
            "server",
            "run",
            "--sip",
            f"{DOMAIN}:0",
            "--db",
            str(self.db),
            "--domain",
            DOMAIN,
            "--ready-file",
            str(self.ready),
            "--log-level",
            "WARNING",
            *extra,
        ]
        if args.tracemalloc and name == "a":
            self.command = [sys.executable, "-c", _TRACEMALLOC_WRAPPER, "1", str(self.snapshots), *run]
        elif args.cprofile:
            Path(args.cprofile).mkdir(parents=True, exist_ok=True)
            profile = Path(args.cprofile) / f"{name}.prof"
            self.command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "smartbook_tui.cli", *run]
        else:
            self.command = [sys.executable, "-m", "smartbook_tui.cli", *run]
        self.process: subprocess.Popen[bytes] | None = None
        self.py_spy = args.py_spy
        if self.py_spy:
            Path(self.py_spy).mkdir(parents=True, exist_ok=True)
        self.address = ("", 0)
        self.snapshot_count = 0

    def start(self) -> ServerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {self.name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        host, _, port = json.loads(self.ready.read_text())["tcp"].rpartition(":")
        self.address = (host, int(port))
        return self

    def status_kb(self, key: str = "VmRSS") -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def cpu(self) -> float:
        """User + system CPU seconds of the server process so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    async def settle(self, quiet: float = 0.5, limit: float = 20.0) -> None:
        """Wait until the server has used under 2% of a core for `quiet` seconds."""
        await settle(self.cpu, quiet, limit)

    async def snapshot(self) -> Path:
        """Part (a) under --tracemalloc: have the server dump a tracemalloc snapshot; its path."""
        assert self.process is not None
        self.snapshot_count += 1
        path = Path(f"{self.snapshots}.{self.snapshot_count}")
        self.process.send_signal(signal.SIGUSR1)
        for _ in range(600):
            if path.exists():
                size = path.stat().st_size
                await asyncio.sleep(0.5)
                if path.stat().st_size == size:
                    return path
            await asyncio.sleep(0.1)
        raise RuntimeError("no tracemalloc snapshot came")

    def sample(self, label: str) -> subprocess.Popen[bytes] | None:
        """With --py-spy: start sampling the server (collapsed stacks in DIR/<server>-<label>.txt); stop it with
        `end_sample`."""
        if not self.py_spy or self.process is None:
            return None
        output = Path(self.py_spy) / f"{self.name}-{label}.txt"
        command = ["py-spy", "record", "--pid", str(self.process.pid), "--rate", "250", "--format", "raw"]
        return subprocess.Popen(
            [*command, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @staticmethod
    def end_sample(sampler: subprocess.Popen[bytes] | None) -> None:
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ============================================================================================ the SIP client side

_CONTENT_LENGTH = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_BRANCH = re.compile(rb"branch=([^;,\s]+)")
_ETAG = re.compile(rb"\r\nSIP-ETag[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_CHALLENGE = re.compile(rb"\r\nProxy-Authenticate[ \t]*:([^\r\n]*)", re.IGNORECASE)
_NONCE = re.compile(rb'nonce="([^"]+)"')
_OPAQUE = re.compile(rb'opaque="([^"]+)"')
_MD5_OFFER = re.compile(rb"algorithm=MD5(?:[,\s]|$)")
_NOTE_TOKEN = re.compile(rb"<dm:note>bk(\d+)k")
_ANSWER_HEADERS = {b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"}
_HA1: dict[str, str] = {}

Answer = tuple[int, bytes, bytes, float]  # status, head, body, when it was received
OnAnswer = Callable[[int, bytes, bytes, float], None]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class Conn(asyncio.Protocol):
    """One TCP connection to the server: frames what comes in by Content-Length, hands responses to the callback of
    their Via branch (final ones), answers every request (a NOTIFY) 200 OK at once on this connection and passes it
    to `on_notify`. Digest state: the nonce of the last challenge and its nonce count, shared by every account that
    sends on the connection (the server checks the count per nonce, and a connection keeps the order)."""

    _ids = itertools.count(1)
    via_transport = "TCP"  # what the Via of its requests names (a subclass carries them over UDP)

    def __init__(self) -> None:
        self.id = next(Conn._ids)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.local = ""
        self.pending: dict[bytes, OnAnswer] = {}
        self.on_notify: Callable[[Conn, bytes, bytes, float], None] | None = None
        self.counter = 0
        self.nonce = ""
        self.opaque = ""
        self.nc = 0
        self.cnonce = f"c{self.id:x}"
        self.closed = False

    # ------------------------------------------------------------------------ transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("sockname")[:2]
        self.local = f"{host}:{port}"

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        now = perf()
        buffer = self.buffer
        buffer += data
        while True:
            while buffer[:2] == b"\r\n":  # keep-alive pongs
                del buffer[:2]
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            match = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            if head.startswith(b"SIP/2.0 "):
                status = int(head[8:11])
                if status >= 200:
                    branch = _BRANCH.search(head)
                    callback = self.pending.pop(branch.group(1), None) if branch else None
                    if callback is not None:
                        callback(status, head, body, now)
            else:
                self._answer(head)
                if self.on_notify is not None:
                    self.on_notify(self, head, body, now)

    def _answer(self, head: bytes) -> None:
        lines = [b"SIP/2.0 200 OK"]
        for line in head.split(b"\r\n")[1:]:
            if line[: line.find(b":")].strip().lower() in _ANSWER_HEADERS:
                lines.append(line)
        lines.append(b"Content-Length: 0\r\n\r\n")
        assert self.transport is not None
        self.transport.write(b"\r\n".join(lines))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------------ requests

    def send(self, method: str, uri: str, headers: str, body: bytes = b"", on_answer: OnAnswer | None = None) -> float:
        """Write a request (`headers`: CRLF-ended lines, after Via and Max-Forwards); when it was written."""
        self.counter += 1
        branch = f"z9hG4bK{self.id}x{self.counter}"
        if on_answer is not None:
            self.pending[branch.encode()] = on_answer
        head = (
            f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{self.via_transport} {self.local};branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"{headers}Content-Length: {len(body)}\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.write(head.encode() + body)
        return perf()

    def transact(self, method: str, uri: str, headers: str, body: bytes = b"") -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

        def answered(status: int, head: bytes, body: bytes, when: float) -> None:
            if not future.done():
                future.set_result((status, head, body, when))

        self.send(method, uri, headers, body, answered)
        return future

    def take_challenge(self, head: bytes) -> bool:
        for match in _CHALLENGE.finditer(head):
            value = match.group(1)
            if _MD5_OFFER.search(value):
                nonce, opaque = _NONCE.search(value), _OPAQUE.search(value)
                if nonce is not None:
                    self.nonce, self.nc = nonce.group(1).decode(), 0
                    self.opaque = opaque.group(1).decode() if opaque else ""
                    return True
        return False

    def authorization(self, user: str, method: str, uri: str) -> str:
        """A Proxy-Authorization line for `user` (MD5, qop=auth) with the connection's nonce; '' before any."""
        if not self.nonce:
            return ""
        self.nc += 1
        nc = f"{self.nc:08x}"
        ha1 = _HA1.get(user)
        if ha1 is None:
            ha1 = _HA1[user] = _md5(f"{user}:{DOMAIN}:{PASSWORD}")
        response = _md5(f"{ha1}:{self.nonce}:{nc}:{self.cnonce}:auth:{_md5(f'{method}:{uri}')}")
        return (
            f'Proxy-Authorization: Digest username="{user}", realm="{DOMAIN}", nonce="{self.nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, cnonce="{self.cnonce}", opaque="{self.opaque}", qop=auth, '
            f"nc={nc}\r\n"
        )


def first_line(head: bytes) -> str:
    return head.partition(b"\r\n")[0].decode("utf-8", "replace")


async def connect(address: tuple[str, int]) -> Conn:
    _, conn = await asyncio.get_running_loop().create_connection(Conn, *address)
    return conn


async def authed(conn: Conn, method: str, uri: str, *, user: str, headers: Callable[[int], str], body: bytes) -> Answer:
    """Send a request as `user`, answering a 407 (the first on a connection, or a stale nonce) once or twice."""
    answer: Answer = (0, b"", b"", 0.0)
    for cseq in (1, 2, 3):
        answer = await conn.transact(method, uri, headers(cseq) + conn.authorization(user, method, uri), body)
        if answer[0] != 407 or not conn.take_challenge(answer[1]):
            return answer
    return answer


def subscribe_headers(user: str, call_id: str, local: str) -> Callable[[int], str]:
    return lambda cseq: (
        f"From: <sip:{user}@{DOMAIN}>;tag=t{call_id}\r\nTo: <{RLS_URI}>\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user}@{local};transport=tcp>\r\nEvent: presence\r\n"
        "Expires: 3600\r\nSupported: eventlist\r\n"
        "Accept: multipart/related, application/rlmi+xml, application/pidf+xml\r\nAccept-Encoding: deflate\r\n"
        "Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n"
        "Require: recipient-list-subscribe\r\nContent-Encoding: deflate\r\nUser-Agent: smartbook-bench/1\r\n"
    )


def list_body(uris: Sequence[str]) -> bytes:
    from smartbook_tui.presence import build_resource_lists, deflate

    return deflate(build_resource_lists(uris))


_ACTIVITIES = ("", "<rpid:away/>", "", "<rpid:busy/>", "<rpid:on-the-phone/>", "")


def pidf(user: str, note: str, activity: str = "") -> bytes:
    """What Linphone publishes, give or take: one open tuple with its contact and a timestamp, a person with an
    activity and a note."""
    aor = f"sip:{user}@{DOMAIN}"
    activities = f"<rpid:activities>{activity}</rpid:activities>" if activity else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
        f'entity="{aor}"><tuple id="t{user}"><status><basic>open</basic></status><contact>{aor}</contact>'
        f'<timestamp>2026-11-27T08:00:00Z</timestamp></tuple><dm:person id="p{user}">{activities}'
        f"<dm:note>{note}</dm:note></dm:person></presence>"
    ).encode()


def publish_headers(user: str, call_id: str, etag: str | None) -> Callable[[int], str]:
    aor = f"sip:{user}@{DOMAIN}"
    match = f"SIP-If-Match: {etag}\r\n" if etag else ""
    return lambda cseq: (
        f"From: <{aor}>;tag=t{call_id}\r\nTo: <{aor}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} PUBLISH\r\n"
        f"Event: presence\r\nExpires: 3600\r\nContent-Type: application/pidf+xml\r\n{match}"
    )


async def publish_initial(address: tuple[str, int], users: Sequence[str], connections: int = 4) -> dict[str, str]:
    """One initial PUBLISH for each of `users`, over a few connections, pipelined; user -> ETag."""
    rng = random.Random(3)
    etags: dict[str, str] = {}
    conns = [await connect(address) for _ in range(connections)]

    async def worker(conn: Conn, mine: Sequence[str]) -> None:
        window = asyncio.Semaphore(64)

        async def one(user: str) -> None:
            async with window:
                call_id = f"pub-{user}"
                body = pidf(user, "init", rng.choice(_ACTIVITIES))
                status, head, _, _ = await authed(
                    conn,
                    "PUBLISH",
                    f"sip:{user}@{DOMAIN}",
                    user=user,
                    headers=publish_headers(user, call_id, None),
                    body=body,
                )
                match = _ETAG.search(head)
                if status == 200 and match:
                    etags[user] = match.group(1).decode().strip()

        if mine:  # the first one alone: it fetches the connection's nonce
            await one(mine[0])
            await asyncio.gather(*(one(user) for user in mine[1:]))

    await asyncio.gather(*(worker(conn, users[i::connections]) for i, conn in enumerate(conns)))
    for conn in conns:
        conn.close()
    return etags


# ============================================================================================ figures


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def med_best(values: Sequence[float], unit: str = "ms", digits: int = 1) -> str:
    return f"{statistics.median(values):9.{digits}f} {unit} {min(values):9.{digits}f} {unit}"


def row(label: str, text: str) -> None:
    print(f"  {label:<58} {text}")


# ============================================================================================ (a) memory


async def open_connections(address: tuple[str, int], count: int) -> list[Conn]:
    """`count` connections, each with one OPTIONS answered (so the server holds its state for it)."""
    semaphore = asyncio.Semaphore(64)

    async def open_one() -> Conn:
        async with semaphore:
            conn = await connect(address)
            await conn.transact(
                "OPTIONS",
                RLS_URI,
                f"From: <sip:bench@{DOMAIN}>;tag=o{conn.id}\r\nTo: <{RLS_URI}>\r\nCall-ID: o{conn.id}\r\n"
                "CSeq: 1 OPTIONS\r\n",
            )
            return conn

    return list(await asyncio.gather(*(open_one() for _ in range(count))))


async def subscribe_list(
    conn: Conn, user: str, uris: Sequence[str], tag: str, on_notify: Callable[[Conn, bytes, bytes, float], None]
) -> str | None:
    """A list SUBSCRIBE as `user` (407 round included) on `conn`; None once its first NOTIFY came, else what went
    wrong. Every NOTIFY goes to `on_notify` (after the 200 OK to it is written)."""
    first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def notified(c: Conn, head: bytes, body: bytes, when: float) -> None:
        if not first.done():
            first.set_result(None)
        on_notify(c, head, body, when)

    conn.on_notify = notified
    headers = subscribe_headers(user, tag, conn.local)
    status, head, _, _ = await authed(conn, "SUBSCRIBE", RLS_URI, user=user, headers=headers, body=list_body(uris))
    if status != 200:
        return first_line(head)
    try:
        await asyncio.wait_for(first, 60)
    except TimeoutError:
        return "no NOTIFY in 60 s"
    return None


def _ignore(_conn: Conn, _head: bytes, _body: bytes, _when: float) -> None:
    pass


async def part_a(args: argparse.Namespace, population: Population, workdir: Path, template: Path) -> None:
    print(f"(a) memory: {args.subscriptions:,} list subscriptions of {args.entries} entries, one TCP connection each")
    rng = random.Random(args.seed + 1)
    lists = [population.uris(population.draw_list(rng, args.entries)) for _ in population.watchers_a]
    distinct = len({uri for uris in lists for uri in uris})
    with_account = sum(
        1 for uris in lists for uri in uris if uri.partition("@")[0][4:] in population.number_accounts
    ) / (len(lists) * args.entries)
    server = ServerProcess(workdir, template, "a", list(NO_SOURCE_LIMITS), args).start()
    failures: list[str] = []
    semaphore = asyncio.Semaphore(64)

    async def subscribe(index: int) -> None:
        async with semaphore:
            failure = await subscribe_list(
                conns[index], population.watchers_a[index], lists[index], f"a{index}", _ignore
            )
        if failure is not None:
            failures.append(failure)

    try:
        marks: dict[str, float] = {"started": server.status_kb()}
        started = perf()
        etags = await publish_initial(server.address, population.publishing)
        marks["publish_seconds"] = perf() - started
        await server.settle()
        marks["publications"] = server.status_kb()
        conns = await open_connections(server.address, len(population.watchers_a))
        await server.settle()
        marks["connections"] = server.status_kb()
        await asyncio.gather(*(subscribe(i) for i in range(args.warmup)))
        await server.settle()
        marks["warm"] = server.status_kb()
        snapshots = [await server.snapshot()] if args.tracemalloc else []
        cpu, started, sampler = server.cpu(), perf(), server.sample("subscribe")
        await asyncio.gather(*(subscribe(i) for i in range(args.warmup, len(conns))))
        marks["subscribe_seconds"], marks["subscribe_cpu"] = perf() - started, server.cpu() - cpu
        server.end_sample(sampler)
        await server.settle()
        marks["subscribed"] = server.status_kb()
        await asyncio.sleep(2.0)  # the store poll and anything else that runs once a second
        marks["later"], marks["peak"] = server.status_kb(), server.status_kb("VmHWM")
        if args.tracemalloc:
            snapshots.append(await server.snapshot())
        for conn in conns:
            conn.close()
    finally:
        server.stop()
    print(
        f"  lists drawn from a pool of {args.pool:,} numbers (Zipf s={args.zipf}): {distinct:,} distinct numbers in "
        f"all; {with_account:.0%} of the entries have an account; {len(population.publishing):,} accounts publish "
        f"({len(etags):,} PUBLISH answered 200 in {marks['publish_seconds']:.1f} s)"
    )
    if failures:
        print(f"  {len(failures)} subscriptions failed, e.g. {failures[0]!r}")
    held = len(conns) - args.warmup - len(failures)
    report_a(marks, len(conns), args.warmup, held)
    if snapshots:
        report_tracemalloc(snapshots[0], snapshots[1], held)


def report_a(marks: dict[str, float], connections: int, warmup: int, held: int) -> None:
    mb = 1 / 1024
    row("server RSS at start", f"{marks['started'] * mb:9.1f} MB")
    row("... after the publications", f"{marks['publications'] * mb:9.1f} MB")
    row(f"... after {connections:,} connections (one OPTIONS each)", f"{marks['connections'] * mb:9.1f} MB")
    row(f"... after {warmup} warm-up subscriptions", f"{marks['warm'] * mb:9.1f} MB")
    row(
        f"... after {held:,} more subscriptions (and 2 s later)",
        f"{marks['subscribed'] * mb:9.1f} MB ({marks['later'] * mb:.1f} MB; peak {marks['peak'] * mb:.1f} MB)",
    )
    per_connection = (marks["connections"] - marks["publications"]) / connections
    per_subscription = (marks["later"] - marks["warm"]) / max(1, held)
    row("memory per connection (RSS delta / connections)", f"{per_connection:9.1f} KB")
    row("memory per subscription (RSS delta / subscriptions)", f"{per_subscription:9.1f} KB   target <= 20 KB")
    row(
        "subscribing (SUBSCRIBE, 407, SUBSCRIBE, 200, NOTIFY, 200)",
        f"{held / marks['subscribe_seconds']:9.0f} /s    server CPU "
        f"{marks['subscribe_cpu'] / max(1, held) * 1000:.2f} ms each",
    )


def report_tracemalloc(before_path: Path, after_path: Path, count: int) -> None:
    import tracemalloc

    before = tracemalloc.Snapshot.load(str(before_path))
    after = tracemalloc.Snapshot.load(str(after_path))
    stats = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in stats)
    print(f"  tracemalloc: {total / 1024 / count:.1f} KB a subscription still allocated, by line:")
    for stat in stats[:18]:
        frame = stat.traceback[0]
        name = frame.filename.split("smartbook_tui/")[-1] if "smartbook_tui/" in frame.filename else frame.filename
        print(
            f"    {stat.size_diff / 1024 / count:7.2f} KB {stat.count_diff / count:7.1f} blocks  {name}:{frame.lineno}"
        )


# ============================================================================================ (b) PUBLISH -> NOTIFY


@dataclass(slots=True)
class Publisher:
    user: str
    conn: Conn
    etag: str
    call_id: str
    activity: str
    cseq: int = 100
    busy: bool = False


@dataclass
class Step:
    rate: float
    sent: int = 0
    answered: int = 0
    errors: int = 0
    skipped: int = 0
    answer_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    notifies: int = 0
    seconds: float = 0.0  # sending + draining
    send_seconds: float = 0.0
    server_cpu: float = 0.0
    own_cpu: float = 0.0
    drained: bool = True


class FanOut:
    """The publishers (a few connections), the watchers (a connection each) and the books kept on both."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sent_at: list[float] = []
        self.step_of: list[int] = []
        self.steps: list[Step] = []
        self.publishers: list[Publisher] = []
        self.cursor = 0
        self.last_notify = 0.0
        self.in_flight = 0

    # ---------------------------------------------------------------- the watcher side

    def on_notify(self, _conn: Conn, head: bytes, body: bytes, when: float) -> None:
        self.last_notify = when
        if not body or not self.steps:
            return
        try:
            plain = isal_zlib.decompress(body)  # (the load shares the cores with the server: kept light)
        except isal_zlib.error:
            plain = body
        steps, step_of, sent_at = self.steps, self.step_of, self.sent_at
        counted: set[int] = set()
        for token in _NOTE_TOKEN.findall(plain):
            seq = int(token)
            if seq in counted:
                continue
            counted.add(seq)
            step = steps[step_of[seq]]
            step.latency_ms.append((when - sent_at[seq]) * 1000)
        if counted:
            steps[step_of[max(counted)]].notifies += 1

    # ---------------------------------------------------------------- the publisher side

    def publish_one(self, step_index: int) -> None:
        """The next publisher in turn that is not waiting for an answer PUBLISHes a new state."""
        publishers = self.publishers
        for _ in range(len(publishers)):
            publisher = publishers[self.cursor]
            self.cursor = (self.cursor + 1) % len(publishers)
            if not publisher.busy:
                self.publish(publisher, step_index)
                return
        self.steps[step_index].skipped += 1

    def publish(self, publisher: Publisher, step_index: int) -> int:
        """`publisher` PUBLISHes a new state (its sequence number, returned, is in the note) as part of the step."""
        step = self.steps[step_index]
        seq = len(self.sent_at)
        publisher.busy = True
        publisher.cseq += 1
        self.step_of.append(step_index)
        self.sent_at.append(0.0)
        self.in_flight += 1
        user = publisher.user
        uri = f"sip:{user}@{DOMAIN}"
        headers = publish_headers(user, publisher.call_id, publisher.etag)(publisher.cseq)
        body = pidf(user, f"bk{seq}k", publisher.activity)
        conn = publisher.conn
        sent = perf()

        def answered(status: int, head: bytes, _body: bytes, when: float) -> None:
            publisher.busy = False
            self.in_flight -= 1
            step.answered += 1
            step.answer_ms.append((when - sent) * 1000)
            match = _ETAG.search(head)
            if status == 200 and match:
                publisher.etag = match.group(1).decode().strip()
            else:
                step.errors += 1
                if status == 407:
                    conn.take_challenge(head)

        self.sent_at[seq] = sent
        conn.send("PUBLISH", uri, headers + conn.authorization(user, "PUBLISH", uri), body, answered)
        step.sent += 1
        return seq

    async def run_step(self, rate: float, server: ServerProcess) -> Step:
        args = self.args
        step = Step(rate)
        self.steps.append(step)
        index = len(self.steps) - 1
        cpu, own, started = server.cpu(), time.process_time(), perf()
        while True:
            elapsed = perf() - started
            if elapsed >= args.step_seconds:
                break
            for _ in range(int(elapsed * rate) + 1 - step.sent):
                self.publish_one(index)
            await asyncio.sleep(0.002)
        step.send_seconds = perf() - started
        expected = step.sent * args.fanout
        deadline = perf() + args.drain
        while perf() < deadline:
            await asyncio.sleep(0.05)
            if len(step.latency_ms) >= expected:
                break
            if self.in_flight == 0 and perf() - self.last_notify > 1.0:
                break  # nothing more is coming: what is missing was coalesced
        else:
            step.drained = False
        step.seconds = perf() - started
        step.server_cpu = server.cpu() - cpu
        step.own_cpu = time.process_time() - own
        return step


async def setup_fanout(
    args: argparse.Namespace, population: Population, server: ServerProcess, fan: FanOut
) -> tuple[list[Conn], list[Conn]]:
    """The initial publications, the publishers' connections (each with its nonce) and the watchers' subscriptions:
    watcher w lists the publishers at positions stride*w ... stride*w + entries - 1 of a shuffled order (mod the
    count), so each publisher is in exactly `fanout` lists and neighbouring lists overlap."""
    watchers, publishers, numbers = population.watchers_b, population.publishers_b, population.publisher_numbers_b
    stride = args.entries // args.fanout
    rng = random.Random(args.seed + 2)
    order = rng.sample(range(len(publishers)), len(publishers))
    lists = [
        [f"sip:{numbers[order[(stride * w + j) % len(publishers)]]}@{DOMAIN};user=phone" for j in range(args.entries)]
        for w in range(len(watchers))
    ]
    etags = await publish_initial(server.address, publishers, args.publish_connections)
    pub_conns = [await connect(server.address) for _ in range(args.publish_connections)]
    for i, user in enumerate(publishers):
        conn = pub_conns[i % len(pub_conns)]
        fan.publishers.append(Publisher(user, conn, etags[user], f"pb-{user}", _ACTIVITIES[i % len(_ACTIVITIES)]))
    rng.shuffle(fan.publishers)
    for conn in pub_conns:  # each connection's nonce: one PUBLISH answered 407 first
        publisher = next(p for p in fan.publishers if p.conn is conn)
        user = publisher.user
        headers = publish_headers(user, publisher.call_id, publisher.etag)
        status, head, _, _ = await authed(
            conn, "PUBLISH", f"sip:{user}@{DOMAIN}", user=user, headers=headers, body=pidf(user, "warm")
        )
        match = _ETAG.search(head)
        if status == 200 and match:
            publisher.etag = match.group(1).decode().strip()
    if args.private_publishers:  # the gate opens for those a private account lists: each lists its watchers
        publisher_of = dict(zip(numbers, publishers, strict=True))
        watchers_of: dict[str, list[str]] = {user: [] for user in publishers}
        for w, entries in enumerate(lists):
            for uri in entries:
                watchers_of[publisher_of[uri[4:].partition("@")[0]]].append(watchers[w])
        for publisher in fan.publishers:
            uris = [f"sip:{watcher}@{DOMAIN}" for watcher in watchers_of[publisher.user]]
            failure = await subscribe_list(publisher.conn, publisher.user, uris, f"own-{publisher.user}", _ignore)
            if failure:
                print(f"  {publisher.user}'s own list failed: {failure}")
    watcher_conns = await open_connections(server.address, len(watchers))
    semaphore = asyncio.Semaphore(64)

    async def subscribe(index: int) -> str | None:
        async with semaphore:
            return await subscribe_list(watcher_conns[index], watchers[index], lists[index], f"b{index}", fan.on_notify)

    failures = [failure for failure in await asyncio.gather(*map(subscribe, range(len(watchers)))) if failure]
    if failures:
        print(f"  {len(failures)} subscriptions failed, e.g. {failures[0]!r}")
    print(
        f"  {len(etags):,} initial publications, {len(watchers) - len(failures)} subscriptions held; steps of "
        f"{args.step_seconds:g} s each, then up to {args.drain:g} s for the NOTIFYs to arrive; "
        f"{args.sweeps} sweep(s) of the rates"
    )
    return pub_conns, watcher_conns


async def part_b(args: argparse.Namespace, population: Population, workdir: Path, template: Path) -> None:
    print(
        f"(b) PUBLISH -> NOTIFY: {len(population.publishers_b):,} "
        f"{'private (each listing its watchers)' if args.private_publishers else 'public'} publishing accounts over "
        f"{args.publish_connections} connections, each in the {args.entries}-entry lists of {args.fanout} of "
        f"{len(population.watchers_b)} watchers (a connection each); server --notify-interval "
        f"{args.notify_interval:g} {' '.join(NO_SOURCE_LIMITS)}"
    )
    server = ServerProcess(
        workdir,
        template,
        "b",
        [*NO_SOURCE_LIMITS, "--notify-interval", str(args.notify_interval)],
        args,
    ).start()
    fan = FanOut(args)
    sweeps: list[list[Step]] = []
    try:
        pub_conns, watcher_conns = await setup_fanout(args, population, server, fan)
        await server.settle()
        print(
            "  offered and sent PUBLISH/s; NOTIFYs received a second; PUBLISH written -> each NOTIFY carrying it "
            "received (p50, p99, max); got: those deliveries / (PUBLISHes x fan-out); 200 p99: PUBLISH -> its 200 OK; "
            "server: its CPU (share of a core) and CPU per NOTIFY, all its work included; client: this process's CPU"
        )
        print(
            f"  {'offered':>8} {'sent/s':>7} {'NOTIFY/s':>9} {'p50':>8} {'p99':>8} {'max':>8} {'got':>6} "
            f"{'200 p99':>8} {'server':>7} {'us/NOTIFY':>9} {'client':>7}"
        )
        for _ in range(args.sweeps):
            done: list[Step] = []
            for rate in args.rates:
                sampler = server.sample(f"{rate:g}-{len(sweeps)}")
                step = await fan.run_step(rate, server)
                server.end_sample(sampler)
                done.append(step)
                print_step(step, args.fanout)
                if not step.drained or (step.latency_ms and pct(step.latency_ms, 0.99) > args.stop_ms):
                    print(f"  (this sweep stops here: p99 over {args.stop_ms:g} ms, or the NOTIFYs did not all come)")
                    break
                await server.settle(quiet=0.3, limit=10)
            sweeps.append(done)
        for conn in pub_conns + watcher_conns:
            conn.close()
    finally:
        server.stop()
    summarize_b(args, sweeps)


def print_step(step: Step, fanout: int) -> None:
    lat = step.latency_ms
    got = len(lat) / (step.sent * fanout) if step.sent else 0.0
    p50, p99, top = (pct(lat, 0.5), pct(lat, 0.99), max(lat)) if lat else (math.nan,) * 3
    answer99 = pct(step.answer_ms, 0.99) if step.answer_ms else math.nan
    per_notify = step.server_cpu / step.notifies * 1e6 if step.notifies else math.nan
    print(
        f"  {step.rate:8.0f} {step.sent / step.send_seconds:7.0f} {step.notifies / step.seconds:9.0f} "
        f"{p50:6.1f}ms {p99:6.1f}ms {top:6.0f}ms {got:6.1%} {answer99:6.1f}ms "
        f"{step.server_cpu / step.seconds:7.0%} {per_notify:9.0f} {step.own_cpu / step.seconds:7.0%}"
        + ("" if step.drained else "  (not drained)")
        + (f"  {step.errors} errors" if step.errors else "")
        + (f"  {step.skipped} skipped (publisher busy)" if step.skipped else "")
    )


def summarize_b(args: argparse.Namespace, sweeps: list[list[Step]]) -> None:
    print("  per offered rate over the sweeps (median / best):")
    sustained = 0.0
    held = True  # every rate below held too: a rate that passes past one that failed is luck, not capacity
    for rate in args.rates:
        steps = [step for sweep in sweeps for step in sweep if step.rate == rate and step.latency_ms]
        if not steps:
            continue
        p50s = [pct(step.latency_ms, 0.5) for step in steps]
        p99s = [pct(step.latency_ms, 0.99) for step in steps]
        kept_up = all(step.drained and step.sent >= 0.95 * rate * args.step_seconds for step in steps)
        row(f"{rate:6.0f} PUBLISH/s ({len(steps)} runs): p50", med_best(p50s))
        row("                         p99", med_best(p99s))
        held = held and statistics.median(p99s) <= 100 and kept_up
        if held:
            sustained = max(sustained, rate)
    row(
        "sustained PUBLISH rate: p99 <= 100 ms (median of the sweeps) there and below",
        f"{sustained:9.0f} /s    target >= 1,000 /s with {args.fanout} watchers each",
    )


# ============================================================================================ (c) full state


async def full_state_once(address: tuple[str, int], user: str, uris: Sequence[str], tag: str) -> dict[str, float]:
    conn = await connect(address)
    notifies: list[tuple[float, int, int]] = []  # when, resources, bytes on the wire
    complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    count = len(uris)

    def on_notify(_conn: Conn, head: bytes, body: bytes, when: float) -> None:
        plain = zlib.decompress(body) if body else b""
        notifies.append((when, plain.count(b"<resource "), len(head) + len(body)))
        if sum(n[1] for n in notifies) >= count and not complete.done():
            complete.set_result(None)

    conn.on_notify = on_notify
    headers = subscribe_headers(user, tag, conn.local)
    body = list_body(uris)
    status, head, _, _ = await conn.transact("SUBSCRIBE", RLS_URI, headers(1), body)
    if status != 407 or not conn.take_challenge(head):
        raise RuntimeError(f"expected a 407, got {first_line(head)!r}")
    answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    sent = conn.send(
        "SUBSCRIBE",
        RLS_URI,
        headers(2) + conn.authorization(user, "SUBSCRIBE", RLS_URI),
        body,
        lambda status, head, body, when: answered.set_result(when),
    )
    ok_at = await asyncio.wait_for(answered, 30)
    await asyncio.wait_for(complete, 30)
    conn.close()
    return {
        "ok_ms": (ok_at - sent) * 1000,
        "first_ms": (notifies[0][0] - sent) * 1000,
        "last_ms": (notifies[-1][0] - sent) * 1000,
        "notifies": len(notifies),
        "bytes": sum(n[2] for n in notifies),
        "first_resources": notifies[0][1],
    }


async def part_c(args: argparse.Namespace, population: Population, workdir: Path, template: Path) -> None:
    size = args.full_state
    print(
        f"(c) full state of a {size:,}-entry list (drawn like (a)'s; {args.repeat} runs after 1 warm-up, a fresh "
        "connection and list each), from the authenticated SUBSCRIBE written:"
    )
    rng = random.Random(args.seed + 3)
    lists = [population.uris(population.draw_list(rng, size)) for _ in range(args.repeat + 1)]
    in_lists = {uri.partition("@")[0][4:] for uris in lists for uri in uris}
    publishing = [user for user in population.publishing if population.number_of[user] in in_lists]
    users = iter(population.watchers_c)
    for name, extra in (("c200", []), (f"c{size}", ["--notify-max-resources", str(size)])):
        server = ServerProcess(workdir, template, name, [*NO_SOURCE_LIMITS, *extra], args).start()
        try:
            await publish_initial(server.address, publishing)
            await server.settle()
            runs = []
            sampler = server.sample("full-state")
            for index, uris in enumerate(lists):
                result = await full_state_once(server.address, next(users), uris, f"{name}-{index}")
                if index:  # the first is the warm-up
                    runs.append(result)
                await server.settle(quiet=0.3)
            server.end_sample(sampler)
        finally:
            server.stop()
        chunk = int(extra[1]) if extra else 200
        spaced = f"; the later ones {SPLIT_DELAY:g} s apart by design (SPLIT_DELAY)" if runs[0]["notifies"] > 1 else ""
        print(
            f"  --notify-max-resources {chunk}: {runs[0]['notifies']} NOTIFY(s), {runs[0]['bytes']:,} bytes on the "
            f"wire (deflated){spaced}"
        )
        print(f"  {'':<58} {'median':>12} {'best':>12}")
        row("SUBSCRIBE -> 200 OK received", med_best([run["ok_ms"] for run in runs]))
        row("  200 OK -> first NOTIFY received", med_best([run["first_ms"] - run["ok_ms"] for run in runs]))
        row(
            f"SUBSCRIBE -> first NOTIFY received ({runs[0]['first_resources']} resources)",
            med_best([run["first_ms"] for run in runs]),
        )
        if runs[0]["notifies"] > 1:
            last = [run["last_ms"] for run in runs]
            row("SUBSCRIBE -> last full-state NOTIFY received", med_best(last))
    print("  target <= 50 ms")


# ============================================================================================ the driver


async def run_parts(args: argparse.Namespace, population: Population, workdir: Path, template: Path) -> None:
    parts = {"a": part_a, "b": part_b, "c": part_c}
    for name in args.parts:
        started = perf()
        await parts[name](args, population, workdir, template)
        print(f"  ({name}: {perf() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"])
    parser.add_argument("--subscriptions", type=int, default=2000, help="(a) subscriptions held")
    parser.add_argument("--entries", type=int, default=200, help="entries of a list in (a) and (b)")
    parser.add_argument("--warmup", type=int, default=20, help="(a) subscriptions made before the baseline")
    parser.add_argument("--pool", type=int, default=50_000, help="numbers the lists are drawn from")
    parser.add_argument("--zipf", type=float, default=0.6, help="exponent of the numbers' popularity")
    parser.add_argument("--account-share", type=float, default=0.2, help="share of the pool's numbers with accounts")
    parser.add_argument("--public-share", type=float, default=0.2, help="share of those accounts that are public")
    parser.add_argument("--publishing-share", type=float, default=0.3, help="share of those that publish")
    parser.add_argument("--publishers", type=int, default=2000, help="(b) publishing accounts")
    parser.add_argument("--fanout", type=int, default=50, help="(b) watchers of each publisher")
    parser.add_argument(
        "--notify-interval",
        type=float,
        default=0.0,
        help="(b) the server's --notify-interval: 0 sends each change at once, more coalesces a list's changes",
    )
    parser.add_argument("--publish-connections", type=int, default=4, help="(b) connections the PUBLISHes use")
    parser.add_argument(
        "--private-publishers",
        action="store_true",
        help="(b) publishers without public presence, each subscribed to a list of its watchers (the gate opens)",
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[25, 50, 75, 100, 150, 250, 500, 1000], help="(b) PUBLISH/s"
    )
    parser.add_argument("--step-seconds", type=float, default=4.0, help="(b) seconds of each rate")
    parser.add_argument("--drain", type=float, default=15.0, help="(b) seconds to wait for a step's NOTIFYs")
    parser.add_argument("--stop-ms", type=float, default=1000.0, help="(b) end a sweep once p99 passes this")
    parser.add_argument("--sweeps", type=int, default=2, help="(b) times the rates are stepped through")
    parser.add_argument("--full-state", type=int, default=1000, help="(c) entries of the list")
    parser.add_argument("--repeat", type=int, default=7, help="(c) runs per setting")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cprofile", metavar="DIR", help="run the servers under cProfile, profiles in DIR")
    parser.add_argument("--tracemalloc", action="store_true", help="run (a)'s server under tracemalloc")
    parser.add_argument(
        "--py-spy", metavar="DIR", help="sample the server with py-spy (on PATH) while it is measured; stacks in DIR"
    )
    args = parser.parse_args()
    if args.publishers * args.fanout % args.entries or args.entries % args.fanout:
        parser.error("--publishers x --fanout must be a multiple of --entries, and --entries of --fanout")

    started = perf()
    with tempfile.TemporaryDirectory(prefix="smartbook-bench-server-") as directory:
        workdir = Path(directory)
        template = workdir / "template.sqlite3"
        population = build_population(args, template)
        accounts = len(population.account_of) + len(population.watchers_a) + len(population.watchers_c)
        accounts += len(population.publishers_b) + len(population.watchers_b)
        print(
            f"presence server on 127.0.0.1 (TCP), load from this process; {accounts:,} accounts made in "
            f"{population.setup_seconds:.1f} s ({sys.version.split()[0]}, {os.cpu_count()} cores)"
        )
        asyncio.run(run_parts(args, population, workdir, template))
    print(f"total {perf() - started:.0f} s")


if __name__ == "__main__":
    main()
