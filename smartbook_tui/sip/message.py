"""SIP requests and responses (RFC 3261 sections 7, 18.3 and 20), sans-IO: bytes in, typed values out, and back.

`parse_message` reads one UDP datagram; `StreamParser` frames the messages of a TCP or TLS byte stream by their
Content-Length. Both take the same hard limits (`MAX_HEADER_BYTES`, `MAX_HEADER_FIELDS`, a `max_body`), decode
header text as UTF-8 with bad bytes replaced, and raise `SipParseError` (re-exported from `uri`, where it lives so
both parsers share it) for every bad input, with a one-line message, but one: a request with a Via that is framed
yet malformed (a header line that does not read, a Content-Length that does not fit its datagram) is returned with
its `defect` named, and one of another SIP version with its `version`, for a server to answer 400 or 505 to
(RFC 3261 18.3, RFC 4475).

Header names are case-insensitive, compact forms (`i`, `v`, `m`...) are read as their full names, and known names
are written in their RFC spelling (`Call-ID`, `CSeq`, `WWW-Authenticate`); unknown names keep the spelling they
were given. `Headers.get_all` splits comma-joined values only for the headers whose grammar is a comma-separated
list (Via, Contact, Route, Accept...), never for the others (Authorization, Date...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .uri import UNESCAPED_CONTROL, SipParseError, parse_name_addr, split_list, split_params

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "BodyOverLimit",
    "Headers",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "StreamParser",
    "Unframed",
    "canonical_header_name",
    "is_keepalive",
    "parse_message",
    "peek_answer",
]

DEFAULT_MAX_BODY = 4 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024  # start line and header fields, without the empty line that ends them
MAX_HEADER_FIELDS = 256


class BodyOverLimit(SipParseError):
    """A message whose Content-Length is over the body limit, refused before its body is read. From
    `StreamParser`, `head` is the message without its body (its start line and headers were read), so that a
    request can be answered 413 before the connection closes."""

    head: SipMessage | None = None


class Unframed(SipParseError):
    """A message on a stream whose Content-Length is missing, not a number or given twice differently: its end
    cannot be found. `head` is the message without its body, so that a request can be answered 400 before the
    connection closes."""

    def __init__(self, reason: str, head: SipMessage) -> None:
        super().__init__(reason)
        self.head = head


# RFC 3261 7.3.3 and the registrations of later RFCs (IANA "Header Fields" registry, compact forms).
_COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_SPELLINGS = (
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-ID",  # RFC 8262
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "Flow-Timer",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Join",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
)
_CANONICAL = {name.lower(): name for name in _SPELLINGS} | _COMPACT

# Headers whose grammar is `element *(COMMA element)`: a comma-joined line is the same as repeated lines.
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Route",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # any control character but HT
# In a header value: CR and LF never; another control character only as a quoted-pair (`"BEL:\\<07>"`, RFC 3261 25.1).
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_START_LINE_BYTE_CHECK = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # no start line holds one
_STATUS = re.compile(r"[1-6][0-9][0-9]")
_DIGITS = re.compile(r"[0-9]+")
_CSEQ = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9.!%*_+`'~-]+)")
_MAX_CSEQ = 2**31 - 1
_MAX_EXPIRES = 2**32 - 1


def _show(text: str, limit: int = 60) -> str:
    """`text` quoted on one line for an error message, cut if long."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def canonical_header_name(name: str) -> str:
    """The spelling a header name is written in: compact forms expanded (`i` -> `Call-ID`), known names in their
    RFC spelling (`call-id` -> `Call-ID`), unknown names as given."""
    return _CANONICAL.get(name.lower(), name)


# Valid header names as spelt -> (key, canonical spelling), for the names met so far: a server reads and writes
# the same dozen names all day. Bounded: names are the sender's to choose.
_NAMES: dict[str, tuple[str, str]] = {}
_MAX_NAMES = 1024


def _remember_name(name: str) -> tuple[str, str]:
    """(key, canonical spelling) of the valid header name `name`; kept while there is room."""
    canonical = canonical_header_name(name)
    known = (canonical.lower(), canonical)
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[name] = known
    return known


def _key(name: str) -> str:
    known = _NAMES.get(name)
    return known[0] if known is not None else _CANONICAL.get(name.lower(), name).lower()


# ---------------------------------------------------------------------------------------------------- Headers


class Headers:
    """The header fields of a message: ordered, names case-insensitive, a name may repeat.

    `items()` gives the fields as written (one per line, in order); `get_all` gives the values, with the
    comma-joined lines of list headers split into their elements. Values are stored without surrounding
    whitespace; a value with a control character (CR, LF, NUL...) is refused, so what `to_bytes` writes cannot
    smuggle in a header.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str | int]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []  # (lower-case canonical name, canonical name, value)
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def of_checked(cls, fields: Iterable[tuple[str, str]]) -> Headers:
        """Headers of values checked already: read from parsed messages, or made by the program of such values and
        its own settings. Only the names are looked up (their canonical spelling); the values are taken as they
        are, which saves a server most of the cost of the headers of each NOTIFY it sends."""
        headers = cls()
        names = _NAMES
        headers._fields = [(*(names.get(name) or _remember_name(name)), value) for name, value in fields]
        return headers

    @staticmethod
    def _field(name: str, value: str | int) -> tuple[str, str, str]:
        known = _NAMES.get(name) if isinstance(name, str) else None
        if known is None:
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                raise ValueError(f"not a valid SIP header name: {name!r}")
            known = _remember_name(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise TypeError(f"header {name} needs a str or int value, not {type(value).__name__}")
        value = value.strip(" \t")
        if not value.isprintable() and UNESCAPED_CONTROL.search(
            value
        ):  # (isprintable answers the usual value at a glance)
            raise ValueError(f"header {name} value contains a control character: {value!r}")
        return (*known, value)

    def add(self, name: str, value: str | int) -> None:
        """Append a field (after any others of that name)."""
        self._fields.append(self._field(name, value))

    def set(self, name: str, value: str | int) -> None:
        """Replace every field of that name by one, at the place of the first (or at the end)."""
        field = self._field(name, value)
        key = field[0]
        for index, existing in enumerate(self._fields):
            if existing[0] == key:
                self._fields[index] = field
                self._fields[index + 1 :] = [other for other in self._fields[index + 1 :] if other[0] != key]
                return
        self._fields.append(field)

    def remove(self, name: str) -> None:
        """Drop every field of that name; nothing happens when there is none."""
        key = _key(name)
        self._fields = [field for field in self._fields if field[0] != key]

    def get(self, name: str) -> str | None:
        """The first value: the first element of a list header (`Via`), otherwise the first field's whole value."""
        key = _key(name)
        for field_key, _, value in self._fields:
            if field_key == key:
                if key not in _LIST_HEADERS or ("," not in value and value):  # (a field of one element: as is)
                    return value
                for element in split_list(value):
                    if element:
                        return element
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value in order; for list headers each comma-separated element of each field (commas inside
        quoted strings and `<...>` do not split; empty elements are dropped)."""
        key = _key(name)
        values = [value for field_key, _, value in self._fields if field_key == key]
        if key in _LIST_HEADERS:
            return [element for value in values for element in split_list(value) if element]
        return values

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _key(name)
        return any(field[0] == key for field in self._fields)

    def items(self) -> list[tuple[str, str]]:
        """The fields in order, as `(name, value)` with names in their canonical spelling."""
        return [(name, value) for _, name, value in self._fields]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._fields)

    def copy(self) -> Headers:
        other = Headers()
        other._fields = list(self._fields)
        return other

    def only(self, *names: str) -> Headers:
        """A copy with just the fields of these names, in their order (a response copies a request's Via, From,
        To, Call-ID and CSeq)."""
        keys = {_key(name) for name in names}
        other = Headers()
        other._fields = [field for field in self._fields if field[0] in keys]
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(key, value) for key, _, value in self._fields] == [(key, value) for key, _, value in other._fields]

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


# --------------------------------------------------------------------------------------------------- messages


class _Accessors:
    """Typed reads of the headers every layer needs. A header that is absent gives None; one that is present but
    malformed raises `SipParseError` (a server answers 400 to that)."""

    headers: Headers

    @property
    def call_id(self) -> str | None:
        return self.headers.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method). Raises `SipParseError` when CSeq is absent or malformed: every SIP message
        has one."""
        value = self.headers.get("CSeq")
        if value is None:
            raise SipParseError("the message has no CSeq header")
        match = _CSEQ.fullmatch(value)
        if match is None or int(match[1]) > _MAX_CSEQ:
            raise SipParseError(f"CSeq {_show(value)} is not '<number below 2**31> <METHOD>'")
        return int(match[1]), match[2]

    @property
    def from_tag(self) -> str | None:
        return self._tag("From")

    @property
    def to_tag(self) -> str | None:
        return self._tag("To")

    def _tag(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else parse_name_addr(value).tag

    @property
    def via_branch(self) -> str | None:
        """The branch parameter of the top Via."""
        via = self.headers.get("Via")
        if via is None:
            return None
        for name, value in split_params(via)[1]:
            if name.lower() == "branch":
                return value
        return None

    @property
    def content_type(self) -> str | None:
        """The Content-Type value as written, parameters included (`presence.parse_content_type` reads it)."""
        return self.headers.get("Content-Type")

    @property
    def content_encoding(self) -> str | None:
        """The content codings, comma-separated in the order applied (`deflate`), or None."""
        codings = self.headers.get_all("Content-Encoding")
        return ", ".join(codings) if codings else None

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds (values over 2**32-1 read as 2**32-1, as RFC 3261 20.19 says)."""
        value = self.headers.get("Expires")
        if value is None:
            return None
        if not _DIGITS.fullmatch(value):
            raise SipParseError(f"Expires {_show(value)} is not a number of seconds")
        digits = value.lstrip("0") or "0"
        return _MAX_EXPIRES if len(digits) > 10 else min(int(digits), _MAX_EXPIRES)


def _serialize(start_line: str, headers: Headers, body: bytes) -> bytes:
    lines = [start_line]
    length = str(len(body))
    wrote_length = False
    for key, name, value in headers._fields:
        if key != "content-length":
            lines.append(f"{name}: {value}")
        elif not wrote_length:
            lines.append(f"{name}: {length}")
            wrote_length = True
    if not wrote_length:
        lines.append(f"Content-Length: {length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "replace") + body


@dataclass
class SipRequest(_Accessors):
    """A request. Parsed ones also say what the server answers for rather than handles: `version`, as the request
    line wrote it (505 when not SIP/2.0), and `defect`, what made it malformed when it could still be answered (a
    header line that does not read and was left out, a Content-Length that does not fit the datagram): a 400."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    defect: str | None = None

    def to_bytes(self) -> bytes:
        """The request as sent: CRLF line ends, Content-Length set from the body (in place, or added last)."""
        if not _TOKEN.fullmatch(self.method):
            raise ValueError(f"not a valid SIP method: {self.method!r}")
        if not self.uri or " " in self.uri or _CONTROL.search(self.uri) or "\t" in self.uri:
            raise ValueError(f"not a valid Request-URI: {self.uri!r}")
        return _serialize(f"{self.method} {self.uri} SIP/2.0", self.headers, self.body)


@dataclass
class SipResponse(_Accessors):
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def to_bytes(self) -> bytes:
        """The response as sent: CRLF line ends, Content-Length set from the body (in place, or added last)."""
        if not 100 <= self.status <= 699:
            raise ValueError(f"status code {self.status} is outside 100-699")
        if _CONTROL.search(self.reason):
            raise ValueError(f"control character in reason phrase {self.reason!r}")
        return _serialize(f"SIP/2.0 {self.status} {self.reason}".rstrip(" "), self.headers, self.body)


SipMessage = SipRequest | SipResponse


# ---------------------------------------------------------------------------------------------------- parsing

_StartLine = tuple[str, str, str] | tuple[int, str]  # (method, Request-URI, version) or (status, reason)
_VERSION = re.compile(r"SIP/[0-9]{1,3}\.[0-9]{1,3}", re.IGNORECASE)


def _parse_start_line(line: str) -> _StartLine:
    """A status line of SIP/2.0, or a request line of any SIP version (the server answers 505 to the others).
    Whitespace inside a Request-URI is kept in it, for the server to answer 400 (`sip:a@b; lr`)."""
    if _CONTROL.search(line):
        raise SipParseError(f"control character in the start line {_show(line)}")
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        if version.upper() != "SIP/2.0":
            raise SipParseError(f"unsupported protocol version {_show(version)}: only SIP/2.0 is spoken")
        code, _, reason = rest.lstrip(" ").partition(" ")
        if not _STATUS.fullmatch(code):
            raise SipParseError(f"bad status code {_show(code)} in the status line {_show(line)}")
        return int(code), reason.strip(" \t")
    parts = [part for part in line.split(" ") if part]
    if len(parts) < 3 or not _VERSION.fullmatch(parts[-1]):
        raise SipParseError(f"the start line is neither a SIP request nor a SIP response: {_show(line)}")
    method, version = parts[0], parts[-1].upper()
    if not _TOKEN.fullmatch(method):
        raise SipParseError(f"bad method {_show(method)} in the request line")
    return method, " ".join(parts[1:-1]), version


def _parse_head(head: bytes) -> tuple[_StartLine, Headers, str | None]:
    """The start line, the header fields, and the defect of a request that can still be answered: a header line
    that does not read is left out and named, when the message is a request with a Via (else it is an error)."""
    lines = head.decode("utf-8", "replace").split("\n")
    start = _parse_start_line(lines[0].removesuffix("\r"))
    headers = Headers()
    fields = _plain_fields(lines) if _NEEDS_CARE.search(head) is None else None
    defect = None
    if fields is None:
        fields, defect = _checked_fields(lines)
    headers._fields = fields
    if defect is not None and not _answerable(start, headers):
        raise SipParseError(defect)
    return start, headers, defect


def _answerable(start: _StartLine, headers: Headers) -> bool:
    """Whether a malformed message can get a 400: a request, with a Via to send it to."""
    return isinstance(start[0], str) and "Via" in headers


# What only a head read line by line handles: a control character (a bare CR among them), a folded line.
_NEEDS_CARE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|\n[ \t]")


def _plain_fields(lines: list[str]) -> list[tuple[str, str, str]] | None:
    """The fields of a head without control characters or folded lines (the usual one), a field a line; None when
    a line is not `name: value` with a valid name, for `_checked_fields` to say what is wrong."""
    fields = []
    names = _NAMES
    for line in lines[1:]:
        written, colon, value = line.partition(":")
        if not colon:
            return None
        known = names.get(written)
        if known is None:
            name = written.rstrip(" \t")
            if not _TOKEN.fullmatch(name):
                return None
            known = _remember_name(name)
        fields.append((*known, value.strip(" \t\r")))
    return fields if len(fields) <= MAX_HEADER_FIELDS else None


def _checked_fields(lines: list[str]) -> tuple[list[tuple[str, str, str]], str | None]:
    """The fields of any head, line by line, joining folded lines, and what is wrong with the first line that does
    not read (that line and its continuations are left out). Over `MAX_HEADER_FIELDS` is an error."""
    fields: list[tuple[str, str, str]] = []
    name: str | None = None
    parts: list[str] = []
    problem: str | None = None
    skipping = False  # the continuation lines of a line left out

    def flush(name: str, parts: list[str]) -> None:
        canonical = canonical_header_name(name)
        fields.append((canonical.lower(), canonical, " ".join(part for part in parts if part)))

    for number, raw in enumerate(lines[1:], start=2):
        line = raw.removesuffix("\r")
        folded = line[:1] in (" ", "\t")  # continues the previous field
        wrong = _wrong_header_line(line, number, folded and name is None and not skipping)
        if wrong is not None or (folded and skipping):
            problem = problem or wrong
            skipping = True
            continue
        if folded:
            assert name is not None
            parts.append(line.strip(" \t"))
            continue
        if name is not None:
            flush(name, parts)
        skipping = False
        colon = line.find(":")
        name = line[:colon].rstrip(" \t")
        if len(fields) >= MAX_HEADER_FIELDS:
            raise SipParseError(f"more than {MAX_HEADER_FIELDS} header fields; refused")
        parts = [line[colon + 1 :].strip(" \t")]
    if name is not None:
        flush(name, parts)
    return fields, problem


def _wrong_header_line(line: str, number: int, continues_nothing: bool) -> str | None:
    """What is wrong with one header line, or None."""
    if UNESCAPED_CONTROL.search(line):
        return f"control character in header line {number}: {_show(line)}"
    if continues_nothing:
        return f"header line {number} starts with whitespace but continues nothing"
    if line[:1] in (" ", "\t"):
        return None
    colon = line.find(":")
    if colon < 0:
        return f"header line {number} has no ':': {_show(line)}"
    name = line[:colon].rstrip(" \t")
    if not _TOKEN.fullmatch(name):
        return f"bad header name {_show(name)} on line {number}"
    return None


def _content_length(headers: Headers, max_body: int) -> int | None:
    values = [value for key, _, value in headers._fields if key == "content-length"]
    if not values:
        return None
    lengths = set()
    for value in values:
        if not _DIGITS.fullmatch(value):
            raise SipParseError(f"Content-Length {_show(value)} is not a number")
        digits = value.lstrip("0") or "0"
        if len(digits) > 15 or int(digits) > max_body:
            raise BodyOverLimit(f"Content-Length {_show(value, 20)} is over the {max_body}-byte body limit; refused")
        lengths.add(int(digits))
    if len(lengths) > 1:
        raise SipParseError(f"conflicting Content-Length headers: {', '.join(values)}")
    return lengths.pop()


def _message(start: _StartLine, headers: Headers, body: bytes, defect: str | None) -> SipMessage:
    if len(start) == 2:
        status, reason = start
        return SipResponse(status, reason, headers, body)
    method, uri, version = start
    return SipRequest(method, uri, headers, body, version, defect)


def _skip_line_ends(data: bytes | bytearray, position: int) -> int:
    end = len(data)
    while position < end and data[position] in (13, 10):
        position += 1
    return position


def is_keepalive(data: bytes) -> bool:
    """Whether a datagram is only CR and LF bytes (or empty): a keep-alive (RFC 5626 section 3.5.1), not a
    message; `parse_message` refuses it."""
    return _skip_line_ends(data, 0) == len(data)


_ANSWER_START = re.compile(rb"SIP/2\.0 ([1-6][0-9][0-9])[ \r]")
_TOP_VIA = re.compile(rb"\n(?:via|v)[ \t]*:([^\r\n]*)", re.IGNORECASE)
_SKIPPED_OVER = re.compile(rb'["<]')  # `split_list` reads commas inside these as text: such a Via is the parser's
_BRANCH_NAME = re.compile(rb";[ \t]*branch[ \t]*(?=[=;]|$)", re.IGNORECASE)
_BRANCH_VALUE = re.compile(rb"=[ \t]*([!-+\--:<-~]+)[ \t]*(?:;|$)")  # a token (no ; or ,) and nothing after it


def peek_answer(data: bytes) -> tuple[int, str] | None:
    """The status and top Via branch of a response datagram, read no further (a fraction of `parse_message`'s
    cost): what a server needs of the answer to each NOTIFY it sends. None when `data` is not a plain response
    whose first Via line names its branch at once (a quoted string or `<` in it, a folded line, leading line
    ends...): for `parse_message` to read."""
    start = _ANSWER_START.match(data)
    if start is None:
        return None
    head_end = data.find(b"\r\n\r\n")
    via = _TOP_VIA.search(data, 0, head_end) if head_end >= 0 else None
    if via is None or _SKIPPED_OVER.search(via.group(1)):
        return None
    element = via.group(1).split(b",", 1)[0]
    name = _BRANCH_NAME.search(element)  # the first branch parameter, as the parser reads it
    branch = _BRANCH_VALUE.match(element, name.end()) if name is not None else None
    if branch is None or data[via.end() + 2 : via.end() + 3] in (b" ", b"\t"):  # the Via goes on, folded
        return None
    return int(start.group(1)), branch.group(1).decode("ascii")


def parse_message(data: bytes, max_body: int = DEFAULT_MAX_BODY) -> SipMessage:
    """One complete message, as a UDP datagram carries it (RFC 3261 18.3).

    CRLFs before the start line are skipped; LF-only line ends are accepted; folded header lines are joined with
    a space. Without Content-Length the rest of the datagram is the body; a Content-Length larger than the bytes
    present is an error (a truncated datagram), a smaller one cuts the body there. A request with a Via is an
    error only when it cannot be read at all: a bad header line or Content-Length is its `defect` (RFC 3261 18.3:
    a 400 is due), and the body is then the rest of the datagram.
    """
    start = _skip_line_ends(data, 0)
    if start == len(data):
        raise SipParseError("empty datagram (only line ends: a keep-alive, not a message)")
    end = _HEAD_END.search(data, start, start + MAX_HEADER_BYTES + 4)
    if end is None or end.start() - start > MAX_HEADER_BYTES:
        if len(data) - start > MAX_HEADER_BYTES:
            raise SipParseError(f"the message headers are over the {MAX_HEADER_BYTES}-byte limit; refused")
        raise SipParseError("the message has no empty line after its headers (truncated?)")
    head, headers, defect = _parse_head(data[start : end.start()])
    body_start = end.end()
    present = len(data) - body_start
    try:
        length = _content_length(headers, max_body)
        if length is not None and length > present:
            raise SipParseError(
                f"Content-Length is {length} but only {present} body bytes arrived (truncated datagram?)"
            )
    except SipParseError as error:
        if not _answerable(head, headers):
            raise
        defect, length = defect or str(error), None
    if length is None:
        if present > max_body:
            raise SipParseError(f"the body is {present} bytes, over the {max_body}-byte limit; refused")
        length = present
    return _message(head, headers, bytes(data[body_start : body_start + length]), defect)


class _Taken:
    """What `StreamParser._next` returns for a response its `answers` took: nothing to pass on, more may follow."""


_TAKEN = _Taken()
_CONTENT_LENGTHS = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


class StreamParser:
    """Frames the SIP messages of one TCP or TLS connection (RFC 3261 18.3): feed it bytes as they arrive.

    Every message must carry Content-Length (a stream has no other end of message). CR and LF bytes between
    messages (keep-alives, RFC 5626) are ignored. The bytes may be split anywhere, down to one byte per `feed`.

    Bad bytes raise `SipParseError`. The stream has then lost its framing: **close the connection**; the parser
    stays failed (`failed` is true, and every later `feed` raises). When a chunk holds complete messages before
    the bad bytes, `feed` returns them first and the error comes with the next `feed` call; check `failed` after
    each call to close at once.
    """

    def __init__(self, max_body: int = DEFAULT_MAX_BODY, answers: Callable[[int, str], bool] | None = None) -> None:
        """`answers(status, branch)`, when given, is offered each response without a body, read no further than its
        status and top Via branch (`peek_answer`); one it takes (True) is framed and dropped, never parsed."""
        self._max_body = max_body
        self._answers = answers
        self._buffer = bytearray()
        self._position = 0  # start of the current message in the buffer
        self._scanned = 0  # bytes of the current message already searched for the end of its headers
        self._start_checked = False
        # head, headers, its defect, head bytes, body bytes
        self._pending: tuple[_StartLine, Headers, str | None, int, int] | None = None
        self._error: SipParseError | None = None

    @property
    def failed(self) -> bool:
        """Whether the stream has met bad bytes; the connection should be closed."""
        return self._error is not None

    @property
    def error(self) -> SipParseError | None:
        """The error that failed the stream, as first raised; None while it has not failed."""
        return self._error

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a returned message."""
        return len(self._buffer) - self._position

    def feed(self, data: bytes) -> list[SipMessage]:
        """Every message completed by `data`, in order (often none, sometimes several)."""
        if self._error is not None:
            raise SipParseError(f"the stream failed earlier and must be closed: {self._error}")
        self._buffer += data
        messages: list[SipMessage] = []
        try:
            while (message := self._next()) is not None:
                if message is not _TAKEN:
                    messages.append(message)
        except SipParseError as error:
            self._error = error
            self._buffer = bytearray()
            self._position = 0
            if not messages:
                raise
            return messages
        del self._buffer[: self._position]
        self._position = 0
        return messages

    def _took_answer(self, head: bytes) -> bool:
        """Whether `answers` took the response whose head (with its empty line) is `head`: only one that says, once,
        that it has no body, so that its end is known without parsing it."""
        answer = peek_answer(head)
        if answer is None or [value.strip() for value in _CONTENT_LENGTHS.findall(head)] != [b"0"]:
            return False
        assert self._answers is not None
        return self._answers(*answer)

    def _body_length(self, head: _StartLine, headers: Headers, defect: str | None) -> int:
        """The body length the Content-Length gives; BodyOverLimit or Unframed, with the message's head."""
        try:
            length = _content_length(headers, self._max_body)
        except BodyOverLimit as error:
            error.head = _message(head, headers, b"", defect)
            raise
        except SipParseError as error:
            raise Unframed(str(error), _message(head, headers, b"", defect)) from None
        if length is None:
            raise Unframed(
                "a message on a TCP/TLS stream has no Content-Length, so it cannot be framed",
                _message(head, headers, b"", defect),
            )
        return length

    def _next(self) -> SipMessage | _Taken | None:
        buffer = self._buffer
        if self._pending is None:
            if not self._scanned:  # between messages: drop keep-alive line ends
                self._position = _skip_line_ends(buffer, self._position)
            start = self._position
            if start == len(buffer):
                return None
            end = _HEAD_END.search(buffer, max(start, start + self._scanned - 3))
            if end is None:
                if not self._start_checked:
                    newline = buffer.find(b"\n", start)
                    if newline >= 0:  # garbage is refused at its first line, not after 64 KiB
                        _parse_start_line(buffer[start:newline].decode("utf-8", "replace").removesuffix("\r"))
                        self._start_checked = True
                    elif _START_LINE_BYTE_CHECK.search(buffer, start):  # nor held until a line end that never comes
                        raise SipParseError("the stream does not start with a SIP start line (binary bytes)")
                if len(buffer) - start > MAX_HEADER_BYTES + 3:
                    raise SipParseError(f"the message headers are over the {MAX_HEADER_BYTES}-byte limit; refused")
                self._scanned = len(buffer) - start
                return None
            if end.start() - start > MAX_HEADER_BYTES:
                raise SipParseError(f"the message headers are over the {MAX_HEADER_BYTES}-byte limit; refused")
            answers = self._answers is not None and buffer.startswith(b"SIP/2.0 ", start)
            if answers and self._took_answer(bytes(buffer[start : end.end()])):
                self._position, self._scanned, self._start_checked = end.end(), 0, False
                return _TAKEN
            head, headers, defect = _parse_head(bytes(buffer[start : end.start()]))
            length = self._body_length(head, headers, defect)
            self._pending = (head, headers, defect, end.end() - start, length)
        head, headers, defect, head_length, length = self._pending
        body_start = self._position + head_length
        if len(buffer) < body_start + length:
            return None
        body = bytes(buffer[body_start : body_start + length])
        self._position = body_start + length
        self._pending = None
        self._scanned = 0
        self._start_checked = False
        return _message(head, headers, body, defect)
