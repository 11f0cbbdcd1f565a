"""Who sent a request, for the server and its proxy: the digest challenge (401 for REGISTER, 407 for the rest),
the check of the credentials that answer it (`DigestVerifier`), and the backoff on failed tries (`AuthBackoff`).

Every try costs the same whether its name has an account or not (issue 13, finding 8): the HA1s of every activated
account are held in memory (about 0.4 KB an account), so that a name costs one dictionary look-up whether it is
found or not (a read from SQLite costs more for a row that is there, and a cache of the names tried lately would
answer a known name faster). Each try first reads the store's change log since the last one, which costs the same
whatever the name, and reloads the accounts it names: an account made a moment ago signs in at once. An unknown
name's response is checked against a stand-in HA1, and both get the same challenge. The backoff is keyed by the
name as sent, so it treats both alike too. A try held back by the backoff gets 503 with Retry-After (the server is
not refusing the account, it asks to be tried later) and its response is not checked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Protocol

from smartbook_tui.sip.auth_server import CREDENTIALS_REFUSED, Accepted, DigestVerifier, Malformed, Refused, Stale
from smartbook_tui.sip.message import SipRequest, SipResponse
from smartbook_tui.sip.source import source_key
from smartbook_tui.sip.uri import SipParseError, parse_name_addr

from .auth_backoff import AuthBackoff
from .replies import response_to
from .request_checks import digest_credentials
from .store import ALGORITHMS, Store, StoreError

__all__ = ["Authenticator"]

log = logging.getLogger(__name__)

_NONE: dict[str, str] = {}  # the HA1s of a name with no account


class _Peer(Protocol):
    @property
    def address(self) -> tuple[str, int]: ...


class _HeldBack(Exception):
    def __init__(self, account: str, wait: float) -> None:
        super().__init__(account)
        self.account = account
        self.wait = wait


class Authenticator:
    def __init__(self, domain: str, store: Store, secret: bytes, backoff: AuthBackoff) -> None:
        self._domain = domain
        self._store = store
        self._verifier = DigestVerifier(domain, secret)
        self.backoff = backoff
        self._ha1s: dict[str, dict[str, str]] = {}  # username -> algorithm -> HA1, for each activated account
        self._changes_seen = store.changes(domain).last
        self._reload(account.username for account in store.accounts(domain) if account.activated)

    def _ha1(self, username: str, algorithm: str) -> str | None:
        try:
            changes = self._store.changes(self._domain, self._changes_seen)
        except StoreError as error:  # a locked or damaged file: go on with the accounts as last read
            log.warning("cannot read account changes from the database: %s", error)
        else:
            self._changes_seen = changes.last
            self._reload(changes.usernames)
        return self._ha1s.get(username, _NONE).get(algorithm)

    def _reload(self, usernames: Iterable[str]) -> None:
        """Read these accounts' HA1s again (created, removed, activated, or given a new password)."""
        for username in usernames:
            found = {a: ha1 for a in ALGORITHMS if (ha1 := self._store.ha1(username, self._domain, a)) is not None}
            if len(found) == len(ALGORITHMS):
                self._ha1s[username] = found
            else:
                self._ha1s.pop(username, None)

    def authenticate(self, request: SipRequest, peer: _Peer, now: float) -> str | SipResponse:
        """The authenticated username, or the response to send: a challenge, 400 for broken credentials, 503 with
        Retry-After for a try the backoff holds back."""
        registrar = request.method == "REGISTER"
        address = source_key(peer.address[0])
        header = "Authorization" if registrar else "Proxy-Authorization"
        stale = False
        for value in digest_credentials(request.headers.get_all(header)):
            if _realm_of(value) not in (None, self._domain):
                continue
            tried: list[str] = []  # the name whose response gets checked, if it gets that far

            def ha1(username: str, algorithm: str, tried: list[str] = tried) -> str | None:
                wait = self.backoff.wait(username, address, now)
                if wait > 0:
                    raise _HeldBack(username, wait)
                tried.append(username)
                return self._ha1(username, algorithm)

            try:
                verdict = self._verifier.verify(value, method=request.method, uri=request.uri, ha1=ha1, now=now)
            except _HeldBack as held:
                log.debug("held back a sign-in as %.40r from %s for %.0f s", held.account, address, held.wait)
                retry_after = str(math.ceil(held.wait))
                return response_to(
                    request, 503, "Service Unavailable (too many failed sign-ins)", {"Retry-After": retry_after}
                )
            if isinstance(verdict, Accepted):
                self.backoff.succeeded(verdict.username, address, now)
                return verdict.username
            if isinstance(verdict, Malformed):
                return response_to(request, 400, f"Bad Request ({verdict.reason})")
            if isinstance(verdict, Refused) and verdict.reason == CREDENTIALS_REFUSED and tried:
                wait = self.backoff.failed(tried[0], address, now)
                if wait > 0:
                    log.warning("failed sign-ins as %.40r from %s: the next waits %.0f s", tried[0], address, wait)
            stale = isinstance(verdict, Stale)
            log.info("refused credentials for %s from %s: %s", request.method, _from_user(request), verdict.reason)
        status, reason, challenge = (
            (401, "Unauthorized", "WWW-Authenticate")
            if registrar
            else (407, "Proxy Authentication Required", "Proxy-Authenticate")
        )
        response = response_to(request, status, reason)
        for value in self._verifier.challenge(now, stale=stale):
            response.headers.add(challenge, value)
        return response


def _realm_of(credentials: str) -> str | None:
    marker = credentials.lower().find("realm=")
    if marker < 0:
        return None
    rest = credentials[marker + 6 :].lstrip()
    if rest.startswith('"'):
        return rest[1:].split('"', 1)[0]
    return rest.split(",", 1)[0].strip()


def _from_user(request: SipRequest) -> str:
    try:
        return str(parse_name_addr(request.headers.get("From") or "").uri)[:80]
    except SipParseError:
        return "?"
