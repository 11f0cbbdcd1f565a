"""A fixed book and a fixed script of session events for the rendering tests: the fixtures' address book, some
of whose numbers belong to users with a status and a note, so that every screen is the same on every run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from smartbook_tui.contacts import Contact, contact_resource_uris, normalize_contacts, read_vcard_paths
from smartbook_tui.phone.states import OwnPresence, OwnStatus, Registration, RegistrationState
from smartbook_tui.presence.summary import Availability, PresenceSummary
from smartbook_tui.roster.events import BookLoaded, ListStatus, OwnPresenceChanged, PresenceChanged, RegistrationChanged
from smartbook_tui.roster.search import fold
from smartbook_tui.subscriber.machine import Phase
from smartbook_tui.subscriber.tracker import PresenceUpdate

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "fixtures" / "contacts"
DOMAIN = "example.org"
ACCOUNT = "sip:alice@example.org"

# contact name -> (status, note) of the account its first checked number belongs to
USERS: dict[str, tuple[Availability, str | None]] = {
    "Camille Martin": (Availability.ONLINE, "In Lyon until Friday"),
    "Julien Bernard": (Availability.AWAY, None),
    "Jean-Pierre Durand": (Availability.BUSY, "Meeting"),
    "Inès Durand": (Availability.ONLINE, None),
    "Odile Garnier": (Availability.OFFLINE, None),
    "Sophie Dubois": (Availability.ON_THE_PHONE, None),
    "Hugo Fabre": (Availability.UNKNOWN, None),
    "Yasmine Benali": (Availability.ONLINE, "Working from home"),
    "Lukas Schneider": (Availability.AWAY, "Back at 3"),
}


def fixture_contacts() -> list[Contact]:
    """The fixtures' book, read with region FR, with sources relative to the repository (the same on any clone)."""
    contacts = normalize_contacts(read_vcard_paths([BOOK]).contacts, "FR")
    return [dataclasses.replace(c, source=Path(c.source).relative_to(ROOT).as_posix()) for c in contacts]


def user_updates(contacts: list[Contact], users: dict[str, tuple[Availability, str | None]]) -> list[PresenceUpdate]:
    updates = []
    for contact in contacts:
        if contact.name in users:
            status, note = users[contact.name]
            uri = contact_resource_uris(contact, DOMAIN)[0]
            user = fold(contact.name.split()[0])
            summary = PresenceSummary(True, f"sip:{user}@{DOMAIN}", status, note, None)
            updates.append(PresenceUpdate(uri, summary))
    return updates


def live_script(contacts: list[Contact] | None = None) -> list:
    """A session that read the book, registered, subscribed and got the full state."""
    contacts = fixture_contacts() if contacts is None else contacts
    resources = sum(len(contact_resource_uris(c, DOMAIN)) for c in contacts)
    return [
        BookLoaded(contacts, [], ("fixtures/contacts",), DOMAIN),
        RegistrationChanged(Registration(RegistrationState.REGISTERED)),
        OwnPresenceChanged(OwnPresence(OwnStatus.ONLINE, None, published=True)),
        PresenceChanged(user_updates(contacts, USERS)),
        ListStatus(Phase.ACTIVE, "", True, resources),
    ]
