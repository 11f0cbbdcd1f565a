"""The asyncio side of the SIP core: sockets and connections that move `SipMessage` values.

`open_flow("udp" | "tcp" | "tls", (host, port), on_message=...)` gives a `Flow` to the user agent's one server
(outbound proxy, registrar, resource list server). Errors are `TransportError` and its subclasses, each with a
one-line message a person can act on. `start_listener(host, port, on_message=...)` is the server side: UDP and TCP
on one port (and TLS), each message with the `Peer` to answer, or to send a NOTIFY to. Everything runs on the event
loop thread (no thread executors).
"""

from .listener import Listener, ListenFailed, OnDisconnect, OnPeerMessage, Peer, PeerGone, start_listener
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
    describe_message,
    error_reason,
    feed_stream,
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
    "ListenFailed",
    "Listener",
    "MessageTooLarge",
    "OnDisconnect",
    "OnLost",
    "OnMessage",
    "OnPeerMessage",
    "Peer",
    "PeerGone",
    "StreamFlow",
    "TlsError",
    "TransportError",
    "UdpFlow",
    "describe_message",
    "error_reason",
    "feed_stream",
    "format_address",
    "open_flow",
    "start_listener",
]
