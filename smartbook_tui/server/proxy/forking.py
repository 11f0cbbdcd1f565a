"""Which response a forked request's caller gets when no target accepted it (RFC 3261 16.7 step 6)."""

from __future__ import annotations

from smartbook_tui.sip.message import SipResponse

__all__ = ["best_response"]


_SILENT = frozenset({408, 480})  # a device that did not answer says less than one that refused


def best_response(finals: list[SipResponse]) -> SipResponse:
    """A 6xx if any came (a callee declined everywhere), else one of the lowest class: one that says why (a 486
    from one device, not the 480 of another that is away), else the first; a 503 becomes 500 (a 503 would tell
    the caller that this server is unavailable, not the callee)."""
    six = [response for response in finals if response.status >= 600]
    best = six[0] if six else min(finals, key=lambda response: (response.status // 100, response.status in _SILENT))
    if best.status == 503:
        return SipResponse(500, "Server Internal Error (the callee's device is unavailable)", best.headers, best.body)
    return best
