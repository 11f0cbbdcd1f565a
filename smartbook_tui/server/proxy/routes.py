"""Where a proxied request goes, sans-IO: the Route entries naming this server (popped), whether a Request-URI is
one of the server's users, and the peer a URI is sent to."""

from __future__ import annotations

import ipaddress

from smartbook_tui.server.refusal import Refusal
from smartbook_tui.server.registrar import Registrar
from smartbook_tui.server.request_checks import request_uri
from smartbook_tui.server.requests import entry_key
from smartbook_tui.sip.peer import Peer
from smartbook_tui.sip.uri import SipParseError, SipUri, TelUri, parse_name_addr

__all__ = ["Addresses", "peer_for", "record_route", "request_uri", "user_key"]


class Addresses:
    """The names this server answers to: its domain, and the host:port it writes in Via for each transport."""

    def __init__(self, domain: str, via: dict[str, str]) -> None:
        self.domain = domain.lower()
        self.via = via
        self._hostports = {value.lower() for value in via.values()}

    def is_ours(self, uri: SipUri) -> bool:
        """The domain (without a port, or with the server's), or the server's own host:port."""
        host = uri.host.lower()
        shown = f"[{host}]" if ":" in host else host
        if uri.port is not None and f"{shown}:{uri.port}" in self._hostports:
            return True
        return host == self.domain and uri.port is None

    def split_routes(self, values: list[str]) -> list[str]:
        """The Route values left once the leading ones naming this server are taken off (one, or two when it
        record-routed between transports). Refusal(400) for a Route that does not read."""
        left = list(values)
        while left:
            try:
                uri = parse_name_addr(left[0]).uri
            except SipParseError as error:
                raise Refusal(400, f"Bad Request (Route: {error})") from None
            if not (isinstance(uri, SipUri) and self.is_ours(uri)):
                break
            left.pop(0)
        return left


def record_route(via: str, transport: str) -> str:
    return f"<sip:{via};transport={transport.lower()};lr>"


def user_key(uri: SipUri | TelUri, addresses: Addresses) -> str | None:
    """What the Request-URI names among the server's users: a username, an E.164 number (`sip:+E164@domain;
    user=phone`, a number as user part, or `tel:+E164`), or None when it is not addressed to this server."""
    if isinstance(uri, TelUri):
        return entry_key(str(uri), addresses.domain)
    if uri.user is None or not addresses.is_ours(uri):
        return None
    return entry_key(str(uri.without_params("transport")), uri.host)


def peer_for(uri: SipUri | TelUri, registrar: Registrar, now: float) -> Peer:
    """Where a request addressed to `uri` (a device's contact, a next hop's Route) is sent: where the device
    registered from when it did (its connection, its NAT mapping), else the UDP address the URI writes. The server
    opens no connections and resolves no names: other URIs are refused (502)."""
    if not isinstance(uri, SipUri):
        raise Refusal(502, f"Bad Gateway (cannot send to {str(uri)[:80]})")
    binding = registrar.binding_at(uri, now)
    if binding is not None and isinstance(binding.source, Peer):
        return binding.source
    transport = (uri.param("transport") or "udp").lower()
    try:
        ipaddress.ip_address(uri.host)
    except ValueError:
        raise Refusal(502, f"Bad Gateway (the server resolves no host names: {uri.host[:60]})") from None
    if transport != "udp" or uri.scheme == "sips":
        raise Refusal(502, f"Bad Gateway (no {transport.upper()} connection to {uri.host[:60]})")
    return Peer("UDP", (uri.host, uri.port or 5060))
