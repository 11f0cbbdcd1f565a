"""The WebDAV/CardDAV protocol client: one httpx.AsyncClient per account, WebDAV requests with a capped
answer size, transport failures and unsuccessful statuses as CardDavErrors, discovery (RFC 6764, RFC 6352
§7), sync-collection (RFC 6578), ETag listing, and addressbook-multiget (GET one by one without it)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import httpx

from smartbook_tui import __version__

from .account import CardDavAccount, _ChallengeAuth, _read_password, _ssl_context
from .davxml import (
    _CARD,
    _DAV,
    _PROPFIND_BOOKS,
    _PROPFIND_DISCOVERY,
    _PROPFIND_ETAGS,
    _PROPFIND_HOME_SET,
    _display_name,
    _etag,
    _has_precondition,
    _hrefs,
    _multiget_body,
    _Multistatus,
    _parse_multistatus,
    _resource_types,
    _sync_collection_body,
    _text,
)
from .errors import (
    CardDavAuthError,
    CardDavConfigError,
    CardDavError,
    CardDavNotFound,
    CardDavProtocolError,
    CardDavTLSError,
    CardDavUnreachable,
    _find_cause,
    _has_request,
    _reason,
)
from .urls import _check_policy, _display, _origin, _same_resource

# The package's one logger, named as before the split into modules: one name to configure.
log = logging.getLogger(__package__)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a multistatus of ~100,000 cards; beyond, the answer is refused
MAX_SYNC_ROUNDS = 1000  # truncated sync-collection answers (507) followed before giving up
MAX_REDIRECTS = 5

# Answers meaning "this server does not do that REPORT" rather than "you may not".
_UNSUPPORTED_REPORT = frozenset({400, 403, 404, 405, 409, 415, 422, 501})
_UNAVAILABLE = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class AddressBook:
    url: str
    display_name: str


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

    def _transport_error(self, exc: httpx.HTTPError, url: httpx.URL) -> CardDavError:
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
