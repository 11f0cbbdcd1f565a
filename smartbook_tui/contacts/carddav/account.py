"""One CardDAV account's settings, and what a client is built from them: the password (read from its file
when the client is built), the TLS context (certifi's roots plus an optional CA file), and Basic or Digest
authentication, sent only to the configured host."""

from __future__ import annotations

import os
import ssl
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import httpx

from smartbook_tui.password_file import PasswordFileError, read_password_file

from .errors import CardDavConfigError

DEFAULT_TIMEOUT = 30.0  # seconds, per network operation


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
    try:
        return read_password_file(Path(account.password_file), "the CardDAV password file")
    except PasswordFileError as exc:
        raise CardDavConfigError(str(exc)) from None


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
