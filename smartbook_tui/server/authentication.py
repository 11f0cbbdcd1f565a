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

The account API's `me` paths check HTTP Digest with the same `Authenticator` (`check`): the same nonces, the same
backoff, the same constant-cost look-up. Only the API may accept an account still waiting for its code (to tell
such a user, once the password is proven, that the account is not activated yet): the HA1s of those accounts are
held too, so that looking one up costs what any other name costs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from smartbook_tui.counted_warning import CountedWarning
from smartbook_tui.sip.auth_server import CREDENTIALS_REFUSED, Accepted, DigestVerifier, Malformed, Refused, Stale
from smartbook_tui.sip.message import SipRequest, SipResponse
from smartbook_tui.sip.source import source_key

from .auth_backoff import AuthBackoff
from .client_address import relayed_client
from .replies import response_to
from .request_checks import digest_credentials
from .store import ALGORITHMS, Store, StoreError

__all__ = ["Authenticator", "Broken", "Challenge", "HeldBack", "Outcome", "SignedIn"]

log = logging.getLogger(__name__)

_NONE: tuple[bool, dict[str, str]] = (False, {})  # a name with no account


@dataclass(frozen=True, slots=True)
class SignedIn:
    username: str
    activated: bool  # False only when the caller accepts an account waiting for its code


@dataclass(frozen=True, slots=True)
class HeldBack:
    wait: float  # seconds before the backoff lets this name be tried from this address


@dataclass(frozen=True, slots=True)
class Broken:
    reason: str  # one line: what is wrong with the credentials as written


@dataclass(frozen=True, slots=True)
class Challenge:
    stale: bool  # the nonce answered has expired: the client may answer the new challenge without asking anyone


Outcome: TypeAlias = SignedIn | HeldBack | Broken | Challenge


class _Peer(Protocol):
    @property
    def address(self) -> tuple[str, int]: ...


class _HeldBack(Exception):
    def __init__(self, account: str, wait: float) -> None:
        super().__init__(account)
        self.account = account
        self.wait = wait


class Authenticator:
    def __init__(
        self,
        domain: str,
        store: Store,
        secret: bytes,
        backoff: AuthBackoff,
        *,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        """`trusted_proxies`: the SIP proxies whose requests are their clients' (`client_address`), for the backoff
        and the addresses nonces are bound to."""
        self._domain = domain
        self._trusted_proxies = trusted_proxies
        self._store = store
        self._verifier = DigestVerifier(domain, secret)
        self.backoff = backoff
        # username -> (activated, algorithm -> HA1), for each account with a password
        self._ha1s: dict[str, tuple[bool, dict[str, str]]] = {}
        self._changes_seen = store.changes(domain).last
        self._reload(account.username for account in store.accounts(domain))
        self._unread = CountedWarning(log, "could not read account changes %s time(s), going on with those read (%s)")

    def _ha1(self, username: str, algorithm: str, now: float, *, waiting_too: bool) -> str | None:
        try:
            changes = self._store.changes(self._domain, self._changes_seen)
        except StoreError as error:  # a locked file, a database down: go on with the accounts as last read
            self._unread.happened(now, error)
        else:
            self._changes_seen = changes.last
            self._reload(changes.usernames)
        activated, ha1s = self._ha1s.get(username, _NONE)
        return ha1s.get(algorithm) if activated or waiting_too else None

    def _reload(self, usernames: Iterable[str]) -> None:
        """Read these accounts' HA1s again (created, removed, activated, or given a new password)."""
        for username in usernames:
            account = self._store.get_account(username, self._domain)
            found = {
                a: ha1
                for a in ALGORITHMS
                if (ha1 := self._store.ha1(username, self._domain, a, activated_only=False)) is not None
            }
            if account is not None and len(found) == len(ALGORITHMS):
                self._ha1s[username] = (account.activated, found)
            else:
                self._ha1s.pop(username, None)

    def challenges(self, now: float, address: str, *, stale: bool = False) -> list[str]:
        """The Digest challenges to send to `address` (its `source_key`), one per algorithm: their nonce serves from
        there alone."""
        return self._verifier.challenge(now, stale=stale, bound_to=address)

    def check(
        self,
        credentials: Iterable[str],
        *,
        method: str,
        uri: str,
        address: str,
        now: float,
        waiting_too: bool = False,
        via: object = None,
    ) -> Outcome:
        """What the Digest `credentials` (header values) of a request from `address` (its `source_key`) prove.
        `waiting_too`: an account waiting for its code may sign in (it comes back with `activated` False). `via`:
        the proxy the request came through, for the log."""
        stale = False
        where = address if via is None else f"{address} via {via}"
        for value in credentials:
            if _realm_of(value) not in (None, self._domain):
                continue
            tried: list[str] = []  # the name whose response gets checked, if it gets that far

            def ha1(username: str, algorithm: str, tried: list[str] = tried) -> str | None:
                wait = self.backoff.wait(username, address, now)
                if wait > 0:
                    raise _HeldBack(username, wait)
                tried.append(username)
                return self._ha1(username, algorithm, now, waiting_too=waiting_too)

            try:
                verdict = self._verifier.verify(value, method=method, uri=uri, ha1=ha1, now=now, bound_to=address)
            except _HeldBack as held:
                log.debug("held back a sign-in as %.40r from %s for %.0f s", held.account, where, held.wait)
                return HeldBack(held.wait)
            if isinstance(verdict, Accepted):
                self.backoff.succeeded(verdict.username, address, now)
                activated = self._ha1s.get(verdict.username, _NONE)[0]
                return SignedIn(verdict.username, activated)
            if isinstance(verdict, Malformed):
                return Broken(verdict.reason)
            if isinstance(verdict, Refused) and verdict.reason == CREDENTIALS_REFUSED and tried:
                wait = self.backoff.failed(tried[0], address, now)
                if wait > 0:
                    log.warning("failed sign-ins as %.40r from %s: the next waits %.0f s", tried[0], where, wait)
            stale = isinstance(verdict, Stale)
            name = tried[0] if tried else "?"
            log.info("refused credentials for %s as %.40r from %s: %s", method, name, where, verdict.reason)
        return Challenge(stale)

    def authenticate(self, request: SipRequest, peer: _Peer, now: float) -> str | SipResponse:
        """The authenticated username, or the response to send: a challenge, 400 for broken credentials, 503 with
        Retry-After for a try the backoff holds back."""
        registrar = request.method == "REGISTER"
        header = "Authorization" if registrar else "Proxy-Authorization"
        client = relayed_client(request, peer.address, self._trusted_proxies)
        address = source_key((client or peer.address)[0])
        outcome = self.check(
            digest_credentials(request.headers.get_all(header)),
            method=request.method,
            uri=request.uri,
            address=address,
            now=now,
            via=None if client is None else peer,
        )
        if isinstance(outcome, SignedIn):
            return outcome.username
        if isinstance(outcome, HeldBack):
            retry_after = str(math.ceil(outcome.wait))
            return response_to(
                request, 503, "Service Unavailable (too many failed sign-ins)", {"Retry-After": retry_after}
            )
        if isinstance(outcome, Broken):
            return response_to(request, 400, f"Bad Request ({outcome.reason})")
        status, reason, challenge = (
            (401, "Unauthorized", "WWW-Authenticate")
            if registrar
            else (407, "Proxy Authentication Required", "Proxy-Authenticate")
        )
        response = response_to(request, status, reason)
        for value in self.challenges(now, address, stale=outcome.stale):
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
