"""What every account API request passes before its path's work: the client address's and the global request
limits, and for `me` paths the caller's credentials (Digest with the SIP credentials, or a Bearer token)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from fastapi import Request

from smartbook_tui.server.store import Account
from smartbook_tui.sip.auth_server import Accepted, DigestVerifier, Malformed, Stale
from smartbook_tui.sip.source import source_key

from .flows import AccountFlows, ApiError
from .limits import RequestLimiter

__all__ = ["Guards"]


class Guards:
    """FastAPI dependencies: `limited` for every path, `authenticated` (the account) for `me` paths. Both are
    coroutines, so that FastAPI runs them on the loop (the store is not thread-safe), never in its thread pool."""

    def __init__(self, flows: AccountFlows, limiter: RequestLimiter, clock: Callable[[], float]) -> None:
        self._flows = flows
        self._limiter = limiter
        self._clock = clock
        # Nonces are checked statelessly (HMAC): a new secret each start voids the previous run's.
        self._verifier = DigestVerifier(flows.domain, secrets.token_bytes(32))

    async def limited(self, request: Request) -> None:
        address = source_key(request.client.host) if request.client is not None else ""
        refusal = self._limiter.admit(address, time.monotonic())
        if refusal is not None:
            word, wait = refusal
            if word == "busy":
                raise ApiError(503, "busy", f"the server is busy: try again in {wait} seconds", retry_after=wait)
            raise ApiError(429, word, f"too many requests: try again in {wait} seconds", retry_after=wait)

    async def authenticated(self, request: Request) -> Account:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            account = self._flows.token_account(credentials.strip())
            if account is not None:
                return account
            raise self._refusal("the token is unknown or has expired: sign in again")
        if scheme.lower() == "digest":
            uri = request.scope.get("raw_path", b"").decode("latin-1")
            if request.url.query:
                uri += "?" + request.url.query
            verdict = self._verifier.verify(
                header,
                method=request.method,
                uri=uri,
                ha1=lambda user, algorithm: self._flows.store.ha1(
                    user, self._flows.domain, algorithm, activated_only=False
                ),
                now=self._clock(),
            )
            if isinstance(verdict, Accepted):
                account = self._flows.store.get_account(verdict.username, self._flows.domain)
                if account is not None and account.activated:
                    return account
                if account is not None:
                    raise ApiError(
                        403, "account_not_activated", f"{account.name} is not activated: give the code sent by SMS"
                    )
            if isinstance(verdict, Malformed):
                raise self._refusal(f"{verdict.reason}: answer the Digest challenge")
            stale = isinstance(verdict, Stale)
            raise self._refusal("the user name or password is wrong", stale=stale)
        raise self._refusal("sign in: Digest with the SIP credentials, or a Bearer token")

    def _refusal(self, message: str, *, stale: bool = False) -> ApiError:
        """401 with a fresh Digest challenge (one per algorithm)."""
        return ApiError(401, "unauthorized", message, challenges=self._verifier.challenge(self._clock(), stale=stale))
