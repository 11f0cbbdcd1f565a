"""Whether the server has fallen behind, and which requests it then refuses, sans-IO.

Two measures of the backlog, read by the runner at each message it handles and at a heartbeat due every
`HEARTBEAT` seconds while messages arrive (it sleeps once a beat has passed with none, so that an idle server does
not wake up; the next message starts it again):

* the UDP receive queue: the share of the socket's buffer taken by datagrams not yet read (the kernel's count,
  Linux). This is the backlog itself, and what overflows when the server cannot keep up: datagrams beyond the
  buffer are dropped unanswered. Behind from `FILL_HIGH` of the buffer.
* the event loop's lag: how late the heartbeat runs. A loop busy with a batch of messages that each fan out into
  NOTIFYs, or with a burst of NOTIFYs falling due together, runs it late, and how late is how long whatever arrived
  meanwhile (TCP and TLS included) has waited. Read between two heartbeats too (how overdue it is), so that one long
  batch is seen from inside it. Behind from `threshold` seconds (`--overload-lag`).

`Backlog` turns the readings into `behind`, with hysteresis so that it does not flap: behind as soon as either
measure is over its mark; serving again once both have stayed under a quarter (queue) or half (lag) of it for
`HOLD` seconds.

While behind, a new request (out of dialog: no To tag, neither ACK nor CANCEL) is answered 503 before any work is
done on it, with a Retry-After of `RETRY_AFTER` to `RETRY_AFTER_LATEST` seconds drawn for each (`retry_after`), so
that the clients refused in one burst do not all come back in the same second. What keeps the existing state
moving always goes through: in-dialog requests (a subscription's refresh, a BYE), ACK and CANCEL, and every
response (the watchers' answers to NOTIFYs, without which each NOTIFY would be retransmitted, then time out and
end its subscription).
"""

from __future__ import annotations

import random
from typing import TypeGuard

from smartbook_tui.sip.message import SipMessage, SipRequest
from smartbook_tui.sip.uri import SipParseError

__all__ = [
    "DEFAULT_OVERLOAD_LAG",
    "FILL_HIGH",
    "HEARTBEAT",
    "HOLD",
    "QUEUE_READ_INTERVAL",
    "RETRY_AFTER",
    "RETRY_AFTER_LATEST",
    "Backlog",
    "is_new_request",
    "retry_after",
]

DEFAULT_OVERLOAD_LAG = 0.2  # seconds of loop lag from which new requests are refused
HEARTBEAT = 0.05  # seconds between two readings of the lag
QUEUE_READ_INTERVAL = 0.005  # seconds between two readings of the UDP receive queue
HOLD = 1.0  # seconds the lag must stay low before new requests are served again
RETRY_AFTER = 2  # the fewest seconds a refused client is told to wait
RETRY_AFTER_LATEST = 5  # the most
# share of the UDP receive buffer waiting to be read from which new requests are refused: half of it still takes a
# burst (an eighth refused PUBLISHes at 100/s x 50 watchers on a server 75 % busy, bench/vs_kamailio.py)
FILL_HIGH = 0.5

_ALWAYS_PASSED = frozenset({"ACK", "CANCEL"})


class Backlog:
    """How far behind the server is, from readings of its loop's lag and its UDP receive queue (`observe`);
    `behind` with hysteresis."""

    def __init__(self, threshold: float, hold: float = HOLD) -> None:
        if threshold <= 0:
            raise ValueError(f"the overload threshold must be positive, got {threshold}")
        self.threshold = threshold
        self._hold = hold
        self.behind = False
        self.lag = 0.0  # the highest lag read since it last fell behind
        self.fill = 0.0  # likewise, the highest share of the receive buffer
        self._calm_since: float | None = None

    def observe(self, lag: float, fill: float, now: float) -> bool:
        """Take a reading made at `now`: the loop's lag (seconds late; a negative one counts as 0) and the share of
        the UDP receive buffer waiting to be read; whether the server is behind."""
        if lag >= self.threshold or fill >= FILL_HIGH:
            if not self.behind:
                self.behind, self.lag, self.fill = True, 0.0, 0.0
            self.lag, self.fill = max(self.lag, lag), max(self.fill, fill)
            self._calm_since = None
        elif self.behind:
            if lag >= self.threshold / 2 or fill >= FILL_HIGH / 4:
                self._calm_since = None
            elif self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= self._hold:
                self.behind = False
                self._calm_since = None
        return self.behind


def retry_after() -> int:
    """The seconds to tell one refused client to wait: spread over `RETRY_AFTER`..`RETRY_AFTER_LATEST`."""
    return random.randint(RETRY_AFTER, RETRY_AFTER_LATEST)


def is_new_request(message: SipMessage) -> TypeGuard[SipRequest]:
    """Whether `message` starts something new (a request out of dialog that is neither ACK nor CANCEL, nor an
    OPTIONS to the server itself): what an overloaded server refuses. A To that does not read is left to the core,
    which answers it 400."""
    if not isinstance(message, SipRequest) or message.method in _ALWAYS_PASSED:
        return False
    if message.method == "OPTIONS" and "@" not in message.uri:
        # A probe (a front's, a monitor's): a busy node refusing it would be taken for a dead one, and its users
        # moved onto the others, busy too.
        return False
    try:
        return not message.to_tag
    except SipParseError:
        return False
