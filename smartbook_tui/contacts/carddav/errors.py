"""The CardDavError family: every CardDAV failure, one line for a person; and how the cause of a transport
failure is found in an exception chain, for those lines."""

from __future__ import annotations

import os

import httpx

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


# ------------------------------------------------------------------------------------- exception chains


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
