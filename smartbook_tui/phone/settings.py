"""What the phone engine needs to know of the account (no pjsua2 here: the session builds it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.sip.aio import format_address
from smartbook_tui.sip.uri import SipParseError, parse_sip_uri

from .rules import Where

TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True, slots=True)
class PhoneAccount:
    sip_uri: str  # the address of record, sip:user@domain
    username: str  # for digest authentication
    password: str
    proxy: tuple[str, int] | None  # every request goes through it when given
    transport: str  # udp, tcp or tls
    ca: Path | None = None  # the CA file a TLS server's certificate is checked against
    instance: str | None = None  # this device's RFC 5626 instance (urn:uuid:...); None: pjsua's, from the host name

    def problem(self) -> str | None:
        """What makes this account unusable, in one line; None when it can be tried."""
        if self.transport not in TRANSPORTS:
            return f"unknown transport {self.transport!r}; use udp, tcp or tls"
        try:
            uri = parse_sip_uri(self.sip_uri)
        except SipParseError as exc:
            return f"{self.sip_uri!r} is not a SIP address: {exc}"
        if not uri.user:
            return f"{self.sip_uri!r} names no user: write it sip:USER@DOMAIN"
        if self.transport == "tls" and self.ca is not None and not self.ca.is_file():
            return f"the CA file {self.ca} cannot be read"
        return None

    def __repr__(self) -> str:  # never the password
        return f"PhoneAccount({self.sip_uri!r}, proxy={self.proxy!r}, transport={self.transport!r})"

    @property
    def domain(self) -> str:
        uri = parse_sip_uri(self.sip_uri)
        return uri.host if uri.port is None else f"{uri.host}:{uri.port}"

    @property
    def where(self) -> Where:
        server = format_address(self.proxy) if self.proxy else self.domain
        return Where(self.username, parse_sip_uri(self.sip_uri).host, server)

    def route(self) -> tuple[str, str | None]:
        """The registrar's URI, and the proxy's (loose routing) when there is one: every request goes there."""
        parameter = "" if self.transport == "udp" else f";transport={self.transport}"
        registrar = f"sip:{self.domain}{parameter}"
        if self.proxy is None:
            return registrar, None
        return registrar, f"sip:{format_address(self.proxy)}{parameter};lr"
