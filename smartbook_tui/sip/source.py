"""Whom a limit counts a peer as: the server's limits (connections, requests, failed authentications) are per
address, not per address and port, or one host with many ports would be many peers. An IPv6 host usually holds a
whole /64, so it counts as one."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

__all__ = ["source_key"]


@lru_cache(maxsize=65_536)
def source_key(host: str) -> str:
    """The IPv4 address (an IPv4-mapped IPv6 one included), or the IPv6 /64 network, that `host` belongs to; a text
    that is not an address (a name, in a test) is its own key."""
    try:
        address = ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
