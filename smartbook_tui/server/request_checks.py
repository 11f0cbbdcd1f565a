"""What every request must be before the server handles it (RFC 3261 8.2 and 18.3, the cases of RFC 4475), sans-IO.

Each rule raises a `Refusal` the core (or the proxy) turns into the answer:

* `via_refusal`: a request whose top Via does not read cannot be matched to a transaction; it gets a 400 at
  once, statelessly, before any routing (an ACK none: nothing answers an ACK).
* `check_request`, for every request the server handles, as proxy or as its target: what the parser found wrong
  (`SipRequest.defect`) 400, a SIP version other than 2.0 505, a Request-URI that does not read 400 and one of a
  scheme other than sip, sips and tel 416, a Via that does not read 400, a header that may appear once appearing
  twice 400, the headers every request needs (From, To, Call-ID, CSeq, a From tag) 400.
* `check_as_target`, for the requests the server answers itself (REGISTER, PUBLISH, SUBSCRIBE, an OPTIONS to it):
  a REGISTER for another URI than a SIP one 416, an option tag in Require that it does not support 420 with
  Unsupported (never for ACK and CANCEL, RFC 3261 8.2.2.3). A proxy checks Proxy-Require instead, and passes
  Require on.

`SUPPORTED_OPTIONS` is the one list of the extensions the server supports.
"""

from __future__ import annotations

import re

from smartbook_tui.presence import LIST_DELTA
from smartbook_tui.sip import SipParseError, SipRequest, parse_name_addr, parse_uri, split_list
from smartbook_tui.sip.transaction import server_key
from smartbook_tui.sip.uri import SipUri, TelUri, split_params

from .refusal import Refusal, one_line

__all__ = [
    "SUPPORTED",
    "SUPPORTED_OPTIONS",
    "check_as_target",
    "check_request",
    "digest_credentials",
    "option_tags",
    "request_uri",
    "via_refusal",
]

# RFC 4662 resource lists, RFC 5367 list bodies, and changes to a list in a refresh (`presence.LIST_DELTA`)
SUPPORTED_OPTIONS = ("eventlist", "recipient-list-subscribe", LIST_DELTA)
SUPPORTED = ", ".join(SUPPORTED_OPTIONS)

# The headers RFC 3261 (table of section 20) and RFC 6665 allow once in a request, of those the server reads.
_SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type", "Expires", "Event")
_SCHEMES = ("sip:", "sips:", "tel:")
_NOT_IN_A_URI = re.compile(r'[\s<>"]')
_VIA = re.compile(r"SIP\s*/\s*2\.0\s*/\s*[A-Za-z0-9.!%*_+`'~-]+\s+[^\s;,]+")
# A Via as phones write it, read at a glance (the others are read piece by piece): sent-protocol, sent-by, and
# parameters whose values are tokens or hosts.
# Only characters of tokens and hosts, a subset of what the full reading takes, so that a Via that passes at a
# glance always reads as a transaction key.
_PLAIN_VIA = re.compile(r"SIP/2\.0/[A-Za-z]+ [\w.:\[\]-]+(?:;[\w.!%*+`'~-]+(?:=[\w.!%*+`'~:\[\]-]+)?)*")
_SINGLE_NAMES = frozenset(_SINGLE)
_DIGEST = re.compile(r"\s*digest\s", re.IGNORECASE)
_NOT_CHECKED = ("ACK", "CANCEL")  # RFC 3261 8.2.2.3: their Require is never refused


def via_refusal(request: SipRequest) -> Refusal | None:
    """The 400 due when the top Via does not read as the key of a server transaction, but for an ACK (never
    answered: it is dropped)."""
    if _PLAIN_VIA.fullmatch(request.headers.get("Via") or ""):
        return None
    try:
        server_key(request)
    except SipParseError as error:
        if request.method != "ACK":
            return Refusal(400, f"Bad Request (Via: {one_line(str(error))})")
    return None


def check_request(request: SipRequest) -> None:
    """The checks of every request the server handles, in the order a client learns most from; Refusal if one
    fails."""
    if request.defect is not None:
        raise Refusal(400, f"Bad Request ({request.defect})")
    if request.version != "SIP/2.0":
        raise Refusal(505, f"Version Not Supported (only SIP/2.0, not {request.version})")
    request_uri(request.uri)
    _check_vias(request)
    seen: set[str] = set()
    for name, _ in request.headers.items():
        if name in _SINGLE_NAMES:
            if name in seen:
                raise Refusal(400, f"Bad Request ({name} appears more than once)")
            seen.add(name)
    for name in ("From", "To", "Call-ID", "CSeq"):
        if not request.headers.get(name):
            raise Refusal(400, f"Bad Request (no {name} header)")
    try:
        method = request.cseq[1]
        parse_name_addr(request.headers.get("From") or "")
        parse_name_addr(request.headers.get("To") or "")
        request.expires  # noqa: B018 (read to check it)
    except (SipParseError, ValueError) as error:
        raise Refusal(400, f"Bad Request ({one_line(str(error))})") from None
    if method != request.method:
        raise Refusal(400, f"Bad Request (CSeq names {method[:20]}, the request is {request.method})")
    if not request.from_tag:
        raise Refusal(400, "Bad Request (the From header has no tag)")


def check_as_target(request: SipRequest) -> None:
    """The checks of a request the server answers itself, after `check_request`'s."""
    check_request(request)
    if request.method == "REGISTER" and not isinstance(request_uri(request.uri), SipUri):
        raise Refusal(416, "Unsupported URI Scheme (a REGISTER names a SIP domain)")
    if request.method in _NOT_CHECKED:
        return
    unknown = option_tags(request, "Require") - set(SUPPORTED_OPTIONS)
    if unknown:
        raise Refusal(420, "Bad Extension", {"Unsupported": ", ".join(sorted(unknown))})


def request_uri(text: str) -> SipUri | TelUri:
    """The Request-URI read; Refusal 416 for a scheme other than sip, sips and tel, 400 for one that does not read
    (whitespace or angle brackets in it included)."""
    if _NOT_IN_A_URI.search(text):
        raise Refusal(400, "Bad Request (whitespace, quotes or angle brackets in the Request-URI)")
    if not text.lower().startswith(_SCHEMES):
        raise Refusal(416, f"Unsupported URI Scheme ({text.split(':', 1)[0][:20]})")
    try:
        return parse_uri(text)
    except SipParseError as error:
        raise Refusal(400, f"Bad Request (Request-URI: {one_line(str(error))})") from None


def option_tags(request: SipRequest, header: str) -> set[str]:
    """The option tags of Supported, Require or Proxy-Require, lower-cased."""
    return {tag.strip().lower() for value in request.headers.get_all(header) for tag in split_list(value) if tag}


def digest_credentials(values: list[str]) -> list[str]:
    """The Authorization (or Proxy-Authorization) values of the Digest scheme: credentials of a scheme the server
    does not know are as if absent, so that they get a challenge (RFC 4475 regaut01), not a 400."""
    return [value for value in values if _DIGEST.match(value)]


def _check_vias(request: SipRequest) -> None:
    """Each Via is `SIP/2.0/transport sent-by` and parameters, none of them empty."""
    for via in request.headers.get_all("Via"):
        if _PLAIN_VIA.fullmatch(via):
            continue
        pieces = split_list(via, ";")
        if not _VIA.fullmatch(pieces[0]) or "" in pieces[1:]:
            raise Refusal(400, f"Bad Request (a Via does not read: {via[:60]})")
        try:
            split_params(via)
        except SipParseError as error:
            raise Refusal(400, f"Bad Request (Via: {one_line(str(error))})") from None
