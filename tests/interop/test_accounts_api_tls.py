"""The account API over HTTPS (`smartbook server run --http-tls`), against the real server process with a throwaway
CA: the Assistant's client makes and activates an account when it trusts the CA, and says in one sentence that it
does not otherwise; plain HTTP to the port gets nowhere; the connection guard holds over TLS, and a client that
never finishes its handshake is cut; --http-tls without a certificate is a one-line start error."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smartbook_tui.assistant.client import AccountApi
from smartbook_tui.assistant.errors import AssistantError
from smartbook_tui.assistant.flows import CreateAccount
from tests.peers import tls
from tests.peers.smartbook_server import SmartbookServer, run_smartbook_server

BOB = "+33612345678"
WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
INFO = "GET /api/accounts/%2B33612345678/info-by-phone HTTP/1.1\r\nHost: api\r\n\r\n"


@pytest.fixture
def server(tmp_path: Path, certificates: tls.TestCertificates) -> Iterator[SmartbookServer]:
    """The API over HTTPS with the certificate of the interop tests' CA (conftest's `certificates`)."""
    https = ("--http-tls", "--tls-cert", str(certificates.cert), "--tls-key", str(certificates.key))
    limits = ("--max-connections-per-address", "2", "--first-message-timeout", "1")
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", *https, *limits, api=True) as running:
        yield running


def https_url(server: SmartbookServer) -> str:
    assert server.http is not None
    return f"https://{server.http[0]}:{server.http[1]}/api"


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65_536):
        received += chunk
    return received


def tls_connection(
    server: SmartbookServer, certificates: tls.TestCertificates, host: str = "127.0.0.1"
) -> ssl.SSLSocket:
    """A connection whose handshake is done, and nothing sent on it yet."""
    assert server.http is not None
    raw = socket.create_connection(server.http, timeout=WAIT, source_address=(host, 0))
    return certificates.client_context().wrap_socket(raw, server_hostname="127.0.0.1")


async def refused(call) -> AssistantError:
    with pytest.raises(AssistantError) as caught:
        await call
    assert "\n" not in str(caught.value)
    return caught.value


async def test_an_account_is_made_and_activated_over_https_when_the_client_trusts_the_ca(server, certificates):
    assert f"account API on {https_url(server)} " in server.log
    async with AccountApi(https_url(server), ca=certificates.ca) as api:
        flow = CreateAccount(api, "+33 6 12 34 56 78")
        assert await flow.send_code() == BOB
        account = await flow.confirm(server.last_code(BOB))
        assert await api.info_by_phone(BOB) is True
    assert account.sip_uri == f"sip:{BOB}@{server.domain}"
    assert len(account.password) >= 16


async def test_a_client_that_does_not_trust_the_certificate_gets_one_sentence(server, tmp_path):
    async with AccountApi(https_url(server)) as api:  # the system's CAs alone
        untrusted = await refused(api.create(BOB))
    assert untrusted.word == "untrusted_certificate"
    assert str(untrusted).startswith(f"The account API at {https_url(server)} showed a certificate")
    assert "--ca FILE" in str(untrusted)
    assert server.sms() == []  # nothing reached the API

    with pytest.raises(AssistantError) as caught:
        AccountApi(https_url(server), ca=tmp_path / "missing.pem")
    assert caught.value.word == "bad_ca"
    assert f"Cannot use the CA file {tmp_path / 'missing.pem'}" in str(caught.value)


async def test_plain_http_to_the_https_port_gets_nowhere(server, certificates):
    plain = https_url(server).replace("https://", "http://")
    with httpx.Client(timeout=WAIT) as client, pytest.raises(httpx.HTTPError):
        client.get(f"{plain}/accounts/%2B33612345678/info-by-phone")
    async with AccountApi(plain) as api:
        unreachable = await refused(api.create(BOB))
    assert unreachable.word == "unreachable"
    assert server.sms() == []
    with httpx.Client(timeout=WAIT, verify=certificates.client_context()) as client:  # HTTPS is served all along
        assert client.get(f"{https_url(server)}/accounts/%2B33612345678/info-by-phone").status_code == 404


def test_a_connection_that_never_finishes_its_handshake_is_closed(server, certificates):
    assert server.http is not None
    # TCP only, no ClientHello: cut at --first-message-timeout (1 s), long before asyncio's default minute of
    # handshake, which would outlast the socket's WAIT
    silent = socket.create_connection(server.http, timeout=WAIT)
    assert read_all(silent) == b""  # closed, with nothing said
    silent.close()
    quiet = tls_connection(server, certificates)  # the handshake done, no request: the first request's deadline
    assert read_all(quiet) == b""
    quiet.close()


def test_the_per_address_cap_holds_over_tls(server, certificates):
    held = [tls_connection(server, certificates) for _ in range(2)]
    try:
        time.sleep(0.2)  # the two are counted before the next one comes
        over = tls_connection(server, certificates)
        answer = read_all(over)
        over.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b'"error": "busy"' in answer
        other = tls_connection(server, certificates, host="127.0.0.2")  # another host is served
        other.sendall(INFO.encode())
        assert other.recv(65_536).startswith(b"HTTP/1.1 404 ")
        other.close()
    finally:
        for sock in held:
            sock.close()


def start_error(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartbook_tui.cli", "server", "run", "--sip", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_http_tls_without_a_certificate_or_with_a_broken_one_is_a_one_line_start_error(tmp_path):
    db = ("--db", str(tmp_path / "server.sqlite3"), "--sms-outbox", str(tmp_path / "outbox.jsonl"))
    bare = start_error(*db, "--http", "127.0.0.1:0", "--http-tls")
    assert bare.returncode != 0
    assert bare.stderr.strip().count("\n") == 0
    assert "--http-tls needs the server's certificate: give --tls-cert and --tls-key" in bare.stderr

    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    given = ("--tls-cert", str(broken), "--tls-key", str(broken))
    unusable = start_error(*db, "--http", "127.0.0.1:0", "--http-tls", *given)
    assert unusable.returncode != 0
    assert unusable.stderr.strip().count("\n") == 0
    assert str(broken) in unusable.stderr
