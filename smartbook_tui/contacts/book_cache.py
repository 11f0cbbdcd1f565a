"""The vCard files' book as the last run read it, kept in the user's cache directory: the next launch takes each
unchanged file's contacts from it in one read, instead of parsing and normalising every card again (a
10,000-card book takes ~0.5 s alone, and several times that beside an app that is starting).

A file's entry is used only when the file's stamp (modification and change times in ns, size, inode) is the one
it had when it was read, and the cache's format, smartbook's version, phonenumbers' installed copy and the region are
those of this run: a card edited, a file replaced or synced while the app was closed is read again. A file
changed in the same instant it was read could keep its stamp, so such a file is not kept (`RECENT_NS`).

The cache is JSON (as quick to read here as pickle, and nothing in it can run), written whole and atomically,
0600 in a 0700 directory: it holds the user's contacts. A cache that cannot be read or used counts as no cache.
The user's files are only ever read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from smartbook_tui import __version__
from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.collector import collector_paused

from .model import Contact, PhoneNumber, SkippedCard

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_MODE = 0o600
DIR_MODE = 0o700
RECENT_NS = 2_000_000_000  # a file changed this close to its reading may change again under the same stamp

Stamp = tuple[int, int, int, int]  # modification time (ns), change time (ns), size, inode
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


@dataclass(frozen=True, slots=True)
class FileBook:
    """What one vCard file was read into, and the stamp it had then."""

    stamp: Stamp | None  # None: the file was not there
    contacts: list[Contact]  # normalised: every number's E.164 form set where it can be checked
    skipped: list[SkippedCard]
    read_at_ns: int  # clock time (time.time_ns) when the file was stamped for this reading


def file_stamp(file: Path) -> Stamp | None:
    """The file's stamp, or None when it is not there."""
    try:
        status = file.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino


def default_book_cache(sources: Iterable[Path], region: str | None) -> Path:
    """Where the book of these sources is kept: one file per set of sources and region, so that two settings
    files never overwrite each other's."""
    key = "\n".join([region or "", *(str(source.expanduser().absolute()) for source in sources)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return platformdirs.user_cache_path("smartbook") / "book" / f"{digest}.json"


class BookCache:
    """The cached book at `path`, for vCard files read under `region`."""

    def __init__(self, path: Path, region: str | None) -> None:
        self.path = path
        self._header = book_header(region)

    def load(self) -> dict[Path, FileBook]:
        """Each file's last reading, by path; empty when there is no cache or it cannot be used."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        try:
            return decode_books(data.partition(b"\n")[2], self._header)
        except DECODE_ERRORS as exc:
            log.info("the book's cache %s cannot be used (%s): the book is read from its files", self.path, exc)
            return {}

    def save(self, files: Mapping[Path, FileBook]) -> None:
        """Keep these readings in place of the cache's, but for files changed too close to their reading. Raises
        OSError when the cache cannot be written."""
        kept = {
            file: book
            for file, book in files.items()
            if book.stamp is not None and book.read_at_ns - max(book.stamp[0], book.stamp[1]) > RECENT_NS
        }
        # A first line with the stamps alone lets `covers` answer without reading the contacts.
        stamps = json.dumps([[str(file), book.stamp] for file, book in kept.items()], ensure_ascii=False).encode()
        write_atomically(
            self.path, stamps + b"\n" + encode_books(kept, self._header), mode=FILE_MODE, directory_mode=DIR_MODE
        )

    def covers(self, stamps: Iterable[tuple[Path, Stamp | None]]) -> bool:
        """Whether the cache holds every one of these files as it is now (a quick look, for a launch that starts
        the screen meanwhile: the contacts are not read)."""
        try:
            with self.path.open("rb") as handle:
                kept = dict(json.loads(handle.readline()))
        except (OSError, *DECODE_ERRORS):
            return False
        return all(stamp is not None and kept.get(str(file)) == list(stamp) for file, stamp in stamps)


def book_header(region: str | None) -> list[object]:
    """What a reading depends on besides the file: the format, the parser's version, the number rules' installed
    copy, and the region."""
    return [FORMAT_VERSION, __version__, number_rules_stamp(), region]


def number_rules_stamp() -> list[object]:
    """phonenumbers' installed copy, told without loading it (~25 ms, before the app's first frame): the path,
    size and modification time of its `__init__.py`, which holds its version and is rewritten by every install."""
    spec = importlib.util.find_spec("phonenumbers")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None:
        return []
    try:
        stat = origin.stat()
    except OSError:
        return [str(origin)]
    return [str(origin), stat.st_size, stat.st_mtime_ns]


def encode_books(files: Mapping[Path, FileBook], header: list[object]) -> bytes:
    document = {
        "header": header,
        "files": [
            [
                str(file),
                book.stamp,
                book.read_at_ns,
                [
                    [c.id, c.name, [[n.raw, n.kinds, n.e164] for n in c.numbers], c.sip_addresses, c.index]
                    for c in book.contacts
                ],
                [[card.index, card.reason] for card in book.skipped],
            ]
            for file, book in files.items()
            if _sources_are(book, str(file))
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def decode_books(data: bytes, header: list[object]) -> dict[Path, FileBook]:
    """The readings `encode_books` wrote, or nothing when the header differs. Raises one of DECODE_ERRORS for a
    document it did not write."""
    with collector_paused(long_lived=True):  # tens of thousands of objects, as long-lived as the book
        return _decode(data, header)


def _decode(data: bytes, header: list[object]) -> dict[Path, FileBook]:
    document = json.loads(data)
    if document["header"] != header:
        return {}
    files: dict[Path, FileBook] = {}
    kinds_seen: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple for each set of kinds, shared
    for source, stamp, read_at_ns, contacts, skipped in document["files"]:
        files[Path(source)] = FileBook(
            None if stamp is None else (int(stamp[0]), int(stamp[1]), int(stamp[2]), int(stamp[3])),
            [
                Contact(
                    str(uid),
                    str(name),
                    tuple(
                        PhoneNumber(str(raw), kinds_seen.setdefault(tuple(kinds), tuple(kinds)), e164)
                        for raw, kinds, e164 in numbers
                    ),
                    tuple(sip_addresses),
                    source,
                    index,
                )
                for uid, name, numbers, sip_addresses, index in contacts
            ],
            [SkippedCard(source, index, reason) for index, reason in skipped],
            int(read_at_ns),
        )
    return files


def _sources_are(book: FileBook, source: str) -> bool:
    """Whether every record of the reading names `source` (the cache stores it once a file)."""
    return all(c.source == source for c in book.contacts) and all(s.source == source for s in book.skipped)
