"""The phone's decisions about calls, as pure functions (no pjsua2): why a call ended, in words for a person;
who is on the other end; which audio device a name chooses; what a DTMF string may hold."""

from __future__ import annotations

import re
from collections.abc import Sequence

from smartbook_tui.sip.uri import SipParseError, parse_name_addr, parse_uri

from .states import AudioDevice, CallDirection

_WORDS = {
    401: "wrong password",  # the server still refuses the credentials pjsip answered its challenge with
    407: "wrong password",
    403: "refused",
    486: "busy",
    600: "busy",
    603: "declined",
    607: "declined",
    608: "declined",
    404: "not found",
    410: "not found",
    484: "not found",
    604: "not found",
    480: "unavailable",
    487: "cancelled",
    # pjsip's own answers for a request that could not be sent, and a gateway's for a network it cannot reach
    502: "network",
    503: "network",
    504: "network",
}
_DTMF = re.compile(r"[0-9*#A-Da-d]+")


def end_reason(code: int, reason: str, *, direction: CallDirection, answered: bool, rang: bool, by_you: bool) -> str:
    """Why a call ended, from the last SIP status pjsip saw (`code`, `reason`). `answered`: it was talking;
    `rang`: the other side rang (a timeout is then "no answer", not the network's fault); `by_you`: the user
    hung up, cancelled or declined it."""
    if answered:
        if by_you:
            return "hung up by you"
        return "hung up by them" if 200 <= code < 300 else "network"
    if by_you and direction is CallDirection.OUTGOING:
        return "cancelled"
    if code == 408:
        return "no answer" if rang or direction is CallDirection.INCOMING else "network"
    words = _WORDS.get(code)
    if words is not None:
        return words
    if code < 100:  # pjsip ended it before any answer (a transport error)
        return "network"
    return f"failed: {code} {reason}".strip()


def remote_party(remote: str) -> tuple[str, str]:
    """The URI and display name of the other side, from pjsip's `"Bob" <sip:bob@example.org>;tag=...`."""
    try:
        address = parse_name_addr(remote)
    except SipParseError:
        return remote.strip(), ""
    return str(address.uri), address.display_name or ""


def call_target_problem(uri: str) -> str | None:
    """What makes `uri` impossible to call, in one line; None when it can be tried."""
    try:
        parse_uri(uri)
    except SipParseError as exc:
        return f"cannot call {uri!r}: {exc}"
    if not uri.lower().startswith(("sip:", "sips:")):
        return f"cannot call {uri!r}: give a sip: address"
    return None


def dtmf_problem(digits: str) -> str | None:
    if not _DTMF.fullmatch(digits):
        return f"{digits!r} is not DTMF: use 0-9, *, # and A-D"
    return None


def chosen_device(devices: Sequence[AudioDevice], wanted: str) -> AudioDevice | str:
    """The device `wanted` names (its exact name, else the only one whose name contains it, any case), or
    the one-line reason none is."""
    for device in devices:
        if device.name == wanted:
            return device
    folded = wanted.casefold()
    matching = [device for device in devices if folded in device.name.casefold()]
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(repr(device.name) for device in devices) or "none"
    if matching:
        return f"{wanted!r} names several audio devices: {', '.join(repr(d.name) for d in matching)}"
    return f"no audio device named {wanted!r}; there are: {names}"
