"""What a running session tells its owner (the app, or `smartbook watch`): the book, presence, and the state of
the list subscription and of the phone. All of it arrives on the event loop's thread."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbook_tui.contacts import Contact, SkippedCard
    from smartbook_tui.phone.states import CallInfo, OwnPresence, Registration
    from smartbook_tui.subscriber.machine import Phase
    from smartbook_tui.subscriber.tracker import PresenceUpdate


@dataclass(frozen=True, slots=True)
class BookLoaded:
    """The whole book, at start and again after every change of its files or CardDAV book (it replaces the last)."""

    contacts: list[Contact]
    skipped: list[SkippedCard]
    sources: tuple[str, ...]  # the files, directories and CardDAV URLs read
    domain: str | None  # where numbers become resources (sip:+E164@domain;user=phone)


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    updates: list[PresenceUpdate]  # per resource URI; map them to contacts with contacts.contacts_by_resource


@dataclass(frozen=True, slots=True)
class ListStatus:
    """The list subscription(s): a phase for the status bar, a line of detail, and whether the full state of the
    whole book has arrived (every part of a book split over several subscriptions)."""

    phase: Phase
    detail: str
    complete: bool
    resources: int  # how many resources are subscribed to
    # What the service last said of the numbers it did not check (its discovery quota), shown once as a Notice too.
    quota: str = ""


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    registration: Registration


@dataclass(frozen=True, slots=True)
class OwnPresenceChanged:
    presence: OwnPresence


@dataclass(frozen=True, slots=True)
class CallChanged:
    """A call rang, changed state or ended (`call` as it is now), or the other side sent a DTMF `digit`."""

    call: CallInfo
    digit: str = ""


class Severity(enum.Enum):
    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person should read once (a notification in the app, a line on stderr in `watch`): what
    happened and what to do, in one line."""

    severity: Severity
    message: str
    # The items the message sums up, one line each (the cards skipped), for a reader that prints every one.
    details: tuple[str, ...] = ()


SessionEvent = (
    BookLoaded | PresenceChanged | ListStatus | RegistrationChanged | OwnPresenceChanged | CallChanged | Notice
)
