"""The account API's connections, held to the same limits as the SIP port's (the transport options): a host that
opens connections and never finishes a request cannot take the process's file descriptors, nor keep others out.

* At most `per_address` connections open from one address (`source_key`: an IPv4 address, an IPv6 /64), but for
  the operator's reverse proxies (`uncapped`), and `total` from everyone: past either, a new connection is
  answered 503 with Retry-After and closed at once (logged once a while, not per connection).
* A request must arrive whole, headers and body, within `first_request` seconds of connecting, and each next one
  within `request` seconds of the previous answer (bytes trickling in do not extend it: slowloris); past that the
  connection is answered 408 and closed. The time the API takes to answer is not counted.

uvicorn takes the HTTP protocol as a class (`uvicorn.Config(http=...)`): `guarded_http` makes one, a subclass of
its h11 protocol, that keeps these books for one server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.sip.source import source_key

from .options import MAX_API_CONNECTIONS

__all__ = ["ConnectionLimits", "guarded_http"]

log = logging.getLogger(__name__)

RETRY_AFTER = 10  # seconds, in the 503 to a connection over a cap
_WHOLE = (h11.DONE, h11.MUST_CLOSE)  # the client's states once its request has arrived whole


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    per_address: int
    first_request: float  # seconds
    request: float  # seconds
    uncapped: tuple[str, ...] = ()  # addresses or networks held to `total` alone: the operator's reverse proxies
    total: int = MAX_API_CONNECTIONS


def _answer(status: str, error: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": error, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"{extra}connection: close\r\n\r\n"
    )
    return head.encode() + body


_BUSY = _answer(
    "503 Service Unavailable",
    "busy",
    f"too many connections are open: try again in {RETRY_AFTER} seconds",
    f"retry-after: {RETRY_AFTER}\r\n",
)
_TOO_SLOW = _answer("408 Request Timeout", "request_timeout", "the request did not arrive whole in time")


class _OpenConnections:
    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.by_source: dict[str, int] = {}
        self.uncapped = [ipaddress.ip_network(network) for network in limits.uncapped]
        self.total = 0
        self.refused = CountedWarning(
            log, "refused %s account API connection(s) over the cap of {cap} (the latest from %s)"
        )

    def admit(self, host: str, source: str, now: float) -> bool:
        opened = self.by_source.get(source, 0)
        if opened >= self.limits.per_address and not self._uncapped(host):
            self.refused.happened(now, source, cap=f"{self.limits.per_address:,} per address")
            return False
        if self.total >= self.limits.total:
            self.refused.happened(now, source, cap=f"{self.limits.total:,} in all")
            return False
        self.by_source[source] = opened + 1
        self.total += 1
        return True

    def _uncapped(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.uncapped)

    def release(self, source: str) -> None:
        self.total -= 1
        left = self.by_source[source] - 1
        if left:
            self.by_source[source] = left
        else:
            del self.by_source[source]


def guarded_http(limits: ConnectionLimits) -> type[H11Protocol]:
    """An HTTP protocol class for uvicorn that holds its connections to `limits` (see the module documentation)."""
    book = _OpenConnections(limits)

    class GuardedH11(H11Protocol):
        _source: str | None = None  # None: not counted (refused)
        _deadline: asyncio.TimerHandle | None = None
        _begun = False  # bytes of the request awaited have come

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer: Any = transport.get_extra_info("peername")
            host = peer[0] if isinstance(peer, tuple) else ""
            source = source_key(host)
            if not book.admit(host, source, self.loop.time()):
                transport.write(_BUSY)
                transport.close()
                return
            self._source = source
            self._arm(limits.first_request)

        def data_received(self, data: bytes) -> None:
            self._begun = True
            super().data_received(data)
            if self.conn.their_state in _WHOLE:  # the request is whole: the API's time to answer is not counted
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state not in _WHOLE:
                self._arm(limits.request)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._source is not None:
                book.release(self._source)
                self._source = None
            super().connection_lost(exc)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._begun = False
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing() or self.conn.their_state in _WHOLE:
                return
            if self._begun and self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                self.transport.write(_TOO_SLOW)  # begun and not finished: say why it ends
            self.transport.close()

    return GuardedH11
