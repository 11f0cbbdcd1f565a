"""What every account API request passes before its path's work: the client address's and the global request
limits, and for `me` paths the caller's credentials (Digest with the SIP credentials, or a Bearer token)."""

from __future__ import annotations

import asyncio
import math
import time

from fastapi import Request

from smartbook_tui.server.authentication import Authenticator, Broken, Challenge, HeldBack, SignedIn
from smartbook_tui.server.store import Account
from smartbook_tui.sip.source import source_key

from .flows import AccountFlows, ApiError
from .limits import RequestLimiter

__all__ = ["Guards"]


class Guards:
    """FastAPI dependencies: `limited` for every path, `authenticated` (the account) for `me` paths. Both are
    coroutines, so that FastAPI runs them on the loop (the store is not thread-safe), never in its thread pool.

    Digest is checked by the SIP server's own `Authenticator`: a nonce from either serves both, and failed tries
    count in one backoff, so guessing a password over HTTP is held back as over SIP. Its clock is the loop's."""

    def __init__(self, flows: AccountFlows, limiter: RequestLimiter, authenticator: Authenticator) -> None:
        self._flows = flows
        self._limiter = limiter
        self._authenticator = authenticator

    async def limited(self, request: Request) -> None:
        refusal = self._limiter.admit(_address(request), time.monotonic())
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
            raise self._refusal(request, "the token is unknown or has expired: sign in again")
        if scheme.lower() != "digest":
            raise self._refusal(request, "sign in: Digest with the SIP credentials, or a Bearer token")
        uri = request.scope.get("raw_path", b"").decode("latin-1")
        if request.url.query:
            uri += "?" + request.url.query
        outcome = self._authenticator.check(
            [header], method=request.method, uri=uri, address=_address(request), now=_now(), waiting_too=True
        )
        if isinstance(outcome, SignedIn):
            account = self._flows.store.get_account(outcome.username, self._flows.domain)
            if account is not None and account.activated:
                return account
            if account is not None:
                raise ApiError(
                    403, "account_not_activated", f"{account.name} is not activated: give the code sent by SMS"
                )
            raise self._refusal(request, "the user name or password is wrong")
        if isinstance(outcome, HeldBack):
            wait = math.ceil(outcome.wait)
            raise ApiError(
                429,
                "too_many_failures",
                f"too many wrong passwords for this account from your address: try again in {wait} seconds",
                retry_after=wait,
            )
        if isinstance(outcome, Broken):
            raise self._refusal(request, f"{outcome.reason}: answer the Digest challenge")
        assert isinstance(outcome, Challenge)
        raise self._refusal(request, "the user name or password is wrong", stale=outcome.stale)

    def _refusal(self, request: Request, message: str, *, stale: bool = False) -> ApiError:
        """401 with a fresh Digest challenge (one per algorithm) for the client's address."""
        challenges = self._authenticator.challenges(_now(), _address(request), stale=stale)
        return ApiError(401, "unauthorized", message, challenges=challenges)


def _address(request: Request) -> str:
    return source_key(request.client.host) if request.client is not None else ""


def _now() -> float:
    """The SIP server's clock, which its nonces carry."""
    return asyncio.get_running_loop().time()
