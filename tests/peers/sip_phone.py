"""A small SIP phone over UDP on 127.0.0.1, built on smartbook's own message code, for calls through the server:
it registers (answering the digest challenge), calls (answering the 407), answers, acknowledges and hangs up, and
returns what it receives for the test to look at. Blocking, one socket; no media."""

from __future__ import annotations

import itertools
import secrets
import socket
import time
from typing import Self

from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipRequest, SipResponse, parse_message

WAIT = 10.0


class SipPhone:
    def __init__(self, server: tuple[str, int], user: str, password: str, domain: str, *, port: int = 0) -> None:
        self.server, self.user, self.password, self.domain = server, user, password, domain
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(WAIT)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.contact = f"sip:{user}@{self.address[0]}:{self.address[1]}"
        self.tag = secrets.token_hex(4)
        self._cseq = itertools.count(1)
        self._waiting: list[SipMessage] = []
        self.registered = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.registered:
                self.register(expires=0)  # else calls would fork to this phone after it is gone
        finally:
            self.sock.close()

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    # ------------------------------------------------------------------------------------------ sending

    def request(self, method: str, uri: str, *, call_id: str | None = None, to: str | None = None) -> SipRequest:
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {self.address[0]}:{self.address[1]};branch=z9hG4bK{secrets.token_hex(8)};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<{self.aor}>;tag={self.tag}"),
                ("To", to or f"<{uri}>"),
                ("Call-ID", call_id or secrets.token_hex(8)),
                ("CSeq", f"{next(self._cseq)} {method}"),
                ("Contact", f"<{self.contact}>"),
                ("User-Agent", "smartbook-test-phone"),
            ]
        )
        return SipRequest(method, uri, headers)

    def send(self, message: SipMessage) -> None:
        self.sock.sendto(message.to_bytes(), self.server)

    def with_credentials(self, request: SipRequest, challenge: SipResponse) -> SipRequest:
        """`request` again, answering `challenge` (401 or 407): a new branch and the next CSeq."""
        proxy = challenge.status == 407
        value = DigestSession(Credentials(self.user, self.password)).answer(
            challenge.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate"),
            method=request.method,
            uri=request.uri,
            cnonce=secrets.token_hex(4),
        )
        retry = self.request(request.method, request.uri, call_id=request.call_id, to=request.headers.get("To"))
        for name, field in request.headers.items():
            if name not in retry.headers:
                retry.headers.add(name, field)
        retry.headers.add("Proxy-Authorization" if proxy else "Authorization", value)
        retry.body = request.body
        return retry

    def register(self, *, expires: int = 600) -> None:
        register = self.request("REGISTER", f"sip:{self.domain}", to=f"<{self.aor}>")
        register.headers.add("Expires", str(expires))
        self.send(register)
        challenge = self.response_to(register)
        if challenge.status == 401:
            retry = self.with_credentials(register, challenge)
            self.send(retry)
            challenge = self.response_to(retry)
        assert challenge.status == 200, f"REGISTER: {challenge.status} {challenge.reason}"
        self.registered = expires > 0

    def call(self, uri: str, *, body: bytes = b"v=0\r\n") -> SipRequest:
        """Send an INVITE and answer the 407 (acknowledging it): the INVITE with credentials, now on its way."""
        invite = self.request("INVITE", uri)
        invite.headers.add("Content-Type", "application/sdp")
        invite.body = body
        self.send(invite)
        challenge = self.final_to(invite)
        assert challenge.status == 407, f"INVITE: {challenge.status} {challenge.reason}"
        self.send(self.ack(invite, challenge))
        authorized = self.with_credentials(invite, challenge)
        self.send(authorized)
        return authorized

    def reply(self, request: SipRequest, status: int, reason: str, *, body: bytes = b"") -> SipResponse:
        headers = request.headers.only("Via", "Record-Route", "From", "Call-ID", "CSeq")
        to = request.headers.get("To") or ""
        headers.add("To", to if request.to_tag else f"{to};tag={self.tag}")
        headers.add("Contact", f"<{self.contact}>")
        response = SipResponse(status, reason, headers, body)
        self.send(response)
        return response

    @staticmethod
    def ack(invite: SipRequest, response: SipResponse) -> SipRequest:
        """The ACK of a non-2xx final: the INVITE's Via and CSeq number, the response's To."""
        headers = invite.headers.only("Via", "Max-Forwards", "From", "Call-ID")
        headers.add("To", response.headers.get("To") or "")
        headers.add("CSeq", f"{invite.cseq[0]} ACK")
        return SipRequest("ACK", invite.uri, headers)

    def caller_request(self, method: str, ok: SipResponse, *, cseq: int | None = None) -> SipRequest:
        """A request of the dialog the 2xx `ok` made, from the caller: to the callee's Contact, through the
        Record-Route in reverse."""
        remote = (ok.headers.get("Contact") or "").strip("<>")
        request = self.request(method, remote, call_id=ok.call_id)
        request.headers.set("From", ok.headers.get("From") or "")
        request.headers.set("To", ok.headers.get("To") or "")
        routes = ok.headers.get_all("Record-Route")[::-1]
        if cseq is not None:
            request.headers.set("CSeq", f"{cseq} {method}")
        for route in routes:
            request.headers.add("Route", route)
        return request

    def callee_request(self, method: str, invite: SipRequest) -> SipRequest:
        """A request of the dialog the callee made by answering `invite`: to the caller's Contact, through the
        INVITE's Record-Route in its order."""
        remote = (invite.headers.get("Contact") or "").strip("<>")
        request = self.request(method, remote, call_id=invite.call_id)
        request.headers.set("From", f"{invite.headers.get('To')};tag={self.tag}")
        request.headers.set("To", invite.headers.get("From") or "")
        for route in invite.headers.get_all("Record-Route"):
            request.headers.add("Route", route)
        return request

    # ------------------------------------------------------------------------------------------ receiving

    def receive(self, timeout: float) -> SipMessage:
        self.sock.settimeout(max(timeout, 0.001))
        data, _ = self.sock.recvfrom(65_535)
        return parse_message(data)

    def wait_for(self, method_or_status: str | int, timeout: float = WAIT) -> SipMessage:
        """The next request of that method, or response of that status; responses before it are skipped, requests
        kept for a later wait."""
        for index, message in enumerate(self._waiting):
            if isinstance(message, SipRequest) and message.method == method_or_status:
                return self._waiting.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline - time.monotonic())
            if isinstance(message, SipRequest):
                if message.method == method_or_status:
                    return message
                self._waiting.append(message)
            elif message.status == method_or_status:
                return message

    def response_to(self, request: SipRequest) -> SipResponse:
        """The next response of `request`'s transaction, provisional or final; requests meanwhile are kept."""
        deadline = time.monotonic() + WAIT
        while True:
            message = self.receive(deadline - time.monotonic())
            if isinstance(message, SipResponse) and (message.via_branch, message.cseq) == (
                request.via_branch,
                request.cseq,
            ):
                return message
            if isinstance(message, SipRequest):
                self._waiting.append(message)

    def final_to(self, request: SipRequest) -> SipResponse:
        while (response := self.response_to(request)).status < 200:
            pass
        return response

    def nothing_for(self, seconds: float) -> list[SipMessage]:
        """Everything received within `seconds` (the test asserts it is empty, or what it holds)."""
        got, self._waiting = self._waiting, []
        try:
            while True:
                got.append(self.receive(seconds))
        except TimeoutError:
            return got
