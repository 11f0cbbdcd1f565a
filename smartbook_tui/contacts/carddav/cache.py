"""The on-disk copy of a CardDAV source: what the last good sync saw, so the book opens offline.

One JSON file per configured source (server URL + user name), holding for each address book its URL, display name,
sync token and every card's href, ETag and vCard text. The file is personal data: it is written 0600 in a 0700
directory, always whole (temporary file, fsync, os.replace), so a crash or a full disk leaves the previous copy
intact. A file that cannot be read (truncated by hand, another version's format) counts as no cache: the next
good sync rewrites it. The password is never part of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from smartbook_tui.atomic_file import write_atomically

FORMAT_VERSION = 1
FILE_MODE = 0o600
DIR_MODE = 0o700


def default_cache_dir() -> Path:
    """Where CardDAV copies live unless the caller says otherwise: $XDG_CACHE_HOME/smartbook/carddav."""
    return Path(platformdirs.user_cache_dir("smartbook")) / "carddav"


@dataclass(slots=True)
class CachedCard:
    href: str  # the card's absolute URL, normalised (see urls._display)
    etag: str | None
    vcard: str


@dataclass(slots=True)
class CachedAddressBook:
    url: str
    display_name: str = ""
    sync_token: str | None = None
    cards: dict[str, CachedCard] = field(default_factory=dict)


@dataclass(slots=True)
class CachedSource:
    url: str  # the URL the user configured (without credentials)
    username: str | None
    synced_at: float | None = None  # clock time of the last good sync
    books: dict[str, CachedAddressBook] = field(default_factory=dict)  # by address-book URL, in discovery order


def cache_file(cache_dir: Path, url: str, username: str | None) -> Path:
    """The file holding the copy of one source: a hash of URL and user, so two accounts never share one."""
    digest = hashlib.sha256(f"{username or ''}\n{url}".encode()).hexdigest()[:24]
    return cache_dir / f"{digest}.json"


def load_cache(path: Path, url: str, username: str | None) -> CachedSource | None:
    """The copy stored at `path` for this source, or None when there is none or it cannot be used."""
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        if raw["version"] != FORMAT_VERSION or raw["url"] != url or raw["username"] != username:
            return None
        source = CachedSource(url=url, username=username, synced_at=_optional_float(raw.get("synced_at")))
        for entry in raw["books"]:
            book = CachedAddressBook(
                url=str(entry["url"]),
                display_name=str(entry.get("display_name", "")),
                sync_token=_optional_str(entry.get("sync_token")),
            )
            for card in entry["cards"]:
                href = str(card["href"])
                book.cards[href] = CachedCard(href, _optional_str(card.get("etag")), str(card["vcard"]))
            source.books[book.url] = book
    except (KeyError, TypeError, AttributeError):
        return None
    return source


def save_cache(path: Path, source: CachedSource) -> None:
    """Write the whole copy atomically, readable by its owner only. Raises OSError when it cannot."""
    document = {
        "version": FORMAT_VERSION,
        "url": source.url,
        "username": source.username,
        "synced_at": source.synced_at,
        "books": [
            {
                "url": book.url,
                "display_name": book.display_name,
                "sync_token": book.sync_token,
                "cards": [
                    {"href": card.href, "etag": card.etag, "vcard": card.vcard}
                    for card in sorted(book.cards.values(), key=lambda card: card.href)
                ],
            }
            for book in source.books.values()
        ],
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    write_atomically(path, data, mode=FILE_MODE, directory_mode=DIR_MODE)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _optional_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
