"""The transport's limits in `smartbook server run`, against the real server process over plain sockets on loopback:
one address holding many TCP connections, a connection that never sends a whole message, a slow sender
(slowloris), a body over the transport's cap, a UDP flood from one address. Each time another client, from another
address (127.0.0.2 is loopback too) or on another connection, is still served.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import resource
import secrets
import select
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import pytest

from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, StreamParser, parse_message
from tests.peers import tls
from tests.peers.smartbook_server import DOMAIN, SmartbookServer, run_smartbook_server
from tests.peers.tls import make_certificates

WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
OTHER_ADDRESS = "127.0.0.2"
IDLE_CONNECTIONS = 10_000
PER_ADDRESS = 200  # the server's default cap
LEGIT_REQUESTS = 40
TRANSPORT_CAP = 4 * 1024 * 1024  # the most body a message over TCP or TLS may carry

_numbers = itertools.count(1)


def options(local: tuple[str, int], transport: str = "TCP") -> SipRequest:
    number = next(_numbers)
    sent_by = f"{local[0]}:{local[1]}"
    headers = Headers(
        [
            ("Via", f"SIP/2.0/{transport} {sent_by};branch=z9hG4bK-tl{secrets.token_hex(6)};rport"),
            ("Max-Forwards", 70),
            ("From", f"<sip:alice@{DOMAIN}>;tag=t{number}"),
            ("To", f"<sip:{DOMAIN}>"),
            ("Call-ID", f"transport-limits-{number}-{secrets.token_hex(4)}"),
            ("CSeq", "1 OPTIONS"),
            ("Contact", f"<sip:alice@{sent_by};transport={transport.lower()}>"),
        ]
    )
    return SipRequest("OPTIONS", f"sip:{DOMAIN}", headers)


class TcpClient:
    def __init__(self, server: SmartbookServer, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(server.sip, timeout=WAIT, source_address=(source, 0))
        self.local: tuple[str, int] = self.sock.getsockname()
        self._parser = StreamParser()
        self._ready: list[SipResponse] = []

    def close(self) -> None:
        self.sock.close()

    def receive(self) -> SipResponse:
        while not self._ready:
            data = self.sock.recv(65_536)
            if not data:
                raise AssertionError("the server closed the TCP connection instead of answering")
            self._ready += [message for message in self._parser.feed(data) if isinstance(message, SipResponse)]
        return self._ready.pop(0)

    def ask(self) -> int:
        """An OPTIONS on this connection: the status of its answer."""
        self.sock.sendall(options(self.local).to_bytes())
        return self.receive().status


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server ends the connection (EOF or reset) within `within` seconds; what it sent is ignored."""
    poller = select.poll()  # not select(): the sockets of the many-connections test pass descriptor 1024
    poller.register(sock, select.POLLIN)
    if not poller.poll(within * 1000):
        return False
    try:
        while sock.recv(65_536):
            pass
    except ConnectionResetError:
        pass
    return True


def answered_over_tcp(server: SmartbookServer, source: str) -> int:
    """An OPTIONS on a new connection from `source`: the status of its answer."""
    client = TcpClient(server, source)
    try:
        return client.ask()
    finally:
        client.close()


@contextlib.contextmanager
def open_files_raised_to(wanted: int) -> Iterator[int]:
    """The soft limit of open files raised up to the hard one for this test; how many sockets it leaves room for."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    try:
        room = wanted if raised == resource.RLIM_INFINITY else min(wanted, raised - 256)
        yield room
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ----------------------------------------------------------------------------------------------- 1. connections


def test_ten_thousand_idle_connections_from_one_address_leave_another_address_served(tmp_path: Path) -> None:
    with (
        open_files_raised_to(IDLE_CONNECTIONS) as count,
        run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server,
    ):
        assert count >= 2 * PER_ADDRESS, f"the open-files limit leaves room for only {count} sockets"
        idle: list[socket.socket] = []
        try:
            for _ in range(count):  # never a byte sent on these
                idle.append(socket.create_connection(server.sip, timeout=WAIT, source_address=("127.0.0.1", 0)))
            statuses = [answered_over_tcp(server, OTHER_ADDRESS) for _ in range(5)]
            still_open = sum(not closed_by_server(sock, 0) for sock in idle)
        finally:
            for sock in idle:
                sock.close()
        assert statuses == [200] * 5
        assert still_open <= PER_ADDRESS
        refusals = [line for line in server.log.splitlines() if "over the cap of 200 per address" in line]
        assert len(refusals) == 1, refusals  # not one line per connection refused


# ---------------------------------------------------------------------------------------------- 6. deadlines


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartbookServer]:
    """A server giving a new connection 1 s to send its first message, and a message 2 s to arrive whole."""
    directory = tmp_path_factory.mktemp("transport-deadlines")
    arguments = ("--first-message-timeout", "1", "--message-timeout", "2")
    with run_smartbook_server(directory, *arguments, accounts=[("alice", None)]) as server:
        yield server


def test_a_connection_that_sends_nothing_is_closed_and_one_that_spoke_stays(strict_server: SmartbookServer) -> None:
    silent, talker = TcpClient(strict_server), TcpClient(strict_server)
    try:
        assert talker.ask() == 200
        assert closed_by_server(silent.sock, within=WAIT)
        assert talker.ask() == 200  # the same connection, after the silent one's deadline
    finally:
        silent.close()
        talker.close()


def test_a_slow_sender_is_cut_while_a_normal_client_is_served(strict_server: SmartbookServer) -> None:
    slow, normal = TcpClient(strict_server), TcpClient(strict_server)
    try:
        assert slow.ask() == 200  # past the first-message deadline: the message deadline is what cuts it
        message = options(slow.local).to_bytes()
        sent, served_meanwhile, cut = 0, 0, False
        while sent < min(len(message) - 1, 30) and not cut:  # one byte a second, never the whole message
            slow.sock.sendall(message[sent : sent + 1])
            sent += 1
            assert normal.ask() == 200
            served_meanwhile += 1
            cut = closed_by_server(slow.sock, within=1.0)
        assert cut, f"the slow sender still held its connection after {sent} bytes"
        assert served_meanwhile >= 1
    finally:
        slow.close()
        normal.close()


# ------------------------------------------------------------------------------------------- 7. a body too large


def test_a_body_over_the_transport_cap_gets_413_before_the_connection_closes(strict_server: SmartbookServer) -> None:
    client, bystander = TcpClient(strict_server), TcpClient(strict_server)
    try:
        body = b"x" * (TRANSPORT_CAP + 1024 * 1024)
        request = options(client.local)
        request.headers.set("Content-Type", "text/plain")
        head = request.to_bytes().replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the server may stop reading first
            client.sock.sendall(head + body)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while data := client.sock.recv(65_536):
                received += data
        answers = StreamParser().feed(received)
        assert [answer.status for answer in answers if isinstance(answer, SipResponse)] == [413], received[:300]
        assert answers[0].headers.get("Call-ID") == request.headers.get("Call-ID")
        assert bystander.ask() == 200
    finally:
        client.close()
        bystander.close()


# ------------------------------------------------------------------------------------------------ 2. UDP flood


def flood(
    target: tuple[str, int], flooding: EventType, stop: EventType, sent: Synchronized, seconds: Synchronized
) -> None:
    """Send one OPTIONS datagram after another from 127.0.0.1 until `stop`, as fast as Python goes; `flooding` is
    set once the first thousand are out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        datagram = options(sock.getsockname(), "UDP").to_bytes()
        count = 0
        started = time.monotonic()
        while not stop.is_set():
            for _ in range(1_000):
                with contextlib.suppress(OSError):  # a full send buffer or an ICMP error: keep sending
                    sock.sendto(datagram, target)
            count += 1_000
            flooding.set()
        sent.value, seconds.value = count, time.monotonic() - started


def answered_over_udp(sock: socket.socket, target: tuple[str, int]) -> bool:
    """A REGISTER (without credentials: a 401 is its answer) sent as a user agent sends it, again after T1 (0.5 s)
    without an answer: whether an answer came within 4 x T1."""
    request = options(sock.getsockname(), "UDP")
    request.method, request.uri = "REGISTER", f"sip:{DOMAIN}"
    request.headers.set("To", f"<sip:alice@{DOMAIN}>")
    request.headers.set("CSeq", "1 REGISTER")
    for wait in (0.5, 1.5):
        sock.sendto(request.to_bytes(), target)
        sock.settimeout(wait)
        with contextlib.suppress(TimeoutError):
            while True:
                answer = parse_message(sock.recvfrom(65_535)[0])
                if isinstance(answer, SipResponse) and answer.via_branch == request.via_branch:
                    return True
    return False


def test_a_one_address_udp_flood_leaves_another_address_served(tmp_path: Path) -> None:
    forking = multiprocessing.get_context("fork")
    flooding, stop = forking.Event(), forking.Event()
    sent, seconds = forking.Value("q", 0), forking.Value("d", 0.0)
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        flooder = forking.Process(target=flood, args=(server.sip, flooding, stop, sent, seconds))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((OTHER_ADDRESS, 0))
            flooder.start()
            try:
                assert flooding.wait(WAIT)
                time.sleep(1.0)  # the server's receive buffer has filled up by now
                answers = []
                for _ in range(LEGIT_REQUESTS):  # over a few seconds of flood
                    answers.append(answered_over_udp(sock, server.sip))
                    time.sleep(0.1)
            finally:
                stop.set()
                flooder.join(WAIT)
        rate = sent.value / seconds.value
        print(f"flood: {rate:,.0f} datagrams/s from 127.0.0.1; {sum(answers)} of {len(answers)} REGISTERs answered")
        assert rate >= 10_000, f"the flood reached only {rate:,.0f} datagrams/s"
        assert sum(answers) >= 0.9 * len(answers), f"{sum(answers)} of {len(answers)} answered"
        assert "over the budget of 2,000 a second per address" in server.log
        assert "the kernel gave" in server.log


def answers_read(sock: socket.socket, seconds: float) -> int:
    """The SIP responses read from `sock` in `seconds`."""
    parser, count, end = StreamParser(), 0, time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < end:
        try:
            data = sock.recv(262_144)
        except TimeoutError:
            continue
        if not data:
            break
        count += sum(isinstance(message, SipResponse) for message in parser.feed(data))
    return count


def test_a_tcp_flood_from_one_address_is_read_at_its_budget_while_another_address_is_served(tmp_path: Path) -> None:
    """Past --stream-rate messages a second from one address its connection is not read: its flood waits in its
    own buffers (the core's rate limit off, so that the reading alone holds it back), and another address's
    requests are answered meanwhile. 20,000 requests sent at once; without the budget the server answers them all
    in about a second."""
    limits = ("--stream-rate", "200", "--rate-limit", "0")
    with run_smartbook_server(tmp_path / "server", *limits, accounts=[("alice", None)]) as server:
        flooder = TcpClient(server)
        flood = b"".join(options(flooder.local).to_bytes() for _ in range(20_000))

        def send_flood() -> None:
            with contextlib.suppress(OSError):  # the test closes the socket while this still waits to send
                flooder.sock.sendall(flood)

        sender = threading.Thread(target=send_flood)
        sender.start()
        try:
            answered = answers_read(flooder.sock, 3.0)
            served = [answered_over_tcp(server, OTHER_ADDRESS) for _ in range(5)]
        finally:
            flooder.close()
            sender.join(WAIT)
        print(f"flood over TCP: {answered} of 20,000 answered in 3 s at a budget of 200 a second")
        assert served == [200] * 5
        # the budget is charged per read of the socket (up to 256 KiB, ~800 of these requests), then paid back by
        # not reading: two or three reads in three seconds, a tenth of the flood at most
        assert answered <= 2_000
        assert "over the budget of 200 messages a second per address" in server.log


# ------------------------------------------------------------------------------------- 8. TLS before its handshake


def answered_over_tls(server: SmartbookServer, certificates: tls.TestCertificates) -> int:
    """An OPTIONS over a new TLS connection from the other address: the status of its answer."""
    assert server.tls is not None
    raw = socket.create_connection(server.tls, timeout=WAIT, source_address=(OTHER_ADDRESS, 0))
    with certificates.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as secure:
        secure.sendall(options(secure.getsockname(), "TLS").to_bytes())
        parser = StreamParser()
        while True:
            for message in parser.feed(secure.recv(65_536)):
                if isinstance(message, SipResponse):
                    return message.status


def test_tls_connections_count_against_the_cap_and_the_deadline_before_their_handshake(tmp_path: Path) -> None:
    """A host that opens TLS connections and never says hello holds at most its cap of them, each for the
    first-message deadline; a TLS client elsewhere is served meanwhile."""
    certificates = make_certificates(tmp_path)
    tls_options = ("--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key), "--tls-port", "0")
    limits = ("--max-connections-per-address", "5", "--first-message-timeout", "3")
    with run_smartbook_server(tmp_path / "server", *tls_options, *limits, accounts=[("alice", None)]) as server:
        assert server.tls is not None
        mute = [socket.create_connection(server.tls, timeout=WAIT) for _ in range(8)]  # no ClientHello
        try:
            time.sleep(0.3)
            refused_at_once = sum(closed_by_server(sock, 0) for sock in mute)
            assert refused_at_once == 3  # the five under the cap wait for their hello
            assert answered_over_tls(server, certificates) == 200
            assert all(closed_by_server(sock, WAIT) for sock in mute)  # the first-message deadline ends the rest
        finally:
            for sock in mute:
                sock.close()
