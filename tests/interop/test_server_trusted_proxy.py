"""Nodes behind a SIP proxy (`--trusted-proxy`), against the real process: the clients of a trusted proxy are
rate-limited and backed off each on its own, by the address the proxy's Via below its own names, while the same
traffic from an address that is not trusted is one source, as any other. The proxy is a UDP socket that relays
each client's request with its own Via on top and a `received` in the client's, as Kamailio does; the clients are
those Vias (documentation addresses, which this machine never sees)."""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from tests.peers.smartbook_server import DOMAIN, PASSWORD, run_smartbook_server

WAIT = 10.0  # how long the proxy waits before the test gives up on a hung server; never what a test asserts
TRUSTED = "127.0.0.1"
UNTRUSTED = "127.0.0.2"
_serial = itertools.count()


@dataclass(frozen=True)
class Client:
    """A device behind the proxy: the address the proxy heard it from, and the one it wrote (behind a NAT)."""

    received: str
    rport: int
    private: str = "192.168.1.20"


ALICE_PHONE = Client("203.0.113.7", 40001)
BOB_PHONE = Client("198.51.100.9", 40002)


class RelayingProxy:
    """One UDP socket bound to `host`, relaying requests to the server with its own Via on top."""

    def __init__(self, host: str, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(WAIT)
        self.local: tuple[str, int] = self.sock.getsockname()

    def relay(
        self, client: Client, method: str, uri: str, *extra: tuple[str, str], user: str = "someone"
    ) -> SipResponse:
        """`method` to `uri` from `user` on `client`, with `extra` headers: the final answer."""
        number = next(_serial)
        branch = f"z9hG4bK-proxy{number}"
        host, port = self.local
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {host}:{port};branch={branch}"),
                (
                    "Via",
                    f"SIP/2.0/UDP {client.private}:5060;branch=z9hG4bK-client{number};"
                    f"received={client.received};rport={client.rport}",
                ),
                ("Max-Forwards", "69"),
                ("From", f"<sip:{user}@{DOMAIN}>;tag=t{number}"),
                ("To", f"<{uri if method != 'REGISTER' else f'sip:{user}@{DOMAIN}'}>"),
                ("Call-ID", f"proxied-{number}@{client.private}"),
                ("CSeq", f"1 {method}"),
                *extra,
            ]
        )
        self.sock.sendto(SipRequest(method, uri, headers).to_bytes(), self.server)
        while True:
            message = parse_message(self.sock.recvfrom(65_535)[0])
            if isinstance(message, SipResponse) and message.via_branch == branch and message.status >= 200:
                return message

    def options(self, client: Client, uri: str = f"sip:{DOMAIN}") -> int:
        return self.relay(client, "OPTIONS", uri).status

    def register(self, client: Client, user: str, password: str) -> int:
        """A REGISTER as `user`, then again answering the server's challenge with `password`: the second status."""
        contact = ("Contact", f"<sip:{user}@{client.private}:5060>")
        challenge = self.relay(client, "REGISTER", f"sip:{DOMAIN}", contact, user=user)
        if challenge.status != 401:
            return challenge.status
        answer = DigestSession(Credentials(user, password)).answer(
            challenge.headers.get_all("WWW-Authenticate"), method="REGISTER", uri=f"sip:{DOMAIN}", cnonce="c0ffee"
        )
        return self.relay(client, "REGISTER", f"sip:{DOMAIN}", contact, ("Authorization", answer), user=user).status

    def close(self) -> None:
        self.sock.close()


def guess_until_held_back(proxy: RelayingProxy, client: Client) -> list[int]:
    """Wrong passwords for alice from `client` until one is held back (503): the statuses."""
    statuses: list[int] = []
    while 503 not in statuses and len(statuses) < 30:
        statuses.append(proxy.register(client, "alice", "wrong battery staple"))
    return statuses


def test_each_client_of_a_trusted_proxy_has_its_own_request_rate(tmp_path: Path) -> None:
    # 0.5 requests a second in bursts of 1: a client's first request is served, its second refused.
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "0.5", "--trusted-proxy", TRUSTED) as server:
        proxy = RelayingProxy(TRUSTED, server.sip)
        try:
            assert proxy.options(ALICE_PHONE) == 200
            assert proxy.options(ALICE_PHONE) == 503
            assert proxy.options(BOB_PHONE) == 200
        finally:
            proxy.close()
        assert f"rate-limiting 203.0.113.7:40001 via UDP {TRUSTED}:" in server.log


def test_the_call_proxy_limits_each_client_of_a_trusted_proxy_on_its_own(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "0.5", "--trusted-proxy", TRUSTED) as server:
        proxy = RelayingProxy(TRUSTED, server.sip)
        try:
            nobody = f"sip:nobody@{DOMAIN}"  # an OPTIONS for a user is the call proxy's to route
            assert proxy.options(ALICE_PHONE, nobody) == 404
            assert proxy.options(ALICE_PHONE, nobody) == 503
            assert proxy.options(BOB_PHONE, nobody) == 404
        finally:
            proxy.close()
        assert f"rate-limiting 203.0.113.7:40001 via UDP {TRUSTED}:" in server.log


def test_the_same_traffic_from_an_untrusted_address_is_one_source(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "0.5", "--trusted-proxy", TRUSTED) as server:
        proxy = RelayingProxy(UNTRUSTED, server.sip)
        try:
            assert proxy.options(ALICE_PHONE) == 200
            assert proxy.options(BOB_PHONE) == 503  # its Vias are not read: every request is 127.0.0.2's
        finally:
            proxy.close()
        assert f"rate-limiting UDP {UNTRUSTED}:" in server.log
        assert "203.0.113.7" not in server.log


def test_a_guesser_behind_a_trusted_proxy_holds_back_only_itself(tmp_path: Path) -> None:
    accounts = [("alice", None), ("bob", None)]
    with run_smartbook_server(
        tmp_path / "server", "--auth-failures", "2", "--trusted-proxy", TRUSTED, accounts=accounts
    ) as server:
        proxy = RelayingProxy(TRUSTED, server.sip)
        try:
            statuses = guess_until_held_back(proxy, ALICE_PHONE)
            assert statuses[-1] == 503, statuses
            assert proxy.register(BOB_PHONE, "bob", PASSWORD) == 200
        finally:
            proxy.close()
        assert f"failed sign-ins as 'alice' from 203.0.113.7 via UDP {TRUSTED}:" in server.log


def test_a_guesser_sending_from_an_untrusted_address_holds_back_that_whole_address(tmp_path: Path) -> None:
    accounts = [("alice", None), ("bob", None)]
    with run_smartbook_server(
        tmp_path / "server", "--auth-failures", "2", "--trusted-proxy", TRUSTED, accounts=accounts
    ) as server:
        proxy = RelayingProxy(UNTRUSTED, server.sip)
        try:
            statuses = guess_until_held_back(proxy, ALICE_PHONE)
            assert statuses[-1] == 503, statuses
            assert proxy.register(BOB_PHONE, "bob", PASSWORD) == 503
        finally:
            proxy.close()
        assert f"failed sign-ins as 'alice' from {UNTRUSTED}: " in server.log
