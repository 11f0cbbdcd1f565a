"""The server's per-host limits, against the real process: a flood from many ports of one host is one source, and
another host is served meanwhile; a password guesser is held back, and the user on another host signs in at once.
SIPp (Debian package sip-tester) floods from one UDP socket per call (`-t un`), 64 of them; the other host is a
plain socket bound to 127.0.0.2."""

from __future__ import annotations

import itertools
import re
import selectors
import socket
import time
from pathlib import Path

import pytest

from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, StreamParser, parse_message
from tests.peers.sipp import start_sipp
from tests.peers.smartbook_server import DOMAIN, PASSWORD, run_smartbook_server

WAIT = 10.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
_serial = itertools.count()


class UdpClient:
    """One UDP socket bound to `host`, sending OPTIONS to the server and reading the answers."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(WAIT)
        self.local: tuple[str, int] = self.sock.getsockname()

    def options(self) -> SipResponse:
        number = next(_serial)
        branch = f"z9hG4bK-limits{number}"
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:other@{self.local[0]}>;tag=o{number}"),
                ("To", f"<sip:{DOMAIN}>"),
                ("Call-ID", f"limits-{number}@{self.local[0]}"),
                ("CSeq", "1 OPTIONS"),
            ]
        )
        self.sock.sendto(SipRequest("OPTIONS", f"sip:{DOMAIN}", headers).to_bytes(), self.target)
        while True:
            message = parse_message(self.sock.recvfrom(65_535)[0])
            if isinstance(message, SipResponse) and message.via_branch == branch:
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.mark.peer("sipp")
def test_a_flood_from_64_ports_of_one_host_gets_503_while_another_host_is_served(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "20") as server:
        # 600 OPTIONS at 300 a second, each call from its own socket (64 sockets in turn), against 20 a second.
        flood = start_sipp(
            "options_flood.xml",
            server.sip,
            tmp_path / "sipp",
            "-r",
            "300",
            "-m",
            "600",
            "-nr",
            "-max_socket",
            "64",
            transport="un",
        )
        other = UdpClient("127.0.0.2", server.sip)
        served_meanwhile = 0
        try:
            while flood.running:
                response = other.options()
                assert response.status == 200, f"{response.status} {response.reason}"
                served_meanwhile += 1
                time.sleep(0.1)
        finally:
            other.close()
            flood.wait()
        assert served_meanwhile >= 1
        statuses = flood.statuses()
        assert set(statuses) <= {200, 503}, statuses
        assert 503 in statuses, f"no 503 among {len(statuses)} answers to 600 requests:\n{flood.stdout[-3000:]}"
        # 20 a second in bursts of 40, over the flood's two seconds and its tail: far fewer than were sent.
        assert statuses.count(200) < 200, statuses.count(200)
        # One refusal a second for the whole host, whichever of its ports sent the request over the limit.
        refused_ports = set(re.findall(r"rate-limiting UDP 127\.0\.0\.1:(\d+)", server.log))
        assert len(refused_ports) >= 2, server.log[-3000:]


def options_bytes(local: tuple[str, int], number: int) -> bytes:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/TCP {local[0]}:{local[1]};branch=z9hG4bK-tcp{number}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:flood@{local[0]}>;tag=t{number}"),
            ("To", f"<sip:{DOMAIN}>"),
            ("Call-ID", f"tcp-flood-{number}@{local[0]}"),
            ("CSeq", "1 OPTIONS"),
        ]
    )
    return SipRequest("OPTIONS", f"sip:{DOMAIN}", headers).to_bytes()


def answers_until_quiet(connections: list[socket.socket]) -> list[int]:
    """The statuses of the responses that come on `connections` until none has come for a second (what is dropped
    never comes)."""
    parsers = {connection: StreamParser() for connection in connections}
    statuses: list[int] = []
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            selector.register(connection, selectors.EVENT_READ)
        while ready := selector.select(timeout=1.0):
            for key, _ in ready:
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                data = connection.recv(65_536)
                if not data:
                    selector.unregister(connection)
                statuses += [m.status for m in parsers[connection].feed(data) if isinstance(m, SipResponse)]
    return statuses


def test_a_flood_over_64_tcp_connections_of_one_host_gets_503_while_another_host_is_served(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", "--rate-limit", "20") as server:
        connections = [socket.create_connection(server.sip, timeout=WAIT) for _ in range(64)]
        try:
            for round_ in range(4):  # 256 requests at once against 20 a second in bursts of 40
                for index, connection in enumerate(connections):
                    connection.sendall(options_bytes(connection.getsockname(), round_ * 64 + index))
            statuses = answers_until_quiet(connections)
            other = UdpClient("127.0.0.2", server.sip)
            try:
                assert other.options().status == 200
            finally:
                other.close()
        finally:
            for connection in connections:
                connection.close()
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses, statuses
    assert statuses.count(200) <= 40 + 20 * 2, statuses.count(200)  # the burst, and what the reading time refilled


def register(client: UdpClient, user: str, password: str) -> SipResponse:
    """A REGISTER as `user`, then again answering the server's challenge with `password`: the second answer."""

    def send(authorization: str | None) -> SipResponse:
        number = next(_serial)
        branch = f"z9hG4bK-limits{number}"
        host, port = client.local
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {host}:{port};branch={branch};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{user}@{DOMAIN}>;tag=r{number}"),
                ("To", f"<sip:{user}@{DOMAIN}>"),
                ("Call-ID", f"limits-{number}@{host}"),
                ("CSeq", "1 REGISTER"),
                ("Contact", f"<sip:{user}@{host}:{port}>"),
                ("Expires", "60"),
            ]
        )
        if authorization is not None:
            headers.add("Authorization", authorization)
        client.sock.sendto(SipRequest("REGISTER", f"sip:{DOMAIN}", headers).to_bytes(), client.target)
        while True:
            message = parse_message(client.sock.recvfrom(65_535)[0])
            if isinstance(message, SipResponse) and message.via_branch == branch:
                return message

    challenge = send(None)
    assert challenge.status == 401, f"{challenge.status} {challenge.reason}"
    value = DigestSession(Credentials(user, password)).answer(
        challenge.headers.get_all("WWW-Authenticate"), method="REGISTER", uri=f"sip:{DOMAIN}", cnonce="c0ffee"
    )
    return send(value)


def test_fifty_wrong_passwords_are_held_back_while_the_user_elsewhere_signs_in_at_once(tmp_path: Path) -> None:
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        guesser, user = UdpClient("127.0.0.1", server.sip), UdpClient("127.0.0.2", server.sip)
        try:
            answers = [register(guesser, "alice", "wrong battery staple") for _ in range(50)]
            statuses = [answer.status for answer in answers]
            assert statuses[:10] == [401] * 10, statuses
            assert statuses.count(401) <= 12, statuses  # ten, then at most one a doubling wait (1 s, 2 s)
            held = [answer for answer in answers if answer.status == 503]
            assert len(held) >= 38, statuses
            assert all(int(answer.headers.get("Retry-After") or 0) >= 1 for answer in held), held
            assert register(user, "alice", PASSWORD).status == 200
            assert register(guesser, "alice", PASSWORD).status == 503  # even the right password, unchecked
        finally:
            guesser.close()
            user.close()
        assert "wrong battery staple" not in server.log
        assert "failed sign-ins as 'alice' from 127.0.0.1" in server.log
