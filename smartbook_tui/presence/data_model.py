"""The presence data model (RFC 4479) as PIDF (RFC 3863) and RPID (RFC 4480) carry it: plain records, no XML.

`pidf` parses documents into these records and writes them back; the contact list's summary reads them without
loading the XML parser, which keeps it off the app's first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(slots=True)
class LocalizedText:
    """A PIDF note or an RLMI name: text in an optional xml:lang."""

    text: str
    lang: str | None = None


Note = LocalizedText


class BasicStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Activity(StrEnum):
    """RFC 4480 activities (the `other` activity carries its text in `Person.other_activity`)."""

    APPOINTMENT = "appointment"
    AWAY = "away"
    BREAKFAST = "breakfast"
    BUSY = "busy"
    DINNER = "dinner"
    HOLIDAY = "holiday"
    IN_TRANSIT = "in-transit"
    LOOKING_FOR_WORK = "looking-for-work"
    LUNCH = "lunch"
    MEAL = "meal"
    MEETING = "meeting"
    ON_THE_PHONE = "on-the-phone"
    OTHER = "other"
    PERFORMANCE = "performance"
    PERMANENT_ABSENCE = "permanent-absence"
    PLAYING = "playing"
    PRESENTATION = "presentation"
    SHOPPING = "shopping"
    SLEEPING = "sleeping"
    SPECTATOR = "spectator"
    STEERING = "steering"
    TRAVEL = "travel"
    TV = "tv"
    UNKNOWN = "unknown"
    VACATION = "vacation"
    WORKING = "working"
    WORSHIP = "worship"


class UserInput(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"


@dataclass(slots=True)
class PresenceTuple:
    """A PIDF <tuple>: the data model's service (RFC 4479 section 3.3)."""

    id: str
    basic: BasicStatus | None = None
    contact: str | None = None
    contact_priority: float | None = None
    timestamp: datetime | None = None
    notes: tuple[Note, ...] = ()
    online: bool = False  # Linphone's <pidfonline:online/> inside <status>
    device_id: str | None = None  # <dm:deviceID>
    status_extensions: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()


@dataclass(slots=True)
class Person:
    """A <dm:person>: what the human is doing (RFC 4479 section 3.2, RFC 4480)."""

    id: str
    activities: tuple[Activity, ...] = ()
    other_activity: str | None = None
    activity_notes: tuple[Note, ...] = ()
    user_input: UserInput | None = None
    last_input: datetime | None = None
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    extensions: tuple[str, ...] = ()


@dataclass(slots=True)
class Device:
    """A <dm:device> (RFC 4479 section 3.4)."""

    id: str
    device_id: str | None = None
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    extensions: tuple[str, ...] = ()


@dataclass(slots=True)
class Presence:
    entity: str
    tuples: tuple[PresenceTuple, ...] = ()
    persons: tuple[Person, ...] = ()
    devices: tuple[Device, ...] = ()
    notes: tuple[Note, ...] = ()
    extensions: tuple[str, ...] = ()
