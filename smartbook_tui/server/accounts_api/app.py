"""The account API as an ASGI app (FastAPI): the paths of Linphone's account manager under `/api`, JSON in and out,
every refusal `{"error": WORD, "message": SENTENCE}` (see /work/notes/assistant-api.md and the README's "Account
API"). The OpenAPI description is `/api/openapi.json`, the human docs `/api/docs`.

`me` paths take `Authorization: Digest ...` with the SIP credentials (realm: the domain, MD5 or SHA-256, qop=auth;
the challenge comes with the 401) or `Authorization: Bearer TOKEN` from an activation or a recovery. Every path
under `/api/accounts` counts against the client address's limit and the global one.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from smartbook_tui.server.authentication import Authenticator
from smartbook_tui.server.discovery import Discoverable
from smartbook_tui.server.store import Account, StoreError

from .flows import MAX_PASSWORD, AccountFlows, ApiError
from .guards import Guards
from .limits import RequestLimiter

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_Algorithm = Literal["MD5", "SHA-256"]
_Code = Annotated[str, Field(min_length=1, max_length=16)]
_Phone = Annotated[str, Field(min_length=1, max_length=40)]
_Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateRequest(_Body):
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    password: _Password | None = None
    algorithm: _Algorithm = "MD5"  # both HA1s are stored, whichever the client will use
    phone: _Phone


class CodeRequest(_Body):
    code: _Code


class PhoneRequest(_Body):
    phone: _Phone


class RecoverRequest(_Body):
    code: _Code
    password: _Password
    algorithm: _Algorithm = "MD5"


class DiscoverableRequest(_Body):
    discoverable: Literal["everyone", "contacts", "nobody", "default"] = Field(
        description="who can find the account by its number; default: the server's --discoverable"
    )


class Discoverability(BaseModel):
    discoverable: Discoverable = Field(description="the setting in effect")
    default: bool = Field(description="the account says nothing: the server's --discoverable applies")


class CreatedAccount(BaseModel):
    username: str
    domain: str
    activated: bool
    phone: str
    password: str | None = Field(None, description="the server-made password, given this once")


class SignedInAccount(BaseModel):
    username: str
    domain: str
    activated: bool
    phone: str | None
    sip_uri: str
    proxy: str | None
    token: str
    token_expires_in: int


class NumberInfo(BaseModel):
    activated: bool
    realm: str
    phone: bool


class Number(BaseModel):
    phone: str


class LinkedNumber(BaseModel):
    username: str
    domain: str
    phone: str | None


class Problem(BaseModel):
    error: str
    message: str
    retry_after: int | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (401, "no or wrong credentials (with a Digest challenge)"),
        (403, "the account cannot do this"),
        (404, "no such account, number or pending code"),
        (409, "the username or the number is taken"),
        (410, "the code has expired or is void"),
        (422, "invalid input or a wrong code"),
        (429, "a quota or rate limit (with Retry-After)"),
        (503, "the SMS gateway failed, or the server is busy"),
    )
}


def create_app(flows: AccountFlows, limiter: RequestLimiter, authenticator: Authenticator) -> FastAPI:
    """The API over `flows`; `limiter` counts the requests of each address. Runs on the caller's event loop."""
    guards = Guards(flows, limiter, authenticator)
    app = FastAPI(
        title="smartbook account API",
        summary="Accounts from a phone number with an SMS code, as Linphone's account manager",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        responses=_ERRORS,
    )

    _add_error_handlers(app)

    api = Depends(guards.limited)
    me = Depends(guards.authenticated)

    @app.post(
        "/api/accounts/public",
        status_code=201,
        dependencies=[api],
        response_model=CreatedAccount,
        response_model_exclude_none=True,
    )
    async def create_account(body: CreateRequest) -> dict[str, Any]:
        """Create an account (not activated) for a phone number and send it a code by SMS; a number that has an
        account gets the same answer and its code, and 409 `number_taken` only at the activation."""
        return await flows.create(body.username, body.password, body.phone)

    @app.post("/api/accounts/me/phone/request", dependencies=[api], response_model=Number)
    async def request_link(body: PhoneRequest, account: Account = me) -> dict[str, Any]:
        """Send a code to a number, to link it to the signed-in account; another account's number is 409
        `number_taken` only once its code is given."""
        return await flows.request_link(account, body.phone)

    @app.post("/api/accounts/me/phone", dependencies=[api], response_model=LinkedNumber)
    async def link_number(body: CodeRequest, account: Account = me) -> dict[str, Any]:
        """Link the number the code was sent to; the account's phone alias moves at once."""
        return flows.link(account, body.code)

    @app.get("/api/accounts/me/discoverable", dependencies=[api], response_model=Discoverability)
    async def discoverable(account: Account = me) -> dict[str, Any]:
        """Who can find the signed-in account by its number: everyone, only the accounts its own lists name
        (contacts) or nobody; `default` when the account says nothing and the server's setting applies."""
        return flows.discoverability(account)

    @app.put("/api/accounts/me/discoverable", dependencies=[api], response_model=Discoverability)
    async def set_discoverable(body: DiscoverableRequest, account: Account = me) -> dict[str, Any]:
        """Say who can find the signed-in account by its number (`default`: the server's setting); watchers who may
        no longer find it see its number as one without an account at once."""
        choice = None if body.discoverable == "default" else body.discoverable
        return flows.set_discoverable(account, choice)

    @app.post("/api/accounts/recover-by-phone", dependencies=[api], response_model=Number)
    async def request_recovery(body: PhoneRequest) -> dict[str, Any]:
        """Send a code to an account's verified number, to give the account a new password: the answer is the same for
        every valid number, and a number without an account gets no SMS."""
        return await flows.request_recovery(body.phone)

    @app.get("/api/accounts/{phone}/info-by-phone", dependencies=[api], response_model=NumberInfo)
    async def info_by_phone(phone: str) -> dict[str, Any]:
        """Whether a number has an account (activated or waiting for its code) that lets everyone find it by its
        number: one whose owner or server says `contacts` or `nobody` is a 404, as a number without an account."""
        return flows.info_by_phone(phone)

    @app.post("/api/accounts/{sip}/activate/phone", dependencies=[api], response_model=SignedInAccount)
    async def activate(sip: str, body: CodeRequest) -> dict[str, Any]:
        """Activate an account with the code sent to its number; the number becomes its alias at once."""
        return flows.activate(sip, body.code)

    @app.post("/api/accounts/{sip}/recover", dependencies=[api], response_model=SignedInAccount)
    async def recover(sip: str, body: RecoverRequest) -> dict[str, Any]:
        """Give the account a new password with the code sent to its number."""
        return flows.recover(sip, body.code, body.password)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _problem(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        return _problem(ApiError(422, "invalid_body", _first_problem(error)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        word = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "bad_request")
        return _problem(ApiError(error.status_code, word, str(error.detail)))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, error: StoreError) -> JSONResponse:
        log.warning("account API: %s", error)
        return _problem(ApiError(503, "busy", "the server cannot use its database now: try again later", 5))


def _problem(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": error.error, "message": error.message}
    headers = {}
    if error.retry_after is not None:
        body["retry_after"] = error.retry_after
        headers["Retry-After"] = str(error.retry_after)
    response = JSONResponse(body, status_code=error.status, headers=headers)
    for challenge in error.challenges:
        response.headers.append("WWW-Authenticate", challenge)
    return response


def _first_problem(error: RequestValidationError) -> str:
    """The first problem of a body, named by its field; never the value given (it may be a password)."""
    problems = error.errors()
    if not problems:
        return "the request is not valid"
    first = problems[0]
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "the body"
    message = str(first.get("msg", "is not valid"))
    more = len(problems) - 1
    return f"{where}: {message}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")
