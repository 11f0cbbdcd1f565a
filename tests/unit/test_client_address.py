"""Whom the server counts a request as: the client named by the Via below a trusted proxy's, else the peer."""

from __future__ import annotations

import pytest

from smartbook_tui.server.client_address import relayed_client, trusted_addresses, via_proxy
from smartbook_tui.sip.message import Headers, SipRequest
from smartbook_tui.sip.peer import Peer

PROXY = ("10.0.0.5", 5060)
TRUSTED = trusted_addresses(["10.0.0.5", "[2001:db8::5]"])
PROXY_VIA = "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKproxy"


def request(*vias: str) -> SipRequest:
    headers = Headers([("Via", via) for via in vias])
    headers.add("CSeq", "1 OPTIONS")
    return SipRequest("OPTIONS", "sip:example.org", headers)


def test_a_trusted_proxys_client_is_the_received_address_of_the_via_below_its_own() -> None:
    relayed = request(PROXY_VIA, "SIP/2.0/UDP 192.168.1.20:5062;rport=40123;received=203.0.113.7;branch=z9hG4bKa")
    assert relayed_client(relayed, PROXY, TRUSTED) == ("203.0.113.7", 40123)


def test_without_received_the_client_is_the_sent_by_host_and_port() -> None:
    assert relayed_client(request(PROXY_VIA, "SIP/2.0/TCP 203.0.113.8:5070;branch=z9hG4bKb"), PROXY, TRUSTED) == (
        "203.0.113.8",
        5070,
    )
    assert relayed_client(request(PROXY_VIA, "SIP/2.0/TLS 203.0.113.8;branch=z9hG4bKb"), PROXY, TRUSTED) == (
        "203.0.113.8",
        5061,
    )


def test_the_via_below_may_share_the_proxys_header_line() -> None:
    relayed = request(f"{PROXY_VIA}, SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKc")
    assert relayed_client(relayed, PROXY, TRUSTED) == ("203.0.113.9", 5060)


def test_ipv6_clients_and_proxies_are_read_with_or_without_brackets() -> None:
    proxy = ("2001:db8:0:0::5", 5060)  # another spelling of a trusted address
    via = "SIP/2.0/UDP [2001:db8::5];branch=z9hG4bKp"
    assert relayed_client(request(via, "SIP/2.0/UDP [2001:db8:1::7]:5080;branch=z9hG4bKd"), proxy, TRUSTED) == (
        "2001:db8:1::7",
        5080,
    )
    received = "SIP/2.0/UDP [fd00::7]:5080;received=[2001:db8:1::8];branch=z9hG4bKd"
    assert relayed_client(request(via, received), proxy, TRUSTED) == ("2001:db8:1::8", 5080)
    bare = "SIP/2.0/UDP [fd00::7]:5080;received=2001:db8:1::9;rport=1;branch=z9hG4bKd"
    assert relayed_client(request(via, bare), proxy, TRUSTED) == ("2001:db8:1::9", 1)


def test_an_ipv4_mapped_peer_is_the_trusted_ipv4_proxy() -> None:
    relayed = request(PROXY_VIA, "SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bKe")
    assert relayed_client(relayed, ("::ffff:10.0.0.5", 5060), TRUSTED) == ("203.0.113.7", 5060)


def test_an_untrusted_peers_vias_are_never_read() -> None:
    forged = request(PROXY_VIA, "SIP/2.0/UDP 203.0.113.7:5060;received=203.0.113.7;branch=z9hG4bKf")
    assert relayed_client(forged, ("10.0.0.6", 5060), TRUSTED) is None
    assert relayed_client(forged, PROXY, frozenset()) is None


def test_the_proxys_own_request_counts_as_the_proxys() -> None:
    assert relayed_client(request(PROXY_VIA), PROXY, TRUSTED) is None


@pytest.mark.parametrize(
    "below",
    [
        "SIP/2.0/UDP",  # no sent-by
        "SIP/2.0/UDP proxy.example.org:5060;branch=z9hG4bKg",  # a name, not an address
        "SIP/2.0/UDP 203.0.113.7:50x;branch=z9hG4bKg",  # a port that does not read
        "SIP/2.0/UDP 203.0.113.7:5060;received=somewhere;branch=z9hG4bKg",  # received is no address
        'SIP/2.0/UDP 203.0.113.7:5060;branch="z9hG4bKg',  # an unclosed quote
        "SIP/2.0/UDP [2001:db8::7:5060;branch=z9hG4bKg",  # an unclosed bracket
    ],
)
def test_a_client_via_that_does_not_read_counts_as_the_proxy(below: str) -> None:
    assert relayed_client(request(PROXY_VIA, below), PROXY, TRUSTED) is None


def test_log_lines_name_the_client_and_the_proxy() -> None:
    peer = Peer("UDP", PROXY)
    assert via_proxy(peer, None) == "UDP 10.0.0.5:5060"
    assert via_proxy(peer, ("2001:db8::7", 5060)) == "[2001:db8::7]:5060 via UDP 10.0.0.5:5060"


def test_a_trusted_proxy_is_an_ip_address() -> None:
    with pytest.raises(ValueError, match=r"'kamailio\.example\.org'"):
        trusted_addresses(["10.0.0.5", "kamailio.example.org"])
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/24'"):
        trusted_addresses(["10.0.0.0/24"])
