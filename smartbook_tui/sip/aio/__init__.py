"""The asyncio side of the SIP core: sockets and connections that move `SipMessage` values.

`open_flow("udp" | "tcp" | "tls", (host, port), on_message=...)` gives a `Flow` to the user agent's one server
(outbound proxy, registrar, resource list server). Errors are `TransportError` and its subclasses, each with a
one-line message a person can act on. Everything runs on the event loop thread (no thread executors).
"""

from .transport import (
    DEFAULT_MAX_WRITE_BUFFER,
    MAX_UDP_PAYLOAD_V4,
    MAX_UDP_PAYLOAD_V6,
    Address,
    ConnectFailed,
    ConnectionLost,
    Flow,
    MessageTooLarge,
    OnLost,
    OnMessage,
    StreamFlow,
    TlsError,
    TransportError,
    UdpFlow,
    format_address,
    open_flow,
)

__all__ = [
    "DEFAULT_MAX_WRITE_BUFFER",
    "MAX_UDP_PAYLOAD_V4",
    "MAX_UDP_PAYLOAD_V6",
    "Address",
    "ConnectFailed",
    "ConnectionLost",
    "Flow",
    "MessageTooLarge",
    "OnLost",
    "OnMessage",
    "StreamFlow",
    "TlsError",
    "TransportError",
    "UdpFlow",
    "format_address",
    "open_flow",
]
