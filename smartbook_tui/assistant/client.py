"""The server's account API (`/work/notes`' contract, Linphone's account manager paths) as async methods: each
sends one request and returns the answer's fields, or raises AssistantError with one sentence for a person."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from smartbook_tui.sip.auth import AuthError, Credentials, DigestSession

from .errors import (
    BAD_CA,
    BAD_URL,
    NO_API,
    NOT_AN_API,
    SENTENCES,
    TIMEOUT,
    UNREACHABLE,
    UNTRUSTED,
    AssistantError,
    api_error,
)

DEFAULT_TIMEOUT = 30.0  # seconds: the server may try an SMS gateway three times, 5 s each, before it answers


@dataclass(frozen=True, slots=True)
class Created:
    """A new account, not activated until its code is given; `password` is the server's when none was chosen."""

    username: str
    domain: str
    phone: str
    password: str | None


@dataclass(frozen=True, slots=True)
class Activated:
    """An account whose number is proven: it can sign in, at `proxy` (the server's SIP address) when given."""

    username: str
    domain: str
    phone: str
    sip_uri: str
    proxy: str | None
    token: str
    token_expires_in: int


@dataclass(frozen=True, slots=True)
class Linked:
    username: str
    domain: str
    phone: str


Discoverable = Literal["everyone", "contacts", "nobody"]
Choice = Literal["everyone", "contacts", "nobody", "default"]  # "default": the server's --discoverable applies


@dataclass(frozen=True, slots=True)
class Discoverability:
    """Who can find the account by its number: `value` in effect, `default` when it is the server's (the account
    says nothing)."""

    value: Discoverable
    default: bool

    @property
    def choice(self) -> Choice:
        return "default" if self.default else self.value


class DigestAuth(httpx.Auth):
    """HTTP digest with the account's SIP credentials (the same realm, MD5 or SHA-256), answered by the SIP
    stack's digest code; a refused answer is given back as the 401 it is."""

    requires_request_body = True

    def __init__(self, username: str, password: str) -> None:
        self._session = DigestSession(Credentials(username, password))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        while response.status_code == 401:
            try:
                header = self._session.answer(
                    response.headers.get_list("www-authenticate"),
                    method=request.method,
                    uri=request.url.raw_path.decode("ascii"),
                    cnonce=secrets.token_hex(8),
                    body=request.content,
                )
            except AuthError:
                return  # refused, or no challenge to answer: the 401 stands
            request.headers["Authorization"] = header
            response = yield request
        self._session.accepted()


class BearerAuth(httpx.Auth):
    """The token an activation or a recovery returns (valid an hour)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def checked_url(url: str | None) -> str:
    """The API's base URL without its trailing slash; AssistantError when there is none or it is not http(s)."""
    if not url:
        raise AssistantError(
            NO_API,
            "No account API is set: give --account-api URL (e.g. http://127.0.0.1:8080/api), or account_api in "
            "the [app] section of the settings file.",
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise AssistantError(BAD_URL, f"The account API's address {url[:80]!r} is not an http:// or https:// URL.")
    return url.rstrip("/")


def verifying_context(ca: Path | None) -> ssl.SSLContext:
    """What an https API's certificate is checked against: the system's CAs, and those of `ca` (the account's
    --ca, as for SIP over TLS); AssistantError when that file cannot be used."""
    context = ssl.create_default_context()
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca.expanduser())
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise AssistantError(BAD_CA, f"Cannot use the CA file {ca} ({reason}): give a PEM file of CAs.") from None
    return context


class AccountApi:
    """One server's account API at `url` (e.g. http://127.0.0.1:8080/api). Use it as an async context manager.
    An https API must show a certificate that the system's CAs, or those of the file `ca`, vouch for."""

    def __init__(self, url: str | None, *, timeout: float = DEFAULT_TIMEOUT, ca: Path | None = None) -> None:
        self.url = checked_url(url)
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Accept": "application/json"}, verify=verifying_context(ca)
        )

    async def __aenter__(self) -> AccountApi:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create(self, phone: str, username: str | None = None, password: str | None = None) -> Created:
        body: dict[str, str] = {"phone": phone}
        if username:
            body["username"] = username
        if password:
            body["password"] = password
        answer = await self._call("POST", "/accounts/public", body)
        return Created(
            _text(answer, "username"), _text(answer, "domain"), _text(answer, "phone"), _optional(answer, "password")
        )

    async def activate(self, sip: str, code: str) -> Activated:
        return _activated(await self._call("POST", f"/accounts/{_segment(sip)}/activate/phone", {"code": code}))

    async def info_by_phone(self, phone: str) -> bool:
        """Whether the account with this number is activated; AssistantError `no_such_number` when none has it."""
        answer = await self._call("GET", f"/accounts/{_segment(phone)}/info-by-phone")
        return bool(answer.get("activated"))

    async def request_link(self, phone: str, auth: httpx.Auth) -> str:
        """Send a code to `phone` for the account `auth` signs in as; the number in E.164."""
        return _text(await self._call("POST", "/accounts/me/phone/request", {"phone": phone}, auth), "phone")

    async def confirm_link(self, code: str, auth: httpx.Auth) -> Linked:
        answer = await self._call("POST", "/accounts/me/phone", {"code": code}, auth)
        return Linked(_text(answer, "username"), _text(answer, "domain"), _text(answer, "phone"))

    async def request_recovery(self, phone: str) -> str:
        """Send a code to the account that has `phone`; the number in E.164."""
        return _text(await self._call("POST", "/accounts/recover-by-phone", {"phone": phone}), "phone")

    async def recover(self, sip_or_phone: str, code: str, password: str) -> Activated:
        body = {"code": code, "password": password}
        return _activated(await self._call("POST", f"/accounts/{_segment(sip_or_phone)}/recover", body))

    async def discoverable(self, auth: httpx.Auth) -> Discoverability:
        """Who can find the account `auth` signs in as by its number."""
        return _discoverability(await self._call("GET", "/accounts/me/discoverable", auth=auth))

    async def set_discoverable(self, choice: Choice, auth: httpx.Auth) -> Discoverability:
        """Say who can find the account by its number ("default": the server's setting); what is now in effect."""
        return _discoverability(await self._call("PUT", "/accounts/me/discoverable", {"discoverable": choice}, auth))

    async def _call(
        self, method: str, path: str, body: dict[str, str] | None = None, auth: httpx.Auth | None = None
    ) -> dict[str, Any]:
        url = self.url + path
        try:
            response = await self._client.request(method, url, json=body, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            raise AssistantError(
                TIMEOUT, f"The account API at {self.url} did not answer within {self._timeout:g} s: try again later."
            ) from None
        except httpx.HTTPError as exc:
            untrusted = _verification_error(exc)
            if untrusted is not None:
                raise AssistantError(
                    UNTRUSTED,
                    f"The account API at {self.url} showed a certificate this computer does not trust "
                    f"({untrusted.verify_message}): give the CA that signed it with --ca FILE, or ca in [account].",
                ) from None
            raise AssistantError(
                UNREACHABLE,
                f"Cannot reach the account API at {self.url} ({_reason(exc)}): is the server running, and the "
                "address right?",
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.is_success and isinstance(answer, dict):
            return answer
        word = answer.get("error") if isinstance(answer, dict) else None
        if response.is_success or not isinstance(word, str) or (response.status_code == 404 and word not in SENTENCES):
            raise AssistantError(
                NOT_AN_API,
                f"{self.url} answered {response.status_code} {response.reason_phrase} without the account API's "
                "answer: is it the right address?",
                status=response.status_code,
            )
        raise api_error(response.status_code, answer, _retry_after(response, answer))


def _segment(value: str) -> str:
    return quote(value, safe="")


def _reason(exc: httpx.HTTPError) -> str:
    cause = exc.__context__ or exc.__cause__
    text = str(cause or exc) or type(exc).__name__
    return text.splitlines()[0][:120]


def _verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate check behind an httpx error, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _retry_after(response: httpx.Response, answer: dict[str, Any]) -> float | None:
    for value in (answer.get("retry_after"), response.headers.get("retry-after")):
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def _text(answer: dict[str, Any], key: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise AssistantError(NOT_AN_API, f"The account API's answer lacks its {key!r}: is the server up to date?")
    return value


def _optional(answer: dict[str, Any], key: str) -> str | None:
    value = answer.get(key)
    return value if isinstance(value, str) and value else None


def _discoverability(answer: dict[str, Any]) -> Discoverability:
    value, default = answer.get("discoverable"), answer.get("default")
    if value not in ("everyone", "contacts", "nobody") or not isinstance(default, bool):
        raise AssistantError(NOT_AN_API, "The account API's answer does not say who can find you: is it up to date?")
    return Discoverability(value, default)


def _activated(answer: dict[str, Any]) -> Activated:
    expires = answer.get("token_expires_in")
    return Activated(
        username=_text(answer, "username"),
        domain=_text(answer, "domain"),
        phone=_text(answer, "phone"),
        sip_uri=_text(answer, "sip_uri"),
        proxy=_optional(answer, "proxy"),
        token=_text(answer, "token"),
        token_expires_in=expires if isinstance(expires, int) else 0,
    )
