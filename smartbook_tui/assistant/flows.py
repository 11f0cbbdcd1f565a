"""The Assistant's tasks, each a code sent by SMS and then confirmed, without any UI: make an account from a
number (with a chosen user name or the number itself), link a number to the signed-in account, recover an
account by its number with a new password. `send_code` again resends; `resend_in` says when a resend is fair."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from smartbook_tui.config import AccountSettings
from smartbook_tui.sip.uri import SipParseError, parse_sip_uri

from .client import AccountApi, Activated, Created, DigestAuth, Linked
from .errors import NO_ACCOUNT, NO_CODE_YET, NOT_AN_API, AssistantError
from .phone_entry import shown_number

RESEND_AFTER = 30.0  # seconds before a new code may be asked for: the SMS may just be slow
CODE_LENGTH = 4
_CODE = re.compile(rf"\d{{{CODE_LENGTH}}}")

Clock = Callable[[], float]


def read_code(text: str) -> str | None:
    """The code as typed (spaces allowed), or None when it is not the SMS's four digits."""
    code = "".join(text.split())
    return code if _CODE.fullmatch(code) else None


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account ready to sign in with: what the settings file and the password file get."""

    sip_uri: str
    username: str
    password: str
    phone: str
    proxy: str | None  # HOST:PORT
    transport: str | None

    def settings(self, password_file: Path) -> AccountSettings:
        return AccountSettings(
            sip_uri=self.sip_uri, password_file=password_file, proxy=self.proxy, transport=self.transport
        )


def new_account(activated: Activated, password: str) -> NewAccount:
    proxy, transport = _proxy_of(activated.proxy)
    return NewAccount(activated.sip_uri, activated.username, password, activated.phone, proxy, transport)


def _proxy_of(uri: str | None) -> tuple[str | None, str | None]:
    """sip:HOST:PORT;transport=tcp -> ("HOST:PORT", "tcp"); (None, None) for none or one the app cannot read."""
    if not uri:
        return None, None
    try:
        parsed = parse_sip_uri(uri)
    except SipParseError:
        return None, None
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    transport = next((str(value).lower() for name, value in parsed.params if name.lower() == "transport"), None)
    address = f"{host}:{parsed.port}" if parsed.port else host
    return address, transport if transport in ("udp", "tcp", "tls") else None


def account_auth(account: AccountSettings, password: str | None) -> httpx.Auth:
    """Digest with the signed-in account's SIP credentials (its user name, else the user part of its address)."""
    if not account.sip_uri or not password:
        raise AssistantError(
            NO_ACCOUNT,
            "No account is signed in: set one up first (or give --sip-uri and --password-file) to link a number to it.",
        )
    try:
        username = account.username or parse_sip_uri(account.sip_uri).user
    except SipParseError:
        username = None
    if not username:
        raise AssistantError(NO_ACCOUNT, f"The account {account.sip_uri} names no user: give --username.")
    return DigestAuth(username, password)


class CodeFlow:
    """A task proven by a code: `send_code` (again to resend), then the subclass's `confirm`."""

    def __init__(self, api: AccountApi, phone: str, *, clock: Clock = time.monotonic) -> None:
        self.api = api
        self.phone = phone  # as typed; E.164 once a code was sent
        self.sent_at: float | None = None
        self._clock = clock

    async def send_code(self) -> str:
        """Ask for a code (a new one voids the last); the number it goes to, in E.164."""
        self.phone = await self._send()
        self.sent_at = self._clock()
        return self.phone

    def sent_sentence(self, *, first: bool) -> str:
        """What the code step says once a code was asked for."""
        return f"{'A code' if first else 'A new code'} was sent by SMS to {shown_number(self.phone)}."

    def code_gone(self) -> None:
        """The code can no longer work (expired, void): a new one may be asked for at once."""
        self.sent_at = None

    def resend_in(self) -> float:
        """Seconds until a new code may be asked for (0: now)."""
        if self.sent_at is None:
            return 0.0
        return max(0.0, self.sent_at + RESEND_AFTER - self._clock())

    async def _send(self) -> str:
        raise NotImplementedError


class CreateAccount(CodeFlow):
    """A new account with `phone` as its number, and `username` or else the number itself as its user name; the
    server chooses its password. A number that has an account already gets its code too: the confirmation says
    so (AssistantError `number_taken`)."""

    def __init__(self, api: AccountApi, phone: str, username: str | None = None, *, clock: Clock = time.monotonic):
        super().__init__(api, phone, clock=clock)
        self.username = username or None
        self._created: Created | None = None

    async def _send(self) -> str:
        # A new code for an account not yet activated is the same request again; the server keeps the password it
        # made the first time and gives it only then.
        created = await self.api.create(self.phone, self.username)
        if created.password is None and self._created is not None:
            created = replace(created, password=self._created.password)
        self._created = created
        return created.phone

    async def confirm(self, code: str) -> NewAccount:
        created = self._created
        if created is None:
            raise AssistantError(NO_CODE_YET, "No code was sent yet.")
        if created.password is None:
            raise AssistantError(NOT_AN_API, "The service made the account without giving its password.")
        activated = await self.api.activate(f"{created.username}@{created.domain}", code)
        return new_account(activated, created.password)


class LinkNumber(CodeFlow):
    """`phone` becomes the number of the account `auth` signs in as; `number_taken` at the confirmation when it is
    another account's."""

    def __init__(self, api: AccountApi, phone: str, auth: httpx.Auth, *, clock: Clock = time.monotonic) -> None:
        super().__init__(api, phone, clock=clock)
        self.auth = auth

    async def _send(self) -> str:
        return await self.api.request_link(self.phone, self.auth)

    async def confirm(self, code: str) -> Linked:
        return await self.api.confirm_link(code, self.auth)


class RecoverAccount(CodeFlow):
    """The account that has `phone` gets a new password, once the code sent to it is given. The service says the
    same for every number, and sends a code only to an account's: no SMS means no account has it."""

    def sent_sentence(self, *, first: bool) -> str:
        code = "a code" if first else "a new code"
        return f"If {shown_number(self.phone)} is an account's number, {code} was sent to it by SMS."

    async def _send(self) -> str:
        return await self.api.request_recovery(self.phone)

    async def confirm(self, code: str, password: str) -> NewAccount:
        return new_account(await self.api.recover(self.phone, code, password), password)
