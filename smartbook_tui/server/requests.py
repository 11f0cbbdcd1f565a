"""Reading what the server's requests carry, sans-IO: the resource list of an RFC 5367 SUBSCRIBE, the client's
capabilities (deflate, the legacy Linphone form) and what a list entry names. The checks every request passes
first are `request_checks`'.

Every refusal is a `Refusal` (status, one-line reason, headers to add), which the core turns into the response.
"""

from __future__ import annotations

import re

from smartbook_tui.presence import (
    BodyTooLarge,
    PresenceDocumentError,
    UnsupportedEncoding,
    decode_content_encoding,
    parse_content_type,
    resource_list_uris,
)
from smartbook_tui.sip import SipParseError, SipRequest, parse_uri, split_list
from smartbook_tui.sip.uri import SipUri, TelUri

from .refusal import Refusal, one_line

__all__ = [
    "RESOURCE_LISTS",
    "accepts_deflate",
    "decoded_body",
    "entry_key",
    "is_entry",
    "is_legacy_linphone",
    "read_list",
]

RESOURCE_LISTS = "application/resource-lists+xml"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PHONE_ALIAS = re.compile(r"sip:(\+[1-9][0-9]{6,14})@([A-Za-z0-9.-]+);user=phone")
# liblinphone names itself in one of these products; before 5.4 it only reads the legacy NOTIFY form.
_LINPHONE_VERSION = re.compile(r"(?:LinphoneSDK|LinphoneCore|liblinphone|Linphonec)/(\d+)\.(\d+)", re.IGNORECASE)
_LINPHONE_APP_VERSION = re.compile(r"\bLinphone[A-Za-z -]*/(\d+)\.", re.IGNORECASE)
_LEGACY_BEFORE = (5, 4)


def accepts_deflate(request: SipRequest) -> bool:
    """Whether Accept-Encoding lists deflate (with a q-value above 0)."""
    for value in request.headers.get_all("Accept-Encoding"):
        for item in split_list(value):
            coding, *params = (part.strip().lower() for part in item.split(";"))
            if coding == "deflate" and "q=0" not in params and "q=0.0" not in params:
                return True
    return False


def is_legacy_linphone(user_agent: str | None) -> bool:
    """Whether the User-Agent is liblinphone older than 5.4 (which only reads the legacy NOTIFY form, and crashes
    on the RFC one). Without the library's version, a Linphone app older than 5 (`Linphone/3.12.0`) is one too."""
    text = user_agent or ""
    match = _LINPHONE_VERSION.search(text)
    if match is not None:
        return (int(match[1]), int(match[2])) < _LEGACY_BEFORE
    app = _LINPHONE_APP_VERSION.search(text)
    return app is not None and int(app[1]) < _LEGACY_BEFORE[0]


def read_list(request: SipRequest, *, max_entries: int, max_bytes: int) -> list[str]:
    """The entry URIs of an RFC 5367 SUBSCRIBE, in order, each once; Refusal when the body is not a usable list.
    Entries that are not SIP or tel URIs are skipped (as Flexisip does); more than `max_entries` is refused."""
    if not request.body:
        raise Refusal(400, "Bad Request (the resource list is empty)")
    content_type = request.content_type
    try:
        kind = parse_content_type(content_type).mime if content_type else None
    except PresenceDocumentError:
        kind = None
    if kind != RESOURCE_LISTS:
        raise Refusal(
            415, "Unsupported Media Type (send the list as application/resource-lists+xml)", {"Accept": RESOURCE_LISTS}
        )
    document = decoded_body(request, max_bytes, "a resource list")
    try:
        uris = [uri for uri in resource_list_uris(document, max_bytes) if is_entry(uri)]
    except PresenceDocumentError as error:
        raise Refusal(400, f"Bad Request ({one_line(str(error))})") from None
    if len(uris) > max_entries:
        # The limit is said in a Warning too, for a client to split its list rather than send it again.
        raise Refusal(
            413,
            f"Request Entity Too Large (the list has {len(uris)} entries, at most {max_entries})",
            {"Warning": f'399 smartbook "a list holds at most {max_entries} entries"'},
        )
    return uris


def decoded_body(request: SipRequest, max_bytes: int, what: str) -> bytes:
    """The body with its Content-Encoding undone (deflate, gzip, identity), at most `max_bytes` decoded; Refusal
    415 for an encoding not known, 413 past the size (a bomb included), 400 for corrupt data. `what` names the
    body in the 413's reason."""
    try:
        return decode_content_encoding(request.content_encoding, request.body, max_bytes)
    except UnsupportedEncoding as error:
        raise Refusal(
            415, f"Unsupported Media Type ({one_line(str(error))})", {"Accept-Encoding": "deflate, gzip"}
        ) from None
    except BodyTooLarge:
        raise Refusal(413, f"Request Entity Too Large ({what} is at most {max_bytes} bytes decoded)") from None
    except PresenceDocumentError as error:
        raise Refusal(400, f"Bad Request ({one_line(str(error))})") from None


def entry_key(uri: str, domain: str) -> str | None:
    """What a list entry names on this server: an E.164 number (`+33612345678`, from `sip:+33612345678@domain;
    user=phone`, a `sip:` URI of the domain whose user part is such a number, or `tel:+33612345678`), a username
    (`alice`, from `sip:alice@domain`), or None (another domain, or not an address)."""
    quick = _PHONE_ALIAS.fullmatch(uri)
    if quick is not None and quick[2].lower() == domain.lower():  # the usual entry, read without a URI parse
        return quick[1]
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return None
    if isinstance(parsed, TelUri):
        number = parsed.digits if parsed.is_global else ""
        return number if _E164.fullmatch(number) else None
    if not isinstance(parsed, SipUri) or parsed.user is None or parsed.host.lower() != domain.lower():
        return None
    user = parsed.user
    if user.startswith("+") or (parsed.param("user") or "").lower() == "phone":
        number = re.sub(r"[-.()]", "", user)  # visual separators of RFC 3966
        return number if _E164.fullmatch(number) else None
    return user


def is_entry(uri: str) -> bool:
    """Whether a list entry names something a server can resolve (a SIP or tel URI); others are skipped."""
    if _PHONE_ALIAS.fullmatch(uri):
        return True
    try:
        parse_uri(uri)
    except SipParseError:
        return False
    return True
