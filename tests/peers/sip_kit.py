"""SIP test helpers shared by the transport and listener tests: the messages they exchange and a flow's callbacks
recording what they get."""

from __future__ import annotations

import asyncio
import itertools

from smartbook_tui.sip import Headers, SipMessage, SipRequest, SipResponse
from smartbook_tui.sip.aio import Flow

LOCALHOST = "127.0.0.1"
TIMEOUT = 3.0
_branches = itertools.count(1)


def options(flow: Flow, number: int = 1, body: bytes = b"") -> SipRequest:
    sent_by = f"{flow.local[0]}:{flow.local[1]}"
    headers = Headers(
        [
            ("Via", f"SIP/2.0/{flow.transport} {sent_by};branch=z9hG4bK-c{next(_branches)};rport"),
            ("Max-Forwards", 70),
            ("From", "<sip:alice@example.org>;tag=c1"),
            ("To", "<sip:example.org>"),
            ("Call-ID", f"options-{number}@test"),
            ("CSeq", f"{number} OPTIONS"),
            ("Contact", f"<sip:alice@{sent_by};transport={flow.transport.lower()}>"),
        ]
    )
    return SipRequest("OPTIONS", "sip:example.org", headers, body)


def response_to(request: SipRequest, status: int = 200, reason: str = "OK") -> SipResponse:
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name) if name == "Via" else [request.headers.get(name) or ""]:
            headers.add(name, value)
    if request.to_tag is None:
        headers.set("To", f"{request.headers.get('To')};tag=s1")
    return SipResponse(status, reason, headers)


def notify(transport: str, server: tuple[str, int], number: int = 1) -> SipRequest:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/{transport} {server[0]}:{server[1]};branch=z9hG4bK-s{next(_branches)}"),
            ("Max-Forwards", 70),
            ("From", "<sip:rls@example.org>;tag=s1"),
            ("To", "<sip:alice@example.org>;tag=c1"),
            ("Call-ID", "list@test"),
            ("CSeq", f"{number} NOTIFY"),
            ("Event", "presence"),
            ("Subscription-State", "active;expires=3600"),
            ("Content-Type", "application/pidf+xml"),
        ]
    )
    return SipRequest("NOTIFY", "sip:alice@127.0.0.1", headers, b"<presence/>")


class Client:
    """The callbacks of a flow, recording what they get."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[SipMessage, tuple[str, int]]] = asyncio.Queue()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.lost_calls = 0

    def on_message(self, message: SipMessage, source: tuple[str, int]) -> None:
        self.messages.put_nowait((message, source))

    def on_lost(self, error: Exception | None) -> None:
        self.lost_calls += 1
        if not self.lost.done():
            self.lost.set_result(error)

    async def next_message(self) -> tuple[SipMessage, tuple[str, int]]:
        return await asyncio.wait_for(self.messages.get(), TIMEOUT)

    async def wait_lost(self) -> Exception | None:
        return await asyncio.wait_for(asyncio.shield(self.lost), TIMEOUT)


def list_subscribe(
    user: str,
    domain: str,
    sent_by: str,
    *,
    call_id: str,
    cseq: int,
    body: bytes,
    branch: str,
    auth: tuple[str, str] | None,
) -> SipRequest:
    """A request-contained list SUBSCRIBE over TCP from `user` (RFC 5367), its deflated resource-lists `body` to the
    domain's RLS; `auth` is (header name, credentials) when it answers a challenge."""
    rls = f"sip:rls@{domain}"
    headers = Headers(
        [
            ("Via", f"SIP/2.0/TCP {sent_by};branch=z9hG4bK{branch}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{domain}>;tag={user}"),
            ("To", f"<{rls}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} SUBSCRIBE"),
            ("Contact", f"<sip:{user}@{sent_by};transport=tcp>"),
            ("Event", "presence"),
            ("Expires", "3600"),
            ("Supported", "eventlist"),
            ("Accept", "multipart/related, application/rlmi+xml, application/pidf+xml"),
            ("Accept-Encoding", "deflate"),
            ("Content-Type", "application/resource-lists+xml"),
            ("Content-Encoding", "deflate"),
            ("Content-Disposition", "recipient-list"),
            ("Require", "recipient-list-subscribe"),
        ]
    )
    if auth is not None:
        headers.add(*auth)
    return SipRequest("SUBSCRIBE", rls, headers, body)
