"""The server side of the asyncio SIP transport: one UDP socket and the TCP (and TLS) connections it accepts.

`start_listener(host, port, on_message=...)` binds UDP and TCP on the same port (and TLS on its own port when given
an `ssl.SSLContext`). Every message that arrives goes to `on_message(message, peer)`; `Listener.send(message, peer)`
answers, or sends a request of the server's own (a NOTIFY), to that peer. Framing and parsing are the sans-IO
codec's, through the same pieces as the client (`parse_message`, `StreamParser` via `feed_stream`); the errors are
the client's `TransportError` family.

* Everything runs on the event loop thread, from protocol callbacks and timer handles: no task per connection but
  the short one that makes its transport once it is accepted, no thread executors (wire-notes section 4).
* A `Peer` says where a message came from: the transport, the remote address and, for TCP and TLS, the connection
  it came in on. Sending to a stream peer writes on that very connection, which is how a NOTIFY reaches a client
  behind NAT (RFC 5626, and the Via `alias` of RFC 5923); when that connection has ended, `send` raises
  `PeerGone`. Sending to a UDP peer is a `sendto` of its address: `rport`/`received` handling is the caller's.
* UDP: past `udp_rate` datagrams a second from one address (`ReadBudget`), a datagram is dropped unread, so
  that a flood costs a lookup rather than a parse and others are still read (logged once a while). Keep-alive
  CRLFs are ignored, a datagram that is not SIP is dropped with a debug log line. What parses is passed up, even
  when a header the caller reads later is malformed (the caller answers 400 to that). A message over the
  datagram size cannot be sent: `MessageTooLarge`. The socket asks for `udp_buffer`-byte kernel buffers.
* TCP and TLS: bytes that break a connection's framing close that connection (one log line), never the listener;
  a request whose Content-Length is over `max_body` is answered 413 first (its body cannot be skipped), one
  with no usable Content-Length 400 (its end cannot be found);
  a double-CRLF keep-alive ping between messages is answered with a CRLF pong (RFC 5626 section 4.4.1). Past
  `stream_rate` messages a second from one address (`ReadBudget`), its connections are not read until the debt is
  paid, so that its flood waits in its own socket buffers instead of being parsed before the others. Over
  `max_connections` open connections, or `max_connections_per_address` from one address (`source_key`: an IPv4
  address, an IPv6 /64), a new one is closed as it is accepted, before a transport is made for it (a flood of them
  costs an accept and a close each), logged once a while rather than per connection. Deadlines
  close a connection: `first_message_timeout` seconds to send one whole message after connecting, then
  `message_timeout` for each message to arrive whole once its first byte has (bytes trickling in do not extend
  it: slowloris), and `idle_timeout` with no traffic either way. A peer that stops reading is cut off when its
  write buffer would pass `max_write_buffer` bytes (the send raises `PeerGone`).
* `on_answer(status, branch)`, when given, is offered each response first (over TCP and TLS, those without a body),
  read no further than its status and top Via branch (`peek_answer`); when it takes it (True) the message is not
  parsed, nor passed to `on_message`: a server's answers to its NOTIFYs, most of what a busy one reads, cost a
  fraction of a parse.
* `Listener.on_disconnect(peer)` is called once when a TCP or TLS connection ends by itself (closed or reset by
  the client, garbage, idle, not reading), never for those `close()` ends, so the server can drop what was bound
  to it (subscriptions whose NOTIFYs would go there).
* Exceptions raised by the callbacks are logged and end nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import secrets
import socket
import ssl
from collections.abc import Callable

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.sip.message import (
    DEFAULT_MAX_BODY,
    BodyOverLimit,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamParser,
    Unframed,
    is_keepalive,
    peek_answer,
)
from smartbook_tui.sip.peer import Peer
from smartbook_tui.sip.source import source_key

from .read_budget import ReadBudget
from .transport import (
    DEFAULT_MAX_WRITE_BUFFER,
    MAX_UDP_PAYLOAD_V4,
    MAX_UDP_PAYLOAD_V6,
    Address,
    ConnectionLost,
    MessageTooLarge,
    TransportError,
    describe_message,
    error_reason,
    feed_stream,
    format_address,
    parse_datagram,
)
from .udp_socket import UdpSocket

__all__ = [
    "DEFAULT_FIRST_MESSAGE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS_PER_ADDRESS",
    "DEFAULT_MESSAGE_TIMEOUT",
    "DEFAULT_STREAM_RATE",
    "DEFAULT_UDP_BUFFER",
    "DEFAULT_UDP_RATE",
    "ListenFailed",
    "Listener",
    "OnDisconnect",
    "OnPeerMessage",
    "Peer",
    "PeerGone",
    "start_listener",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 10_000
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 200  # a NAT of an office's phones, not a host holding the server's slots
DEFAULT_FIRST_MESSAGE_TIMEOUT = 5.0
DEFAULT_MESSAGE_TIMEOUT = 10.0  # 4 MiB (the body cap) arrives in 10 s at ~3.4 Mbit/s
DEFAULT_UDP_RATE = 2_000.0  # datagrams a second from one address; a core's rate limit (503s) is far below
DEFAULT_STREAM_RATE = 2_000.0  # messages a second read from one address over TCP and TLS together
DEFAULT_UDP_BUFFER = 4 * 1024 * 1024

_BIND_ATTEMPTS = 8  # port 0: tries at a port free for both TCP and UDP
_BACKLOG = 1024  # connections the kernel holds until they are accepted
_ACCEPT_BATCH = 128  # connections accepted in one turn of the loop
_ACCEPT_PAUSE = 1.0  # seconds without accepting once out of file descriptors
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_TLS_SHUTDOWN_TIMEOUT = 5.0
_PING = b"\r\n\r\n"
_LINGER = 2.0  # seconds a connection refused for a body too large waits for its peer to close
_PONG = b"\r\n"


# ----------------------------------------------------------------------------------------------- values, errors


OnPeerMessage = Callable[[SipMessage, Peer], None]
OnDisconnect = Callable[[Peer], None]
OnAnswer = Callable[[int, str], bool]


class ListenFailed(TransportError):
    """The listener could not bind its sockets: the address is in use, not local, or not permitted."""


class PeerGone(ConnectionLost):
    """The TCP or TLS connection a peer came in on has ended (or was just cut off because the peer stopped
    reading): nothing can reach the peer until it connects again. A server fails the transaction."""


# ------------------------------------------------------------------------------------------------- connections


class _Connection(asyncio.Protocol):
    """One accepted TCP or TLS connection."""

    def __init__(self, listener: Listener, transport_name: str, tls: ssl.SSLContext | None = None) -> None:
        self._listener = listener
        self.name = transport_name
        self._tls = tls  # the handshake starts once the connection is counted: see `_start_tls`
        self._handshake: asyncio.Task[None] | None = None
        self._early: list[bytes] | None = [] if tls is not None else None  # read before `start_tls` returned
        self._resume_handle: asyncio.TimerHandle | None = None  # reading paused over the budget until then
        self._parser = StreamParser(listener._max_body, listener._answers)
        self._transport: asyncio.Transport | None = None
        self._deadline_handle: asyncio.TimerHandle | None = None
        self._deadline_at = 0.0  # when the handle fires
        self._last_activity = 0.0
        self._first_message_by: float | None = 0.0  # None once a whole message has arrived
        self._message_since: float | None = None  # when the first byte of the message still arriving came
        self.peer: Peer | None = None  # set by `start`, as soon as it is accepted
        self.source = ""  # the `source_key` its per-address cap counts it under
        self.closing = False
        self.quiet = False  # ended by Listener.close(): on_disconnect is not called
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self.closing:  # closed (the listener, a deadline) while its transport was being made
            transport.abort()
            return
        if self._tls is not None:
            transport.pause_reading()  # the handshake reads first
            self._handshake = self._listener._loop.create_task(self._start_tls(transport, self._tls))

    async def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        """The TLS handshake of a connection already counted against its address's cap, under its first-message
        deadline: a host cannot hold more connections in handshakes than its cap, nor keep one longer."""
        try:
            secure = await self._listener._loop.start_tls(
                raw, self, context, server_side=True, ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT
            )
        except OSError as error:  # ssl.SSLError, a reset, a timeout
            if not self.closing:
                log.debug("the TLS handshake of %s failed: %s", self.where, error_reason(error))
            raw.abort()
            self.connection_lost(error)
            return
        if secure is None or self.closing:
            return
        self._transport = secure
        early, self._early = self._early or [], None
        for data in early:  # decrypted before this coroutine went on: an answer must go out encrypted
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self.closing or self.peer is None:
            return
        if self._early is not None:
            self._early.append(data)
            return
        now = self._last_activity = self._listener._loop.time()
        if _PING in data and not self._parser.buffered and is_keepalive(data):
            self._write_raw(_PONG)
        messages, error = feed_stream(self._parser, data)
        self._track_message(messages, now)
        if messages:
            self._listener._charge_stream(self, len(messages), now)
        for message in messages:
            if self.closing:  # a callback closed the connection (a send cut it off)
                return
            self._listener._deliver(message, self.peer)
        if error is None or self.closing:
            return
        head = error.head if isinstance(error, BodyOverLimit | Unframed) else None
        if isinstance(head, SipRequest) and head.method != "ACK":
            if isinstance(error, BodyOverLimit):
                self._refuse_before_closing(head, 413, "Request Entity Too Large", error)
            else:
                self._refuse_before_closing(head, 400, f"Bad Request ({str(error)[:120]})", error)
            return
        log.info("closed the %s connection from %s: it sent data that is not SIP (%s)", self.name, self.where, error)
        self.abort()

    def eof_received(self) -> bool:
        return False  # close our side as well: a SIP connection is not half-open

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for handle in (self._deadline_handle, self._resume_handle):
            if handle is not None:
                handle.cancel()
        self._deadline_handle = self._resume_handle = None
        if not self.done.done():
            self.done.set_result(None)
        if exc is not None and self.peer is not None:
            log.debug("the %s connection from %s was lost: %s", self.name, self.where, error_reason(exc))
        self._listener._connection_ended(self)

    # -- for the listener

    @property
    def where(self) -> str:
        return str(self.peer) if self.peer is not None else self.name

    def start(self, peer: Peer, source: str) -> None:
        self.peer = peer
        self.source = source
        now = self._last_activity = self._listener._loop.time()
        self._first_message_by = now + self._listener._first_message_timeout
        self._arm(self._next_deadline())

    def write(self, data: bytes, limit: int) -> None:
        transport = self._transport
        if self.closing or transport is None or transport.is_closing():
            raise PeerGone(f"the {self.name} connection of {self.where} has ended; the peer must connect again")
        waiting = transport.get_write_buffer_size()
        if waiting + len(data) > limit:
            log.info(
                "cut off %s: it has stopped reading (%s bytes would wait to go out, over %s)",
                self.where,
                f"{waiting + len(data):,}",
                f"{limit:,}",
            )
            self.abort()
            raise PeerGone(
                f"{self.where} has stopped reading: {waiting + len(data):,} bytes would wait to go out, over the "
                f"{limit:,}-byte limit; connection closed"
            )
        transport.write(data)
        self._last_activity = self._listener._loop.time()

    def close(self) -> None:
        """Close after the buffered writes are sent."""
        self.closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping the buffered writes."""
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    def pause_for(self, seconds: float) -> None:
        """Stop reading for `seconds` (the source is over its budget); a pause already running is not lengthened."""
        transport = self._transport
        if self._resume_handle is not None or transport is None or self.closing:
            return
        transport.pause_reading()
        self._resume_handle = self._listener._loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        self._resume_handle = None
        if not self.closing and self._transport is not None:
            self._transport.resume_reading()

    def _write_raw(self, data: bytes) -> None:
        with contextlib.suppress(PeerGone):
            self.write(data, self._listener._max_write_buffer)

    def _refuse_before_closing(self, request: SipRequest, status: int, reason: str, error: SipParseError) -> None:
        """Answer a request the stream cannot carry on from (a body over the cap, which cannot be skipped, or no
        usable Content-Length), then close."""
        what = describe_message(request)
        log.info("answered %d to the %s from %s and closed the connection: %s", status, what, self.where, error)
        headers = request.headers.only("Via", "From", "To", "Call-ID", "CSeq")
        with contextlib.suppress(SipParseError):
            to = request.headers.get("To")
            if to and request.to_tag is None:  # RFC 3261 8.2.6.2
                headers.set("To", f"{to};tag={secrets.token_hex(4)}")
        self._write_raw(SipResponse(status, reason, headers).to_bytes())
        self._linger()

    def _linger(self) -> None:
        """Stop reading, end our side once the answers written are sent, and close when the peer ends its side, or
        `_LINGER` seconds later: closing with the peer's bytes unread would reset the connection, and the reset
        can destroy the answer before the peer reads it."""
        transport = self._transport
        if transport is None or not transport.can_write_eof():  # TLS: close_notify after the answer
            self.close()
            return
        self.closing = True  # what arrives now is dropped, and nothing more is sent
        transport.write_eof()
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
        self._deadline_handle = self._listener._loop.call_later(_LINGER, self.abort)

    def _track_message(self, messages: list[SipMessage], now: float) -> None:
        """Start or stop the clock of the message arriving, and re-arm earlier when its deadline comes first."""
        if messages:
            self._first_message_by = None
            self._message_since = None
        if not self._parser.buffered:
            self._message_since = None
        elif self._message_since is None:
            self._message_since = now
            deadline = self._next_deadline()
            if deadline < self._deadline_at:
                self._arm(deadline)

    def _next_deadline(self) -> float:
        listener = self._listener
        deadline = self._last_activity + listener._idle_timeout
        if self._first_message_by is not None:
            deadline = min(deadline, self._first_message_by)
        if self._message_since is not None:
            deadline = min(deadline, self._message_since + listener._message_timeout)
        return deadline

    def _arm(self, deadline: float) -> None:
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
        self._deadline_at = deadline
        self._deadline_handle = self._listener._loop.call_at(deadline, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._deadline_handle = None
        if self.closing:
            return
        listener = self._listener
        now = listener._loop.time()
        if self._first_message_by is not None and now >= self._first_message_by:
            reason = f"no whole message within {listener._first_message_timeout:g} s of connecting"
        elif self._message_since is not None and now >= self._message_since + listener._message_timeout:
            reason = f"a message still incomplete {listener._message_timeout:g} s after it began"
        elif now >= self._last_activity + listener._idle_timeout:
            quiet_for = now - self._last_activity
            log.debug("closed the %s connection from %s: idle for %.3g s", self.name, self.where, quiet_for)
            if self._transport is not None and self._transport.get_write_buffer_size() > 0:
                self.abort()  # bytes still wait to go out: the peer is not reading them, a flush would never end
            else:
                self.close()
            return
        else:
            self._arm(self._next_deadline())
            return
        log.debug("closed the %s connection from %s: %s", self.name, self.where, reason)
        self.abort()


# ---------------------------------------------------------------------------------------------------- listener


class Listener:
    """The server's UDP socket and TCP/TLS servers. Made by `start_listener`; use it from the loop thread."""

    address: Address
    """The (host, port) UDP and TCP listen on."""
    tls_address: Address | None
    """The (host, port) TLS listens on, or None without TLS."""
    on_disconnect: OnDisconnect | None
    """Called with the peer of a TCP or TLS connection that ended by itself (see the module docstring)."""

    def __init__(
        self,
        on_message: OnPeerMessage,
        *,
        max_body: int,
        max_connections: int,
        max_connections_per_address: int,
        first_message_timeout: float,
        message_timeout: float,
        idle_timeout: float,
        max_write_buffer: int,
        udp_rate: float,
        stream_rate: float,
        on_disconnect: OnDisconnect | None,
        on_answer: OnAnswer | None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_message = on_message
        self._on_answer = on_answer
        # what the UDP socket and the stream parsers offer answers to
        self._answers: OnAnswer | None = self._offer_answer if on_answer is not None else None
        self.on_disconnect = on_disconnect
        self._max_body = max_body
        self._max_connections = max_connections
        self._max_per_address = max_connections_per_address
        self._first_message_timeout = first_message_timeout
        self._message_timeout = message_timeout
        self._idle_timeout = idle_timeout
        self._max_write_buffer = max_write_buffer
        self.address = ("", 0)
        self.tls_address = None
        self.max_datagram = MAX_UDP_PAYLOAD_V4
        self._udp: UdpSocket | None = None
        self._listening: list[socket.socket] = []  # the TCP and TLS sockets connections are accepted on
        self._opening: set[asyncio.Task[None]] = set()  # accepted connections whose transports are being made
        self._connections: dict[int, _Connection] = {}
        self._per_address: dict[str, int] = {}  # open connections by `source_key`
        self._ids = itertools.count(1)
        self._refusing = False  # logged that the connection limit is reached; logged again once under it
        self._refused_per_address = CountedWarning(
            log, "refused %s connection(s) over the cap of {cap:,} per address (the latest a %s one from %s)"
        )
        self._budget = ReadBudget(udp_rate) if udp_rate else None
        self._stream_budget = ReadBudget(stream_rate) if stream_rate else None
        self._paused_over_budget = CountedWarning(
            log, "paused reading %s time(s) over the budget of {rate:,g} messages a second per address (the latest %s)"
        )
        self._dropped_over_budget = CountedWarning(
            log, "dropped %s datagram(s) unread over the budget of {rate:,g} a second per address (the latest from %s)"
        )
        self._unsent_datagrams = CountedWarning(
            log, "dropped %s datagram(s) to send: the send buffer of UDP %s is full"
        )
        self._closed = False

    def __repr__(self) -> str:
        tls = f" TLS {format_address(self.tls_address)}" if self.tls_address else ""
        state = "closed" if self._closed else f"{len(self._connections)} connections"
        return f"<Listener UDP/TCP {format_address(self.address)}{tls} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connections(self) -> int:
        """How many TCP and TLS connections are open."""
        return len(self._connections)

    def udp_queued(self) -> float:
        """The share of the UDP socket's receive buffer taken by datagrams not yet read (0.0 where the kernel does
        not say): how far behind reading the UDP side is."""
        return self._udp.queued() if self._udp is not None else 0.0

    def send(self, message: SipMessage, peer: Peer) -> None:
        """Send a message to `peer`: a UDP datagram to its address, or a write on the TCP/TLS connection it came in
        on. Raises `PeerGone` (that connection has ended), `MessageTooLarge` (over a UDP datagram) or
        `ConnectionLost` (the listener is closed)."""
        self._send(message.to_bytes(), peer, describe_message(message))

    def send_bytes(self, data: bytes, peer: Peer) -> None:
        """Send a message already serialised (a transaction's retransmission keeps its bytes); raises as `send`."""
        self._send(data, peer, "message")

    def close(self) -> None:
        """Stop listening and close every connection (buffered writes are still sent first); `on_disconnect` is
        not called for them."""
        if self._closed:
            return
        self._closed = True
        for sock in self._listening:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._listening.clear()
        for connection in list(self._connections.values()):
            connection.quiet = True
            connection.close()
        if self._udp is not None:
            self._udp.close()

    async def wait_closed(self) -> None:
        """Return once every socket is closed."""
        waiting = [connection.done for connection in self._connections.values()]
        await asyncio.gather(*(asyncio.shield(future) for future in waiting))

    # -- sending

    def _send(self, data: bytes, peer: Peer, what: str) -> None:
        if self._closed:
            raise ConnectionLost(f"the SIP listener on {format_address(self.address)} is closed")
        if peer.transport == "UDP":
            self._send_datagram(data, peer, what)
            return
        connection = self._connections.get(peer.connection) if peer.connection is not None else None
        if connection is None or connection.peer is None or connection.peer.transport != peer.transport:
            raise PeerGone(f"the {peer.transport} connection of {peer} has ended; the peer must connect again")
        connection.write(data, self._max_write_buffer)

    def _send_datagram(self, data: bytes, peer: Peer, what: str) -> None:
        if len(data) > self.max_datagram:
            raise MessageTooLarge(
                f"the {what} for {peer} is {len(data):,} bytes, over the {self.max_datagram:,}-byte limit of a UDP "
                "datagram: the peer must use TCP or TLS for it"
            )
        if self._udp is None:
            raise ConnectionLost(f"the SIP listener on {format_address(self.address)} is closed")
        if not self._udp.sendto(data, peer.address):  # UDP may lose packets; SIP retransmits
            self._unsent_datagrams.happened(self._loop.time(), format_address(self.address))

    # -- receiving

    def _deliver(self, message: SipMessage, peer: Peer) -> None:
        try:
            self._on_message(message, peer)
        except Exception:
            log.exception("the on_message callback failed on a %s from %s", describe_message(message), peer)

    def _offer_answer(self, status: int, branch: str) -> bool:
        """`on_answer`, its failure logged (and the answer dropped, as a message whose callback failed)."""
        try:
            return self._on_answer is not None and self._on_answer(status, branch)
        except Exception:
            log.exception("the on_answer callback failed on a %d (branch %s)", status, branch)
            return True

    def _admit_datagram(self, source: Address) -> bool:
        budget = self._budget
        if budget is None:
            return True
        now = self._loop.time()
        key = source_key(source[0])
        if budget.admit(key, now):
            return True
        self._dropped_over_budget.happened(now, key, rate=budget.rate)
        return False

    def _charge_stream(self, connection: _Connection, count: int, now: float) -> None:
        budget = self._stream_budget
        if budget is None:
            return
        wait = budget.charge(connection.source, count, now)
        if wait > 0:
            self._paused_over_budget.happened(now, f"{wait:.2f} s for {connection.where}", rate=budget.rate)
            connection.pause_for(wait)

    def _datagram_received(self, data: bytes, source: Address) -> None:
        if self._answers is not None and (answer := peek_answer(data)) is not None and self._answers(*answer):
            return
        message = parse_datagram(data, source, self._max_body)
        if message is not None:
            self._deliver(message, Peer("UDP", source))

    # -- connections

    def _listen(self, sock: socket.socket, name: str, tls: ssl.SSLContext | None) -> None:
        sock.listen(_BACKLOG)
        self._listening.append(sock)
        self._loop.add_reader(sock.fileno(), self._accept_waiting, sock, name, tls)

    def _accept_waiting(self, sock: socket.socket, name: str, tls: ssl.SSLContext | None) -> None:
        """Accept the connections waiting on `sock`, `_ACCEPT_BATCH` at most a turn of the loop so that a burst
        does not hold it. One over a cap is closed right here, before a transport, a parser or a timer is made for
        it: a host opening thousands costs an accept and a close each, and the requests of others are not kept
        waiting behind them (nor the server's loop made late enough to refuse them as overloaded)."""
        for _ in range(_ACCEPT_BATCH):
            try:
                accepted, remote = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(sock, name, tls, error)
                    return
                log.debug("a %s connection failed as it was accepted: %s", name, error_reason(error))
                continue
            address = (remote[0], remote[1])
            source = self._admit(name, address)
            if source is None:
                accepted.close()
            else:
                self._open(accepted, name, tls, address, source)

    def _admit(self, name: str, remote: Address) -> str | None:
        """The `source_key` a new connection from `remote` counts under, or None when a cap refuses it."""
        if self._closed:
            return None
        if len(self._connections) >= self._max_connections:
            if not self._refusing:
                self._refusing = True
                log.warning(
                    "refused a %s connection from %s: %s connections are open, the limit (refusing until one ends)",
                    name,
                    format_address(remote),
                    f"{len(self._connections):,}",
                )
            return None
        self._refusing = False
        source = source_key(remote[0])
        if self._per_address.get(source, 0) >= self._max_per_address:
            self._refused_per_address.happened(self._loop.time(), name, source, cap=self._max_per_address)
            return None
        return source

    def _open(
        self, accepted: socket.socket, name: str, tls: ssl.SSLContext | None, remote: Address, source: str
    ) -> None:
        """Count an admitted connection and start its deadlines now; its transport is made on the loop's next turns."""
        accepted.setblocking(False)
        self._per_address[source] = self._per_address.get(source, 0) + 1
        number = next(self._ids)
        connection = _Connection(self, name, tls)
        self._connections[number] = connection
        connection.start(Peer(name, remote, number), source)
        log.debug("accepted %s", connection.peer)
        task = self._loop.create_task(self._make_transport(connection, accepted))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _make_transport(self, connection: _Connection, accepted: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: connection, accepted)
        except OSError as error:
            accepted.close()
            connection.connection_lost(error)

    def _pause_accepting(self, sock: socket.socket, name: str, tls: ssl.SSLContext | None, error: OSError) -> None:
        """Out of file descriptors or memory: stop accepting for a moment, while open connections end, rather than
        spin on a socket that stays ready."""
        log.warning("stopped accepting %s connections for %g s: %s", name, _ACCEPT_PAUSE, error_reason(error))
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(_ACCEPT_PAUSE, self._resume_accepting, sock, name, tls)

    def _resume_accepting(self, sock: socket.socket, name: str, tls: ssl.SSLContext | None) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept_waiting, sock, name, tls)

    def _connection_ended(self, connection: _Connection) -> None:
        peer = connection.peer
        if peer is None or self._connections.get(peer.connection) is not connection:  # refused
            return
        del self._connections[peer.connection]  # type: ignore[arg-type]
        left = self._per_address[connection.source] - 1
        if left:
            self._per_address[connection.source] = left
        else:
            del self._per_address[connection.source]
        log.debug("%s disconnected", peer)
        if connection.quiet or self.on_disconnect is None:
            return
        try:
            self.on_disconnect(peer)
        except Exception:
            log.exception("the on_disconnect callback failed for %s", peer)


# ----------------------------------------------------------------------------------------------------- binding


def _sockaddr(host: str, port: int, kind: socket.SocketKind) -> tuple[socket.AddressFamily, tuple]:
    """The family and socket address to bind; a host name is resolved with a blocking lookup (at start-up)."""
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ListenFailed(
            f"cannot listen on {format_address((host, port))}: cannot resolve {host!r} ({reason})"
        ) from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _bind(family: socket.AddressFamily, kind: socket.SocketKind, sockaddr: tuple) -> socket.socket:
    """A bound non-blocking socket; raises `OSError`."""
    # Naming the protocol matters: asyncio turns Nagle's algorithm off (TCP_NODELAY) only for sockets whose
    # protocol says TCP, and accepted sockets inherit it. With Nagle on, a NOTIFY written right after its
    # SUBSCRIBE's 200 waited for the client's delayed ACK, ~40 ms.
    sock = socket.socket(family, kind, socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else 0)
    try:
        sock.setblocking(False)
        if kind == socket.SOCK_STREAM and os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart despite TIME_WAIT connections
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """TCP and UDP sockets bound to the same port; port 0: the port the system picks for TCP, tried again on
    another when UDP has it in use."""
    family, tcp_addr = _sockaddr(host, port, socket.SOCK_STREAM)
    shown = format_address((host, port))
    for attempt in range(_BIND_ATTEMPTS):
        try:
            tcp = _bind(family, socket.SOCK_STREAM, tcp_addr)
        except OSError as exc:
            raise ListenFailed(f"cannot listen on {shown} over TCP: {error_reason(exc)}") from None
        udp_addr = (tcp_addr[0], tcp.getsockname()[1], *tcp_addr[2:])
        try:
            udp = _bind(family, socket.SOCK_DGRAM, udp_addr)
        except OSError as exc:
            tcp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE and attempt + 1 < _BIND_ATTEMPTS:
                continue
            raise ListenFailed(f"cannot listen on {format_address(udp_addr)} over UDP: {error_reason(exc)}") from None
        return tcp, udp
    raise AssertionError("unreachable")  # pragma: no cover


def _ask_buffers(sock: socket.socket, size: int) -> None:
    """Ask for `size`-byte receive and send buffers (a burst of datagrams waits there while the loop is busy), and
    log what the kernel gave: it caps the request at net.core.rmem_max / wmem_max (Linux reports twice what it
    grants, its bookkeeping included)."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size)
    given = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    short = " (less than asked: raise net.core.rmem_max and wmem_max to give more)" if min(given) < size else ""
    log.info(
        "UDP socket buffers: asked for %s bytes, the kernel gave %s to receive and %s to send%s",
        f"{size:,}",
        f"{given[0]:,}",
        f"{given[1]:,}",
        short,
    )


async def start_listener(
    host: str,
    port: int,
    *,
    on_message: OnPeerMessage,
    tls: ssl.SSLContext | None = None,
    tls_port: int | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    first_message_timeout: float = DEFAULT_FIRST_MESSAGE_TIMEOUT,
    message_timeout: float = DEFAULT_MESSAGE_TIMEOUT,
    idle_timeout: float = 600.0,
    max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    udp_rate: float = DEFAULT_UDP_RATE,
    stream_rate: float = DEFAULT_STREAM_RATE,
    udp_buffer: int = DEFAULT_UDP_BUFFER,
    on_disconnect: OnDisconnect | None = None,
    on_answer: OnAnswer | None = None,
) -> Listener:
    """Listen for SIP on UDP and TCP at `host`:`port` (0: a free port, the same for both), and on TLS at
    `host`:`tls_port` when `tls` (a server context with its certificate loaded) is given (`tls_port` None or 0: a
    free port; see `Listener.tls_address`).

    `on_message(message, peer)` receives every message that arrives (but the UDP responses `on_answer(status,
    branch)` takes, see the module docstring); `on_disconnect(peer)` (also settable on the listener) hears of TCP
    and TLS connections that ended. `max_body` caps the body of a message that arrives,
    `max_connections` the open TCP and TLS connections together and `max_connections_per_address` those from one
    address; `first_message_timeout`, `message_timeout` and `idle_timeout` are the deadlines of a connection (see
    the module docstring); `max_write_buffer` cuts off a peer that stops reading. `udp_rate` is the datagrams a
    second read from one address (0: no limit), `stream_rate` the messages a second read from one address over TCP
    and TLS (0: no limit); `udp_buffer` the receive and send buffers asked of the kernel for the UDP socket (0: the
    system's default). Raises `ListenFailed`.
    """
    if tls is None and tls_port is not None:
        raise ValueError("tls_port needs a TLS context (tls=...)")
    for name, value in (("port", port), ("tls_port", tls_port or 0)):
        if not isinstance(value, int) or not 0 <= value < 65536:
            raise ValueError(f"bad {name} {value!r} to listen on")
    if min(max_connections, max_connections_per_address) < 1:
        raise ValueError("max_connections and max_connections_per_address must be at least 1")
    if min(first_message_timeout, message_timeout, idle_timeout) <= 0 or min(udp_rate, stream_rate, udp_buffer) < 0:
        raise ValueError("the timeouts must be positive, udp_rate, stream_rate and udp_buffer at least 0")
    loop = asyncio.get_running_loop()
    listener = Listener(
        on_message,
        max_body=max_body,
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
        first_message_timeout=first_message_timeout,
        message_timeout=message_timeout,
        idle_timeout=idle_timeout,
        max_write_buffer=max_write_buffer,
        udp_rate=udp_rate,
        stream_rate=stream_rate,
        on_disconnect=on_disconnect,
        on_answer=on_answer,
    )
    tcp, udp = _bind_pair(host, port)
    if udp_buffer:
        _ask_buffers(udp, udp_buffer)
    tls_sock: socket.socket | None = None
    try:
        if tls is not None:
            family, tls_addr = _sockaddr(host, tls_port or 0, socket.SOCK_STREAM)
            try:
                tls_sock = _bind(family, socket.SOCK_STREAM, tls_addr)
            except OSError as exc:
                raise ListenFailed(
                    f"cannot listen on {format_address((host, tls_port or 0))} over TLS: {error_reason(exc)}"
                ) from None
        listener._udp = UdpSocket(loop, udp, listener._admit_datagram, listener._datagram_received)
        listener.max_datagram = MAX_UDP_PAYLOAD_V6 if udp.family == socket.AF_INET6 else MAX_UDP_PAYLOAD_V4
        bound = tcp.getsockname()
        listener.address = (bound[0], bound[1])
        listener._listen(tcp, "TCP", None)
        if tls is not None and tls_sock is not None:
            bound = tls_sock.getsockname()
            listener.tls_address = (bound[0], bound[1])
            listener._listen(tls_sock, "TLS", tls)
    except BaseException:
        listener.close()
        for sock in (tcp, udp, tls_sock):
            if sock is not None:
                sock.close()
        raise
    log.info("listening for SIP: %r", listener)
    return listener
