"""The server's own responses to a request: the request's Via, From, To, Call-ID and CSeq, a one-line reason."""

from __future__ import annotations

from smartbook_tui.sip.message import SipRequest, SipResponse
from smartbook_tui.sip.uri import SipParseError

from .refusal import one_line

__all__ = ["response_to"]


def response_to(
    request: SipRequest, status: int, reason: str, extra: dict[str, str] | None = None, *, to_tag: str | None = None
) -> SipResponse:
    """`to_tag`: the tag to add to To when it has none (and reads: an unreadable To is sent back as it came)."""
    headers = request.headers.only("Via", "From", "To", "Call-ID", "CSeq")
    if to_tag is not None and not _tag_of_to(request):
        headers.set("To", f"{request.headers.get('To') or ''};tag={to_tag}")
    headers.add("Server", "smartbook")
    for name, value in (extra or {}).items():
        headers.add(name, value)
    return SipResponse(status, one_line(reason), headers)  # reasons quote what the client sent


def _tag_of_to(request: SipRequest) -> str | None:
    try:
        return request.to_tag
    except SipParseError:
        return "unreadable"
