"""RFC 4475's torture messages (`tests/peers/rfc4475/`), each sent as it is written to the real `smartbook server
run` over UDP and over TCP from a socket of its own: the valid requests get the answer of their kind, the invalid
ones their code (over TCP, what cannot be framed gets 400 and ends its connection), responses are dropped, and the
server keeps serving throughout."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from smartbook_tui.sip.message import SipResponse, StreamParser, parse_message
from smartbook_tui.sip.transaction import server_key
from tests.peers.rfc4475 import DATAGRAM_ONLY, DOMAIN, INVALID, RESPONSES, UNFRAMED, USER, VALID, read
from tests.peers.smartbook_server import SmartbookServer

WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
REQUESTS = [*VALID, *INVALID]


def _expected(name: str) -> tuple[int, str]:
    return INVALID[name] if name in INVALID else (VALID[name], "")


def _key(name: str) -> tuple[str, str, str]:
    return server_key(parse_message(read(name)))  # type: ignore[arg-type]


def _slot(name: str) -> int:
    """Which server a request goes to: the RFC gives some requests the same transaction key (branch, sent-by,
    method), so a server that saw the first would rightly take the second for its retransmission."""
    return sum(1 for other in REQUESTS[: REQUESTS.index(name)] if _key(other) == _key(name))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[SmartbookServer]]:
    """Two servers of example.com with the account `user`."""
    started: list[SmartbookServer] = []
    try:
        for index in range(2):
            server = SmartbookServer(tmp_path_factory.mktemp(f"rfc4475-{index}"), domain=DOMAIN)
            server.add_account(USER)
            started.append(server.start())
        yield started
    finally:
        for server in started:
            server.stop()


def final_over_udp(server: SmartbookServer, data: bytes) -> SipResponse:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(WAIT)
        sock.sendto(data, server.sip)
        while True:
            answer = parse_message(sock.recvfrom(65_535)[0])
            if isinstance(answer, SipResponse) and answer.status >= 200:
                return answer


def final_over_tcp(server: SmartbookServer, data: bytes) -> SipResponse | None:
    """The first final answer, or None when the server closes the connection without one."""
    parser = StreamParser()
    with socket.create_connection(server.sip, timeout=WAIT) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65_536):
            for answer in parser.feed(chunk):
                if isinstance(answer, SipResponse) and answer.status >= 200:
                    return answer
    return None


def assert_still_serving(server: SmartbookServer) -> None:
    options = (
        "OPTIONS sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-still-{port}\r\n"
        "From: <sip:{user}@{domain}>;tag=s\r\nTo: <sip:{domain}>\r\nCall-ID: still-serving\r\nCSeq: {port} OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        data = options.format(domain=DOMAIN, user=USER, port=port).encode()
        assert final_over_udp(server, data).status == 200
    assert server.process is not None
    assert server.process.poll() is None
    assert "Traceback" not in server.log


@pytest.mark.parametrize("name", REQUESTS)
def test_each_request_over_udp_gets_its_answer(servers: list[SmartbookServer], name: str) -> None:
    server = servers[_slot(name)]
    status, named = _expected(name)
    answer = final_over_udp(server, read(name))
    assert answer.status == status, f"{name}: {answer.status} {answer.reason}"
    assert named in answer.reason, answer.reason
    if name in VALID and status != 400:
        assert not answer.reason.startswith("Bad Request"), answer.reason
    assert_still_serving(server)


@pytest.mark.parametrize("name", [name for name in REQUESTS if name not in DATAGRAM_ONLY])
def test_each_request_over_tcp_gets_its_answer_or_ends_its_connection(
    servers: list[SmartbookServer], name: str
) -> None:
    server = servers[_slot(name)]
    answer = final_over_tcp(server, read(name))
    # what cannot be framed gets 400 naming its Content-Length before the connection ends
    status, named = (400, "Content-Length") if name in UNFRAMED else _expected(name)
    assert answer is not None, f"{name}: the connection closed without an answer"
    assert answer.status == status, f"{name}: {answer.status} {answer.reason}"
    assert named in answer.reason, answer.reason
    assert_still_serving(server)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_responses_and_an_overlarge_status_code_are_dropped(servers: list[SmartbookServer], transport: str) -> None:
    server = servers[0]
    for name in [*RESPONSES, "bigcode"]:
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(read(name), server.sip)
        else:
            with socket.create_connection(server.sip, timeout=WAIT) as sock:
                sock.sendall(read(name))
    assert_still_serving(server)
