"""SIP over UDP, TCP and TLS with asyncio: one *flow* between this user agent and its one server.

A flow is a UDP socket or a TCP/TLS connection to the outbound proxy / registrar / resource list server. It moves
`SipMessage` values: `send` writes one to the server, and every message that arrives goes to the `on_message`
callback with its source address. Framing and parsing are the sans-IO codec's (`parse_message` for datagrams,
`StreamParser` for streams); this module only owns sockets.

* Everything runs on the event loop thread, from protocol callbacks: no tasks, no thread executors (pjsua2 aborts
  on calls, and on garbage collection of its objects, from other threads: wire-notes section 4). A host name for
  the server is therefore resolved with a blocking lookup on the loop thread; pass an address to avoid it.
* UDP: one unconnected socket on an ephemeral port, receiving from anyone (NOTIFYs come from the server's address,
  responses may come from elsewhere). Keep-alive CRLFs are ignored; datagrams that are not SIP are dropped with a
  debug log line. A message over the datagram size is refused with `MessageTooLarge`: it needs TCP or TLS.
* TCP and TLS: one connection, which also carries the requests the server sends back (NOTIFYs), so `local` is the
  connection's own address (for Contact and Via sent-by). Writes go to the asyncio transport's buffer, which the
  loop drains as the peer reads; when the peer stops reading and the buffer passes `max_write_buffer` bytes, the
  flow is closed with `ConnectionLost`. Bytes that break the stream's framing close the connection (a stream
  cannot resynchronise after them).
* `on_lost` is called once when a flow ends by itself, never after `close()`: with None for an orderly close by
  the server, or with a `ConnectionLost` saying what happened.
* Exceptions raised by the callbacks are logged and do not end the flow.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Callable

from smartbook_tui.sip.message import (
    DEFAULT_MAX_BODY,
    SipMessage,
    SipParseError,
    SipRequest,
    StreamParser,
    is_keepalive,
    parse_message,
)
from smartbook_tui.sip.peer import Address, format_address

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
    "describe_message",
    "error_reason",
    "feed_stream",
    "format_address",
    "open_flow",
]

log = logging.getLogger(__name__)

OnMessage = Callable[[SipMessage, Address], None]
OnLost = Callable[[Exception | None], None]

MAX_UDP_PAYLOAD_V4 = 65_507  # 65,535 - 20 (IPv4 header) - 8 (UDP header)
MAX_UDP_PAYLOAD_V6 = 65_527  # 65,535 - 8 (the IPv6 payload length does not count its own header)
DEFAULT_MAX_WRITE_BUFFER = 1024 * 1024
KEEPALIVE = b"\r\n\r\n"  # RFC 5626 section 3.5.1 (double CRLF "ping")

_TRANSPORTS = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}
_TLS_SHUTDOWN_TIMEOUT = 5.0


# ----------------------------------------------------------------------------------------------------- errors


class TransportError(Exception):
    """Base of this module's errors; `str()` is one line a person can act on."""


class ConnectFailed(TransportError):
    """The flow could not be opened: host name not resolved, connection refused or unanswered, no route."""


class TlsError(ConnectFailed):
    """The TLS handshake failed, most often because the server's certificate could not be verified. Retrying does
    not help: the configuration (CA, host name) has to change."""


class MessageTooLarge(TransportError):
    """The message does not fit the flow (a UDP datagram): send it over TCP or TLS."""


class ConnectionLost(TransportError):
    """An open flow ended: reset by the peer, data that is not SIP, a peer that stopped reading, or a send on a
    closed flow."""


# ---------------------------------------------------------------------------------------------------- helpers


def _reason(exc: BaseException) -> str:
    """What an OS or asyncio error means, in lower case, without the call that failed."""
    if isinstance(exc, TimeoutError) and not getattr(exc, "errno", None):
        return "timed out"
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number > 0:
        text = os.strerror(number)
    else:
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())  # one line
    return text[:1].lower() + text[1:]


def _describe(message: SipMessage) -> str:
    return f"{message.method} request" if isinstance(message, SipRequest) else f"{message.status} response"


def error_reason(exc: BaseException) -> str:
    """What an OS, asyncio or TLS error means, on one line in lower case (`connection refused`), for a message."""
    return _reason(exc)


def describe_message(message: SipMessage) -> str:
    """`OPTIONS request` or `200 response`, for a message."""
    return _describe(message)


def feed_stream(parser: StreamParser, data: bytes) -> tuple[list[SipMessage], SipParseError | None]:
    """Frame bytes that arrived on a TCP or TLS connection: the messages they complete, in order, and the error that
    broke the stream's framing, or None. After an error, handle the messages returned with it, then close the
    connection (a stream cannot resynchronise). The error is the parser's own (a `BodyOverLimit` carries the head
    of the message refused)."""
    try:
        messages = parser.feed(data)
    except SipParseError:
        messages = []
    return messages, parser.error


def _resolve(host: str, port: int, kind: socket.SocketKind, transport: str) -> tuple[socket.AddressFamily, tuple]:
    """The family and socket address of the server. An address is read without any lookup; a name is resolved
    with the system resolver, blocking the loop thread for that long (see the module docstring)."""
    shown = format_address((host, port))
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        try:
            infos = socket.getaddrinfo(host, port, type=kind)
        except (socket.gaierror, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConnectFailed(
                f"cannot reach {shown} over {transport}: cannot resolve the host name {host!r} ({reason})"
            ) from None
    if not infos:
        raise ConnectFailed(f"cannot reach {shown} over {transport}: the host name {host!r} has no address")
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _local_sockaddr(local_host: str, family: socket.AddressFamily, kind: socket.SocketKind) -> tuple:
    """The socket address (ephemeral port) for a local address given as an address, never a name."""
    try:
        return socket.getaddrinfo(local_host, 0, family, kind, flags=socket.AI_NUMERICHOST)[0][4]
    except socket.gaierror:
        family_name = "IPv6" if family == socket.AF_INET6 else "IPv4"
        raise ValueError(f"the local address {local_host!r} is not an {family_name} address like the server") from None


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_unspecified
    except ValueError:
        return False


def _source_address(family: socket.AddressFamily, sockaddr: tuple, transport: str) -> tuple:
    """The local address the system would send from to reach `sockaddr` (a connected UDP socket sends nothing)."""
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect(sockaddr)
        return probe.getsockname()
    except OSError as exc:
        raise ConnectFailed(f"cannot reach {format_address(sockaddr)} over {transport}: {_reason(exc)}") from None
    finally:
        probe.close()


# ------------------------------------------------------------------------------------------------------ flows


class Flow:
    """One UDP socket or TCP/TLS connection to the server. Made by `open_flow`; use it from the loop thread."""

    transport: str
    """"UDP", "TCP" or "TLS", as Via writes it."""
    local: Address
    """The address to write in Via sent-by and Contact: the bound UDP socket's, or the connection's own."""
    server: Address
    """The server's address as the socket sees it: the source address `on_message` gives for its messages."""

    def __init__(self, transport: str, on_message: OnMessage, on_lost: OnLost | None) -> None:
        self.transport = transport
        self.local = ("", 0)
        self.server = ("", 0)
        self._on_message = on_message
        self._on_lost = on_lost
        self._open = False  # set once open_flow hands the flow out; on_lost only fires after that
        self._closing = False
        self._closed_by_user = False
        self._lost_error: ConnectionLost | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        route = f"{format_address(self.local)} -> {format_address(self.server)}"
        return f"<{type(self).__name__} {self.transport} {route} {state}>"

    @property
    def closed(self) -> bool:
        """Whether `close()` was called or the flow was lost; a closed flow sends nothing."""
        return self._closing

    def send(self, message: SipMessage) -> None:
        """Send a message to the server. Raises `TransportError` (a subclass) when it cannot go."""
        self.send_to(message, self.server)

    def send_to(self, message: SipMessage, address: Address) -> None:
        """Send a message to `address`, such as the source of a request being answered."""
        raise NotImplementedError

    def send_bytes(self, data: bytes) -> None:
        """Send a message already serialised to the server (a transaction's retransmission keeps its bytes)."""
        self._check_size(data, "message")
        self._write(data, self.server)

    def _check_size(self, data: bytes, what: str) -> None:
        """Nothing to check on a stream; a datagram has a size limit."""

    def send_keepalive(self) -> None:
        """Send a double-CRLF keep-alive to the server (keeps NAT bindings; RFC 5626 section 3.5.1)."""
        self._write(KEEPALIVE, self.server)

    def close(self) -> None:
        """Close the flow (buffered TCP/TLS writes are still sent first); `on_lost` is not called."""
        if self._closing:
            return
        self._closing = True
        self._closed_by_user = True
        self._close_transport()

    async def wait_closed(self) -> None:
        """Return once the socket is closed."""
        await asyncio.shield(self._done)

    # -- for subclasses

    def _write(self, data: bytes, address: Address) -> None:
        raise NotImplementedError

    def _close_transport(self) -> None:
        raise NotImplementedError

    def _closed_error(self) -> ConnectionLost:
        return ConnectionLost(
            f"the {self.transport} flow to {format_address(self.server)} is closed; open a new one to send"
        )

    def _deliver(self, message: SipMessage, source: Address) -> None:
        try:
            self._on_message(message, source)
        except Exception:
            log.exception("the on_message callback failed on a %s from %s", _describe(message), format_address(source))

    def _lose(self, error: ConnectionLost) -> None:
        """End the flow because of `error`, which `on_lost` will receive."""
        if self._closing:
            return
        self._closing = True
        self._lost_error = error
        log.debug("%s", error)
        self._abort_transport()

    def _abort_transport(self) -> None:
        self._close_transport()

    def _connection_lost(self, error: ConnectionLost | None) -> None:
        """The socket is closed; `error` is what the transport layer reports (None: orderly or our own close)."""
        self._closing = True
        if self._done.done():  # reported already
            return
        self._done.set_result(None)
        if not self._open or self._closed_by_user:
            return
        reported = self._lost_error or error
        self._lost_error = None
        if self._on_lost is None:
            if reported is not None:
                log.debug("lost: %s", reported)
            return
        try:
            self._on_lost(reported)
        except Exception:
            log.exception("the on_lost callback failed")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, flow: UdpFlow) -> None:
        self._flow = flow

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._flow._datagram_received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP socket %s: %s", format_address(self._flow.local), _reason(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        flow = self._flow
        error = None
        if exc is not None:
            error = ConnectionLost(f"the UDP socket {format_address(flow.local)} failed: {_reason(exc)}")
            error.__cause__ = exc
        flow._connection_lost(error)


class UdpFlow(Flow):
    """A UDP socket bound to an ephemeral port, receiving from anyone."""

    def __init__(self, on_message: OnMessage, on_lost: OnLost | None, max_write_buffer: int, max_body: int) -> None:
        super().__init__("UDP", on_message, on_lost)
        self._max_body = max_body
        self._transport: asyncio.DatagramTransport | None = None
        self._max_write_buffer = max_write_buffer
        self.max_datagram = MAX_UDP_PAYLOAD_V4

    def send_to(self, message: SipMessage, address: Address) -> None:
        """Send a message in one datagram. Raises `MessageTooLarge` over the datagram size (`max_datagram`)."""
        data = message.to_bytes()
        self._check_size(data, _describe(message))
        self._write(data, address)

    def _check_size(self, data: bytes, what: str) -> None:
        if len(data) > self.max_datagram:
            raise MessageTooLarge(
                f"the {what} is {len(data):,} bytes, over the {self.max_datagram:,}-byte limit of a "
                "UDP datagram: use TCP or TLS for it (a list of 1,000 entries does not fit a datagram)"
            )

    def _write(self, data: bytes, address: Address) -> None:
        if self._closing or self._transport is None:
            raise self._closed_error()
        waiting = self._transport.get_write_buffer_size()
        if waiting + len(data) > self._max_write_buffer:  # UDP may lose packets; SIP retransmits
            log.warning(
                "UDP socket %s: %d bytes wait to be sent; a datagram is dropped", format_address(self.local), waiting
            )
            return
        self._transport.sendto(data, address)

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _datagram_received(self, data: bytes, source: Address) -> None:
        message = None if self._closing else parse_datagram(data, source, self._max_body)
        if message is not None:
            self._deliver(message, source)


def parse_datagram(data: bytes, source: Address, max_body: int) -> SipMessage | None:
    """The message a datagram carries; None for a keep-alive or for one that is not SIP (dropped, logged)."""
    if is_keepalive(data):
        return None
    try:
        return parse_message(data, max_body)
    except SipParseError as exc:
        log.debug("dropped a %d-byte datagram from %s that is not SIP: %s", len(data), format_address(source), exc)
        return None


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, flow: StreamFlow) -> None:
        self._flow = flow

    def data_received(self, data: bytes) -> None:
        self._flow._data_received(data)

    def eof_received(self) -> bool:
        return False  # close our side as well: a SIP connection is not half-open

    def connection_lost(self, exc: Exception | None) -> None:
        self._flow._stream_lost(exc)


class StreamFlow(Flow):
    """A TCP or TLS connection to the server; the server's requests (NOTIFYs) come back over it."""

    def __init__(
        self, transport: str, on_message: OnMessage, on_lost: OnLost | None, max_write_buffer: int, max_body: int
    ) -> None:
        super().__init__(transport, on_message, on_lost)
        self._transport: asyncio.Transport | None = None
        self._max_write_buffer = max_write_buffer
        self._parser = StreamParser(max_body)

    def send_to(self, message: SipMessage, address: Address) -> None:
        """Send over the connection; `address` must be the server's (a request received on a connection is answered
        on it, RFC 3261 section 18.2.2)."""
        if tuple(address) != self.server:
            raise TransportError(
                f"a {self.transport} flow only reaches its server {format_address(self.server)}, "
                f"not {format_address(address)}"
            )
        self._write(message.to_bytes(), address)

    def _write(self, data: bytes, address: Address) -> None:
        if self._closing or self._transport is None:
            raise self._closed_error()
        waiting = self._transport.get_write_buffer_size()
        if waiting + len(data) > self._max_write_buffer:
            error = ConnectionLost(
                f"the server {format_address(self.server)} has stopped reading: {waiting + len(data):,} bytes would "
                f"wait to go out over {self.transport}, over the {self._max_write_buffer:,}-byte limit; "
                "connection closed"
            )
            self._lose(error)
            raise error
        self._transport.write(data)

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _abort_transport(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _data_received(self, data: bytes) -> None:
        if self._closing:
            return
        messages, error = feed_stream(self._parser, data)
        for message in messages:
            if self._closing:  # a callback closed the flow
                return
            self._deliver(message, self.server)
        if error is not None and not self._closing:
            self._framing_failed(error)

    def _framing_failed(self, exc: SipParseError) -> None:
        error = ConnectionLost(
            f"the server {format_address(self.server)} sent data that is not SIP over {self.transport} ({exc}); "
            "connection closed"
        )
        error.__cause__ = exc
        self._lose(error)

    def _stream_lost(self, exc: Exception | None) -> None:
        error = None
        where = format_address(self.server)
        if exc is not None:
            error = ConnectionLost(f"the {self.transport} connection to {where} was lost: {_reason(exc)}")
            error.__cause__ = exc
        elif self._parser.buffered and not self._parser.failed and not self._closing:
            error = ConnectionLost(
                f"the server {where} closed the {self.transport} connection in the middle of a message "
                f"({self._parser.buffered:,} bytes unread)"
            )
        self._connection_lost(error)


# ------------------------------------------------------------------------------------------------------- open


async def open_flow(
    transport: str,
    server: tuple[str, int],
    *,
    on_message: OnMessage,
    on_lost: OnLost | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    local_host: str | None = None,
    connect_timeout: float = 10.0,
    max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    max_body: int = DEFAULT_MAX_BODY,
    ca_option: str = "the CA option",
) -> Flow:
    """Open a flow to `server` (host, port) over "udp", "tcp" or "tls".

    `on_message(message, source)` receives every message that arrives; `on_lost(error)` is called once if the flow
    ends by itself (see the module docstring). `local_host` is the address to bind (default: the one the system
    sends from towards the server, 127.0.0.1 for a loopback server). TLS verifies the server's certificate against
    `ssl_context` (default: `ssl.create_default_context()`, the system's CAs) for `server_hostname` (default: the
    server's host); `ca_option` names, in the error, the setting that adds a CA. `connect_timeout` bounds the TCP
    connect and the TLS handshake together. `max_body` caps the body of a message that arrives (a list NOTIFY
    of thousands of resources needs more than the 4 MiB default when it is not deflated).

    Raises `ConnectFailed` (the server cannot be reached) or its subclass `TlsError` (handshake or certificate).
    """
    name = _TRANSPORTS.get(transport.lower()) if isinstance(transport, str) else None
    if name is None:
        raise ValueError(f"unknown SIP transport {transport!r}: use udp, tcp or tls")
    host, port = server
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"bad port {port!r} for the SIP server {host}")
    if name == "UDP":
        return await _open_udp(
            host,
            port,
            on_message=on_message,
            on_lost=on_lost,
            local_host=local_host,
            max_write_buffer=max_write_buffer,
            max_body=max_body,
        )
    return await _open_stream(
        name,
        host,
        port,
        on_message=on_message,
        on_lost=on_lost,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        local_host=local_host,
        connect_timeout=connect_timeout,
        max_write_buffer=max_write_buffer,
        max_body=max_body,
        ca_option=ca_option,
    )


async def _open_udp(
    host: str,
    port: int,
    *,
    on_message: OnMessage,
    on_lost: OnLost | None,
    local_host: str | None,
    max_write_buffer: int,
    max_body: int,
) -> UdpFlow:
    loop = asyncio.get_running_loop()
    family, sockaddr = _resolve(host, port, socket.SOCK_DGRAM, "UDP")
    if local_host is None:
        source = _source_address(family, sockaddr, "UDP")
        bind_to = (source[0], 0, *source[2:])
    else:
        bind_to = _local_sockaddr(local_host, family, socket.SOCK_DGRAM)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(bind_to)
    except OSError as exc:
        sock.close()
        raise ConnectFailed(
            f"cannot open a UDP socket on {format_address(bind_to)} for {format_address(sockaddr)}: {_reason(exc)}"
        ) from None
    flow = UdpFlow(on_message, on_lost, max_write_buffer, max_body)
    try:
        datagram_transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(flow), sock=sock)
    except BaseException:
        sock.close()
        raise
    flow._transport = datagram_transport
    bound = sock.getsockname()
    local_ip = bound[0]
    if _is_unspecified(local_ip):  # bound to every interface: advertise the one that reaches the server
        local_ip = _source_address(family, sockaddr, "UDP")[0]
    flow.local = (local_ip, bound[1])
    flow.server = (sockaddr[0], sockaddr[1])
    flow.max_datagram = MAX_UDP_PAYLOAD_V6 if family == socket.AF_INET6 else MAX_UDP_PAYLOAD_V4
    flow._open = True
    log.debug("opened %r", flow)
    return flow


def _tls_error(exc: BaseException, where: str, hostname: str | None, ca_option: str, timeout: float) -> TlsError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = " ".join(str(exc.verify_message or exc.reason or exc).split()).rstrip(".")
        return TlsError(
            f"cannot verify the TLS certificate of {where} for {hostname!r} ({reason}): "
            f"if the server uses a private CA, add it with {ca_option}"
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or _reason(exc)
        if "WRONG_VERSION_NUMBER" in str(reason).upper():
            return TlsError(f"TLS handshake with {where} failed: the server does not speak TLS on that port")
        return TlsError(f"TLS handshake with {where} failed: {reason}")
    if isinstance(exc, TimeoutError):
        return TlsError(f"TLS handshake with {where} failed: no answer within {timeout:g} s")
    if isinstance(exc, ConnectionError | EOFError):
        return TlsError(f"TLS handshake with {where} failed: the server closed the connection")
    return TlsError(f"TLS handshake with {where} failed: {_reason(exc)}")


async def _open_stream(
    name: str,
    host: str,
    port: int,
    *,
    on_message: OnMessage,
    on_lost: OnLost | None,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    local_host: str | None,
    connect_timeout: float,
    max_write_buffer: int,
    max_body: int,
    ca_option: str,
) -> StreamFlow:
    loop = asyncio.get_running_loop()
    family, sockaddr = _resolve(host, port, socket.SOCK_STREAM, name)
    where = format_address(sockaddr)
    flow = StreamFlow(name, on_message, on_lost, max_write_buffer, max_body)
    stream: asyncio.Transport | None = None
    phase = "connect"
    try:
        async with asyncio.timeout(connect_timeout):
            stream, _ = await loop.create_connection(
                lambda: _StreamProtocol(flow),
                sockaddr[0],
                sockaddr[1],
                family=family,
                local_addr=None if local_host is None else _local_sockaddr(local_host, family, socket.SOCK_STREAM),
            )
            if name == "TLS":
                phase = "tls"
                context = ssl_context if ssl_context is not None else ssl.create_default_context()
                hostname = server_hostname or host
                tls = await loop.start_tls(
                    stream,
                    stream.get_protocol(),
                    context,
                    server_hostname=hostname,
                    ssl_handshake_timeout=connect_timeout + 1.0,  # the enclosing timeout is the one that fires
                    ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT,
                )
                if tls is None:  # the connection ended during the handshake
                    raise ConnectionResetError("closed during the TLS handshake")
                stream = tls
    except (OSError, TimeoutError, EOFError) as exc:
        if stream is not None:
            stream.abort()
        if phase == "tls":
            raise _tls_error(exc, where, server_hostname or host, ca_option, connect_timeout) from None
        reason = f"no answer within {connect_timeout:g} s" if isinstance(exc, TimeoutError) else _reason(exc)
        raise ConnectFailed(f"cannot reach {where} over {name}: {reason}") from None
    except BaseException:
        if stream is not None:
            stream.abort()
        raise
    flow._transport = stream
    local = stream.get_extra_info("sockname")
    peer = stream.get_extra_info("peername") or sockaddr
    flow.local = (local[0], local[1])
    flow.server = (peer[0], peer[1])
    flow._open = True
    log.debug("opened %r", flow)
    return flow
