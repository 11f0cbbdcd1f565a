"""The pieces `vs_kamailio.py` and `soak.py` share: the two presence servers as processes (Kamailio 5.6 tuned, and
`smartbook server run`), one set of accounts and stored lists written for both, a UDP flavour of bench/server.py's
lean client, and the fan-out load (bench/server.py's `FanOut`, with each watcher's view of each publisher kept so
that a lost final state shows). Not run on its own."""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isal import isal_zlib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import (
    _ACTIVITIES,
    _ETAG,
    _NOTE_TOKEN,
    CLK_TCK,
    DOMAIN,
    NO_SOURCE_LIMITS,
    PASSWORD,
    Conn,
    FanOut,
    Publisher,
    ServerProcess,
    Step,
    authed,
    first_line,
    pidf,
    publish_headers,
    settle,
)

perf = time.perf_counter
CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
CSEQ = re.compile(rb"\r\ncseq[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
RESOURCE = re.compile(rb"<(?:\w+:)?resource[\s/>]")
RESOURCE_URI = re.compile(rb'\buri="([^"]+)"')
INSTANCE = re.compile(rb"<(?:\w+:)?instance[\s/>]")
SMARTBOOK_FLAGS = (*NO_SOURCE_LIMITS, "--notify-interval", "0")


class PeerMissing(RuntimeError):
    """A server this bench needs is not installed."""


# ============================================================================================ the accounts


@dataclass
class Accounts:
    """Who exists on both servers: username -> phone number (None for none), and each watcher's stored lists
    (watcher -> list name -> entry URIs). Every account is public (any watcher sees it)."""

    users: dict[str, str | None] = field(default_factory=dict)
    lists: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, names: Sequence[str]) -> list[str]:
        for name in names:
            self.users[name] = f"+3379{len(self.users):07d}"
        return list(names)

    def store_list(self, watcher: str, entries: Sequence[str]) -> str:
        """A stored list of `watcher` named after it; its URI (the same on both servers)."""
        name = f"list-{watcher}"
        self.lists.setdefault(watcher, {})[name] = list(entries)
        return f"sip:{name}@{DOMAIN}"

    def write_smartbook_store(self, path: Path) -> None:
        from smartbook_tui.server.store import Store

        store = Store.open(path)
        store._db.execute("PRAGMA synchronous = OFF")  # setup only: the server opens the file with FULL
        try:
            for user, number in self.users.items():
                store.add_account(user, DOMAIN, PASSWORD, number, public_presence=True)
            for owner, lists in self.lists.items():
                for name, entries in lists.items():
                    store.set_list(owner, DOMAIN, f"sip:{name}@{DOMAIN}", entries)
        finally:
            store.close()


def aor(user: str) -> str:
    return f"sip:{user}@{DOMAIN}"


# ============================================================================================ the servers


def group_pids(pgid: int) -> list[int]:
    """Every live process of the process group (each server runs in a session of its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def _proc_kb(pids: Sequence[int], name: str, keys: tuple[str, ...]) -> int:
    """The kB figures named `keys` of /proc/PID/`name`, summed over the processes (those gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/{name}").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(keys):
                total += int(line.split()[1])
    return total


def status_kb(pids: Sequence[int], key: str = "VmRSS") -> int:
    """A /proc/PID/status figure (kB) summed over the processes."""
    return _proc_kb(pids, "status", (key + ":",))


def data_kb(pids: Sequence[int]) -> int:
    """The processes' anonymous and shared memory, each page counted once (Pss_Anon + Pss_Shmem): Kamailio's
    shared memory is not counted once per child as a sum of RSS would, and libraries and files, whose share moves
    as other processes map them, are left out."""
    return _proc_kb(pids, "smaps_rollup", ("Pss_Anon:", "Pss_Shmem:"))


class Server:
    """What the load sees of a server: where it listens, its processes' CPU and memory, and a stop."""

    name = ""
    udp: tuple[str, int] = ("", 0)
    tcp: tuple[str, int] = ("", 0)
    pgid = 0

    def cpu(self) -> float:
        return cpu_seconds(group_pids(self.pgid))

    def data_kb(self) -> int:
        return data_kb(group_pids(self.pgid))

    def rss_kb(self) -> int:
        return status_kb(group_pids(self.pgid))

    async def settle(self, quiet: float = 0.5, limit: float = 20.0) -> None:
        """Wait until the server's processes used under 2% of a core for `quiet` seconds."""
        await settle(self.cpu, quiet, limit)

    def stop(self) -> None:
        raise NotImplementedError


class SmartbookServer(Server):
    name = "smartbook"

    def __init__(self, workdir: Path, template: Path, label: str, flags: Sequence[str]) -> None:
        options = argparse.Namespace(tracemalloc=False, cprofile=None, py_spy=None)
        self.process = ServerProcess(workdir, template, label, list(flags), options)

    def start(self) -> SmartbookServer:
        self.process.start()
        import json

        ready = json.loads(self.process.ready.read_text())
        host, _, port = ready["udp"].rpartition(":")
        self.udp, self.tcp = (host, int(port)), self.process.address
        assert self.process.process is not None
        self.pgid = self.process.process.pid
        return self

    def stop(self) -> None:
        self.process.stop()


class KamailioServer(Server):
    name = "kamailio"

    def __init__(self, workdir: Path, accounts: Accounts) -> None:
        from tests.peers.kamailio import Kamailio

        users = dict.fromkeys(accounts.users, PASSWORD)
        self.kamailio = Kamailio(workdir, users, accounts.lists, log_level=0, tuned=True)

    def start(self) -> KamailioServer:
        self.kamailio.start()
        self.udp = self.tcp = (self.kamailio.domain, self.kamailio.port)
        assert self.kamailio.pid is not None
        self.pgid = self.kamailio.pid
        return self

    def stop(self) -> None:
        self.kamailio.stop()


def require_peers() -> None:
    """PeerMissing when Kamailio or its presence modules are not installed."""
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        raise PeerMissing("kamailio is not installed (Debian packages kamailio and kamailio-presence-modules)")
    if not any(Path("/usr/lib").glob("**/kamailio/modules/rls.so")):
        raise PeerMissing("Kamailio's rls module is not installed (Debian package kamailio-presence-modules)")


def kamailio_version() -> str:
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    output = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return output.splitlines()[0].removeprefix("version: ") if output else "kamailio"


# ============================================================================================ the client


_NO_ALGORITHM = re.compile(rb"(\r\nProxy-Authenticate[ \t]*:(?:(?!algorithm=)[^\r\n])*)(?=\r\n)", re.IGNORECASE)


class Client(Conn):
    """bench/server.py's `Conn`, also taking a challenge that names no algorithm (MD5 then, RFC 2617: Kamailio's)."""

    def take_challenge(self, head: bytes) -> bool:
        return super().take_challenge(_NO_ALGORITHM.sub(rb"\1, algorithm=MD5", head))


class _DatagramWriter:
    """A connected datagram transport under the stream transport's names (what `Conn` writes with)."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        self._transport.sendto(data)

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class UdpConn(Client, asyncio.DatagramProtocol):
    """`Client` over a connected UDP socket: one message a datagram, the same answers and digest."""

    via_transport = "UDP"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = _DatagramWriter(transport)  # type: ignore[assignment,arg-type]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.buffer.clear()
        self.data_received(data)

    def error_received(self, exc: Exception) -> None:
        pass


async def open_conn(server: Server, transport: str) -> Conn:
    if transport == "udp":
        _, conn = await asyncio.get_running_loop().create_datagram_endpoint(
            UdpConn, local_addr=(DOMAIN, 0), remote_addr=server.udp
        )
        return conn
    return await connect_tcp(server.tcp)


async def connect_tcp(address: tuple[str, int]) -> Client:
    _, conn = await asyncio.get_running_loop().create_connection(Client, *address)
    return conn


def contact(user: str, conn: Conn) -> str:
    suffix = "" if isinstance(conn, UdpConn) else ";transport=tcp"
    return f"Contact: <sip:{user}@{conn.local}{suffix}>\r\n"


def subscribe_headers(user: str, target: str, call_id: str, conn: Conn, *, as_list: bool) -> Callable[[int], str]:
    """A SUBSCRIBE to a presentity, or (`as_list`) a bodyless one to a stored list (RFC 4662)."""
    list_headers = (
        "Supported: eventlist\r\nAccept: multipart/related, application/rlmi+xml, application/pidf+xml\r\n"
        "Accept-Encoding: deflate\r\n"
        if as_list
        else "Accept: application/pidf+xml\r\n"
    )
    return lambda cseq: (
        f"From: <{aor(user)}>;tag=t{call_id}\r\nTo: <{target}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\n"
        f"{contact(user, conn)}Event: presence\r\nExpires: 3600\r\n{list_headers}User-Agent: smartbook-bench/1\r\n"
    )


async def within(awaitable: asyncio.Future[object] | asyncio.Task[object], seconds: float, what: str) -> object:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise RuntimeError(f"{what}: no answer within {seconds:g} s") from None


RETRY_AFTER = re.compile(rb"\r\nRetry-After[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
RETRIES = 5
retried = [0]  # SUBSCRIBEs answered 503 and sent again, in this process


Answer = tuple[int, bytes, str]  # status, head, the Call-ID it went with


async def patient(
    conn: Conn,
    method: str,
    uri: str,
    *,
    user: str,
    headers_of: Callable[[str], Callable[[int], str]],
    call_id: str,
    body: bytes = b"",
) -> Answer:
    """An authenticated request sent again, with a fresh Call-ID, after a 503's Retry-After (a few
    times): a loaded server sheds new requests that way, and a client waits as told."""
    for attempt in range(RETRIES + 1):
        dialog = f"{call_id}-{attempt}"
        answer = authed(conn, method, uri, user=user, headers=headers_of(dialog), body=body)
        status, head, _, _ = await within(asyncio.ensure_future(answer), 15, f"{method} {user} -> {uri}")  # type: ignore[misc]
        if status != 503 or attempt == RETRIES:
            return status, head, dialog
        retried[0] += 1
        after = RETRY_AFTER.search(head)
        await asyncio.sleep(min(5, int(after.group(1))) if after else 1)
    raise AssertionError("unreachable: the last attempt returns")


async def subscribe(conn: Conn, user: str, target: str, call_id: str, *, as_list: bool = False) -> str:
    """One authenticated SUBSCRIBE (sent again after a 503); the Call-ID of the dialog it made, RuntimeError unless
    it is answered 2xx."""
    status, head, dialog = await patient(
        conn,
        "SUBSCRIBE",
        target,
        user=user,
        headers_of=lambda dialog: subscribe_headers(user, target, dialog, conn, as_list=as_list),
        call_id=call_id,
    )
    if not 200 <= status < 300:
        raise RuntimeError(f"SUBSCRIBE {user} -> {target} answered {first_line(head)!r}")
    return dialog


async def publish_all(server: Server, users: Sequence[str], connections: int = 4) -> dict[str, str]:
    """One initial PUBLISH for each of `users` over a few TCP connections, a window of 16 each (sent again after a
    503); user -> ETag."""
    etags: dict[str, str] = {}
    conns = [await connect_tcp(server.tcp) for _ in range(connections)]

    async def one(conn: Conn, user: str, window: asyncio.Semaphore) -> None:
        async with window:
            status, head, _ = await patient(
                conn,
                "PUBLISH",
                aor(user),
                user=user,
                headers_of=lambda dialog: publish_headers(user, dialog, None),
                call_id=f"pub-{user}",
                body=pidf(user, "init", _ACTIVITIES[len(etags) % len(_ACTIVITIES)]),
            )
            match = _ETAG.search(head)
            if status != 200 or match is None:
                raise RuntimeError(f"the initial PUBLISH of {user} was answered {first_line(head)!r}")
            etags[user] = match.group(1).decode().strip()

    async def worker(conn: Conn, mine: Sequence[str]) -> None:
        window = asyncio.Semaphore(16)
        if mine:
            await one(conn, mine[0], window)  # it fetches the connection's nonce
            await asyncio.gather(*(one(conn, user, window) for user in mine[1:]))

    await within(
        asyncio.gather(*(worker(conn, users[i::connections]) for i, conn in enumerate(conns))),  # type: ignore[arg-type]
        120,
        f"{len(users)} initial PUBLISHes",
    )
    for conn in conns:
        conn.close()
    return etags


def notify_body(body: bytes) -> bytes:
    if not body:
        return body
    try:
        return isal_zlib.decompress(body)
    except isal_zlib.error:
        return body


# ============================================================================================ the fan-out load


class WatchedFanOut(FanOut):
    """bench/server.py's `FanOut` (its pacing, its steps) with each watcher's latest state of each publisher kept:
    after a step, every watcher of a publisher must hold that publisher's last state (a lost final state), and a
    NOTIFY sent again over UDP (its 200 OK was late) is counted once."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.watchers_of: dict[str, list[bytes]] = {}  # publisher -> the Call-IDs of the dialogs that carry it
        self.owner: list[str] = []  # sequence number -> its publisher
        self.last_sent: dict[str, int] = {}
        self.seen: dict[tuple[bytes, str], int] = {}
        self.dialogs_seen: set[tuple[bytes, bytes]] = set()
        self.initial_notifies = 0
        self.refused: Counter[int] = Counter()  # status -> PUBLISHes answered it, not 200, since the last clear
        self.to_resend: dict[str, tuple[Publisher, float]] = {}  # publisher -> when its refused state goes again

    def publish(self, publisher: Publisher, step_index: int) -> int:
        seq = super().publish(publisher, step_index)
        user = publisher.user
        self.owner.append(user)
        self.last_sent[user] = seq
        pending = publisher.conn.pending
        branch, answered = next(reversed(pending.items()))  # the callback the PUBLISH just sent waits with

        def counted(status: int, head: bytes, body: bytes, when: float) -> None:
            if status != 200:
                self.refused[status] += 1
            if self.last_sent[user] == seq:  # its latest state: refused 503, the publisher sends it again
                if status == 503:
                    after = RETRY_AFTER.search(head)
                    self.to_resend[user] = (publisher, perf() + (int(after.group(1)) if after else 1))
                else:
                    self.to_resend.pop(user, None)
            answered(status, head, body, when)

        pending[branch] = counted
        return seq

    async def resend_refused(self, step_index: int, limit: float) -> int:
        """As a client does: each publisher whose latest PUBLISH was answered 503 sends its state again once the
        Retry-After has passed, until the server takes it (or `limit` seconds); how many PUBLISHes that took."""
        sent = 0
        deadline = perf() + limit
        while self.to_resend and perf() < deadline:
            now = perf()
            for publisher, not_before in list(self.to_resend.values()):
                if not publisher.busy and now >= not_before:
                    self.publish(publisher, step_index)
                    sent += 1
            await asyncio.sleep(0.05)
        return sent

    def on_notify(self, conn: Conn, head: bytes, body: bytes, when: float) -> None:
        call_id_match, cseq = CALL_ID.search(head), CSEQ.search(head)
        call_id = call_id_match.group(1).strip() if call_id_match else b""
        if cseq:
            key = (call_id, cseq.group(1))
            if key in self.dialogs_seen:
                return
            self.dialogs_seen.add(key)
        self.last_notify = when
        if not self.steps:
            self.initial_notifies += 1
            return
        tokens = {int(token) for token in _NOTE_TOKEN.findall(notify_body(body))}
        if not tokens:
            return
        steps, step_of, sent_at, owner, seen = self.steps, self.step_of, self.sent_at, self.owner, self.seen
        for seq in tokens:
            steps[step_of[seq]].latency_ms.append((when - sent_at[seq]) * 1000)
            key = (call_id, owner[seq])
            if seen.get(key, -1) < seq:
                seen[key] = seq
        steps[step_of[max(tokens)]].notifies += 1

    def lost_finals(self) -> int:
        """Watcher x publisher pairs whose watcher does not hold the publisher's last state."""
        seen = self.seen
        return sum(
            1
            for user, seq in self.last_sent.items()
            for call_id in self.watchers_of[user]
            if seen.get((call_id, user), -1) < seq
        )

    def reset_busy(self) -> None:
        """After a failed step: publishers whose PUBLISH got no answer may publish again (the next step's
        figures say what that cost)."""
        for publisher in self.publishers:
            publisher.busy = False
        self.in_flight = 0


async def make_publishers(
    server: Server, fan: WatchedFanOut, users: Sequence[str], transport: str, connections: int
) -> list[Conn]:
    """The publishers' initial states (over TCP), then `connections` connections of `transport` they PUBLISH on,
    each with its nonce."""
    etags = await publish_all(server, users)
    conns = [await open_conn(server, transport) for _ in range(connections)]
    for i, user in enumerate(users):
        conn = conns[i % len(conns)]
        fan.publishers.append(Publisher(user, conn, etags[user], f"pub-{user}", _ACTIVITIES[i % len(_ACTIVITIES)]))
    for conn in conns:
        publisher = next(p for p in fan.publishers if p.conn is conn)
        headers = publish_headers(publisher.user, publisher.call_id, publisher.etag)
        status, head, _, _ = await authed(
            conn, "PUBLISH", aor(publisher.user), user=publisher.user, headers=headers, body=pidf(publisher.user, "w")
        )
        match = _ETAG.search(head)
        if status != 200 or match is None:
            raise RuntimeError(f"a PUBLISH of {publisher.user} was answered {first_line(head)!r}")
        publisher.etag = match.group(1).decode().strip()
    return conns


@dataclass(frozen=True)
class Watch:
    """One subscription of the load: who makes it, to what, on which of the load's sockets, and whose states its
    NOTIFYs carry."""

    user: str
    target: str
    socket: int
    publishers: tuple[str, ...]


def fanout_watches(publishers: Sequence[str], watchers: Sequence[str], fanout: int, sockets: int) -> list[Watch]:
    """Presentity subscriptions giving each publisher `fanout` watchers: watcher w takes the next window of
    len(publishers) x fanout / len(watchers) publishers (cyclically), so every publisher is in `fanout` windows.
    Watchers share `sockets` sockets, each watcher on one."""
    per_watcher = len(publishers) * fanout // len(watchers)
    return [
        Watch(user, aor(publisher), w % sockets, (publisher,))
        for w, user in enumerate(watchers)
        for publisher in (publishers[(w * per_watcher + j) % len(publishers)] for j in range(per_watcher))
    ]


async def hold_subscriptions(
    server: Server, fan: WatchedFanOut, watches: Sequence[Watch], transport: str, *, as_list: bool
) -> list[Conn]:
    """The sockets of `watches` and every subscription on them (64 SUBSCRIBEs in flight in all, a socket's first
    alone: it fetches the socket's nonce), then every initial NOTIFY waited for; `fan.watchers_of` filled; the
    sockets."""
    conns = [await open_conn(server, transport) for _ in range(1 + max(watch.socket for watch in watches))]
    for conn in conns:
        conn.on_notify = fan.on_notify
    window = asyncio.Semaphore(64)
    fan.watchers_of = {}

    async def one(k: int) -> None:
        watch = watches[k]
        async with window:
            call_id = await subscribe(conns[watch.socket], watch.user, watch.target, f"s{k}", as_list=as_list)
        for user in watch.publishers:
            fan.watchers_of.setdefault(user, []).append(call_id.encode())

    firsts = {watch.socket: k for k, watch in reversed(list(enumerate(watches)))}
    await asyncio.gather(*map(one, firsts.values()))
    await asyncio.gather(*(one(k) for k in range(len(watches)) if k not in set(firsts.values())))
    deadline = perf() + 30
    while fan.initial_notifies < len(watches) and perf() < deadline:
        await asyncio.sleep(0.05)
    if fan.initial_notifies < len(watches):
        raise RuntimeError(f"{server.name}: {fan.initial_notifies} of {len(watches)} first NOTIFYs came within 30 s")
    return conns


def step_verdict(step: Step, args: argparse.Namespace, fan: WatchedFanOut, p99_ms: float) -> str:
    """'' when the step held (the pace kept, every PUBLISH answered 200, no final state lost, p99 within the
    bound), else why not."""
    if step.skipped:
        return "PUBLISHes held back: every publisher still waited for the answer to its last"
    if step.sent < 0.95 * step.rate * args.step_seconds:
        return "the generator did not keep the pace"
    if step.answered < step.sent:
        return f"{step.sent - step.answered} PUBLISHes unanswered"
    if step.errors:
        return "PUBLISHes answered " + ", ".join(f"{status} ({count})" for status, count in sorted(fan.refused.items()))
    if lost := fan.lost_finals():
        return f"{lost} final states lost"
    if not step.latency_ms:
        return "no NOTIFY"
    if p99_ms > args.p99_ms:
        return f"p99 {p99_ms:.0f} ms"
    return ""


def dialog_count(text: str) -> int:
    """Subscriptions begun minus ended, from a smartbook server log at INFO."""
    return text.count(" subscribes to ") - text.count("subscription of ")
