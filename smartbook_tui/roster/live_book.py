"""The address book while a session runs: vCard files and a CardDAV account read at start, then watched, so that
an edit reaches the session without a restart.

Files are watched by polling their modification times and sizes (directories recursively): a few stat calls a
second cost nothing next to a book's parsing, work the same on every system and file system (network shares
included), and need no dependency. Only the files that changed are read again. CardDAV is synced every few seconds
(a sync-token REPORT answers "nothing new" in one small request). Parsing and number normalisation run in a worker
thread, so that a 10,000-card book never stalls the event loop; at launch, the files unchanged since the last run
come from the book's cache (`contacts.book_cache`) instead, and the cache is written again once the book is shown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smartbook_tui.config import CardDavSettings, Settings
from smartbook_tui.contacts.book_cache import BookCache, FileBook, Stamp, default_book_cache, file_stamp
from smartbook_tui.contacts.regions import named_region, system_locale_name
from smartbook_tui.contacts.resources import book_resource_uris

from .events import Notice, Severity

if TYPE_CHECKING:
    from smartbook_tui.contacts.carddav import CardDavAccount, CardDavBook, SyncResult
    from smartbook_tui.contacts.model import Contact, SkippedCard

# The vCard parser (vobject), the book's reader, phonenumbers and CardDAV (httpx) are imported where they are used:
# `read_ahead` runs before the app's first frame, and reads the files, if at all, in a thread and a process of its own.

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # `watch` sets up no logging: Python would print the warnings on stderr

FILE_POLL_INTERVAL = 1.5  # seconds between two looks at the vCard files
SETTLE_INTERVAL = 0.2  # seconds a changed file must stand still before it is read
CARDDAV_POLL_INTERVAL = 5.0  # seconds between two CardDAV syncs, unless the settings say otherwise
# seconds after launch before the book's cache is written: the app's first paint needs the interpreter more
CACHE_SAVE_DELAY = 2.0


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    contacts: list[Contact]  # every number's E.164 form set where it can be checked
    skipped: list[SkippedCard]
    sources: tuple[str, ...]  # the files, directories and CardDAV URL read
    settled: bool  # False while a CardDAV book is shown from its cached copy, before its first sync answers
    resources: tuple[str, ...]  # what the list subscription carries for it: every resource once, sorted


def book_region(settings: Settings) -> str | None:
    """The region national numbers are read in. Raises ValueError for a region setting that is not one."""
    from smartbook_tui.contacts.phones import default_region  # noqa: PLC0415 (see the imports)

    return default_region(settings.region, None, system_locale_name())


def carddav_account(carddav: CardDavSettings) -> CardDavAccount:
    from smartbook_tui.contacts.carddav import CardDavAccount  # noqa: PLC0415 (see the imports)

    return CardDavAccount(
        carddav.url or "",
        carddav.user,
        password_file=carddav.password_file,
        ca_file=carddav.ca,
        allow_insecure_http=carddav.insecure_http,
    )


class _Files:
    """The vCard files of the book, each read again only when its stamp changes; at launch, the cache's reading of
    a file whose stamp is unchanged stands for reading it, and a reading begun ahead (`read_ahead`) is taken."""

    def __init__(self, paths: list[Path], region: str | None, cache: BookCache) -> None:
        self._paths = paths
        self._region = region
        self._cache = cache
        self._read: dict[Path, FileBook] = {}
        self._unsaved = False  # files were read since the cache was last written

    def stamps(self) -> list[tuple[Path, Stamp | None]]:
        """Every file the book is made of, in book order, with its stamp (runs in a worker thread)."""
        return _stamps(self._paths)

    def read(self, stamps: list[tuple[Path, Stamp | None]]) -> tuple[list[Contact], list[SkippedCard]]:
        """The book's cards, reading the files whose stamp changed (runs in a worker thread)."""
        known = self._read
        if not known:
            ahead = _ahead.pop((tuple(self._paths), self._region), None)
            _ahead.clear()  # begun for other settings: not wanted any more
            taken = ahead.result() if ahead is not None else None
            known, self._unsaved = taken or (self._cache.load(), False)
        self._read, fresh = _read_books(stamps, self._region, known)
        self._unsaved = self._unsaved or fresh
        books = [self._read[file] for file, _ in stamps]  # a file given twice is there twice, as it is written
        return [c for book in books for c in book.contacts], [s for book in books for s in book.skipped]

    def save(self) -> None:
        """Write the cache if files were read since it was last written (runs in a worker thread)."""
        if not self._unsaved:
            return
        self._unsaved = False
        try:
            self._cache.save(self._read)
        except OSError as exc:  # the next launch reads the files: slower, never wrong
            log.info("the book's cache %s cannot be written: %s", self._cache.path, exc)


def _stamps(paths: list[Path]) -> list[tuple[Path, Stamp | None]]:
    from smartbook_tui.contacts.vcard import vcard_files  # noqa: PLC0415 (see the imports)

    return [(file, file_stamp(file)) for path in paths for file in vcard_files(path)]


def _read_books(
    stamps: list[tuple[Path, Stamp | None]], region: str | None, known: dict[Path, FileBook]
) -> tuple[dict[Path, FileBook], bool]:
    """Each file's reading, in book order: the known one while the file's stamp is the same, else a new one;
    whether any file was read."""
    from smartbook_tui.contacts.book_reader import read_files  # noqa: PLC0415 (see the imports)

    read_at_ns = time.time_ns()  # not before the stamps were taken: see book_cache.RECENT_NS
    changed = [file for file, stamp in stamps if stamp is None or file not in known or known[file].stamp != stamp]
    readings = read_files(changed, region) if changed else {}
    books = {
        file: FileBook(stamp, *readings[file], read_at_ns) if file in readings else known[file]
        for file, stamp in stamps
    }
    return books, bool(changed)


# Readings begun at launch, before the screen's modules load, by (sources, region).
# None: the cache holds the whole book, read once the screen is up.
_ahead: dict[tuple[tuple[Path, ...], str | None], Future[tuple[dict[Path, FileBook], bool] | None]] = {}


def read_ahead(settings: Settings) -> None:
    """Begin reading the vCard files of `settings` now, in a thread (its parsing, if much changed since the last
    run, in a process of its own), unless the cache holds them all: the app calls it before it loads the screen,
    which then starts beside it, and the session's live book takes what it read. The region is the one the
    settings name, unchecked (checking it loads phonenumbers): a region that is not one gets no cache, and the live
    book says so and leaves the reading."""
    region = named_region(settings.region, system_locale_name())
    paths = list(settings.vcard)
    future: Future[tuple[dict[Path, FileBook], bool] | None] = Future()
    _ahead[(tuple(paths), region)] = future
    cache = BookCache(default_book_cache(paths, region), region)

    def reading() -> None:
        try:
            stamps = _stamps(paths)
            # A cached book is read quickly later; reading it now would only slow the screen's start.
            future.set_result(None if cache.covers(stamps) else _read_books(stamps, region, cache.load()))
        except BaseException as exc:  # raised again where the live book takes the reading, and told from there
            future.set_exception(exc)

    threading.Thread(target=reading, name="smartbook book read ahead", daemon=True).start()


class LiveBook:
    """Reads the book of `settings`, then tells `on_book` of every change until cancelled, with the resources its
    numbers become in `domain`; trouble (a region that is not one, an unreadable file or card, CardDAV failing)
    goes to `on_notice`, once, and the rest keeps working."""

    def __init__(
        self,
        settings: Settings,
        *,
        domain: str | None,
        on_notice: Callable[[Notice], None],
        log_file: Path | None = None,
        file_poll: float = FILE_POLL_INTERVAL,
        carddav_poll: float | None = None,
        cache_path: Path | None = None,
    ) -> None:
        """`log_file`: where the log goes, for the notice of skipped cards to name. `cache_path`: where the vCard
        files' book is cached between runs (by default in the user's cache directory, one file per set of sources
        and region)."""
        self._on_notice = on_notice
        self._log_file = log_file
        self._domain = domain
        self._file_poll = file_poll
        self._carddav_poll = carddav_poll or settings.carddav.poll or CARDDAV_POLL_INTERVAL
        self._region_problem: str | None = None
        try:
            self._region = book_region(settings)
        except ValueError as exc:  # told once `run` has someone to tell
            self._region_problem = f"{exc}; national numbers stay unchecked until it is fixed"
            self._region = None
        cache_path = cache_path or default_book_cache(settings.vcard, self._region)
        self._files = _Files(list(settings.vcard), self._region, BookCache(cache_path, self._region))
        self._carddav_settings = settings.carddav
        self._sources = (*map(str, settings.vcard), *([settings.carddav.url] if settings.carddav.url else []))
        self._file_contacts: list[Contact] = []
        self._file_skipped: list[SkippedCard] = []
        self._dav_contacts: list[Contact] = []
        self._dav_skipped: list[SkippedCard] = []
        self._dav_error: str | None = None
        self._told_skipped: set[tuple[str, int, str]] = set()
        self._on_book: Callable[[BookSnapshot], None] = lambda _snapshot: None

    @property
    def empty(self) -> bool:
        """Whether no source is configured at all (the app then says how to add one)."""
        return not self._sources

    async def run(self, on_book: Callable[[BookSnapshot], None]) -> None:
        self._on_book = on_book
        if self._region_problem is not None:
            self._notice(Severity.WARNING, self._region_problem)
        carddav = self._open_carddav()
        try:
            stamps = await asyncio.to_thread(self._files.stamps)
            self._file_contacts, self._file_skipped = await asyncio.to_thread(self._files.read, stamps)
            if carddav is None:
                await self._emit(settled=True)
            else:
                cached = await asyncio.to_thread(carddav.cached)
                if cached.book.contacts:
                    await self._take_carddav(cached, first=True)
                    await self._emit(settled=False)
                await self._take_carddav(await carddav.sync(), first=True)
                await self._emit(settled=True)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._save_files_later())
                tasks.create_task(self._watch_files(stamps))
                if carddav is not None:
                    tasks.create_task(self._watch_carddav(carddav))
        finally:
            if carddav is not None:
                await carddav.aclose()

    def _open_carddav(self) -> CardDavBook | None:
        settings = self._carddav_settings
        if not settings.url:
            return None
        from smartbook_tui.contacts.carddav import CardDavBook, CardDavError  # noqa: PLC0415 (see the imports)

        try:
            return CardDavBook(carddav_account(settings), cache_dir=settings.cache)
        except CardDavError as exc:  # a URL or option that cannot work: nothing is tried
            self._notice(Severity.ERROR, f"CardDAV: {exc}")
            return None

    async def _save_files_later(self) -> None:
        await asyncio.sleep(CACHE_SAVE_DELAY)
        await asyncio.to_thread(self._files.save)

    async def _watch_files(self, stamps: list[tuple[Path, Stamp | None]]) -> None:
        while True:
            await asyncio.sleep(self._file_poll)
            now = await asyncio.to_thread(self._files.stamps)
            if now == stamps:
                continue
            while True:  # a file being written (or a sync tool at work) is read once it stands still
                await asyncio.sleep(SETTLE_INTERVAL)
                stamps, now = now, await asyncio.to_thread(self._files.stamps)
                if now == stamps:
                    break
            log.info("the vCard files changed: reading them again")
            self._file_contacts, self._file_skipped = await asyncio.to_thread(self._files.read, stamps)
            await self._emit(settled=True)
            await asyncio.to_thread(self._files.save)

    async def _watch_carddav(self, carddav: CardDavBook) -> None:
        while True:
            await asyncio.sleep(self._carddav_poll)
            if await self._take_carddav(await carddav.sync(), first=False):
                await self._emit(settled=True)

    async def _take_carddav(self, result: SyncResult, *, first: bool) -> bool:
        """Keep what a sync gave; whether the book changed."""
        error = str(result.error) if result.error is not None else None
        if error != self._dav_error:
            if error is None:
                self._notice(Severity.INFORMATION, "CardDAV: the address book is reachable again")
            else:
                served = "the last good copy" if result.synced_at is not None else "nothing: no copy was ever made"
                self._notice(Severity.WARNING, f"CardDAV: {error}; showing {served}")
            self._dav_error = error
        if not (first or result.has_changes):
            return False
        from smartbook_tui.contacts.phones import normalize_contacts  # noqa: PLC0415 (see the imports)

        self._dav_contacts = await asyncio.to_thread(normalize_contacts, result.book.contacts, self._region)
        self._dav_skipped = list(result.book.skipped)
        return True

    async def _emit(self, *, settled: bool) -> None:
        skipped = self._file_skipped + self._dav_skipped
        self._tell_skipped(skipped)
        contacts = self._file_contacts + self._dav_contacts
        resources = await asyncio.to_thread(book_resource_uris, contacts, self._domain) if self._domain else []
        self._on_book(BookSnapshot(contacts, skipped, self._sources, settled, tuple(resources)))

    def _tell_skipped(self, skipped: list[SkippedCard]) -> None:
        """One notice for the cards newly skipped (a book export with a few bad cards is not a toast each); each
        card is in the log, and in the notice's details for a reader that prints every one."""
        new = [card for card in skipped if (card.source, card.index, card.reason) not in self._told_skipped]
        self._told_skipped = {(card.source, card.index, card.reason) for card in skipped}
        if not new:
            return
        for card in new:
            log.warning("%s", card)
        if len(new) == 1:
            message = str(new[0])
        else:
            first = new[0]
            where = f"the log {self._log_file}" if self._log_file is not None else "the log"
            message = (
                f"{len(new)} cards could not be read (first: {first.source} card {first.index}: {first.reason}); "
                f"see {where}"
            )
        self._on_notice(Notice(Severity.WARNING, message, tuple(map(str, new))))

    def _notice(self, severity: Severity, message: str) -> None:
        self._on_notice(Notice(severity, message))
