"""What each path of the account API does, between the store, the rules of `codes` and the SMS gateway; every
refusal is an `ApiError` with the status, the stable word and one line for a person.

A code is drawn, sent, and only then recorded (with the account it creates, for a new one): a send that fails
leaves nothing behind and counts against no quota. The sends to one number go one at a time, so that two requests
at once cannot both pass its quota.

Nobody unauthenticated learns here whether a number has an account (except from info-by-phone, for an account
everyone may find by its number): a create or a link request for a taken number is answered as for a free one and
its code sent; only the right code, proof of holding the number, gets 409 `number_taken`. A recovery request is 200
whatever the number, its code sent only to an account's number.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smartbook_tui.server.discovery import Discoverable
from smartbook_tui.server.sms import SmsFailed, SmsGateway, code_text
from smartbook_tui.server.store import (
    Account,
    AccountExists,
    InvalidValue,
    NoSuchAccount,
    NumberTaken,
    Store,
    check_password,
    check_username,
    compute_ha1,
    is_e164,
    looks_like_phone,
)

from .codes import (
    EVENTS_WINDOW,
    SMS_WINDOW,
    Accepted,
    CodePolicy,
    Expired,
    PendingCode,
    Purpose,
    Throttled,
    Void,
    Wrong,
    check_code,
    new_code,
    send_refusal,
)
from .phones import InvalidPhone, PhonePolicy

__all__ = ["MAX_PASSWORD", "TOKEN_LIFETIME", "AccountFlows", "ApiError"]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 3600
MAX_PASSWORD = 256
_LONGEST_SEND = 2.0  # seconds: the most a recovery that sends nothing waits


class ApiError(Exception):
    """A refusal: its status, its stable word, one line for a person; `retry_after` for 429 and 503, and the
    Digest `challenges` of a 401."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        retry_after: int | None = None,
        challenges: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after
        self.challenges = challenges


@dataclass(slots=True)
class _NumberLock:
    lock: asyncio.Lock
    users: int = 0


class AccountFlows:
    def __init__(
        self,
        store: Store,
        domain: str,
        gateway: SmsGateway,
        *,
        codes: CodePolicy,
        phones: PhonePolicy,
        proxy: str | None,
        on_change: Callable[[], None] = lambda: None,
        discoverable: Discoverable = "everyone",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.domain = domain
        self.gateway = gateway
        self.codes = codes
        self.phones = phones
        self.proxy = proxy  # the SIP address the app saves with the account
        self._on_change = on_change  # an account's number changed: tell the watchers now
        self.discoverable = discoverable  # the server's --discoverable, for accounts that do not say
        self._clock = clock
        self._number_locks: dict[str, _NumberLock] = {}
        self._send_seconds = 0.0  # how long the gateway takes to send, lately: a recovery that sends nothing waits it

    # ------------------------------------------------------------------------------------------------ paths

    async def create(self, username: str | None, password: str | None, phone: str) -> dict[str, Any]:
        e164 = self._mobile(phone)
        if username is None or username == e164:
            username = e164
        elif looks_like_phone(username.replace(" ", "")):  # spaces are no username's, but said first
            raise ApiError(
                422,
                "username_looks_like_phone",
                f"the username {username[:40]} looks like a phone number: leave it out to be named after the number",
            )
        _check(lambda: check_username(username, e164), "invalid_username")
        self._remove_expired_waiting()
        existing = self.store.get_account(username, self.domain)
        waiting = None if existing is None else self.store.pending_code(username, self.domain, "activate")
        # The account named after the number is the number's: answered as a free number would be, its code kept
        # on that account, where it can only get 409 `number_taken` (see `activate`).
        owner_named = existing is not None and existing.activated and existing.phone == e164 == username
        if existing is not None and not owner_named:
            if existing.activated or waiting is None or waiting.phone != e164:
                raise ApiError(409, "username_taken", f"the username {username} is taken: choose another one")
            if password is not None and not self._is_password_of(username, password):
                # asking again sends a new code and keeps the password: never one given by somebody else
                raise ApiError(409, "username_taken", f"the username {username} is taken: choose another one")
        again = existing is not None and waiting is not None and waiting.phone == e164
        generated = password is None and not again
        if generated:
            password = secrets.token_urlsafe(18)  # for the number's own account, a password nobody will use
        if password is not None:
            self._check_password(password)
        async with self._sending(e164):
            code = await self._send_code("activate", e164, username if again else None)
            try:
                if owner_named:
                    self.store.put_code(username, self.domain, code, self._clock())
                else:
                    self.store.add_waiting_account(username, self.domain, password, code, self._clock())
            except AccountExists:
                self.store.record_sms(e164, self._clock())  # it was sent: the number's quota counts it
                raise ApiError(409, "username_taken", f"the username {username} is taken: choose another one") from None
        log.info("account %s@%s waits for the code sent to %s", username, self.domain, e164)
        body: dict[str, Any] = {"username": username, "domain": self.domain, "activated": False, "phone": e164}
        if generated:
            body["password"] = password
        return body

    def activate(self, sip: str, code: str) -> dict[str, Any]:
        account = self._account_of(sip)
        phone = self._try_code(account, "activate", code, sip)
        if account.activated:  # the number's own account, asked for as a new one (see `create`)
            self.store.drop_code(account.username, self.domain, "activate")
            raise _number_taken(phone)
        try:
            account = self.store.activate_with_number(account.username, self.domain, phone)
        except NumberTaken:
            self.store.remove_account(account.username, self.domain)  # the username is free again
            log.info("account %s removed: its number %s is another account's", account.name, phone)
            raise _number_taken(phone) from None
        log.info("account %s activated with %s", account.name, phone)
        self._on_change()
        return self._signed_in(account)

    def info_by_phone(self, phone: str) -> dict[str, Any]:
        e164 = self._mobile(phone)
        self._remove_expired_waiting()
        # Anyone may ask here, unauthenticated: only an account everyone may find by its number is told about, and
        # any other is answered exactly as a number without an account (that one waiting for its code included).
        for account in (
            self.store.account_for_phone(e164, self.domain),
            self.store.waiting_account_for_phone(e164, self.domain),
        ):
            if account is not None and (account.discoverable or self.discoverable) == "everyone":
                return {"activated": account.activated, "realm": self.domain, "phone": True}
        raise ApiError(404, "no_such_number", f"no account has the number {e164}")

    async def request_link(self, account: Account, phone: str) -> dict[str, Any]:
        e164 = self._mobile(phone)
        if looks_like_phone(account.username) and e164 != account.username:
            raise ApiError(
                422, "invalid_phone", f"the account {account.username} is named after its number: it keeps it"
            )
        async with self._sending(e164):
            code = await self._send_code("link", e164, account.username)
            self.store.put_code(account.username, self.domain, code, self._clock())
        return {"phone": e164}

    def link(self, account: Account, code: str) -> dict[str, Any]:
        phone = self._try_code(account, "link", code, account.name)
        try:
            account = self.store.link_number(account.username, self.domain, phone)
        except NumberTaken:
            self.store.drop_code(account.username, self.domain, "link")
            raise _number_taken(phone) from None
        log.info("account %s linked to %s", account.name, phone)
        self._on_change()
        return {"username": account.username, "domain": self.domain, "phone": account.phone}

    async def request_recovery(self, phone: str) -> dict[str, Any]:
        """200 for every valid mobile number: the code goes only to an account's number, and a quota or a gateway
        failure is the operator's to read, never an answer that would tell the number has an account. A request
        that sends nothing takes about as long as a send lately took."""
        e164 = self._mobile(phone)
        account = self.store.account_for_phone(e164, self.domain)
        if account is None:
            await asyncio.sleep(self._send_seconds)
            return {"phone": e164}
        async with self._sending(e164):
            try:
                code = await self._send_code("recover", e164, account.username)
            except ApiError as refusal:
                log.warning("no recovery code sent to %s: %s", e164, refusal.message)
                if refusal.status == 429:
                    await asyncio.sleep(self._send_seconds)
            else:
                self.store.put_code(account.username, self.domain, code, self._clock())
        return {"phone": e164}

    def recover(self, sip: str, code: str, password: str) -> dict[str, Any]:
        account = self._account_of(sip, by_number=True)
        self._check_password(password)
        if self._try_code(account, "recover", code, sip) != account.phone:
            raise ApiError(410, "code_expired", "the account's number changed since this code was sent: ask again")
        account = self.store.replace_password(account.username, self.domain, password)
        log.info("account %s recovered with the code sent to %s: its password is replaced", account.name, account.phone)
        return self._signed_in(account)

    def discoverability(self, account: Account) -> dict[str, Any]:
        """Who can find the account by its number: its own setting, else the server's (`default`)."""
        return {"discoverable": account.discoverable or self.discoverable, "default": account.discoverable is None}

    def set_discoverable(self, account: Account, discoverable: Discoverable | None) -> dict[str, Any]:
        """The account's own setting (None: the server's); its watchers see the change at once."""
        try:
            account = self.store.set_discoverable(account.username, self.domain, discoverable)
        except NoSuchAccount:  # removed since it signed in
            raise ApiError(404, "no_such_account", f"no account {account.name} here") from None
        log.info("account %s says who finds it by its number: %s", account.name, discoverable or "the server's default")
        self._on_change()
        return self.discoverability(account)

    def token_account(self, token: str) -> Account | None:
        return self.store.token_account(_token_digest(token), self._clock())

    # ------------------------------------------------------------------------------------------------ steps

    def _mobile(self, phone: str) -> str:
        try:
            return self.phones.mobile(phone)
        except InvalidPhone as error:
            raise ApiError(422, "invalid_phone", str(error)) from None

    def _remove_expired_waiting(self) -> None:
        removed = self.store.remove_expired_waiting(self._clock())
        if removed:
            log.info("removed the accounts whose activation code expired: %s", ", ".join(removed))

    def _is_password_of(self, username: str, password: str) -> bool:
        kept = self.store.ha1(username, self.domain, activated_only=False)
        given = compute_ha1(username, self.domain, password, "MD5")
        return kept is not None and secrets.compare_digest(kept, given)

    def _check_password(self, password: str) -> None:
        if len(password) > MAX_PASSWORD:
            raise ApiError(422, "invalid_password", f"the password is longer than {MAX_PASSWORD} characters")
        _check(lambda: check_password(password), "invalid_password")

    def _account_of(self, sip: str, *, by_number: bool = False) -> Account:
        """The account `sip` names: user@domain, sip:user@domain, a bare username, or (`by_number`) its verified
        number in E.164."""
        text = sip.removeprefix("sip:")
        user, at, host = text.rpartition("@")
        if not at:
            user, host = text, self.domain
        account = None
        if host.lower() == self.domain:
            if by_number and is_e164(user):
                account = self.store.account_for_phone(user, self.domain)
            account = account or self.store.get_account(user, self.domain)
        if account is None and looks_like_phone(user):
            # a number without an account is answered as one whose account has no code waiting
            raise _no_pending_code(sip)
        if account is None:
            raise ApiError(404, "no_such_account", f"no account {sip[:80]!r} here")
        return account

    async def _send_code(self, purpose: Purpose, e164: str, username: str | None) -> PendingCode:
        """Draw a code and send it, once the quotas allow; it is for the caller to record."""
        now = self._clock()
        events = None if username is None else self.store.code_events(username, self.domain, now - EVENTS_WINDOW)
        refusal = send_refusal(self.codes, self.store.sms_sent(e164, now - SMS_WINDOW), events, now)
        if refusal is not None:
            raise self._throttled(refusal)
        code = new_code(self.codes, purpose, e164, now)
        started = time.monotonic()
        try:
            await self.gateway.send(e164, code_text(code.code, self.codes.lifetime))
        except SmsFailed as error:
            raise ApiError(503, "sms_failed", f"{error}: no code was sent, try again later") from None
        self._send_seconds = min(_LONGEST_SEND, (self._send_seconds + time.monotonic() - started) / 2)
        return code

    def _try_code(self, account: Account, purpose: Purpose, code: str, named: str) -> str:
        """The number a right code proves; ApiError for every other outcome, the wrong tries recorded. `named`: the
        account as the caller named it (never its username when it was named by its number)."""
        pending = self.store.pending_code(account.username, self.domain, purpose)
        if pending is None:
            raise _no_pending_code(named)
        now = self._clock()
        events = self.store.code_events(account.username, self.domain, now - EVENTS_WINDOW)
        verdict = check_code(self.codes, pending, code, events, now)
        if isinstance(verdict, Wrong | Throttled) or (isinstance(verdict, Void) and verdict.counted):
            self.store.wrong_code(account.username, self.domain, purpose, now)
        match verdict:
            case Accepted(phone):
                return phone
            case Wrong(tries_left):
                tries = f"{tries_left} {'try' if tries_left == 1 else 'tries'}"
                raise ApiError(422, "wrong_code", f"wrong code: {tries} left")
            case Void():
                raise ApiError(
                    410, "code_void", f"the code was wrong {self.codes.tries} times and is void: ask for a new one"
                )
            case Expired():
                raise ApiError(410, "code_expired", "the code has expired: ask for a new one")
            case Throttled():
                raise self._throttled(verdict)

    def _signed_in(self, account: Account) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self.store.add_token(_token_digest(token), account.username, self.domain, now + TOKEN_LIFETIME, now)
        return {
            "username": account.username,
            "domain": self.domain,
            "activated": account.activated,
            "phone": account.phone,
            "sip_uri": account.address,
            "proxy": self.proxy,
            "token": token,
            "token_expires_in": TOKEN_LIFETIME,
        }

    def _throttled(self, refusal: Throttled) -> ApiError:
        if refusal.reason == "too_many_sms":
            what = f"{self.codes.sms_per_number} codes were sent to this number in the last 24 hours"
        else:
            what = f"{self.codes.events_per_account} codes were sent or tried for this account in the last 30 minutes"
        return ApiError(
            429, refusal.reason, f"{what}: try again in {refusal.retry_after} seconds", retry_after=refusal.retry_after
        )

    @contextlib.asynccontextmanager
    async def _sending(self, e164: str) -> AsyncIterator[None]:
        entry = self._number_locks.setdefault(e164, _NumberLock(asyncio.Lock()))
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._number_locks[e164]


def _number_taken(e164: str) -> ApiError:
    return ApiError(409, "number_taken", f"{e164} already has an account: recover it with its number")


def _no_pending_code(named: str) -> ApiError:
    return ApiError(404, "no_pending_code", f"no code is waiting for {named[:80]}: ask for one first")


def _check(check: Callable[[], None], word: str) -> None:
    try:
        check()
    except InvalidValue as error:
        raise ApiError(422, word, str(error)) from None


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
