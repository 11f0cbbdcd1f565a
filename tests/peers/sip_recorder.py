"""A tiny SIP server for tests: it answers every request with 200 OK and records what it received.

It listens on 127.0.0.1 with UDP and TCP on one ephemeral port, runs a single selector thread, and knows just
enough SIP to keep a real client happy (REGISTER, SUBSCRIBE, PUBLISH, anything else) while the tests look at
the requests, headers and bodies that client really sends.
"""

from __future__ import annotations

import contextlib
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

# RFC 3261 (and later RFCs') compact header forms, keyed by the compact letter.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

DEFAULT_EXPIRES = 3600
_MAX_HEADER_BYTES = 64 * 1024


def canonical_header_name(name: str) -> str:
    """The lower-case long form of a header name (`l` -> `content-length`)."""
    lowered = name.strip().lower()
    return COMPACT_FORMS.get(lowered, lowered)


@dataclass(frozen=True)
class RecordedRequest:
    """One SIP request as the recorder received it (header names as sent, compact or not)."""

    method: str
    request_uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    transport: str  # "udp" or "tcp"

    def headers_named(self, name: str) -> list[str]:
        """Every value of a header, in order; the lookup is case-insensitive and knows compact forms."""
        wanted = canonical_header_name(name)
        return [value for key, value in self.headers if canonical_header_name(key) == wanted]

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers_named(name)
        return values[0] if values else None


class SipParseError(ValueError):
    pass


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Split a message head into its start line and (name, value) headers, unfolding continuation lines."""
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    start_line, header_lines = lines[0], lines[1:]
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if not line:
            continue
        if line[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return start_line, headers


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if canonical_header_name(name) == "content-length":
            try:
                return int(value)
            except ValueError as exc:
                raise SipParseError(f"bad Content-Length {value!r}") from exc
    return None


def _split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas inside quotes or <...>."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = in_angle = False
    for char in value:
        if char == '"':
            in_quotes = not in_quotes
        elif char == "<" and not in_quotes:
            in_angle = True
        elif char == ">" and not in_quotes:
            in_angle = False
        elif char == "," and not in_quotes and not in_angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _header_params(value: str) -> dict[str, str]:
    """The ;name=value parameters after a header's address (outside <...>), lower-case names."""
    tail = value.rsplit(">", 1)[1] if ">" in value else value
    params: dict[str, str] = {}
    for item in tail.split(";")[1:]:
        name, _, param_value = item.partition("=")
        params[name.strip().lower()] = param_value.strip()
    return params


def _without_param(value: str, param: str) -> str:
    """Drop one ;param[=value] from after a header's address."""
    head, angle, tail = value.rpartition(">")
    if not angle:
        head, tail = "", value
    kept = [item for item in tail.split(";") if item.split("=", 1)[0].strip().lower() != param]
    return head + angle + ";".join(kept)


class SipRecorder:
    """Answers every SIP request with 200 OK and records it.

    Use as a context manager: ``with SipRecorder() as recorder: ... recorder.port ...``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._buffers: dict[socket.socket, bytearray] = {}
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []  # unexpected exceptions in the server thread (a recorder bug)

    # -- life cycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> SipRecorder:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._udp, self._tcp = self._bind_pair()
        self.port = self._udp.getsockname()[1]
        self._udp.setblocking(False)
        self._tcp.setblocking(False)
        self._selector.register(self._udp, selectors.EVENT_READ)
        self._selector.register(self._tcp, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=f"sip-recorder-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close every socket (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._selector.get_map() is None:
            return
        for key in list(self._selector.get_map().values()):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            self._selector.unregister(sock)
            sock.close()
        self._buffers.clear()
        self._selector.close()

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket bound to the same ephemeral port (retrying if TCP's is taken)."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    # -- what tests call --------------------------------------------------------------------------------------

    def requests(self, method: str | None = None) -> list[RecordedRequest]:
        """A snapshot of the requests received so far (all of them, or one method's)."""
        with self._changed:
            return [r for r in self._requests if method is None or r.method == method.upper()]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """Block until a request of this method (matching the predicate) has arrived, and return the first one."""
        deadline = time.monotonic() + timeout

        def match() -> RecordedRequest | None:
            for request in self._requests:
                if request.method == method.upper() and (predicate is None or predicate(request)):
                    return request
            return None

        with self._changed:
            while (found := match()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{r.method} {r.request_uri} ({r.transport})" for r in self._requests]
                    errors = f"; recorder errors: {self.errors}" if self.errors else ""
                    raise AssertionError(f"no matching {method} within {timeout} s; received: {seen}{errors}")
                self._changed.wait(remaining)
            return found

    # -- network loop -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    if sock is self._udp:
                        self._on_datagram(sock)
                    elif sock is self._tcp:
                        self._on_accept(sock)
                    else:
                        self._on_stream_data(sock)
                except Exception as exc:  # keep serving; tests see the error in `errors` and wait_for's message
                    if not isinstance(exc, OSError):
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    if sock not in (self._udp, self._tcp):
                        self._close_connection(sock)

    def _on_datagram(self, sock: socket.socket) -> None:
        data, peer = sock.recvfrom(65535)
        data = data.lstrip(b"\r\n")  # a bare CRLF datagram is a keep-alive
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            return
        try:
            start_line, headers = _parse_head(data[:head_end])
            length = _content_length(headers)
        except SipParseError:
            return
        body = data[head_end + 4 :]
        if length is not None:
            body = body[:length]
        response = self._handle(start_line, headers, body, "udp")
        if response is not None:
            sock.sendto(response, peer)

    def _on_accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        conn.setblocking(False)
        self._buffers[conn] = bytearray()
        self._selector.register(conn, selectors.EVENT_READ)

    def _on_stream_data(self, conn: socket.socket) -> None:
        data = conn.recv(65536)
        if not data:
            self._close_connection(conn)
            return
        buffer = self._buffers[conn]
        buffer += data
        while True:
            while buffer[:2] == b"\r\n":  # keep-alive CRLFs between messages
                del buffer[:2]
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buffer) > _MAX_HEADER_BYTES:
                    self._close_connection(conn)
                return
            try:
                start_line, headers = _parse_head(bytes(buffer[:head_end]))
                length = _content_length(headers) or 0
            except SipParseError:
                self._close_connection(conn)
                return
            body_start = head_end + 4
            if len(buffer) < body_start + length:
                return  # wait for the rest of the body
            body = bytes(buffer[body_start : body_start + length])
            del buffer[: body_start + length]
            response = self._handle(start_line, headers, body, "tcp")
            if response is not None:
                conn.setblocking(True)
                conn.sendall(response)
                conn.setblocking(False)

    def _close_connection(self, conn: socket.socket) -> None:
        self._buffers.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)
        conn.close()

    # -- SIP --------------------------------------------------------------------------------------------------

    def _handle(self, start_line: str, headers: list[tuple[str, str]], body: bytes, transport: str) -> bytes | None:
        parts = start_line.split(" ", 2)
        if len(parts) != 3 or not parts[2].startswith("SIP/") or parts[0].startswith("SIP/"):
            return None  # a response, or not SIP: nothing to answer
        method, request_uri = parts[0].upper(), parts[1]
        request = RecordedRequest(method, request_uri, tuple(headers), body, transport)
        response = self._response_for(request)
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
        return response

    def _response_for(self, request: RecordedRequest) -> bytes:
        lines = ["SIP/2.0 200 OK"]
        lines += [f"Via: {via}" for via in request.headers_named("via")]  # every Via, unchanged, in order
        to = request.header("to") or ""
        if "tag" not in _header_params(to):
            to = f"{to};tag={secrets.token_hex(4)}"
        lines += [f"From: {request.header('from') or ''}", f"To: {to}"]
        lines += [f"Call-ID: {request.header('call-id') or ''}", f"CSeq: {request.header('cseq') or ''}"]
        expires_header = request.header("expires")
        expires = int(expires_header) if expires_header and expires_header.isdigit() else DEFAULT_EXPIRES
        contact_uri = f"<sip:{self.host}:{self.port};transport={request.transport}>"
        if request.method == "REGISTER":
            for contact in self._contacts(request):
                contact_expires = _header_params(contact).get("expires", str(expires))
                if contact_expires != "0":
                    lines.append(f"Contact: {_without_param(contact, 'expires')};expires={contact_expires}")
            lines.append(f"Expires: {expires}")
        elif request.method == "SUBSCRIBE":
            lines += [f"Expires: {expires}", f"Contact: {contact_uri}"]
        elif request.method == "PUBLISH":
            lines += [f"SIP-ETag: {secrets.token_hex(8)}", f"Expires: {expires}"]
        lines += ["Server: smartbook-tests-sip-recorder", "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    @staticmethod
    def _contacts(request: RecordedRequest) -> list[str]:
        contacts = [c for value in request.headers_named("contact") for c in _split_header_list(value)]
        return [c for c in contacts if c != "*"]
