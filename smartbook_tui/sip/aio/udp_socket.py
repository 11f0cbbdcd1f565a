"""The listener's UDP socket on the event loop, read in batches.

asyncio's datagram transport reads one datagram per turn of the loop. Under a flood that leaves the kernel's
receive buffer full, and every other source's datagrams are dropped there, before the server can tell them
apart. This socket reads up to `_BATCH` datagrams each time it is readable, into one reused buffer, and asks
`admit(address)` before copying one out, so a datagram refused costs a system call and a lookup. Sending is a
`sendto` straight away: when the kernel's send buffer is full the datagram is dropped (SIP retransmits).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
from collections.abc import Callable

from .transport import Address, error_reason, format_address

__all__ = ["UdpSocket"]

log = logging.getLogger(__name__)

_BATCH = 128  # datagrams read per readiness, so that TCP connections and timers still get their turn
_MAX_DATAGRAM = 65_535
# Linux's SO_MEMINFO: the socket's memory counters, the first two the receive queue's bytes and the buffer's size.
_SO_MEMINFO = 55 if sys.platform == "linux" else None
_MEMINFO = struct.Struct("2I")


class UdpSocket:
    """A bound non-blocking UDP socket read on `loop` until `close()`. `admit(address)` says whether a datagram
    from there is read (True) or dropped unread; `on_datagram(data, address)` gets the ones read."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        admit: Callable[[Address], bool],
        on_datagram: Callable[[bytes, Address], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._admit = admit
        self._on_datagram = on_datagram
        self._buffer = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        self.address = format_address(sock.getsockname()[:2])
        loop.add_reader(sock.fileno(), self._read_ready)

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    def sendto(self, data: bytes, address: Address) -> bool:
        """Send one datagram; False when the kernel's send buffer is full and it was dropped."""
        try:
            self._sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:  # no route, an ICMP error of an earlier datagram: the peer's transaction times out
            log.debug("UDP socket %s: cannot send to %s: %s", self.address, format_address(address), error_reason(exc))
        return True

    def queued(self) -> float:
        """The share of the receive buffer taken by datagrams not yet read, as the kernel counts them (what they
        cost it, a little over their size); 0.0 where it does not say."""
        if _SO_MEMINFO is None or self.closed:
            return 0.0
        try:
            allocated, size = _MEMINFO.unpack_from(self._sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 36))
        except OSError:
            return 0.0
        return allocated / size if size else 0.0

    def close(self) -> None:
        if self.closed:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def _read_ready(self) -> None:
        receive = self._sock.recvfrom_into
        for _ in range(_BATCH):
            if self.closed:  # a callback closed the listener
                return
            try:
                size, source = receive(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error reported on the socket: nothing to read from it
                log.debug("UDP socket %s: %s", self.address, error_reason(exc))
                continue
            address = (source[0], source[1])
            if self._admit(address):
                self._on_datagram(bytes(self._view[:size]), address)
