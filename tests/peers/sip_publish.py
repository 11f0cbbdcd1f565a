"""PUBLISH a PIDF for a user with smartbook's own SIP stack: a test's way to make someone present."""

from __future__ import annotations

import asyncio
import secrets

from smartbook_tui.sip.aio import open_flow
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipMessage, SipRequest, SipResponse


def pidf(entity: str, basic: str = "open", note: str | None = None) -> bytes:
    note_element = f"<note>{note}</note>" if note else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}">'
        f'<tuple id="t1"><status><basic>{basic}</basic></status><contact>{entity}</contact>{note_element}</tuple>'
        "</presence>"
    ).encode()


class Publisher:
    """One publication of one user, as a phone keeps it (RFC 3903): the first PUBLISH makes it, the next ones
    modify it (SIP-If-Match: the ETag of the last 200). A PUBLISH without SIP-If-Match would be another device's
    publication, composed with this one rather than replacing it. UDP, one digest challenge answered."""

    def __init__(self, server: tuple[str, int], user: str, password: str) -> None:
        self.server, self.user = server, user
        self.aor = f"sip:{user}@{server[0]}"
        self.etag: str | None = None
        self._session = DigestSession(Credentials(user, password))
        self._call_id, self._tag, self._cseq = secrets.token_hex(8), secrets.token_hex(4), 0

    async def publish(self, basic: str = "open", note: str | None = None, *, expires: int = 300) -> int:
        """PUBLISH the PIDF of `basic` and `note`; the final status code."""
        return await self.send(pidf(self.aor, basic, note), expires=expires)

    async def send(self, body: bytes, *, expires: int = 300) -> int:
        answers: asyncio.Queue[SipMessage] = asyncio.Queue()
        flow = await open_flow("udp", self.server, on_message=lambda message, _source: answers.put_nowait(message))
        try:
            authorization: tuple[str, str] | None = None
            for _ in range(4):  # challenged, answered; after a 412, the same once more
                self._cseq += 1
                via = f"SIP/2.0/UDP {flow.local[0]}:{flow.local[1]};branch=z9hG4bK{secrets.token_hex(8)};rport"
                headers = Headers(
                    [
                        ("Via", via),
                        ("Max-Forwards", 70),
                        ("From", f"<{self.aor}>;tag={self._tag}"),
                        ("To", f"<{self.aor}>"),
                        ("Call-ID", self._call_id),
                        ("CSeq", f"{self._cseq} PUBLISH"),
                        ("Event", "presence"),
                        ("Expires", expires),
                        ("Content-Type", "application/pidf+xml"),
                    ]
                )
                if self.etag is not None:
                    headers.add("SIP-If-Match", self.etag)
                if authorization:
                    headers.add(*authorization)
                flow.send(SipRequest("PUBLISH", self.aor, headers, body))
                response = await asyncio.wait_for(answers.get(), 5.0)
                assert isinstance(response, SipResponse)
                if response.status not in (401, 407) and authorization:
                    self._session.accepted()  # (else its answers add up to the loop guard's limit)
                if response.status == 412 and self.etag is not None:
                    # The server no longer knows the publication (as after a node of a cluster died): a new one,
                    # as a phone makes it (RFC 3903), challenged again.
                    self.etag, authorization = None, None
                    continue
                if response.status not in (401, 407):
                    if response.status == 200:
                        self.etag = response.headers.get("SIP-ETag")
                    return response.status
                name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
                value = self._session.answer(
                    response.headers.get_all(name), method="PUBLISH", uri=self.aor, cnonce=secrets.token_hex(8)
                )
                authorization = ("Authorization" if response.status == 401 else "Proxy-Authorization", value)
            return 0
        finally:
            flow.close()


async def publish(server: tuple[str, int], user: str, password: str, body: bytes, *, expires: int = 300) -> int:
    """One PUBLISH (a new publication) over UDP as sip:user@<server host>; the final status code."""
    return await Publisher(server, user, password).send(body, expires=expires)
