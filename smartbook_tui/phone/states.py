"""What the phone engine tells its owner, as typed values (no pjsua2 here: the roster and the app import it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RegistrationState(enum.Enum):
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"  # `detail` says why and what to do; retried with backoff unless `retrying` is False
    UNREGISTERED = "unregistered"


@dataclass(frozen=True, slots=True)
class Registration:
    state: RegistrationState
    detail: str = ""  # one line for a person: "wrong password for alice", "no answer from 127.0.0.1:5070"
    retrying: bool = False  # a retry is scheduled (a wrong password is not retried until the settings change)


class OwnStatus(enum.Enum):
    """The presence the user publishes for their own account."""

    ONLINE = "online"
    AWAY = "away"
    BUSY = "busy"
    DO_NOT_DISTURB = "do-not-disturb"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class OwnPresence:
    status: OwnStatus
    note: str | None = None
    published: bool = False  # the server accepted it (False while the PUBLISH is under way or refused)
    detail: str = ""  # why it was refused, in one line


class CallDirection(enum.Enum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


class CallState(enum.Enum):
    CALLING = "calling"  # the INVITE is on its way, nothing heard back yet
    RINGING = "ringing"  # the other side rings (180/183, early media)
    INCOMING = "incoming"  # ringing here: answer or decline
    CONNECTING = "connecting"  # answered, the ACK not through yet
    CONFIRMED = "confirmed"  # talking
    ON_HOLD = "on hold"  # held by either side (`held`, `held_by_them` say which)
    ENDED = "ended"  # `end_reason` says why


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One call as the user sees it. Times are `time.time()` seconds: `started` when the call was placed or
    rang here, `connected` when it was answered, `ended` when it ended."""

    id: int  # the engine's own number, never reused while the phone runs
    direction: CallDirection
    remote_uri: str  # sip:bob@example.org
    remote_name: str  # the display name the other side gave, "" when none
    state: CallState
    started: float
    connected: float | None = None
    ended: float | None = None
    muted: bool = False  # the microphone does not reach this call
    held: bool = False  # put on hold by this side
    held_by_them: bool = False
    end_reason: str = ""  # "busy", "declined", "hung up by them"...: one line for a person
    end_code: int | None = None  # the SIP status that ended it

    def duration(self, now: float) -> float:
        """Seconds talked: from the answer to the end (or to `now` while it lasts); 0 when never answered."""
        if self.connected is None:
            return 0.0
        return max(0.0, (self.ended if self.ended is not None else now) - self.connected)

    @property
    def answered(self) -> bool:
        return self.connected is not None


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A call changed (`call` is its new state), or the other side sent a DTMF digit (`digit`, the call as is)."""

    call: CallInfo
    digit: str = ""


@dataclass(frozen=True, slots=True)
class MediaCounts:
    """RTP packets of a call's audio stream so far: sent, and received from the other side."""

    sent: int
    received: int


@dataclass(frozen=True, slots=True)
class AudioDevice:
    name: str
    driver: str
    inputs: int  # capture channels: 0 for a speaker only
    outputs: int
