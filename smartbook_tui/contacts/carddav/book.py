"""CardDavBook: the address books of one account, synced on demand or by polling, cached on disk, and the
last good copy when a sync fails; SyncResult, what a sync gives; sync_carddav, one sync from synchronous
code."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from smartbook_tui.contacts.model import Contact, ImportResult, SkippedCard
from smartbook_tui.contacts.vcard import parse_vcards

from .account import CardDavAccount
from .cache import (
    CachedAddressBook,
    CachedCard,
    CachedSource,
    cache_file,
    default_cache_dir,
    load_cache,
    save_cache,
)
from .dav import AddressBook, _DavClient, _SyncTokenInvalid, _SyncUnsupported
from .errors import CardDavAuthError, CardDavCacheError, CardDavConfigError, CardDavError
from .urls import _display, _parse_account_url

# The package's one logger, named as before the split into modules: one name to configure.
log = logging.getLogger(__package__)

DEFAULT_POLL_INTERVAL = 300.0  # seconds
DEFAULT_BATCH_SIZE = 200  # hrefs per addressbook-multiget


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The book as it stands after a sync, what the sync changed, and why it failed if it did.

    When `error` is set the sync changed nothing and `book` is the last good copy (possibly empty)."""

    book: ImportResult
    added: int = 0
    changed: int = 0
    removed: int = 0
    error: CardDavError | None = None
    address_books: tuple[AddressBook, ...] = ()
    synced_at: float | None = None  # clock time of the sync that produced `book`; None: never synced

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        text = f"{self.book.summary()}; {self.added} added, {self.changed} changed, {self.removed} removed"
        return f"{text}; {self.error}" if self.error else text


# ----------------------------------------------------------------------------------------------- the book


class CardDavBook:
    """The address books behind one CardDAV account, synced on demand or by polling, cached on disk.

    The constructor checks the URL (malformed, or plain http where not allowed: CardDavConfigError) and does no
    network I/O. `sync()` never raises a CardDavError: failures come back in SyncResult.error with the last good
    copy. Close with `aclose()` or use `async with`."""

    def __init__(
        self,
        account: CardDavAccount,
        *,
        cache_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        batch_size: int = DEFAULT_BATCH_SIZE,
        transport: httpx.AsyncBaseTransport | None = None,  # for tests: replaces the network
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.account = account
        self._start_url, username = _parse_account_url(account)
        self._username = account.username or username
        self._source_url = _display(self._start_url)
        self._cache_path = cache_file(cache_dir or default_cache_dir(), self._source_url, self._username)
        self._clock = clock
        self._sleep = sleep
        self._batch_size = batch_size
        self._transport = transport
        self._state: CachedSource | None = None
        self._parsed: dict[str, tuple[str, ImportResult]] = {}  # card URL -> (vCard text, what it gave)
        self._client: _DavClient | None = None
        self._lock = asyncio.Lock()

    @property
    def cache_path(self) -> Path:
        return self._cache_path

    def cached(self) -> SyncResult:
        """The last good copy (memory, else the cache file) without touching the network."""
        return self._result(self._load())

    async def discover(self) -> list[AddressBook]:
        """The address books the URL leads to. Raises CardDavError."""
        async with self._lock:
            return await self._get_client().discover(self._start_url)

    async def sync(self) -> SyncResult:
        """Bring the copy up to date with the server; on failure return the last good copy and the error."""
        # Reading and writing the cache (fsync) and parsing thousands of cards would stall the event loop: those
        # run in a worker thread.
        async with self._lock:
            state = await asyncio.to_thread(self._load)
            try:
                client = self._get_client()
                new_state, added, changed, removed = await self._pull(client, state)
            except CardDavError as error:
                log.info("CardDAV sync of %s failed: %s", self._source_url, error)
                if isinstance(error, CardDavAuthError | CardDavConfigError):
                    await self._drop_client()  # the next attempt re-reads the password and CA files
                return await asyncio.to_thread(self._result, state, error=error)
            self._state = new_state
            cache_error = await asyncio.to_thread(self._save, new_state)
            log.debug("CardDAV sync of %s: %d added, %d changed, %d removed", self._source_url, added, changed, removed)
            return await asyncio.to_thread(self._result, new_state, added, changed, removed, cache_error)

    async def poll(self, interval: float = DEFAULT_POLL_INTERVAL) -> AsyncIterator[SyncResult]:
        """Sync now, then every `interval` seconds, yielding each result (failed ones too) until closed."""
        if not interval > 0:
            raise ValueError("the polling interval must be positive")
        while True:
            yield await self.sync()
            await self._sleep(interval)

    async def aclose(self) -> None:
        await self._drop_client()

    async def __aenter__(self) -> CardDavBook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"CardDavBook({self._source_url!r}, user={self._username!r})"

    # ---------------------------------------------------------------------------------------- internals

    def _load(self) -> CachedSource:
        if self._state is None:
            loaded = load_cache(self._cache_path, self._source_url, self._username)
            self._state = loaded or CachedSource(url=self._source_url, username=self._username)
        return self._state

    def _get_client(self) -> _DavClient:
        if self._client is None:
            self._client = _DavClient(self.account, self._start_url, self._username, self._transport)
        return self._client

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _save(self, state: CachedSource) -> CardDavCacheError | None:
        try:
            save_cache(self._cache_path, state)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return CardDavCacheError(
                f"cannot write the CardDAV cache {self._cache_path}: {reason}; the book will not be available offline"
            )
        return None

    async def _pull(self, client: _DavClient, state: CachedSource) -> tuple[CachedSource, int, int, int]:
        books = await client.discover(self._start_url)
        new_state = CachedSource(url=state.url, username=state.username, synced_at=self._clock())
        added = changed = removed = 0
        for book in books:
            old = state.books.get(book.url) or CachedAddressBook(book.url)
            target = CachedAddressBook(book.url, book.display_name, old.sync_token, dict(old.cards))
            counts = await self._sync_book(client, target)
            added, changed, removed = added + counts[0], changed + counts[1], removed + counts[2]
            new_state.books[book.url] = target
        for url, old in state.books.items():
            if url not in new_state.books:  # the address book itself is gone
                removed += len(old.cards)
        return new_state, added, changed, removed

    async def _listing(
        self, client: _DavClient, book: CachedAddressBook
    ) -> tuple[dict[str, str | None], set[str], bool]:
        """(members seen with their ETags, members removed, whether `members` is the whole book); moves the
        book's sync token on."""
        if not client.no_sync_collection.get(book.url):
            try:
                try:
                    delta = await client.sync_collection(book.url, book.sync_token)
                except _SyncTokenInvalid:
                    log.info("CardDAV server forgot the sync token of %s: full resync", book.url)
                    delta = await client.sync_collection(book.url, None)
            except _SyncUnsupported:
                log.info("CardDAV server refuses sync-collection on %s: comparing ETags", book.url)
                client.no_sync_collection[book.url] = True
            else:
                book.sync_token = delta.token
                return delta.members, delta.removed, delta.complete
        book.sync_token = None
        return await client.list_etags(book.url), set(), True

    async def _sync_book(self, client: _DavClient, book: CachedAddressBook) -> tuple[int, int, int]:
        """Update `book` in place from the server; return (added, changed, removed)."""
        members, gone, complete = await self._listing(client, book)
        if complete:
            gone = set(book.cards) - members.keys()
        removed = 0
        for href in gone:
            if book.cards.pop(href, None) is not None:
                removed += 1
        wanted = [
            href
            for href, etag in members.items()
            if href not in book.cards or etag is None or book.cards[href].etag != etag
        ]
        fetched = await client.fetch_cards(book.url, wanted, self._batch_size) if wanted else {}
        added = changed = 0
        for href in wanted:
            if href not in fetched:  # deleted between the listing and the fetch
                if book.cards.pop(href, None) is not None:
                    removed += 1
                continue
            etag, text = fetched[href]
            previous = book.cards.get(href)
            if previous is None:
                added += 1
            elif previous.vcard != text:
                changed += 1
            book.cards[href] = CachedCard(href, etag if etag is not None else members.get(href), text)
        return added, changed, removed

    def _result(
        self,
        state: CachedSource,
        added: int = 0,
        changed: int = 0,
        removed: int = 0,
        error: CardDavError | None = None,
    ) -> SyncResult:
        contacts: list[Contact] = []
        skipped: list[SkippedCard] = []
        parsed: dict[str, tuple[str, ImportResult]] = {}
        for book in state.books.values():
            for href in sorted(book.cards):
                text = book.cards[href].vcard
                known = self._parsed.get(href)
                result = known[1] if known is not None and known[0] == text else _parse_card(text, href)
                parsed[href] = (text, result)
                contacts.extend(result.contacts)
                skipped.extend(result.skipped)
        self._parsed = parsed
        return SyncResult(
            book=ImportResult(contacts, skipped),
            added=added,
            changed=changed,
            removed=removed,
            error=error,
            address_books=tuple(AddressBook(book.url, book.display_name) for book in state.books.values()),
            synced_at=state.synced_at,
        )


def sync_carddav(account: CardDavAccount, *, cache_dir: Path | None = None) -> SyncResult:
    """One sync from synchronous code (the CLI): the result, with the cached copy and the error on failure.
    Raises CardDavConfigError for a URL that cannot be used."""

    async def once() -> SyncResult:
        async with CardDavBook(account, cache_dir=cache_dir) as book:
            return await book.sync()

    return asyncio.run(once())


def _parse_card(text: str, source: str) -> ImportResult:
    try:
        return parse_vcards(text, source)
    except Exception as exc:  # parse_vcards skips bad cards itself; this only guards one card sinking the book
        return ImportResult([], [SkippedCard(source, 1, f"cannot be read: {exc}")])
