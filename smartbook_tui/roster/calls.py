"""Calling a contact, and knowing who calls: where a row can be called, and which contact a remote party is.

A number the service knows as a user's is called at the SIP address the service revealed for it; another checked
number at its resource URI (`sip:+E164@domain;user=phone`), which the server resolves to the account whose
verified number it is, or answers 404; a SIP address on the card as written. A number that could not be checked
(no E.164 form) is not offered: no server could route it.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartbook_tui.contacts import number_resource_uri
from smartbook_tui.sip.uri import SipParseError, SipUri, TelUri, parse_uri

from .model import Roster, Row


@dataclass(frozen=True, slots=True)
class CallTarget:
    label: str  # the number as the card writes it, or the SIP address
    uri: str  # where the call goes
    has_account: bool  # the service knows it as a user's


def call_targets(row: Row) -> list[CallTarget]:
    """Where the row's contact can be called, each address once: those of a user first, then card order."""
    targets: dict[str, CallTarget] = {}
    for state in row.numbers:
        if state.uri is None:
            continue
        summary = state.summary
        uri = summary.sip_address if summary.has_account and summary.sip_address else state.uri
        targets.setdefault(uri, CallTarget(state.label, uri, summary.has_account))
    return sorted(targets.values(), key=lambda target: not target.has_account)


def address_key(uri: str) -> str | None:
    """A SIP address as two spellings of it compare: scheme, user and host (in lower case), without the port,
    parameters or display name; None when `uri` is not a SIP address with a user."""
    try:
        parsed = parse_uri(uri.strip().removeprefix("<").removesuffix(">"))
    except (SipParseError, ValueError):
        return None
    if not isinstance(parsed, SipUri) or parsed.user is None:
        return None
    return f"{parsed.scheme}:{parsed.user}@{parsed.host.lower()}"


def _number_of(uri: str) -> str | None:
    """The E.164 number a remote URI carries (`tel:+33...` or `sip:+33...@host`), if it carries one."""
    try:
        parsed = parse_uri(uri.strip().removeprefix("<").removesuffix(">"))
    except (SipParseError, ValueError):
        return None
    if isinstance(parsed, TelUri):
        return parsed.digits if parsed.is_global else None
    user = parsed.user or ""
    return user if user.startswith("+") and user[1:].isdigit() else None


def caller_row(roster: Roster, remote: str, domain: str | None) -> Row | None:
    """The contact a remote party is (the caller of an incoming call, or whom a call went to): by a number of the
    card, by a SIP address on the card, or by the SIP address the service revealed for one of its numbers."""
    number = _number_of(remote)
    if number is not None and domain is not None:
        found = roster.rows_with_resource(number_resource_uri(number, domain))
        if found:
            return found[0]
    key = address_key(remote)
    if key is None:
        return None
    user = key.partition(":")[2].rpartition("@")[0]
    for row in roster.rows:
        for state in row.numbers:
            for address in (state.uri, state.summary.sip_address):
                # Only an address with the same user part can be the same: a book's worth of parsing is not needed.
                if address and user in address and address_key(address) == key:
                    return row
    return None
