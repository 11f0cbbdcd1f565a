"""What the list subscription is doing, in its own module: the screens name the phases without loading the
subscription's SIP stack (`machine` re-exports it)."""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    IDLE = "idle"
    SUBSCRIBING = "subscribing"
    PENDING = "pending"  # the server accepted, but has not authorised the list yet
    ACTIVE = "active"
    WAITING = "waiting"  # to retry after a failure
    STOPPED = "stopped"  # unsubscribed at the owner's request
    FAILED = "failed"  # an error that retrying cannot fix: the message says what to do
