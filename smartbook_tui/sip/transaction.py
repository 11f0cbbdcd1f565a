"""Non-INVITE transactions (RFC 3261 section 17.1.2 and 17.2.2), sans-IO: the owner feeds messages and the
clock in (`now`, in seconds, from any monotonic source) and sends what comes out; nothing here sleeps or reads a
clock. Over UDP a client transaction retransmits its request (timer E: T1 doubling up to T2) until a response
comes, and gives up after 64*T1 (timer F); a server transaction answers retransmitted requests with its last
response until timer J. Over TCP and TLS nothing is retransmitted and the absorbing states last no time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .message import SipRequest, SipResponse

T1 = 0.5  # round-trip estimate (RFC 3261 17.1.1.1)
T2 = 4.0  # longest retransmission interval of a non-INVITE request
T4 = 5.0  # how long a message may stay in the network


class State(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Retransmit:
    data: bytes


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No final response came within 64*T1 (RFC 3261 calls it a 408 from the transaction layer)."""


TimerOutcome = Retransmit | TimedOut | None


class ClientTransaction:
    """One non-INVITE request and its responses. `key` (top Via branch, CSeq method) matches responses to it."""

    def __init__(self, request: SipRequest, *, reliable: bool, key: tuple[str, str] | None = None) -> None:
        """`key`: the request's Via branch and CSeq method, when the caller made them (and need not read them)."""
        if key is None:
            branch = request.via_branch
            if not branch:
                raise ValueError("a client transaction needs a Via branch")
            key = (branch, request.cseq[1])
        self.request = request
        self.reliable = reliable
        self.key = key
        self.state = State.TRYING
        self._data = request.to_bytes()
        self._interval = T1
        self._retransmit_at: float | None = None
        self._give_up_at = 0.0
        self._terminate_at: float | None = None

    def start(self, now: float) -> bytes:
        """The bytes to send now; timers start."""
        self._give_up_at = now + 64 * T1
        if not self.reliable:
            self._retransmit_at = now + T1
        return self._data

    @property
    def deadline(self) -> float | None:
        """When `on_timer` must next be called (None once terminated)."""
        if self.state is State.TERMINATED:
            return None
        if self.state is State.COMPLETED:
            return self._terminate_at
        candidates = [self._give_up_at] + ([self._retransmit_at] if self._retransmit_at is not None else [])
        return min(candidates)

    def on_timer(self, now: float) -> TimerOutcome:
        if self.state is State.COMPLETED and self._terminate_at is not None and now >= self._terminate_at:
            self.state = State.TERMINATED
            return None
        if self.state not in (State.TRYING, State.PROCEEDING):
            return None
        if now >= self._give_up_at:
            self.state = State.TERMINATED
            return TimedOut()
        if self._retransmit_at is not None and now >= self._retransmit_at:
            self._interval = T2 if self.state is State.PROCEEDING else min(self._interval * 2, T2)
            self._retransmit_at = now + self._interval
            return Retransmit(self._data)
        return None

    def on_response(self, response: SipResponse, now: float) -> SipResponse | None:
        """The response to pass up, or None for one the transaction absorbs (a retransmitted final)."""
        if self.state in (State.COMPLETED, State.TERMINATED):
            return None
        if response.status < 200:
            self.state = State.PROCEEDING
            return response
        self.state = State.COMPLETED
        self._retransmit_at = None
        self._terminate_at = now + (0.0 if self.reliable else T4)  # timer K
        return response


class ServerTransaction:
    """One received non-INVITE request (a NOTIFY, here) and the response the owner gives it. Retransmissions of
    the request are answered again with that response, never passed up twice."""

    def __init__(self, request: SipRequest, *, reliable: bool, key: tuple[str, str, str] | None = None) -> None:
        """`key`: the request's `server_key`, when the caller has read it already."""
        self.request = request
        self.reliable = reliable
        self.key = key if key is not None else server_key(request)
        self.state = State.TRYING
        self._last: bytes | None = None
        self._terminate_at: float | None = None

    def respond(self, response: SipResponse, now: float) -> bytes:
        self._last = response.to_bytes()
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._terminate_at = now + (0.0 if self.reliable else 64 * T1)  # timer J
        return self._last

    def on_retransmission(self) -> bytes | None:
        """What to send back for a retransmitted request: the last response, if any was given."""
        return self._last

    @property
    def deadline(self) -> float | None:
        return self._terminate_at if self.state is State.COMPLETED else None

    def on_timer(self, now: float) -> None:
        if self._terminate_at is not None and now >= self._terminate_at:
            self.state = State.TERMINATED


def server_key(request: SipRequest) -> tuple[str, str, str]:
    """RFC 3261 17.2.3: the top Via's branch and sent-by, and the method, identify a server transaction."""
    via = request.headers.get("Via") or ""
    sent_by = via.split(";", 1)[0].split()[-1].lower() if via.strip() else ""
    return (request.via_branch or "", sent_by, request.method)
