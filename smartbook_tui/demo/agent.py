"""A demo user's presence as the server sees it: one publication, kept over one TCP connection with smartbook's
own SIP code (the user's registration and calls are `phone.answering`'s, whose pjsua2 accounts do not publish).

One request at a time (the caller awaits each), answered by the branch of its Via; a digest challenge (407) is
answered and later requests carry credentials for the last nonce. A PUBLISH after the first modifies the same
publication (SIP-If-Match), as a phone's status changes do.
"""

from __future__ import annotations

import asyncio
import secrets

from smartbook_tui import __version__
from smartbook_tui.presence import (
    Activity,
    Availability,
    BasicStatus,
    Note,
    Person,
    Presence,
    PresenceTuple,
    build_pidf,
)
from smartbook_tui.sip.aio import Flow, TransportError, format_address, open_flow
from smartbook_tui.sip.auth import AuthError, Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipRequest, SipResponse

from .cast import Step

__all__ = ["AgentError", "UserAgent", "presence_document"]

ANSWER_TIMEOUT = 5.0
PUBLISH_EXPIRES = 600
_ACTIVITIES = {
    Availability.AWAY: Activity.AWAY,
    Availability.BUSY: Activity.BUSY,
    Availability.ON_THE_PHONE: Activity.ON_THE_PHONE,
}


class AgentError(Exception):
    """A request failed (no connection, no answer, refused); one line."""


def presence_document(aor: str, step: Step) -> bytes:
    """The PIDF a phone publishes for `step`: one tuple, open unless offline, naming the account's address; the
    RPID activity and the note on the person."""
    basic = BasicStatus.CLOSED if step.status is Availability.OFFLINE else BasicStatus.OPEN
    activity = _ACTIVITIES.get(step.status)
    person = Person("p1", activities=(activity,) if activity else (), notes=(Note(step.note),) if step.note else ())
    return build_pidf(Presence(aor, tuples=(PresenceTuple("t1", basic, contact=aor),), persons=(person,)))


class UserAgent:
    def __init__(self, server: tuple[str, int], domain: str, username: str, password: str) -> None:
        self.aor = f"sip:{username}@{domain}"
        self._server = server
        self._session = DigestSession(Credentials(username, password))
        self._call_id = secrets.token_hex(8)
        self._tag = secrets.token_hex(4)
        self._cseq = 0
        self._etag: str | None = None
        self._flow: Flow | None = None
        self._waiting: dict[str, asyncio.Future[SipResponse]] = {}

    async def publish(self, step: Step) -> None:
        body = presence_document(self.aor, step)
        for _ in range(2):
            fields: list[tuple[str, str | int]] = [
                ("Event", "presence"),
                ("Expires", PUBLISH_EXPIRES),
                ("Content-Type", "application/pidf+xml"),
            ]
            if self._etag is not None:
                fields.append(("SIP-If-Match", self._etag))
            try:
                response = await self._request("PUBLISH", self.aor, fields, body)
            except _Unknown:  # the publication expired or the server forgot it: make a new one
                self._etag = None
                continue
            self._etag = response.headers.get("SIP-ETag")
            return
        raise AgentError(f"PUBLISH of {self.aor}: the server forgets the publication as soon as it is made")

    def close(self) -> None:
        """Drop the connection (the next request reconnects, and makes a new publication)."""
        if self._flow is not None:
            self._flow.close()
        self._lost(AgentError("closed"))
        self._etag = None

    async def _connected(self) -> Flow:
        if self._flow is None or self._flow.closed:
            try:
                self._flow = await open_flow("tcp", self._server, on_message=self._on_message, on_lost=self._lost)
            except TransportError as exc:
                raise AgentError(f"{self.aor}: {exc}") from None
        return self._flow

    async def _request(
        self, method: str, uri: str, fields: list[tuple[str, str | int]], body: bytes = b""
    ) -> SipResponse:
        flow = await self._connected()
        answer_header = "Proxy-Authorization"  # until a 401 says the server wants Authorization
        authorization = self._session.authorize(method=method, uri=uri, cnonce=secrets.token_hex(8), body=body)
        for _ in range(3):
            self._cseq += 1
            branch = f"z9hG4bK{secrets.token_hex(8)}"
            headers = Headers(
                [
                    ("Via", f"SIP/2.0/TCP {format_address(flow.local)};branch={branch};rport"),
                    ("Max-Forwards", 70),
                    ("From", f"<{self.aor}>;tag={self._tag}"),
                    ("To", f"<{self.aor}>"),
                    ("Call-ID", self._call_id),
                    ("CSeq", f"{self._cseq} {method}"),
                    ("User-Agent", f"smartbook-demo/{__version__}"),
                    *fields,
                ]
            )
            if authorization is not None:
                headers.add(answer_header, authorization)
            response = await self._exchange(flow, SipRequest(method, uri, headers, body), branch)
            if response.status in (401, 407):
                challenge = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
                answer_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
                try:
                    values = response.headers.get_all(challenge)
                    cnonce = secrets.token_hex(8)
                    authorization = self._session.answer(values, method=method, uri=uri, cnonce=cnonce, body=body)
                except AuthError as exc:
                    raise AgentError(f"{self.aor}: {exc}") from None
                continue
            self._session.accepted()
            if response.status == 412 and method == "PUBLISH":
                raise _Unknown
            if response.status >= 300:
                raise AgentError(f"{method} of {self.aor} refused: {response.status} {response.reason}")
            return response
        raise AgentError(f"{method} of {self.aor}: the server keeps asking for credentials")

    async def _exchange(self, flow: Flow, request: SipRequest, branch: str) -> SipResponse:
        answer: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._waiting[branch] = answer
        try:
            flow.send(request)
            return await asyncio.wait_for(answer, ANSWER_TIMEOUT)
        except TransportError as exc:
            raise AgentError(f"{request.method} of {self.aor}: {exc}") from None
        except TimeoutError:
            raise AgentError(f"{request.method} of {self.aor}: no answer in {ANSWER_TIMEOUT:g} s") from None
        finally:
            self._waiting.pop(branch, None)

    def _on_message(self, message: SipMessage, _source: tuple[str, int]) -> None:
        if not isinstance(message, SipResponse) or message.status < 200:
            return  # the server sends a publisher no requests; provisional answers wait for the final one
        waiting = self._waiting.pop(message.via_branch or "", None)
        if waiting is not None and not waiting.done():
            waiting.set_result(message)

    def _lost(self, error: Exception | None) -> None:
        self._flow = None
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(AgentError(f"{self.aor}: the connection to the server was lost ({error})"))
        self._waiting.clear()


class _Unknown(Exception):
    """412: the publication to modify is gone."""
