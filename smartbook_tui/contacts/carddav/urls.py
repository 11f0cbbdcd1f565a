"""URLs and policy: the account URL checked (plain http only to the loopback interface, or when allowed), and
the canonical form of a URL that keys cards and books and that messages show (never credentials)."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, unquote

import httpx

from .account import CardDavAccount
from .errors import CardDavConfigError, CardDavProtocolError

_PATH_SAFE = "/!$&'()*+,;=:@~-._"


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
