"""What the contact list shows of a presentity, derived from its PIDF: the one place for the
"has an account" rule and for the consolidated status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .data_model import Activity, BasicStatus, Note, Presence, PresenceTuple, UserInput


class Availability(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    BUSY = "busy"
    ON_THE_PHONE = "on-the-phone"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


_BUSY = frozenset(
    {
        Activity.BUSY,
        Activity.MEETING,
        Activity.APPOINTMENT,
        Activity.PERFORMANCE,
        Activity.PRESENTATION,
        Activity.WORSHIP,
        Activity.STEERING,
    }
)
_AWAY = frozenset(
    {
        Activity.AWAY,
        Activity.BREAKFAST,
        Activity.DINNER,
        Activity.LUNCH,
        Activity.MEAL,
        Activity.HOLIDAY,
        Activity.VACATION,
        Activity.IN_TRANSIT,
        Activity.TRAVEL,
        Activity.SHOPPING,
        Activity.SLEEPING,
        Activity.PERMANENT_ABSENCE,
    }
)


@dataclass(frozen=True, slots=True)
class PresenceSummary:
    has_account: bool
    sip_address: str | None  # where to call or write: the contact of the best open tuple
    status: Availability
    note: str | None
    last_seen: datetime | None


NO_PRESENCE = PresenceSummary(False, None, Availability.UNKNOWN, None, None)


def summarize(presence: Presence | None, lang: str | None = None) -> PresenceSummary:
    """The contact-list view of a presentity.

    * has_account: some tuple with a basic status names a contact URI (a phone number's presence, as the server
      resolves it, names the account's SIP address). Linphone asks for the tuple to be `open` as well; this rule
      also keeps the badge of a user the server shows as offline (a `closed` tuple with the account's address),
      which Linphone cannot express.
    * sip_address: the contact of the best open tuple (highest priority), else of the best closed one.
    * status: offline when no tuple is open (busy when a closed tuple comes with busy activities: "do not
      disturb"); otherwise the activities decide (on the phone, busy, away, idle input = away); an open tuple
      with only the `unknown` activity means the server hides the live status (unknown); else online.
    * note: in `lang` (or its primary language) if there is one, else one without a language, else the first.
    * last_seen: the newest timestamp or last user input.
    """
    if presence is None:
        return NO_PRESENCE
    # One pass over the tuples (this runs for every resource of every NOTIFY: 10,000 in a big full state).
    has_basic = is_open = False
    best: PresenceTuple | None = None  # the tuple with a contact to show: open first, then by priority
    best_rank = (False, -2.0)
    last_seen: datetime | None = None
    for item in presence.tuples:
        if item.basic is not None:
            has_basic = True
        if item.timestamp is not None and (last_seen is None or item.timestamp > last_seen):
            last_seen = item.timestamp
        if item.basic is BasicStatus.OPEN:
            is_open = True
        if item.contact and item.basic is not None:
            # Open before closed, then highest priority; no priority ranks below any; document order breaks ties.
            rank = (item.basic is BasicStatus.OPEN, -1.0 if item.contact_priority is None else item.contact_priority)
            if rank > best_rank:
                best, best_rank = item, rank
    if not has_basic:
        return NO_PRESENCE
    for person in presence.persons:
        for moment in (person.timestamp, person.last_input):
            if moment is not None and (last_seen is None or moment > last_seen):
                last_seen = moment
    # Positional arguments: a frozen dataclass takes keywords at twice the cost, once for each resource of a list.
    return PresenceSummary(
        best is not None,  # has_account
        best.contact if best is not None else None,  # sip_address
        _status(presence, is_open),
        _note(presence, lang),
        last_seen,
    )


def _status(presence: Presence, is_open: bool) -> Availability:
    if not presence.persons:
        return Availability.ONLINE if is_open else Availability.OFFLINE
    # isdisjoint rather than &, and no set to compare with: an activity's hash is a Python call (Enum.__hash__).
    activities = {activity for person in presence.persons for activity in person.activities}
    busy = not activities.isdisjoint(_BUSY)
    if not is_open:
        return Availability.BUSY if busy else Availability.OFFLINE
    if Activity.ON_THE_PHONE in activities:
        return Availability.ON_THE_PHONE
    if busy:
        return Availability.BUSY
    idle = any(person.user_input is UserInput.IDLE for person in presence.persons)
    if idle or not activities.isdisjoint(_AWAY):
        return Availability.AWAY
    if len(activities) == 1 and Activity.UNKNOWN in activities:
        return Availability.UNKNOWN
    return Availability.ONLINE


def _note(presence: Presence, lang: str | None) -> str | None:
    if (
        not presence.notes
        and not any(person.notes or person.activity_notes for person in presence.persons)
        and not any(item.notes for item in presence.tuples)
    ):
        return None
    notes: list[Note] = []
    for person in presence.persons:
        notes += person.activity_notes + person.notes
    for item in presence.tuples:
        notes += item.notes
    notes += presence.notes
    notes = [note for note in notes if note.text]
    if not notes:
        return None
    preferred = lang.lower() if lang else None
    return min(notes, key=lambda note: _language_rank(note.lang, preferred)).text


def _language_rank(note_lang: str | None, preferred: str | None) -> int:
    """0: the preferred language; 1: the same primary language (en-GB for en); 2: no language; 3: another."""
    if note_lang is None:
        return 2
    lowered = note_lang.lower()
    if preferred and lowered == preferred:
        return 0
    if preferred and lowered.split("-")[0] == preferred.split("-")[0]:
        return 1
    return 3
