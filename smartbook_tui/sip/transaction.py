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
TIMER_C = 180.0  # how long a proxied INVITE may ring (RFC 3261 16.6 step 11: more than 3 minutes)


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
        return response if self.on_status(response.status, now) else None

    def on_status(self, status: int, now: float) -> bool:
        """A response with this status arrived: whether it is to be passed up (False: a retransmitted final)."""
        if self.state in (State.COMPLETED, State.TERMINATED):
            return False
        if status < 200:
            self.state = State.PROCEEDING
            return True
        self.state = State.COMPLETED
        self._retransmit_at = None
        self._terminate_at = now + (0.0 if self.reliable else T4)  # timer K
        return True


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
    words = via.split(";", 1)[0].split()
    sent_by = words[-1].lower() if words else ""
    return (request.via_branch or "", sent_by, request.method)


# ---------------------------------------------------------------------------------------------- INVITE


class InviteState(enum.Enum):
    CALLING = "calling"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"  # a non-2xx final: the ACK goes (client) or is awaited (server)
    CONFIRMED = "confirmed"  # server: the ACK came
    ACCEPTED = "accepted"  # a 2xx went through (RFC 6026): its retransmissions still pass
    TERMINATED = "terminated"


class InviteClientTransaction:
    """One INVITE sent (RFC 3261 17.1.1, with RFC 6026's Accepted state). Over UDP the INVITE is sent again (timer
    A, T1 doubling) until a response comes; without any response after 64*T1 (timer B), or without a final one
    `TIMER_C` after the last provisional (a proxy's timer C, RFC 3261 16.6: the owner cancels it then, and it
    waits 64*T1 more for the 487), it times out. A non-2xx
    final is acknowledged here (`on_response` gives the ACK's bytes to send), and its retransmissions are absorbed
    for 32 s (timer D); a 2xx is passed up, as are its retransmissions for 64*T1 (timer M)."""

    def __init__(self, request: SipRequest, *, reliable: bool, branch: str) -> None:
        self.request = request
        self.reliable = reliable
        self.branch = branch
        self.state = InviteState.CALLING
        self.ack: bytes | None = None
        self.rang_out = False  # timer C fired: it rang for TIMER_C without a final response
        self._data = request.to_bytes()
        self._interval = T1
        self._retransmit_at: float | None = None
        self._end_at = 0.0

    def start(self, now: float) -> bytes:
        self._end_at = now + 64 * T1  # timer B
        if not self.reliable:
            self._retransmit_at = now + T1  # timer A
        return self._data

    @property
    def deadline(self) -> float | None:
        if self.state is InviteState.TERMINATED:
            return None
        if self.state is InviteState.CALLING and self._retransmit_at is not None:
            return min(self._retransmit_at, self._end_at)
        return self._end_at

    def on_timer(self, now: float) -> TimerOutcome:
        if self.state is InviteState.TERMINATED or now < (self.deadline or now):
            return None
        if now >= self._end_at:
            if self.state is InviteState.PROCEEDING and not self.rang_out:
                self.rang_out = True  # timer C: the owner cancels it, and it waits for the 487
                self._end_at = now + 64 * T1
                return TimedOut()
            timed_out = self.state is InviteState.CALLING
            self.state = InviteState.TERMINATED
            return TimedOut() if timed_out else None
        assert self._retransmit_at is not None
        self._interval *= 2
        self._retransmit_at = now + self._interval
        return Retransmit(self._data)

    def on_response(self, response: SipResponse, now: float) -> SipResponse | None:
        """The response to pass up, or None for one absorbed (a retransmitted non-2xx final, anything once
        terminated). After a non-2xx final, `ack` holds the ACK to send (again for each retransmission)."""
        state = self.state
        if state is InviteState.TERMINATED:
            return None
        status = response.status
        if status < 200:
            if state is InviteState.CALLING or (state is InviteState.PROCEEDING and not self.rang_out):
                self.state = InviteState.PROCEEDING
                self._retransmit_at = None
                self._end_at = now + TIMER_C
            return response if state in (InviteState.CALLING, InviteState.PROCEEDING) else None
        if status < 300:
            if state is not InviteState.ACCEPTED:
                if state is InviteState.COMPLETED:
                    return None
                self.state = InviteState.ACCEPTED
                self._end_at = now + 64 * T1  # timer M
            return response
        if state is InviteState.COMPLETED:
            return None  # a retransmission: the owner sends `ack` again
        if state is InviteState.ACCEPTED:
            return None
        self.state = InviteState.COMPLETED
        self._retransmit_at = None
        self._end_at = now + (0.0 if self.reliable else 32.0)  # timer D
        self.ack = _ack_for(self.request, response).to_bytes()
        return response


class InviteServerTransaction:
    """One INVITE received (RFC 3261 17.2.1, with RFC 6026). Retransmitted INVITEs get the last response again. A
    non-2xx final is sent again over UDP (timer G) until the ACK comes, for at most 64*T1 (timer H), and the ACK's
    retransmissions are absorbed for T4 (timer I); after a 2xx the INVITE's retransmissions are absorbed for 64*T1
    (timer L)."""

    def __init__(self, request: SipRequest, *, reliable: bool, key: tuple[str, str, str]) -> None:
        self.request = request
        self.reliable = reliable
        self.key = key
        self.state = InviteState.PROCEEDING
        self.final: SipResponse | None = None
        self._last: bytes | None = None
        self._interval = T1
        self._retransmit_at: float | None = None
        self._end_at: float | None = None

    def respond(self, response: SipResponse, now: float) -> bytes | None:
        """The bytes to send, or None when a final response was already sent (a 2xx still passes: the owner
        forwards every 2xx of a forked INVITE)."""
        data = response.to_bytes()
        if self.state is not InviteState.PROCEEDING:
            return data if 200 <= response.status < 300 and self.state is InviteState.ACCEPTED else None
        self._last = data
        if response.status < 200:
            return data
        self.final = response
        if response.status < 300:
            self.state = InviteState.ACCEPTED
            self._end_at = now + 64 * T1  # timer L
        else:
            self.state = InviteState.COMPLETED
            self._end_at = now + 64 * T1  # timer H
            if not self.reliable:
                self._retransmit_at = now + T1  # timer G
        return data

    def on_retransmission(self) -> bytes | None:
        return self._last if self.state in (InviteState.PROCEEDING, InviteState.COMPLETED) else None

    def on_ack(self, now: float) -> bool:
        """Whether an ACK belongs to this transaction (its non-2xx final), and is absorbed."""
        if self.state is InviteState.COMPLETED:
            self.state = InviteState.CONFIRMED
            self._retransmit_at = None
            self._end_at = now + (0.0 if self.reliable else T4)  # timer I
            return True
        return self.state is InviteState.CONFIRMED

    @property
    def deadline(self) -> float | None:
        if self.state in (InviteState.PROCEEDING, InviteState.TERMINATED):
            return None
        if self._retransmit_at is not None and self._end_at is not None:
            return min(self._retransmit_at, self._end_at)
        return self._end_at

    def on_timer(self, now: float) -> TimerOutcome:
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        if self._end_at is not None and now >= self._end_at:
            timed_out = self.state is InviteState.COMPLETED  # timer H: the ACK never came
            self.state = InviteState.TERMINATED
            return TimedOut() if timed_out else None
        assert self._retransmit_at is not None
        assert self._last is not None
        self._interval = min(self._interval * 2, T2)
        self._retransmit_at = now + self._interval
        return Retransmit(self._last)


def _ack_for(invite: SipRequest, response: SipResponse) -> SipRequest:
    """RFC 3261 17.1.1.3: the ACK of a non-2xx final, in the INVITE's transaction (same top Via, the response's
    To), with the INVITE's Route."""
    headers = invite.headers.only("Via", "Route", "From", "Call-ID", "Max-Forwards")
    vias = headers.get_all("Via")
    if len(vias) > 1:
        headers.set("Via", vias[0])
    headers.add("To", response.headers.get("To") or invite.headers.get("To") or "")
    headers.add("CSeq", f"{invite.cseq[0]} ACK")
    return SipRequest("ACK", invite.uri, headers)
