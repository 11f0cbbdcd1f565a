"""The records an address book becomes: what smartbook knows of each contact, and of cards it could not read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PhoneNumber:
    raw: str  # as the card writes it (a tel: URI loses its scheme and parameters)
    kinds: tuple[str, ...] = ()  # the card's TYPE values in lower case: cell, home, work, voice, fax, pref...
    e164: str | None = None  # set by normalisation; None means "not checked": shown, never sent to a server


@dataclass(slots=True)
class Contact:
    id: str  # the card's UID, else a hash of the card's text: stable across imports of the same card
    name: str  # FN, else N, else ORG, else the first number
    numbers: tuple[PhoneNumber, ...] = ()
    sip_addresses: tuple[str, ...] = ()
    source: str = ""  # the file or URL the card came from
    index: int = 0  # the card's position in its source, counting from 1


@dataclass(slots=True)
class SkippedCard:
    source: str
    index: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: card {self.index} skipped: {self.reason}"


@dataclass(slots=True)
class ImportResult:
    contacts: list[Contact]
    skipped: list[SkippedCard]

    def summary(self) -> str:
        return f"{len(self.contacts)} contacts read, {len(self.skipped)} skipped"
