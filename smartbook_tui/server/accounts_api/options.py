"""What `--http` and the options beside it ask of the account API (`smartbook server run`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from smartbook_tui.server.sms import DEFAULT_BODY

from .codes import CodePolicy

__all__ = ["MAX_API_CONNECTIONS", "SMS_GATEWAYS", "ApiOptions", "checked_proxies"]

SMS_GATEWAYS = ("console", "http")
MAX_API_CONNECTIONS = 1_000  # open from everyone: each is a file descriptor of the presence server's process


@dataclass(frozen=True, slots=True)
class ApiOptions:
    host: str
    port: int
    codes: CodePolicy = field(default_factory=CodePolicy)
    region: str = "FR"  # of numbers written nationally
    sms_countries: frozenset[str] | None = None  # None: every region
    api_rate: float = 30.0  # requests a minute from one address (0: no limit)
    api_global_rate: float = 100.0  # requests a second from everyone (0: no limit)
    sms: str = "console"
    sms_outbox: Path | None = None
    sms_url: str | None = None
    sms_headers: tuple[tuple[str, str], ...] = ()
    sms_body: str = DEFAULT_BODY
    # reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the client they name is the one
    # limited, and they are not held to the per-address connection cap
    trusted_proxies: tuple[str, ...] = ()
    # HTTPS with the server's certificate chain and key (those of SIP over TLS); both are needed
    https: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None


def checked_proxies(text: str) -> tuple[str, ...]:
    """The addresses or networks of a comma-separated list, each checked; ValueError (one line) for a wrong one."""
    proxies = tuple(part.strip() for part in text.split(",") if part.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy)
        except ValueError:
            raise ValueError(
                f"{proxy[:60]!r} is not an IP address or network (such as 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return proxies
