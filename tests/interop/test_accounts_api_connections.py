"""The account API's port under a host that opens connections and never finishes its requests, against the real
server process: over the per-address cap a connection is answered 503 and closed, a request trickling in is cut
with 408, a connection that sends nothing is closed, and another host is served all along."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers.smartbook_server import SmartbookServer, run_smartbook_server

WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
INFO = "GET /api/accounts/%2B33612345678/info-by-phone HTTP/1.1\r\nHost: api\r\n\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    limits = ("--max-connections-per-address", "5", "--first-message-timeout", "1", "--message-timeout", "1")
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", *limits, api=True) as server:
        yield server


def connect(server: SmartbookServer, host: str = "127.0.0.1") -> socket.socket:
    assert server.http is not None
    sock = socket.create_connection(server.http, timeout=WAIT, source_address=(host, 0))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65_536):
        received += chunk
    return received


def served_elsewhere(server: SmartbookServer) -> int:
    with httpx.Client(timeout=WAIT, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
        return client.get(f"{server.api_url}/accounts/%2B33612345678/info-by-phone").status_code


def test_connections_over_the_per_address_cap_get_503_while_another_host_is_served(server):
    held = [connect(server) for _ in range(5)]
    try:
        time.sleep(0.2)  # the five are counted before the next one comes
        over = connect(server)
        answer = read_all(over)
        over.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"retry-after: 10" in answer.lower()
        assert b'"error": "busy"' in answer
        assert served_elsewhere(server) == 404  # the number is unknown: answered
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    fresh = connect(server)  # the five closed, the address may connect again
    fresh.sendall(INFO.encode())
    assert fresh.recv(65_536).startswith(b"HTTP/1.1 404 ")
    fresh.close()
    assert "refused 1 account API connection(s) over the cap of 5 per address (the latest from 127.0.0.1)" in server.log


def test_a_request_trickling_in_is_cut_with_408_and_a_silent_connection_is_closed(server):
    silent, trickling = connect(server), connect(server)
    started = time.monotonic()
    head = INFO.encode()
    for byte in range(len(head) - 4):  # a byte every 0.1 s: each would reset an idle timer, not the deadline
        try:
            trickling.sendall(head[byte : byte + 1])
        except OSError:
            break
        time.sleep(0.1)
        if time.monotonic() - started > 3:
            break
    answer = read_all(trickling)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert read_all(silent) == b""  # nothing begun, nothing said: closed
    assert time.monotonic() - started < 3 * WAIT
    assert served_elsewhere(server) == 404
    silent.close()
    trickling.close()


def test_the_next_request_on_a_kept_connection_has_its_own_deadline(server):
    kept = connect(server)
    kept.sendall(INFO.encode())
    time.sleep(0.3)  # the whole answer is in
    assert kept.recv(65_536).startswith(b"HTTP/1.1 404 ")
    kept.sendall(INFO.encode()[:20])  # half of the next request, and no more
    assert read_all(kept).startswith(b"HTTP/1.1 408 ")
    kept.close()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limits(tmp_path):
    """The operator's proxy (127.0.0.2) is believed: the clients it names are limited one by one, and it is not
    held to the per-address connection cap; from anywhere else X-Forwarded-For is ignored."""
    options = ("--http-proxies", "127.0.0.2", "--api-rate", "2", "--max-connections-per-address", "2")
    with run_smartbook_server(tmp_path / "server", *options, api=True) as server:
        url = f"{server.api_url}/accounts/%2B33612345678/info-by-phone"
        proxy = httpx.Client(timeout=WAIT, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        direct = httpx.Client(timeout=WAIT)
        try:

            def through_proxy(client_address: str) -> int:
                return proxy.get(url, headers={"X-Forwarded-For": client_address}).status_code

            assert [through_proxy("203.0.113.5") for _ in range(3)] == [404, 404, 429]
            assert through_proxy("203.0.113.6") == 404  # another client behind the proxy: its own limit
            spoofed = [direct.get(url, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(3)]
            assert spoofed == [404, 404, 429]  # not a proxy: counted as itself
        finally:
            proxy.close()
            direct.close()
        assert server.http is not None
        held = [connect(server, "127.0.0.2") for _ in range(4)]  # over the cap of 2, and still served
        for sock in held:
            sock.sendall(INFO.replace("Host: api", "Host: api\r\nX-Forwarded-For: 203.0.113.9").encode())
            assert sock.recv(65_536).split(b" ")[1] in (b"404", b"429")
            sock.close()
