"""CardDAV address books (RFC 6352) read over httpx, kept in sync, and cached on disk for offline use.

    book = CardDavBook(CardDavAccount("https://dav.example.org/", "alice", password_file=Path("~/.pw")))
    result = await book.sync()            # never raises CardDavError: a failure comes back in result.error
    async for result in book.poll(300):   # the same, every 5 minutes
        show(result.book, result.error)

* Discovery (RFC 6764, RFC 6352 §7): the URL the user gives may be the server root, a principal, an address-book
  home or an address book. A root goes through `/.well-known/carddav` first; then `current-user-principal` leads
  to `addressbook-home-set`, whose members with resource type `addressbook` are the books (all of them are read).
* Sync: a `sync-collection` REPORT (RFC 6578) with the last sync token gives what was added, changed and removed;
  an empty token lists everything. A server that refuses the report is read by listing ETags (PROPFIND Depth 1)
  and comparing them with the cache; a token the server no longer knows (403/409 `valid-sync-token`) makes a
  full listing, compared the same way. Only new or changed cards are then fetched, by `addressbook-multiget` in
  batches (GET one by one for a server without it).
* A failed sync changes nothing: the last good copy (memory, else the cache file) is returned with the error.
* Plain http is refused except to the loopback interface or with `allow_insecure_http`; TLS is verified against
  certifi's roots plus an optional `ca_file`. The password is read from a file when a client is built, and never
  appears in a repr, a message or a log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import certifi
import httpx
from lxml import etree

from smartbook_tui import __version__

from .carddav_cache import (
    CachedAddressBook,
    CachedCard,
    CachedSource,
    cache_file,
    default_cache_dir,
    load_cache,
    save_cache,
)
from .model import Contact, ImportResult, SkippedCard
from .vcard import parse_vcards

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_POLL_INTERVAL",
    "AddressBook",
    "CardDavAccount",
    "CardDavAuthError",
    "CardDavBook",
    "CardDavCacheError",
    "CardDavConfigError",
    "CardDavError",
    "CardDavNotFound",
    "CardDavProtocolError",
    "CardDavTLSError",
    "CardDavUnreachable",
    "SyncResult",
    "default_cache_dir",
    "sync_carddav",
]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 300.0  # seconds
DEFAULT_BATCH_SIZE = 200  # hrefs per addressbook-multiget
DEFAULT_TIMEOUT = 30.0  # seconds, per network operation
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a multistatus of ~100,000 cards; beyond, the answer is refused
MAX_SYNC_ROUNDS = 1000  # truncated sync-collection answers (507) followed before giving up
MAX_REDIRECTS = 5

NS_DAV = "DAV:"
NS_CARDDAV = "urn:ietf:params:xml:ns:carddav"
_DAV = "{DAV:}"
_CARD = "{urn:ietf:params:xml:ns:carddav}"

# Answers meaning "this server does not do that REPORT" rather than "you may not".
_UNSUPPORTED_REPORT = frozenset({400, 403, 404, 405, 409, 415, 422, 501})
_UNAVAILABLE = frozenset({502, 503, 504})
_PATH_SAFE = "/!$&'()*+,;=:@~-._"


# --------------------------------------------------------------------------------------------------- errors


class CardDavError(Exception):
    """Every CardDAV failure. str() is one line for a person: what failed and what to do about it."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url  # the URL concerned, without credentials
        self.status = status  # the HTTP status, when the server answered


class CardDavConfigError(CardDavError):
    """The settings cannot work: a malformed or plain-http URL, an unreadable password or CA file."""


class CardDavAuthError(CardDavError):
    """The server refused the credentials (401), or refused this user access (403)."""


class CardDavUnreachable(CardDavError):
    """No usable connection: refused, unknown host, timeout, broken connection, server unavailable (502-504)."""


class CardDavTLSError(CardDavUnreachable):
    """The server's TLS certificate could not be verified."""


class CardDavNotFound(CardDavError):
    """The URL leads to no address book."""


class CardDavProtocolError(CardDavError):
    """The server answered something this client cannot use (bad XML, unexpected status, oversized answer)."""


class CardDavCacheError(CardDavError):
    """The sync worked but its copy could not be written to disk: the book will not be there offline."""


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class CardDavAccount:
    """Where and how to read the address books. `password` is for programs; people use `password_file`."""

    url: str
    username: str | None = None
    password_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None  # PEM file of extra CAs, trusted on top of the usual roots
    allow_insecure_http: bool = False  # plain http to hosts other than the loopback interface
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class AddressBook:
    url: str
    display_name: str


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


# ---------------------------------------------------------------------------------------- URLs and policy


def _parse_account_url(account: CardDavAccount) -> tuple[httpx.URL, str | None]:
    text = account.url.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise CardDavConfigError(f"the CardDAV URL {account.url!r} is not a valid URL: {exc}") from None
    if not url.host:
        raise CardDavConfigError(f"the CardDAV URL {account.url!r} names no host: give e.g. https://dav.example.org/")
    if url.password:
        raise CardDavConfigError(
            "the CardDAV URL carries a password: remove it and put the password in a file (--carddav-password-file)"
        )
    username = unquote(url.username) if url.username else None
    url = url.copy_with(username=None, password=None, fragment=None)
    if not url.raw_path:
        url = url.copy_with(path="/")
    _check_policy(url, account.allow_insecure_http)
    return url, username


def _check_policy(url: httpx.URL, allow_insecure_http: bool) -> None:
    if url.scheme == "https":
        return
    if url.scheme == "http":
        if allow_insecure_http or _is_loopback(url.host):
            return
        raise CardDavConfigError(
            f"refusing plain http to {_origin(url)}: the password and contacts would cross the network unencrypted; "
            "use https://, or pass --carddav-insecure-http if this network is trusted",
            url=_display(url),
        )
    raise CardDavConfigError(f"unsupported URL scheme {url.scheme!r} in {_display(url)}: use https://")


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _display(url: httpx.URL) -> str:
    """scheme://host[:port]/path with a canonical percent-encoding: the key of a card or book, and what
    messages show (never credentials, never a query)."""
    return f"{_origin(url)}{quote(url.path or '/', safe=_PATH_SAFE)}"


def _resolve(base: httpx.URL, href: str) -> str:
    try:
        return _display(base.join(href.strip()))
    except (httpx.InvalidURL, UnicodeError):
        raise CardDavProtocolError(f"the server at {_origin(base)} sent an unusable href {href[:200]!r}") from None


def _same_resource(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


# ----------------------------------------------------------------------------------------------- auth, TLS


class _ChallengeAuth(httpx.Auth):
    """Basic or Digest, as the server's first WWW-Authenticate asks (Digest when both are offered, Basic when
    the challenge names neither). Credentials go only to the host the user configured."""

    def __init__(self, username: str, password: str, host: str) -> None:
        self._basic = httpx.BasicAuth(username, password)
        self._digest = httpx.DigestAuth(username, password)
        self._host = host
        self._scheme: str | None = None

    def __repr__(self) -> str:
        return f"_ChallengeAuth(scheme={self._scheme!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.host != self._host:
            yield request
            return
        if self._scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self._scheme == "basic":
            yield from self._basic.auth_flow(request)
            return
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        offered = {value.split(None, 1)[0].lower() for value in response.headers.get_list("www-authenticate") if value}
        if "digest" in offered:
            self._scheme = "digest"
            # Hand the challenge already received to httpx's Digest flow instead of asking for it again.
            flow = self._digest.auth_flow(request)
            next(flow)  # the unauthenticated request, already answered by `response`
            yield from _resume(flow, response)
        else:
            self._scheme = "basic"
            yield from self._basic.auth_flow(request)


def _resume(
    flow: Generator[httpx.Request, httpx.Response, None], response: httpx.Response
) -> Generator[httpx.Request, httpx.Response, None]:
    """Carry on an httpx auth flow from `response` on."""
    try:
        request = flow.send(response)
        while True:
            request = flow.send((yield request))
    except StopIteration:
        return


def _read_password(account: CardDavAccount) -> str | None:
    if account.password is not None:
        return account.password
    if account.password_file is None:
        return None
    path = Path(account.password_file).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CardDavConfigError(f"cannot read the CardDAV password file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CardDavConfigError(f"the CardDAV password file {path} is not UTF-8 text") from None
    password = text.rstrip("\r\n")
    if not password:
        raise CardDavConfigError(f"the CardDAV password file {path} is empty")
    return password


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file is not None:
        path = Path(ca_file).expanduser()
        try:
            context.load_verify_locations(cafile=os.fspath(path))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise CardDavConfigError(f"cannot use the CA file {path} (--carddav-ca): {reason}") from None
    return context


# ------------------------------------------------------------------------------------------------- the wire


@dataclass(slots=True)
class _Answer:
    method: str
    url: httpx.URL  # after redirects
    status: int
    reason: str
    headers: httpx.Headers
    content: bytes


@dataclass(slots=True)
class _DavResponse:
    url: str  # the href, resolved and normalised
    status: int | None  # the response-level status (a removed member in sync-collection: 404)
    props: dict[str, etree._Element]  # the properties found (2xx propstat), by Clark name


@dataclass(slots=True)
class _Multistatus:
    responses: list[_DavResponse]
    sync_token: str | None


@dataclass(slots=True)
class _SyncDelta:
    token: str
    members: dict[str, str | None]  # card URL -> ETag (None: the server gave none)
    removed: set[str]
    complete: bool  # True: `members` is the whole collection (the sync started from no token)


class _SyncTokenInvalid(Exception):
    pass


class _SyncUnsupported(Exception):
    pass


class _DavClient:
    """The HTTP side: one httpx.AsyncClient, WebDAV requests, status and transport errors as CardDavErrors."""

    def __init__(
        self,
        account: CardDavAccount,
        start_url: httpx.URL,
        username: str | None,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        password = _read_password(account)
        if username and password is None:
            raise CardDavConfigError(
                f"a CardDAV user name ({username}) was given without a password: pass --carddav-password-file"
            )
        if password is not None and not username:
            raise CardDavConfigError("a CardDAV password was given without a user name: pass --carddav-user")
        self._has_credentials = password is not None
        self._username = username
        self._account = account
        self._start_host = start_url.host
        auth = _ChallengeAuth(username, password, start_url.host) if username and password is not None else None
        self.no_sync_collection: dict[str, bool] = {}
        self._no_multiget = False
        self._http = httpx.AsyncClient(
            auth=auth,
            verify=_ssl_context(account.ca_file) if transport is None else True,
            timeout=httpx.Timeout(account.timeout),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": f"smartbook/{__version__}"},
            event_hooks={"request": [self._check_request]},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _check_request(self, request: httpx.Request) -> None:
        # Runs for every request, redirects included: a redirect cannot downgrade to plain http.
        _check_policy(request.url, self._account.allow_insecure_http)

    # ------------------------------------------------------------------------------------------ requests

    async def _request(
        self, method: str, url: httpx.URL | str, body: bytes | None = None, depth: str | None = None
    ) -> _Answer:
        headers = {}
        if body is not None:
            headers["Content-Type"] = 'application/xml; charset="utf-8"'
        if depth is not None:
            headers["Depth"] = depth
        target = httpx.URL(url) if isinstance(url, str) else url
        try:
            async with self._http.stream(method, target, content=body, headers=headers) as response:
                chunks = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise CardDavProtocolError(
                            f"the answer to {method} {_display(response.url)} is over {MAX_RESPONSE_BYTES} bytes; "
                            "refused",
                            url=_display(response.url),
                        )
                    chunks.append(chunk)
                return _Answer(
                    method,
                    response.url,
                    response.status_code,
                    response.reason_phrase,
                    response.headers,
                    b"".join(chunks),
                )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, target) from None

    def _transport_error(self, exc: httpx.HTTPError, url: httpx.URL) -> CardDavError:  # noqa: PLR0911
        where = _origin(exc.request.url if _has_request(exc) else url)
        if isinstance(exc, httpx.TimeoutException):
            return CardDavUnreachable(
                f"no answer from {where} within {self._account.timeout:g} s: check the network and the server",
                url=where,
            )
        if isinstance(exc, httpx.TooManyRedirects):
            return CardDavProtocolError(f"{where} redirects in a loop (over {MAX_REDIRECTS} redirects)", url=where)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return CardDavProtocolError(f"the server at {where} led to an unusable URL: {exc}", url=where)
        verify = _find_cause(exc, ssl.SSLCertVerificationError)
        if verify is not None:
            reason = getattr(verify, "verify_message", None) or str(verify)
            return CardDavTLSError(
                f"cannot verify the TLS certificate of {where} ({reason}): if the server uses a private CA, "
                "add it with --carddav-ca FILE",
                url=where,
            )
        if _find_cause(exc, ssl.SSLError) is not None:
            return CardDavTLSError(f"TLS with {where} failed: {_reason(exc)}", url=where)
        if isinstance(exc, httpx.ConnectError):
            return CardDavUnreachable(f"cannot reach {where}: {_reason(exc)}", url=where)
        if isinstance(exc, httpx.TransportError):
            return CardDavUnreachable(f"the connection to {where} broke: {_reason(exc)}", url=where)
        return CardDavProtocolError(f"HTTP with {where} failed: {_reason(exc)}", url=where)

    def _check(self, answer: _Answer) -> None:
        """Raise the CardDavError an unsuccessful answer means."""
        status = answer.status
        if 200 <= status < 300:
            return
        where = _display(answer.url)
        if status == httpx.codes.UNAUTHORIZED:
            if answer.url.host != self._start_host:
                message = (
                    f"{_origin(answer.url)}, where the server redirected, asks for a user name and password "
                    "(HTTP 401): give that server's URL as the CardDAV URL"
                )
            elif self._has_credentials:
                message = (
                    f"the server refused the user name or password (HTTP 401) at {_origin(answer.url)}: "
                    "check --carddav-user and the password file"
                )
            else:
                message = (
                    f"the server at {_origin(answer.url)} asks for a user name and password (HTTP 401): "
                    "pass --carddav-user and --carddav-password-file"
                )
            raise CardDavAuthError(message, url=where, status=status)
        if status == httpx.codes.FORBIDDEN:
            who = f"user {self._username}" if self._username else "an anonymous user"
            raise CardDavAuthError(
                f"the server refused {who} access to {where} (HTTP 403): check the URL and the user name",
                url=where,
                status=status,
            )
        if status == httpx.codes.NOT_FOUND:
            raise CardDavNotFound(f"{where} does not exist on the server (HTTP 404): check the CardDAV URL", url=where)
        if status in _UNAVAILABLE:
            raise CardDavUnreachable(
                f"the server at {_origin(answer.url)} is unavailable (HTTP {status} {answer.reason}): try again later",
                url=where,
                status=status,
            )
        raise CardDavProtocolError(
            f"the server answered HTTP {status} {answer.reason} to {answer.method} {where}", url=where, status=status
        )

    def _multistatus(self, answer: _Answer) -> _Multistatus:
        self._check(answer)
        what = f"the answer to {answer.method} {_display(answer.url)}"
        if answer.status != httpx.codes.MULTI_STATUS:
            raise CardDavProtocolError(
                f"{what} is HTTP {answer.status}, not a WebDAV multistatus: is this a CardDAV URL?",
                url=_display(answer.url),
                status=answer.status,
            )
        return _parse_multistatus(answer.content, answer.url, what)

    # ----------------------------------------------------------------------------------------- discovery

    async def discover(self, start: httpx.URL) -> list[AddressBook]:
        well_known = start.copy_with(path="/.well-known/carddav", query=None)
        at_root = start.path in ("", "/")
        candidates = [well_known, start] if at_root else [start, well_known]
        for candidate in candidates:
            books = await self._discover_from(candidate, strict=candidate is start and not at_root)
            if books:
                unique: dict[str, AddressBook] = {}
                for book in books:
                    unique.setdefault(book.url, book)
                return list(unique.values())
        raise CardDavNotFound(
            f"no address book found from {_display(start)}: give the address book's own URL, or check the user name",
            url=_display(start),
        )

    async def _discover_from(self, url: httpx.URL, strict: bool) -> list[AddressBook]:
        """The books `url` leads to; [] when it is no WebDAV resource (unless `strict`: the user's own URL)."""
        answer = await self._request("PROPFIND", url, _PROPFIND_DISCOVERY, depth="0")
        if not strict and (answer.status in (400, 403, 404, 405, 501) or answer.status in range(200, 207)):
            return []  # e.g. no /.well-known/carddav here: try the next way in
        if strict and answer.status in (400, 405, 501):
            return []  # not WebDAV here; the well-known URL may still lead somewhere
        responses = self._multistatus(answer).responses
        found = next((r for r in responses if _same_resource(r.url, _display(answer.url))), None)
        found = found or next((r for r in responses if r.props), None)
        if found is None:
            return []
        types = _resource_types(found)
        if f"{_CARD}addressbook" in types:
            return [AddressBook(found.url, _display_name(found))]
        base = answer.url
        homes = _hrefs(found, f"{_CARD}addressbook-home-set", base)
        if not homes:
            principals = _hrefs(found, f"{_DAV}current-user-principal", base)
            if principals:
                homes = await self._home_set(principals[0])
        books: list[AddressBook] = []
        for home in homes:
            books.extend(await self._list_books(home))
        if not books and f"{_DAV}collection" in types and found.url not in homes:
            books = await self._list_books(found.url)  # the URL may be a home itself
        return books

    async def _home_set(self, principal: str) -> list[str]:
        answer = await self._request("PROPFIND", principal, _PROPFIND_HOME_SET, depth="0")
        multistatus = self._multistatus(answer)
        homes: list[str] = []
        for response in multistatus.responses:
            homes.extend(_hrefs(response, f"{_CARD}addressbook-home-set", answer.url))
        return homes

    async def _list_books(self, home: str) -> list[AddressBook]:
        answer = await self._request("PROPFIND", home, _PROPFIND_BOOKS, depth="1")
        return [
            AddressBook(response.url, _display_name(response))
            for response in self._multistatus(answer).responses
            if f"{_CARD}addressbook" in _resource_types(response)
        ]

    # ---------------------------------------------------------------------------------------------- sync

    async def sync_collection(self, book_url: str, token: str | None) -> _SyncDelta:
        members: dict[str, str | None] = {}
        removed: set[str] = set()
        complete = token is None
        for _ in range(MAX_SYNC_ROUNDS):
            answer = await self._request("REPORT", book_url, _sync_collection_body(token), depth="0")
            if answer.status in (403, 409) and _has_precondition(answer.content, f"{_DAV}valid-sync-token"):
                raise _SyncUnsupported if token is None else _SyncTokenInvalid
            if answer.status in _UNSUPPORTED_REPORT or answer.status in range(200, 207):
                raise _SyncUnsupported
            multistatus = self._multistatus(answer)
            if not multistatus.sync_token:
                raise _SyncUnsupported  # an answer without a token cannot be continued: use ETags
            truncated = False
            for response in multistatus.responses:
                if _same_resource(response.url, book_url):
                    truncated = truncated or response.status == httpx.codes.INSUFFICIENT_STORAGE
                    continue
                if response.status == httpx.codes.NOT_FOUND:
                    removed.add(response.url)
                    members.pop(response.url, None)
                elif f"{_DAV}collection" not in _resource_types(response):
                    members[response.url] = _etag(response)
                    removed.discard(response.url)
            token = multistatus.sync_token
            if not truncated:
                return _SyncDelta(token, members, removed, complete)
        raise CardDavProtocolError(f"the server never finished listing the changes of {book_url}", url=book_url)

    async def list_etags(self, book_url: str) -> dict[str, str | None]:
        answer = await self._request("PROPFIND", book_url, _PROPFIND_ETAGS, depth="1")
        members: dict[str, str | None] = {}
        for response in self._multistatus(answer).responses:
            if _same_resource(response.url, book_url) or f"{_DAV}collection" in _resource_types(response):
                continue
            content_type = _text(response.props.get(f"{_DAV}getcontenttype")).lower()
            if content_type and "vcard" not in content_type and "directory" not in content_type:
                continue
            if response.status is None or 200 <= response.status < 300:
                members[response.url] = _etag(response)
        return members

    async def fetch_cards(self, book_url: str, hrefs: list[str], batch_size: int) -> dict[str, tuple[str | None, str]]:
        """Card URL -> (ETag, vCard text) for those of `hrefs` that still exist."""
        cards: dict[str, tuple[str | None, str]] = {}
        for start in range(0, len(hrefs), batch_size):
            batch = hrefs[start : start + batch_size]
            if not self._no_multiget:
                answer = await self._request("REPORT", book_url, _multiget_body(batch), depth="0")
                if answer.status in _UNSUPPORTED_REPORT and answer.status != httpx.codes.NOT_FOUND:
                    log.info("CardDAV server refuses addressbook-multiget (HTTP %d): GET each card", answer.status)
                    self._no_multiget = True
                else:
                    wanted = set(batch)
                    for response in self._multistatus(answer).responses:
                        data = response.props.get(f"{_CARD}address-data")
                        if response.url in wanted and data is not None and response.status in (None, 200):
                            cards[response.url] = (_etag(response), _text(data, strip=False))
                    continue
            for href in batch:
                answer = await self._request("GET", href)
                if answer.status in (404, 410):
                    continue
                self._check(answer)
                etag = answer.headers.get("etag")
                cards[href] = (etag, answer.content.decode("utf-8-sig", errors="replace"))
        return cards


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _find_cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: BaseException) -> str:
    """The most specific human reason in an exception chain: 'connection refused', 'name or service not known'."""
    current: BaseException | None = exc
    seen: set[int] = set()
    fallback = str(exc) or type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.errno, int):
            text = os.strerror(current.errno) if current.errno > 0 else (current.strerror or "")
            if text and not text.startswith("Unknown error"):
                return text[0].lower() + text[1:]
        current = current.__cause__ or current.__context__
    return fallback


# ---------------------------------------------------------------------------------------------- XML bodies

_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_NAMESPACES = f'xmlns:d="{NS_DAV}" xmlns:c="{NS_CARDDAV}"'


def _propfind(props: str) -> bytes:
    return f"{_XML_HEAD}<d:propfind {_NAMESPACES}><d:prop>{props}</d:prop></d:propfind>".encode()


_PROPFIND_DISCOVERY = _propfind("<d:resourcetype/><d:displayname/><d:current-user-principal/><c:addressbook-home-set/>")
_PROPFIND_HOME_SET = _propfind("<c:addressbook-home-set/>")
_PROPFIND_BOOKS = _propfind("<d:resourcetype/><d:displayname/>")
_PROPFIND_ETAGS = _propfind("<d:resourcetype/><d:getetag/><d:getcontenttype/>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sync_collection_body(token: str | None) -> bytes:
    token_element = f"<d:sync-token>{_escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    return (
        f"{_XML_HEAD}<d:sync-collection {_NAMESPACES}>{token_element}<d:sync-level>1</d:sync-level>"
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    ).encode()


def _multiget_body(hrefs: list[str]) -> bytes:
    # The hrefs are sent as absolute paths: the cards live on the book's server.
    paths = "".join(f"<d:href>{_escape(httpx.URL(href).raw_path.decode('ascii'))}</d:href>" for href in hrefs)
    return (
        f"{_XML_HEAD}<c:addressbook-multiget {_NAMESPACES}><d:prop><d:getetag/><c:address-data/></d:prop>"
        f"{paths}</c:addressbook-multiget>"
    ).encode()


# ---------------------------------------------------------------------------------------- XML answers


def _parse_xml(data: bytes, what: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # one multistatus may carry thousands of cards; its size is capped when read
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise CardDavProtocolError(f"{what} is not well-formed XML: {first}") from None
    if root is None:
        raise CardDavProtocolError(f"{what} is empty")
    if root.getroottree().docinfo.doctype:
        raise CardDavProtocolError(f"{what} has a DOCTYPE, which WebDAV answers never carry; refused")
    return root


def _parse_multistatus(data: bytes, base: httpx.URL, what: str) -> _Multistatus:
    root = _parse_xml(data, what)
    if root.tag != f"{_DAV}multistatus":
        raise CardDavProtocolError(f"{what} is not a WebDAV multistatus")
    responses: list[_DavResponse] = []
    for element in root.iterchildren(f"{_DAV}response"):
        status = _status_code(element.findtext(f"{_DAV}status"))
        props: dict[str, etree._Element] = {}
        for propstat in element.iterchildren(f"{_DAV}propstat"):
            code = _status_code(propstat.findtext(f"{_DAV}status"))
            prop = propstat.find(f"{_DAV}prop")
            if prop is not None and (code is None or 200 <= code < 300):
                for child in prop:
                    if isinstance(child.tag, str):
                        props[child.tag] = child
        for href in element.iterchildren(f"{_DAV}href"):
            if href.text and href.text.strip():
                responses.append(_DavResponse(_resolve(base, href.text), status, props))
    token = root.findtext(f"{_DAV}sync-token")
    return _Multistatus(responses, token.strip() if token and token.strip() else None)


def _has_precondition(data: bytes, tag: str) -> bool:
    try:
        root = _parse_xml(data, "an error answer")
    except CardDavProtocolError:
        return False
    return root.tag == tag or root.find(f".//{tag}") is not None


def _status_code(line: str | None) -> int | None:
    # "HTTP/1.1 404 Not Found"
    parts = (line or "").split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def _text(element: etree._Element | None, strip: bool = True) -> str:
    if element is None:
        return ""
    text = "".join(element.itertext())
    return text.strip() if strip else text


def _etag(response: _DavResponse) -> str | None:
    return _text(response.props.get(f"{_DAV}getetag")) or None


def _resource_types(response: _DavResponse) -> set[str]:
    element = response.props.get(f"{_DAV}resourcetype")
    return {child.tag for child in element if isinstance(child.tag, str)} if element is not None else set()


def _hrefs(response: _DavResponse, prop: str, base: httpx.URL) -> list[str]:
    element = response.props.get(prop)
    if element is None:
        return []
    return [
        _resolve(base, href.text) for href in element.iterchildren(f"{_DAV}href") if href.text and href.text.strip()
    ]


def _display_name(response: _DavResponse) -> str:
    name = _text(response.props.get(f"{_DAV}displayname"))
    return name or unquote(response.url.rstrip("/").rsplit("/", 1)[-1])
