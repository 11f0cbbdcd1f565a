"""Bad input to `smartbook server run`: each test sends one kind of bad request to the real server process and
checks both the answer (or the dropped datagram, or the closed connection) and that the server keeps serving:
it is still running, an OPTIONS over UDP and a digest REGISTER over TCP still get their 200, its log holds no
traceback and never a password.

The requests are written here with smartbook's own SIP codec and digest client over plain sockets, so that a
header can be left out or spoiled at will. SIPp (Debian package sip-tester), a third-party peer, drives the flood
and a REGISTER without and then with wrong credentials.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import socket
import ssl
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

import pytest

from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipRequest, SipResponse, StreamParser, parse_message
from smartbook_tui.sip.uri import SipParseError
from tests.peers.sip_kit import response_to
from tests.peers.sip_publish import pidf
from tests.peers.sipp import run_sipp, start_sipp
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, run_smartbook_server

WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
WRONG_PASSWORD = "wrong battery staple"
MAX_LIST_SIZE = 5
ALICE, BOB = f"sip:alice@{DOMAIN}", f"sip:bob@{DOMAIN}"
BOB_LIST = f"sip:bob.friends@{DOMAIN}"
ALICE_LIST = f"sip:alice.book@{DOMAIN}"
RESOURCE_LISTS = "application/resource-lists+xml"

_numbers = itertools.count(1)


# ---------------------------------------------------------------------------------------------- the servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartbookServer]:
    """alice and bob; bob has a stored list, BOB_LIST. Lists are capped at MAX_LIST_SIZE entries."""
    directory = tmp_path_factory.mktemp("bad-input")
    with pytest.MonkeyPatch.context() as environment:  # no settings file of the user's reaches the server
        for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            environment.setenv(variable, str(directory / "xdg" / variable.lower()))
        environment.delenv("SMARTBOOK_CONFIG", raising=False)
        accounts = [("alice", "+33612345678"), ("bob", "+33698765432")]
        with run_smartbook_server(directory, "--max-list-size", str(MAX_LIST_SIZE), accounts=accounts) as running:
            entries = directory / "bob-friends.txt"
            entries.write_text(f"{ALICE}\n")
            running.admin("list", "set", "bob", BOB_LIST, "--entries", str(entries))
            yield running


_log_marks: dict[Path, int] = {}


@pytest.fixture(autouse=True)
def _mark_the_log(request: pytest.FixtureRequest) -> None:
    """Where the shared server's log stands as a test starts: each test is checked for tracebacks from there."""
    if "server" in request.fixturenames:
        server: SmartbookServer = request.getfixturevalue("server")
        _log_marks[server.directory] = len(server.log)


# ---------------------------------------------------------------------------------------------- a bare client


class _Client:
    """A raw socket to the server; `with` closes it."""

    sock: socket.socket

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class UdpClient(_Client):
    transport = "UDP"

    def __init__(self, server: SmartbookServer, host: str = "127.0.0.1") -> None:
        self.target = server.sip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(WAIT)
        self.local: tuple[str, int] = self.sock.getsockname()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def receive(self) -> SipMessage:
        data, _ = self.sock.recvfrom(65_535)
        return parse_message(data)


class TcpClient(_Client):
    transport = "TCP"

    def __init__(self, server: SmartbookServer) -> None:
        self.sock = socket.create_connection(server.sip, timeout=WAIT)
        self.local: tuple[str, int] = self.sock.getsockname()
        self._parser = StreamParser()
        self._ready: list[SipMessage] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> SipMessage:
        while not self._ready:
            data = self.sock.recv(65_536)
            if not data:
                raise AssertionError("the server closed the TCP connection instead of answering")
            self._ready += self._parser.feed(data)
        return self._ready.pop(0)

    def read_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection (an EOF or a reset)."""
        received = b""
        try:
            while data := self.sock.recv(65_536):
                received += data
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open (it sent {received!r})") from None
        return received


Client = UdpClient | TcpClient


def connect(server: SmartbookServer, transport: str) -> Client:
    return UdpClient(server) if transport == "udp" else TcpClient(server)


def make_request(
    client: Client,
    method: str,
    uri: str,
    *,
    user: str = "alice",
    to: str | None = None,
    headers: Sequence[tuple[str, str | int]] = (),
    without: Sequence[str] = (),
    body: bytes = b"",
) -> SipRequest:
    """A request from sip:USER@domain with every header RFC 3261 asks for; `headers` set more (or replace),
    `without` leaves some out."""
    number = next(_numbers)
    sent_by = f"{client.local[0]}:{client.local[1]}"
    fields = Headers(
        [
            ("Via", f"SIP/2.0/{client.transport} {sent_by};branch=z9hG4bK-bad{secrets.token_hex(6)};rport"),
            ("Max-Forwards", 70),
            ("From", f"<sip:{user}@{DOMAIN}>;tag=t{number}"),
            ("To", to or f"<{uri}>"),
            ("Call-ID", f"bad-input-{number}-{secrets.token_hex(4)}"),
            ("CSeq", f"1 {method}"),
            ("Contact", f"<sip:{user}@{sent_by};transport={client.transport.lower()}>"),
        ]
    )
    for name in without:
        fields.remove(name)
    for name, value in headers:
        fields.set(name, value)
    return SipRequest(method, uri, fields, body)


def exchange(client: Client, request: SipRequest) -> SipResponse:
    """Send `request` and return its final response (found by the Via branch); requests the server sends
    meanwhile (NOTIFYs) get a 200."""
    client.send(request.to_bytes())
    while True:
        message = client.receive()
        if isinstance(message, SipRequest):
            client.send(response_to(message).to_bytes())
        elif branch_of(message) == request.via_branch and message.status >= 200:
            return message


def branch_of(message: SipMessage) -> str | None:
    """The top Via's branch, or None when the Via cannot be read (the server echoes a request's bad Via)."""
    try:
        return message.via_branch
    except SipParseError:
        return None


def with_credentials(
    client: Client, request: SipRequest, *, user: str = "alice", password: str = PASSWORD
) -> tuple[SipResponse, SipResponse]:
    """Send `request`, which must be challenged (401 or 407), then again answering the challenge as `user`:
    (the challenge, the answer to the second request)."""
    challenge = exchange(client, request)
    assert challenge.status in (401, 407), f"{request.method} without credentials got {challenge.status}"
    header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    value = DigestSession(Credentials(user, password)).answer(
        challenge.headers.get_all(header), method=request.method, uri=request.uri, cnonce=secrets.token_hex(8)
    )
    headers = request.headers.copy()
    via = headers.get("Via") or ""
    headers.set("Via", via.replace(request.via_branch or "", f"z9hG4bK-bad{secrets.token_hex(6)}"))
    headers.set("CSeq", f"{request.cseq[0] + 1} {request.method}")
    headers.set("Authorization" if challenge.status == 401 else "Proxy-Authorization", value)
    return challenge, exchange(client, SipRequest(request.method, request.uri, headers, request.body))


def subscribe(
    client: Client,
    uri: str,
    *,
    user: str = "alice",
    to: str | None = None,
    headers: Sequence[tuple[str, str | int]] = (),
    without: Sequence[str] = (),
    body: bytes = b"",
) -> SipRequest:
    """A SUBSCRIBE to presence (Expires 600 unless `headers` say otherwise)."""
    fields = [("Event", "presence"), ("Expires", 600), *headers]
    return make_request(client, "SUBSCRIBE", uri, user=user, to=to, headers=fields, without=without, body=body)


def list_subscribe(
    client: Client, body: bytes, *, content_type: str = RESOURCE_LISTS, encoding: str | None = None
) -> SipRequest:
    """An RFC 5367 SUBSCRIBE from alice carrying `body` as its resource list."""
    headers: list[tuple[str, str | int]] = [("Supported", "eventlist"), ("Content-Type", content_type)]
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
    return subscribe(client, ALICE_LIST, headers=headers, body=body)


def resource_list(*uris: str) -> bytes:
    entries = "".join(f'<entry uri="{uri}"/>' for uri in uris)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>{entries}</list></resource-lists>'
    ).encode()


def assert_still_serving(server: SmartbookServer) -> None:
    """The server runs, answers an OPTIONS over UDP and a digest REGISTER over TCP, logged no traceback during
    this test and never a password."""
    assert server.process is not None
    assert server.process.poll() is None, f"the server exited:\n{server.log[-3000:]}"
    with UdpClient(server) as udp:
        assert exchange(udp, make_request(udp, "OPTIONS", f"sip:{DOMAIN}")).status == 200
    with TcpClient(server) as tcp:
        # One Contact for every check: a refresh of one binding (an account has at most 10 devices).
        headers = [("Expires", 60), ("Contact", "<sip:alice@127.0.0.1:5999;transport=tcp>")]
        register = make_request(tcp, "REGISTER", f"sip:{DOMAIN}", to=f"<{ALICE}>", headers=headers)
        challenge, answer = with_credentials(tcp, register)
        assert (challenge.status, answer.status) == (401, 200), answer.reason
    log = server.log
    this_test = log[_log_marks.get(server.directory, 0) :]
    assert "Traceback" not in this_test, this_test[-5000:]
    assert PASSWORD not in log
    assert WRONG_PASSWORD not in log


# ---------------------------------------------------------------------------------------------- 1. malformed SIP

# (method, headers to set, headers to leave out, what the 400's reason phrase names)
MALFORMED = {
    "no From": ("OPTIONS", [], ["From"], "no From header"),
    "no To": ("OPTIONS", [], ["To"], "no To header"),
    "no Call-ID": ("OPTIONS", [], ["Call-ID"], "no Call-ID header"),
    "no CSeq": ("OPTIONS", [], ["CSeq"], "no CSeq header"),
    "CSeq of another method": ("OPTIONS", [("CSeq", "1 INVITE")], [], "CSeq names INVITE"),
    "CSeq not a number": ("OPTIONS", [("CSeq", "one OPTIONS")], [], "CSeq"),
    "From not a SIP URI": ("OPTIONS", [("From", "<http://example.org/alice>;tag=x1")], [], "http"),
    "From without a tag": ("OPTIONS", [("From", f"<{ALICE}>")], [], "tag"),
    "Expires not a number": ("REGISTER", [("Expires", "soon")], [], "Expires"),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_gets_400_with_a_reason(server: SmartbookServer, transport: str, case: str) -> None:
    method, headers, without, named = MALFORMED[case]
    with connect(server, transport) as client:
        request = make_request(client, method, f"sip:{DOMAIN}", to=f"<{ALICE}>", headers=headers, without=without)
        response = exchange(client, request)
    assert response.status == 400, f"{case}: {response.status} {response.reason}"
    assert response.reason.startswith("Bad Request ("), response.reason
    assert named in response.reason, response.reason
    assert_still_serving(server)


def tls_client_hello() -> bytes:
    """What a TLS client sends first: a client configured for TLS on the TCP port."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=DOMAIN)
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


GARBAGE = [
    tls_client_hello(),
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"OPTIONS\r\n\r\n",
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia SIP/2.0/UDP nowhere\r\n\r\n",  # a header without its colon
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nContent-Length: 99\r\n\r\nshort",  # a truncated datagram
    bytes(range(256)) * 4,
]


def test_garbage_datagrams_are_dropped(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        for datagram in GARBAGE:
            client.send(datagram)
        # The server reads one socket in order: had it answered any garbage, that answer would come first.
        options = make_request(client, "OPTIONS", f"sip:{DOMAIN}")
        client.send(options.to_bytes())
        first = client.receive()
    assert isinstance(first, SipResponse), first
    assert branch_of(first) == options.via_branch, first
    assert first.status == 200
    assert_still_serving(server)


@pytest.mark.parametrize("garbage", [GARBAGE[0], GARBAGE[1], GARBAGE[3]], ids=["tls-client-hello", "http", "no-colon"])
def test_garbage_over_tcp_closes_that_connection_only(server: SmartbookServer, garbage: bytes) -> None:
    bystander, attacker = TcpClient(server), TcpClient(server)
    try:
        assert exchange(bystander, make_request(bystander, "OPTIONS", f"sip:{DOMAIN}")).status == 200
        attacker.send(garbage)
        assert attacker.read_until_closed() == b""
        assert exchange(bystander, make_request(bystander, "OPTIONS", f"sip:{DOMAIN}")).status == 200
    finally:
        bystander.close()
        attacker.close()
    assert_still_serving(server)


BAD_VIAS = {
    "unterminated branch": 'SIP/2.0/{transport} {sent_by};branch="z9hG4bK-unterminated',
    "empty parameter": "SIP/2.0/{transport} {sent_by};;=;branch",
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("via", list(BAD_VIAS))
def test_request_with_an_unreadable_via_is_refused_or_dropped(
    server: SmartbookServer, transport: str, via: str
) -> None:
    """A Via the server cannot read: a 400 or no answer, the next request on that socket served as ever, and no
    traceback."""
    with connect(server, transport) as client:
        bad = make_request(client, "OPTIONS", f"sip:{DOMAIN}")
        bad.headers.set(
            "Via", BAD_VIAS[via].format(transport=client.transport, sent_by=f"{client.local[0]}:{client.local[1]}")
        )
        client.send(bad.to_bytes())
        options = make_request(client, "OPTIONS", f"sip:{DOMAIN}")
        client.send(options.to_bytes())
        before: list[SipMessage] = []
        while not (isinstance(answer := client.receive(), SipResponse) and branch_of(answer) == options.via_branch):
            before.append(answer)
    assert answer.status == 200
    assert all(isinstance(m, SipResponse) and m.status == 400 for m in before), before
    assert_still_serving(server)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_stray_response_with_an_unreadable_via_is_ignored(server: SmartbookServer, transport: str) -> None:
    with connect(server, transport) as client:
        stray = response_to(make_request(client, "NOTIFY", f"sip:{DOMAIN}"))
        stray.headers.set("Via", 'SIP/2.0/UDP 127.0.0.1:5060;branch="z9hG4bK-unterminated')
        client.send(stray.to_bytes())
        options = make_request(client, "OPTIONS", f"sip:{DOMAIN}")
        client.send(options.to_bytes())
        first = client.receive()
    assert isinstance(first, SipResponse), first
    assert branch_of(first) == options.via_branch, first
    assert first.status == 200
    assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- 2. authentication


def test_register_without_credentials_gets_401(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        request = make_request(client, "REGISTER", f"sip:{DOMAIN}", to=f"<{ALICE}>", headers=[("Expires", 60)])
        response = exchange(client, request)
    assert response.status == 401
    challenges = response.headers.get_all("WWW-Authenticate")
    assert challenges
    assert all(c.startswith("Digest ") and f'realm="{DOMAIN}"' in c for c in challenges), challenges
    assert "Proxy-Authenticate" not in response.headers
    assert_still_serving(server)


@pytest.mark.parametrize("method", ["SUBSCRIBE", "PUBLISH"])
def test_subscribe_or_publish_without_credentials_gets_407(server: SmartbookServer, method: str) -> None:
    with UdpClient(server) as client:
        if method == "SUBSCRIBE":
            request = subscribe(client, BOB)
        else:
            request = make_request(
                client,
                "PUBLISH",
                ALICE,
                headers=[("Event", "presence"), ("Expires", 60), ("Content-Type", "application/pidf+xml")],
                body=pidf(ALICE),
            )
        response = exchange(client, request)
    assert response.status == 407
    challenges = response.headers.get_all("Proxy-Authenticate")
    assert challenges
    assert all(c.startswith("Digest ") and f'realm="{DOMAIN}"' in c for c in challenges), challenges
    assert "WWW-Authenticate" not in response.headers
    assert_still_serving(server)


@pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "PUBLISH"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wrong_password_is_challenged_again(server: SmartbookServer, method: str, transport: str) -> None:
    with connect(server, transport) as client:
        if method == "REGISTER":
            request = make_request(client, "REGISTER", f"sip:{DOMAIN}", to=f"<{ALICE}>", headers=[("Expires", 60)])
        elif method == "SUBSCRIBE":
            request = subscribe(client, BOB)
        else:
            headers = [("Event", "presence"), ("Expires", 60), ("Content-Type", "application/pidf+xml")]
            request = make_request(client, "PUBLISH", ALICE, headers=headers, body=pidf(ALICE))
        challenge, answer = with_credentials(client, request, password=WRONG_PASSWORD)
    expected = 401 if method == "REGISTER" else 407
    assert challenge.status == expected
    assert answer.status == expected, f"a wrong password got {answer.status} {answer.reason}"
    header = "WWW-Authenticate" if expected == 401 else "Proxy-Authenticate"
    assert answer.headers.get_all(header)
    assert_still_serving(server)  # also: neither password is in the log


@pytest.mark.peer("sipp")
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_register_without_or_with_wrong_credentials_gets_401(
    server: SmartbookServer, tmp_path: Path, transport: str
) -> None:
    # SIPp 3.6 answers only an MD5 challenge, and only the first one (the server offers SHA-256 first, as RFC 8760
    # asks): the scenario writes a wrong digest response of its own to the challenge's nonce.
    run = run_sipp("register_challenge.xml", server.sip, tmp_path, "-m", "1", "-s", "alice", transport=transport)
    assert run.process.returncode == 0, run.stdout[-3000:]
    responses = run.responses
    assert [r.status for r in responses] == [401, 401], run.stdout[-3000:]
    for response in responses:
        challenges = response.headers.get_all("WWW-Authenticate")
        assert any(f'realm="{DOMAIN}"' in value and "algorithm=MD5" in value for value in challenges), challenges
    assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- 3. authorization


def test_publish_for_another_account_gets_403(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        headers = [("Event", "presence"), ("Expires", 60), ("Content-Type", "application/pidf+xml")]
        request = make_request(client, "PUBLISH", BOB, headers=headers, body=pidf(BOB))
        challenge, answer = with_credentials(client, request)  # alice's credentials, bob's presence
    assert challenge.status == 407
    assert answer.status == 403, f"{answer.status} {answer.reason}"
    assert_still_serving(server)


def test_subscribe_from_another_account_than_the_credentials_gets_403(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        challenge, answer = with_credentials(client, subscribe(client, ALICE, user="bob"))  # From bob, as alice
    assert challenge.status == 407
    assert answer.status == 403, f"{answer.status} {answer.reason}"
    assert_still_serving(server)


def test_eventlist_subscribe_to_a_list_of_another_account_is_refused(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        # bob may fetch his own list (Expires 0: the state once): the list exists.
        own = subscribe(client, BOB_LIST, user="bob", headers=[("Supported", "eventlist"), ("Expires", 0)])
        _, bobs = with_credentials(client, own, user="bob")
        theirs = subscribe(client, BOB_LIST, headers=[("Supported", "eventlist")])
        _, alices = with_credentials(client, theirs)
    assert bobs.status == 200, f"{bobs.status} {bobs.reason}"
    assert alices.status in (403, 404), f"{alices.status} {alices.reason}"
    assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- 4. bodies


def deflate_bomb(decoded_size: int = 100 * 1024 * 1024) -> bytes:
    """A zlib stream of `decoded_size` zero bytes (about a thousandth of that compressed)."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(decoded_size // len(chunk))]
    return b"".join(parts) + compressor.flush()


def test_deflate_bomb_list_gets_413(server: SmartbookServer) -> None:
    bomb = deflate_bomb()
    assert len(bomb) < 200_000
    client = TcpClient(server)  # about 100 KB: over a UDP datagram
    try:
        _, answer = with_credentials(client, list_subscribe(client, bomb, encoding="deflate"))
    finally:
        client.close()
    assert answer.status == 413, f"{answer.status} {answer.reason}"
    assert_still_serving(server)


def test_list_over_max_list_size_gets_413(server: SmartbookServer) -> None:
    entries = [f"sip:user{n}@{DOMAIN}" for n in range(MAX_LIST_SIZE + 1)]
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, resource_list(*entries)))
        _, deflated = with_credentials(
            client, list_subscribe(client, zlib.compress(resource_list(*entries)), encoding="deflate")
        )
    assert answer.status == 413, f"{answer.status} {answer.reason}"
    assert deflated.status == 413, f"{deflated.status} {deflated.reason}"
    assert_still_serving(server)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE resource-lists [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>
<entry uri="sip:bob@127.0.0.1"><display-name>&secret;</display-name></entry></list></resource-lists>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>
<entry uri="sip:bob@127.0.0.1"><display-name>&lol3;</display-name></entry></list></resource-lists>"""


@pytest.mark.parametrize(
    "body",
    [b"this is not XML", b"<resource-lists><list><entry", resource_list(ALICE)[:-10], XXE, BILLION_LAUGHS],
    ids=["text", "truncated", "unclosed", "xxe", "entities"],
)
def test_list_body_that_is_not_a_plain_xml_document_gets_400(server: SmartbookServer, body: bytes) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, body))
    assert answer.status == 400, f"{answer.status} {answer.reason}"
    assert answer.reason.startswith("Bad Request (")
    assert_still_serving(server)


def test_list_of_another_xml_kind_gets_400(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, pidf(ALICE)))
    assert answer.status == 400, f"{answer.status} {answer.reason}"
    assert_still_serving(server)


def test_unknown_content_encoding_gets_415(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, b"\x1b\x00\x00compressed", encoding="br"))
    assert answer.status == 415, f"{answer.status} {answer.reason}"
    assert "deflate" in (answer.headers.get("Accept-Encoding") or "")
    assert_still_serving(server)


def test_corrupt_deflate_body_is_refused(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, b"not a zlib stream", encoding="deflate"))
    assert answer.status == 400, f"{answer.status} {answer.reason}"
    assert_still_serving(server)


@pytest.mark.parametrize("content_type", ["text/plain", "application/pidf+xml", "application/xml", "not a type"])
def test_wrong_content_type_gets_415(server: SmartbookServer, content_type: str) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, list_subscribe(client, resource_list(BOB), content_type=content_type))
    assert answer.status == 415, f"{answer.status} {answer.reason}"
    assert answer.headers.get("Accept") == RESOURCE_LISTS
    assert_still_serving(server)


def test_body_over_the_transport_limit_gets_413_and_the_tcp_connection_closes(server: SmartbookServer) -> None:
    bystander, client = TcpClient(server), TcpClient(server)
    try:
        request = list_subscribe(client, b"")
        head = request.to_bytes().replace(b"Content-Length: 0", f"Content-Length: {10 * 1024 * 1024}".encode())
        client.send(head + b"<" * 4096)
        answer = parse_message(client.read_until_closed())
        assert answer.status == 413, f"{answer.status} {answer.reason}"
        assert exchange(bystander, make_request(bystander, "OPTIONS", f"sip:{DOMAIN}")).status == 200
    finally:
        bystander.close()
        client.close()
    assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- 5. floods


@pytest.mark.peer("sipp")
def test_flood_from_one_source_gets_503_while_another_is_served(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "20", accounts=[("alice", None)]) as server:
        # 400 OPTIONS at 200 a second from SIPp's one UDP socket, against 20 a second (bursts of 40).
        flood = start_sipp("options_flood.xml", server.sip, tmp_path / "sipp", "-r", "200", "-m", "400", "-nr")
        other = UdpClient(server, "127.0.0.2")  # another host: the limit counts addresses, not ports
        served_meanwhile = 0
        try:
            while flood.running:  # another source, at 10 requests a second, is answered throughout
                response = exchange(other, make_request(other, "OPTIONS", f"sip:{DOMAIN}"))
                assert response.status == 200, f"{response.status} {response.reason}"
                served_meanwhile += 1
                time.sleep(0.1)
        finally:
            other.close()
            flood.wait()
        assert served_meanwhile >= 1
        responses = flood.responses
        statuses = [r.status for r in responses]
        assert set(statuses) <= {200, 503}, statuses
        refusals = [r for r in responses if r.status == 503]
        assert refusals, f"no 503 among {len(statuses)} answers to 400 requests:\n{flood.stdout[-3000:]}"
        assert all((r.headers.get("Retry-After") or "").isdigit() for r in refusals), refusals
        assert 1 <= statuses.count(200) < 400, statuses.count(200)
        assert_still_serving(server)


# ---------------------------------------------------------------------------------------------- 6. dialogs, methods


def test_in_dialog_subscribe_with_an_unknown_to_tag_gets_481(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        response = exchange(client, subscribe(client, BOB, to=f"<{BOB}>;tag=no-such-dialog"))
    assert response.status == 481, f"{response.status} {response.reason}"
    assert_still_serving(server)


@pytest.mark.parametrize("method", ["FOO", "PING"])
def test_unknown_method_gets_501_with_allow(server: SmartbookServer, method: str) -> None:
    with UdpClient(server) as client:
        response = exchange(client, make_request(client, method, BOB))
    assert response.status == 501, f"{response.status} {response.reason}"
    allowed = {name.strip() for name in response.headers.get_all("Allow")}
    assert {"REGISTER", "SUBSCRIBE", "PUBLISH", "OPTIONS", "INVITE", "BYE", "CANCEL", "MESSAGE"} <= allowed, allowed
    assert method not in allowed, allowed
    assert_still_serving(server)


@pytest.mark.parametrize("event", ["dialog", "message-summary", "presence.winfo"])
def test_subscribe_to_another_event_package_gets_489(server: SmartbookServer, event: str) -> None:
    with UdpClient(server) as client:
        response = exchange(client, subscribe(client, BOB, headers=[("Event", event)]))
    assert response.status == 489, f"{response.status} {response.reason}"
    assert "presence" in response.headers.get_all("Allow-Events")
    assert_still_serving(server)


def test_require_of_an_unknown_extension_gets_420(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        response = exchange(client, subscribe(client, BOB, headers=[("Require", "foo")]))
    assert response.status == 420, f"{response.status} {response.reason}"
    assert response.headers.get_all("Unsupported") == ["foo"]
    assert_still_serving(server)


def test_subscribe_expires_too_brief_gets_423(server: SmartbookServer) -> None:
    with UdpClient(server) as client:
        _, answer = with_credentials(client, subscribe(client, BOB, headers=[("Expires", 1)]))
    assert answer.status == 423, f"{answer.status} {answer.reason}"
    assert answer.headers.get("Min-Expires") == "60"
    assert_still_serving(server)
