"""Content-Type values and multipart/related bodies (RFC 2046, RFC 2387, RFC 5621).

Parsing is lenient the way real peers need: Content-ID or Content-Id, with or without <>, parameters in any order,
quoted or not, extra CRLFs before boundaries, LF-only line ends. Building has two forms: the RFC one, and the
legacy one liblinphone older than 5.4 insists on (bare `Content-Id` values, unquoted `boundary` last).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import MalformedDocument, PresenceDocumentError

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME = re.compile(rf"\s*({_TCHARS}/{_TCHARS})\s*")
_PARAMETER = re.compile(rf';\s*({_TCHARS})\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")
# What a Content-ID may hold when written (RFC 2392's msg-id characters): nothing that could end a header,
# a quoted string or the <> around it.
_CONTENT_ID = re.compile(r"[0-9A-Za-z!#$%&'*+/=?^_`{|}~.@-]{1,200}")


@dataclass(frozen=True, slots=True)
class ContentType:
    """A media type (lower case) and its parameters (names in lower case, values unquoted)."""

    mime: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.params if key == name), None)

    def render(self) -> str:
        return _render(self)


@functools.lru_cache(maxsize=256)
def _render(content_type: ContentType) -> str:
    # Every part of a NOTIFY renders the same few types: a cache spares a quoting check per part.
    return content_type.mime + "".join(f";{key}={_quote_if_needed(value)}" for key, value in content_type.params)


def _quote_if_needed(value: str) -> str:
    if re.fullmatch(_TCHARS, value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@functools.lru_cache(maxsize=256)
def parse_content_type(value: str) -> ContentType:
    head, _, _ = value.partition(";")
    match = _MIME.fullmatch(head)
    if match is None:
        raise MalformedDocument(f"Content-Type {value.strip()[:80]!r} is not of the form type/subtype")
    params = []
    for name, raw in _PARAMETER.findall(value[len(head) :]):
        params.append((name.lower(), _unquote(raw.strip())))
    return ContentType(match.group(1).lower(), tuple(params))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def normalize_content_id(value: str) -> str:
    """A Content-ID as RLMI's cid attribute names it: without the angle brackets, whitespace or not."""
    return value.strip().removeprefix("<").removesuffix(">").strip()


@dataclass(slots=True)
class BodyPart:
    content_type: ContentType
    body: bytes
    content_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # every header as received, names as written


# ---------------------------------------------------------------------------------------------- parsing

_LF = 0x0A
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n[ \t]+")
_DEFAULT_PART_TYPE = ContentType("text/plain", (("charset", "us-ascii"),))


def parse_multipart(content_type: ContentType, body: bytes) -> tuple[BodyPart, ...]:
    boundary = content_type.get("boundary")
    if not boundary:
        raise MalformedDocument(f"{content_type.mime} body has no boundary parameter")
    if len(boundary) > 200:
        raise MalformedDocument("multipart boundary is longer than 200 characters")
    parts: list[BodyPart] = []
    previous_end: int | None = None
    for start, end, closing in _delimiters(body, b"--" + boundary.encode("utf-8", "replace")):
        if previous_end is not None:
            line_start = start - 2 if body[start - 2 : start] == b"\r\n" else start - 1
            parts.append(_parse_part(body, previous_end, max(line_start, previous_end)))
        if closing:  # the close delimiter: what follows is an epilogue
            if not parts:
                raise MalformedDocument("multipart body has no parts")
            return tuple(parts)
        previous_end = end
    if previous_end is None:
        raise MalformedDocument(f"multipart body never uses its boundary {boundary!r}")
    raise MalformedDocument("multipart body is truncated: its closing boundary is missing")


def _delimiters(body: bytes, marker: bytes) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closing) of each delimiter line in `body`: `marker` (`--boundary`) at the start of a line, then
    `--` for the close delimiter, then spaces or tabs up to the line end or the end of the body (`end` is before
    the line end). Searched with bytes.find: each NOTIFY has a boundary of its own, and a pattern made for it
    would be compiled anew every time."""
    size = len(body)
    start = body.find(marker)
    while start != -1:
        end = start + len(marker)
        closing = body.startswith(b"--", end)
        if closing:
            end += 2
        while end < size and body[end] in _LINEAR_SPACE:
            end += 1
        at_line_end = end == size or body.startswith(b"\n", end) or body.startswith(b"\r\n", end)
        if at_line_end and (start == 0 or body[start - 1] == _LF):
            yield start, end, closing
            start = body.find(marker, end)
        else:  # the boundary text in the middle of a line, or followed by more: not a delimiter
            start = body.find(marker, start + 1)


_LINEAR_SPACE = b" \t"


def _parse_part(body: bytes, start: int, end: int) -> BodyPart:
    """The part in body[start:end], which starts with the line end of its delimiter line (read in place: a list
    NOTIFY has thousands of parts, and copies of each would cost more than reading it)."""
    start = start + 2 if body.startswith(b"\r\n", start, end) else min(start + 1, end)
    if body.startswith(b"\r\n", start, end):  # no headers at all
        header_block, content = b"", body[start + 2 : end]
    elif body.startswith(b"\n", start, end):
        header_block, content = b"", body[start + 1 : end]
    else:
        crlf = body.find(b"\r\n\r\n", start, end)
        # The common case without the regex: when every line end before it is CRLF, the first CRLF CRLF is the
        # first blank line. A bare LF anywhere before it sends the part down the general path.
        if crlf != -1 and body.count(b"\n", start, crlf) == body.count(b"\r\n", start, crlf):
            header_block, content = body[start:crlf], body[crlf + 4 : end]
        else:
            blank = _BLANK_LINE.search(body, start, end)
            if blank is None:
                raise MalformedDocument("a multipart part has no blank line after its headers")
            header_block, content = body[start : blank.start()], body[blank.end() : end]
    text = header_block.decode("utf-8", "replace")
    if "\n " in text or "\n\t" in text:
        text = _FOLD.sub(" ", text)
    headers = []
    content_type = _DEFAULT_PART_TYPE
    content_id: str | None = None
    transfer_encoding = ""
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            continue
        value = value.strip()
        headers.append((name, value))
        lowered = name.lower()
        if lowered == "content-type":
            content_type = parse_content_type(value)
        elif lowered == "content-id":
            content_id = normalize_content_id(value)
        elif lowered == "content-transfer-encoding":
            transfer_encoding = value.lower()
    return BodyPart(content_type, _decode_transfer_encoding(transfer_encoding, content), content_id, tuple(headers))


def _decode_transfer_encoding(encoding: str, body: bytes) -> bytes:
    if encoding in ("", "binary", "8bit", "7bit"):
        return body
    try:
        if encoding == "base64":
            return binascii.a2b_base64(body)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
    except binascii.Error as exc:
        raise MalformedDocument(f"a multipart part is not valid {encoding}: {exc}") from None
    raise MalformedDocument(f"a multipart part uses the unknown transfer encoding {encoding!r}")


# ---------------------------------------------------------------------------------------------- building


def build_multipart_related(parts: Sequence[BodyPart], *, boundary: str, legacy: bool = False) -> tuple[str, bytes]:
    """(Content-Type header value, body) of a multipart/related whose root is the first part.

    `legacy` writes the form liblinphone < 5.4 requires: `Content-Id: cid` without <>, and an unquoted
    boundary as the last parameter of the Content-Type.
    """
    if not parts:
        raise PresenceDocumentError("a multipart/related body needs at least one part")
    check_boundary(boundary)
    root = parts[0]
    marker = f"--{boundary}".encode()
    chunks: list[bytes] = []
    for part in parts:
        if part.content_id is None:
            raise PresenceDocumentError("a multipart part needs a Content-ID")
        check_part(part.body, part.content_id, marker)
        chunks += (part_head(boundary, part.content_id, part.content_type, legacy), part.body, b"\r\n")
    chunks.append(marker + b"--\r\n")
    return related_type(root.content_type.mime, root.content_id or "", boundary, legacy), b"".join(chunks)


# The pieces of a multipart/related body, for `build_multipart_related` and for writers of many NOTIFYs.


def check_boundary(boundary: str) -> None:
    if not _BOUNDARY.fullmatch(boundary):
        raise PresenceDocumentError(f"{boundary!r} is not a usable multipart boundary")


def check_part(body: bytes, content_id: str, marker: bytes) -> None:
    """A part can be written with this Content-ID, between delimiters `marker` (`--boundary`)."""
    check_content_id(content_id)
    if marker in body:
        raise PresenceDocumentError(f"the boundary {marker[2:].decode()!r} occurs inside a part")


def check_content_id(content_id: str) -> None:
    if not _CONTENT_ID.fullmatch(content_id):
        raise PresenceDocumentError(f"{content_id!r} is not a usable Content-ID for a multipart part")


def check_delimiters(body: bytes, marker: bytes, parts: int) -> None:
    """A whole multipart body of `parts` parts holds the delimiter `marker` only where they start and at its end
    (one search of the whole body: quicker than one a part, for a body of many small parts)."""
    if body.count(marker) != parts + 1:
        raise PresenceDocumentError(f"the boundary {marker[2:].decode()!r} occurs inside a part")


def part_head(boundary: str, content_id: str, content_type: ContentType, legacy: bool) -> bytes:
    """The delimiter line and the headers of a part. `legacy`: `Content-Id: cid`, without <> (liblinphone < 5.4)."""
    return delimiter_line(boundary) + part_headers(content_id, content_type, legacy)


def delimiter_line(boundary: str) -> bytes:
    return f"--{boundary}\r\n".encode()


def part_headers(content_id: str, content_type: ContentType, legacy: bool) -> bytes:
    """The headers of a part and the blank line after them: what follows its delimiter line, before its body."""
    id_header = f"Content-Id: {content_id}" if legacy else f"Content-ID: <{content_id}>"
    return (
        f"Content-Transfer-Encoding: binary\r\n{id_header}\r\nContent-Type: {content_type.render()}\r\n\r\n"
    ).encode()


def related_type(root_type: str, root_cid: str, boundary: str, legacy: bool) -> str:
    """The Content-Type header value. `legacy`: the boundary unquoted and last (liblinphone < 5.4)."""
    quoted_boundary = boundary if legacy else f'"{boundary}"'
    return f'multipart/related;type="{root_type}";start="<{root_cid}>";boundary={quoted_boundary}'
