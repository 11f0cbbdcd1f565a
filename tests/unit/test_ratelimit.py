"""The request rate limit counts a host, not a port or a connection: the sans-IO core with its clock held still,
so that only the count of requests decides."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from smartbook_tui.server import ratelimit
from smartbook_tui.server.core import PresenceServer, ServerConfig
from smartbook_tui.server.ratelimit import SourceLimiter
from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message

DOMAIN = "example.org"
VIA = {"UDP": "192.0.2.1:5070", "TCP": "192.0.2.1:5070"}
RATE = 5.0  # a second, in bursts of 10: at one instant, 10 requests are served and the 11th refused

_serial = itertools.count()


@dataclass(frozen=True)
class Peer:
    transport: str
    address: tuple[str, int]
    connection: int | None = None


@pytest.fixture
def server(tmp_path) -> Iterator[PresenceServer]:
    with Store.open(tmp_path / "server.sqlite3") as store:
        store.add_account("alice", DOMAIN, "open sesame")
        yield PresenceServer(
            ServerConfig(DOMAIN, VIA, rate_limit=RATE), store, secret=b"k" * 32, token=lambda: f"t{next(_serial)}"
        )


def request(method: str, peer: Peer) -> SipRequest:
    number = next(_serial)
    host, port = peer.address
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return SipRequest(
        method,
        f"sip:alice@{DOMAIN}" if method == "MESSAGE" else f"sip:{DOMAIN}",
        Headers(
            [
                ("Via", f"SIP/2.0/{peer.transport} {sent_by};branch=z9hG4bK-limit{number}"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:someone@elsewhere.example>;tag=f{number}"),
                ("To", f"<sip:alice@{DOMAIN}>"),
                ("Call-ID", f"limit-{number}"),
                ("CSeq", f"1 {method}"),
            ]
        ),
        b"hello" if method == "MESSAGE" else b"",
    )


def statuses(server: PresenceServer, peers: list[Peer], method: str = "OPTIONS") -> list[int | None]:
    """The status each peer's one request gets, in turn, all at the same instant; None for no answer."""
    found: list[int | None] = []
    for peer in peers:
        answers = [parse_message(send.data) for send in server.receive(request(method, peer), peer, 0.0)]
        finals = [a.status for a in answers if isinstance(a, SipResponse) and a.status >= 200 and send_to(a, peer)]
        found.append(finals[0] if finals else None)
    return found


def send_to(response: SipResponse, peer: Peer) -> bool:
    return str(peer.address[1]) in (response.headers.get("Via") or "")


def ports(host: str, count: int, transport: str = "UDP") -> list[Peer]:
    connection = (lambda n: n) if transport != "UDP" else (lambda n: None)
    return [Peer(transport, (host, 40_000 + n), connection(n)) for n in range(count)]


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_64_ports_of_one_host_share_one_limit(server: PresenceServer, transport: str) -> None:
    got = statuses(server, ports("198.51.100.7", 64, transport))
    assert got == [200] * 10 + [503] + [None] * 53
    assert statuses(server, ports("198.51.100.8", 1, transport)) == [200]


def test_an_ipv6_host_counts_as_its_64(server: PresenceServer) -> None:
    hosts = [f"2001:db8:0:1::{n:x}" for n in range(1, 12)]
    got = statuses(server, [Peer("UDP", (host, 5060)) for host in hosts])
    assert got == [200] * 10 + [503]
    assert statuses(server, [Peer("UDP", ("2001:db8:0:2::1", 5060))]) == [200]


def test_proxied_requests_from_many_ports_share_the_limit(server: PresenceServer) -> None:
    got = statuses(server, ports("198.51.100.7", 64), method="MESSAGE")
    assert got[10] == 503
    assert 503 not in got[:10], got
    assert set(got[11:]) == {None}, got


def test_the_table_of_sources_stays_bounded_forgetting_the_least_recently_heard(monkeypatch):
    monkeypatch.setattr(ratelimit, "_MAX_SOURCES", 3)
    limiter = SourceLimiter(1.0)
    for _ in range(2):  # the flooder empties its bucket...
        limiter.admit("flooder", 0.0)
    assert limiter.admit("flooder", 0.0) == "refuse"
    for number in range(1_000):  # ...and keeps being heard from while many others pass by
        limiter.admit(f"198.51.100.{number % 250}/{number}", 0.0)
        limiter.admit("flooder", 0.0)
    assert len(limiter._buckets) == 3
    assert limiter.admit("flooder", 0.0) == "drop"  # still remembered: its bucket is still empty
