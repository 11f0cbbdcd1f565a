"""Who is at the other end of a message, as values the sans-IO parts (the server's core, its proxy) hold and the
asyncio layer (`sip.aio`) fills in: a transport, an address, and for TCP and TLS the connection."""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]


def format_address(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """`host:port`, with brackets around an IPv6 host (`[::1]:5060`)."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from, and where `Listener.send` sends back to."""

    transport: str
    """"UDP", "TCP" or "TLS", as Via writes it."""
    address: Address
    """The remote (host, port) as the socket sees it (the `received`/`rport` of the top Via)."""
    connection: int | None = None
    """For TCP and TLS, an opaque id of the connection the message came in on; None for UDP."""

    def __str__(self) -> str:
        shown = f"{self.transport} {format_address(self.address)}"
        return shown if self.connection is None else f"{shown} (connection {self.connection})"
