"""Whom the server's per-address rules count a request as: the request rate limit, the failed sign-in backoff and
the nonce binding, the call proxy's limits, the device a PUBLISH comes from.

Usually that is the peer, the address the request came from. Behind a SIP proxy (nodes behind Kamailio), every
request comes from the proxy, and those rules would lump all its clients together; so for a proxy the operator
trusts (`--trusted-proxy`) the client is read from the Via the proxy kept below its own: its `received`, the
address the proxy heard it from (RFC 3261 18.2.1 makes the proxy add it whenever the sent-by host is not that
address), else its sent-by. A request the proxy sent itself (its OPTIONS probes) has no Via below the proxy's and
counts as the proxy's, as does one whose client Via does not read or names no IP address (a proxy adds `received`
to a sent-by that is a name). No other sender's Via is read: a client could write any address there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from smartbook_tui.sip.message import SipRequest
from smartbook_tui.sip.peer import Address, format_address
from smartbook_tui.sip.uri import SipParseError, split_params

__all__ = ["canonical_address", "is_trusted", "relayed_client", "trusted_addresses", "via_proxy"]

_DEFAULT_PORTS = {"TLS": 5061}  # else 5060


@lru_cache(maxsize=4_096)
def canonical_address(text: str) -> str | None:
    """`text` as one spelling of its IP address (brackets and an IPv6 zone dropped, an IPv4-mapped IPv6 address as
    the IPv4 one), or None when it is not an IP address."""
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def trusted_addresses(values: Iterable[str]) -> frozenset[str]:
    """The proxies' addresses given, canonical; ValueError (one line) for one that is not an IP address."""
    trusted = set()
    for value in values:
        address = canonical_address(value)
        if address is None:
            raise ValueError(f"{value[:60]!r} is not an IP address (such as 10.0.0.5 or ::1)")
        trusted.add(address)
    return frozenset(trusted)


def is_trusted(peer: Address, trusted: frozenset[str]) -> bool:
    """Whether `peer` is one of the trusted proxies."""
    return bool(trusted) and canonical_address(peer[0]) in trusted


def relayed_client(request: SipRequest, peer: Address, trusted: frozenset[str]) -> Address | None:
    """The client a trusted proxy relayed `request` for, as (host, port) from the Via below the proxy's own; None
    when `peer` is no trusted proxy, or the request names no client (then the peer is whom it counts as)."""
    if not is_trusted(peer, trusted):
        return None
    vias = request.headers.get_all("Via")
    if len(vias) < 2:
        return None  # the proxy's own request
    try:
        sent, params = split_params(vias[1])
    except SipParseError:
        return None
    words = sent.split()
    sent_by = _host_port(words[-1]) if len(words) >= 2 else None
    if sent_by is None:
        return None
    named = {name.lower(): value for name, value in reversed(params)}  # the first of a name wins
    received = named.get("received")
    client = canonical_address(received if received is not None else sent_by[0])
    if client is None:
        return None
    port = sent_by[1]
    rport = named.get("rport")
    if received is not None and rport is not None and rport.isdigit() and int(rport) < 65_536:
        port = int(rport)  # where the proxy heard the client from
    if port is None:
        transport = "".join(words[:-1]).rpartition("/")[2].upper()
        port = _DEFAULT_PORTS.get(transport, 5060)
    return client, port


def via_proxy(peer: object, client: Address | None) -> str:
    """Whom a log line names: the peer, or the client and the proxy it came through."""
    return str(peer) if client is None else f"{format_address(client)} via {peer}"


def _host_port(sent_by: str) -> tuple[str, int | None] | None:
    """A sent-by's host and its port if written (an IPv6 host in brackets); None when the port does not read."""
    if sent_by.startswith("["):
        host, closed, rest = sent_by[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    elif sent_by.count(":") == 1:
        host, _, port = sent_by.partition(":")
    else:
        host, port = sent_by, ""  # no port, or an IPv6 host written without brackets
    if not port:
        return host, None
    if not port.isdigit() or int(port) >= 65_536:
        return None
    return host, int(port)
