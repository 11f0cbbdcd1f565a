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
