"""Whether the server has fallen behind, and which requests it then refuses, sans-IO.

The measure is the event loop's lag. The runner keeps a heartbeat due every `HEARTBEAT` seconds; a loop busy with
a batch of datagrams that each fan out into NOTIFYs, or with a burst of NOTIFYs falling due together, runs it late,
and how late is how long whatever arrived meanwhile has waited, unread, in the socket buffers. The lag is read at
each heartbeat and, between two, at every message handled (how overdue the heartbeat is), so one long batch is
seen from inside it: the requests at its end are already refused.

`LoopLag` turns the readings into `behind`, with hysteresis so that it does not flap: behind from a lag of
`threshold` seconds; serving again once the lag has stayed under half of that for `HOLD` seconds.

While behind, a new request (out of dialog: no To tag, neither ACK nor CANCEL) is answered 503 with Retry-After
before any work is done on it; what keeps the existing state moving always goes through: in-dialog requests
(a subscription's refresh, a BYE), ACK and CANCEL, and every response (the watchers' answers to NOTIFYs, without
which each NOTIFY would be retransmitted, then time out and end its subscription).
"""

from __future__ import annotations

from typing import TypeGuard

from smartbook_tui.sip.message import SipMessage, SipRequest
from smartbook_tui.sip.uri import SipParseError

__all__ = ["DEFAULT_OVERLOAD_LAG", "HEARTBEAT", "HOLD", "RETRY_AFTER", "LoopLag", "is_new_request"]

DEFAULT_OVERLOAD_LAG = 0.2  # seconds of loop lag from which new requests are refused
HEARTBEAT = 0.05  # seconds between two readings of the lag when the loop is idle
HOLD = 1.0  # seconds the lag must stay low before new requests are served again
RETRY_AFTER = 2  # seconds a refused client is told to wait

_ALWAYS_PASSED = frozenset({"ACK", "CANCEL"})


class LoopLag:
    """How far behind the loop is, from readings of its lag (`observe`); `behind` with hysteresis."""

    def __init__(self, threshold: float, hold: float = HOLD) -> None:
        if threshold <= 0:
            raise ValueError(f"the overload threshold must be positive, got {threshold}")
        self.threshold = threshold
        self._low = threshold / 2
        self._hold = hold
        self.behind = False
        self.lag = 0.0  # the last reading
        self._calm_since: float | None = None

    def observe(self, lag: float, now: float) -> bool:
        """Take a reading (seconds late; a negative one counts as 0) made at `now`; whether the loop is behind."""
        self.lag = lag = max(lag, 0.0)
        if lag >= self.threshold:
            self.behind = True
            self._calm_since = None
        elif self.behind:
            if lag >= self._low:
                self._calm_since = None
            elif self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= self._hold:
                self.behind = False
                self._calm_since = None
        return self.behind


def is_new_request(message: SipMessage) -> TypeGuard[SipRequest]:
    """Whether `message` starts something new (a request out of dialog that is neither ACK nor CANCEL): what an
    overloaded server refuses. A To that does not read is left to the core, which answers it 400."""
    if not isinstance(message, SipRequest) or message.method in _ALWAYS_PASSED:
        return False
    try:
        return not message.to_tag
    except SipParseError:
        return False
