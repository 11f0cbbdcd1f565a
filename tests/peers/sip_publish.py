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


async def publish(server: tuple[str, int], user: str, password: str, body: bytes, *, expires: int = 300) -> int:
    """PUBLISH over UDP as sip:user@<server host>, answering one digest challenge; the final status code."""
    answers: asyncio.Queue[SipMessage] = asyncio.Queue()
    flow = await open_flow("udp", server, on_message=lambda message, _source: answers.put_nowait(message))
    aor = f"sip:{user}@{server[0]}"
    session = DigestSession(Credentials(user, password))
    call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
    try:
        authorization: tuple[str, str] | None = None
        for cseq in (1, 2, 3):
            headers = Headers(
                [
                    ("Via", f"SIP/2.0/UDP {flow.local[0]}:{flow.local[1]};branch=z9hG4bK{secrets.token_hex(8)};rport"),
                    ("Max-Forwards", 70),
                    ("From", f"<{aor}>;tag={tag}"),
                    ("To", f"<{aor}>"),
                    ("Call-ID", call_id),
                    ("CSeq", f"{cseq} PUBLISH"),
                    ("Event", "presence"),
                    ("Expires", expires),
                    ("Content-Type", "application/pidf+xml"),
                ]
            )
            if authorization:
                headers.add(*authorization)
            flow.send(SipRequest("PUBLISH", aor, headers, body))
            response = await asyncio.wait_for(answers.get(), 5.0)
            assert isinstance(response, SipResponse)
            if response.status not in (401, 407):
                return response.status
            name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            value = session.answer(
                response.headers.get_all(name), method="PUBLISH", uri=aor, cnonce=secrets.token_hex(8)
            )
            authorization = ("Authorization" if response.status == 401 else "Proxy-Authorization", value)
        return 0
    finally:
        flow.close()
