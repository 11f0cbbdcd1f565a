"""The SIP message codec: header fields, datagrams (parse_message), streams (StreamParser), and their properties."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartbook_tui.sip import (
    DEFAULT_MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamParser,
    canonical_header_name,
    is_keepalive,
    parse_message,
    peek_answer,
)
from smartbook_tui.sip import message as message_module
from smartbook_tui.sip.message import SipParseError as MessageSipParseError


def crlf(text: str) -> bytes:
    """A message written with one line per source line, sent with CRLF line ends."""
    return text.replace("\n", "\r\n").encode()


OPTIONS = crlf(
    "OPTIONS sip:bob@example.org SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\n"
    "Max-Forwards: 70\n"
    "To: <sip:bob@example.org>\n"
    'From: "Alice" <sip:alice@example.org>;tag=1928301774\n'
    "Call-ID: a84b4c76e66710@pc33.example.org\n"
    "CSeq: 63104 OPTIONS\n"
    "Content-Length: 0\n"
    "\n"
)

OK = crlf(
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=192.0.2.1\n"
    "To: <sip:bob@example.org>;tag=a6c85cf\n"
    'From: "Alice" <sip:alice@example.org>;tag=1928301774\n'
    "Call-ID: a84b4c76e66710@pc33.example.org\n"
    "CSeq: 63104 OPTIONS\n"
    "Content-Type: text/plain\n"
    "Content-Length: 5\n"
    "\n"
    "hello"
)


def request(*headers: tuple[str, str], body: bytes = b"") -> bytes:
    lines = ["MESSAGE sip:bob@example.org SIP/2.0", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ------------------------------------------------------------------------------------------------ Headers


@pytest.mark.parametrize(
    ("compact", "full"),
    [
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("y", "Identity"),
        ("a", "Accept-Contact"),
        ("j", "Reject-Contact"),
        ("d", "Request-Disposition"),
    ],
)
def test_compact_forms_are_expanded_on_parse(compact, full):
    value = "0" if full == "Content-Length" else "x"
    for name in (compact, compact.upper()):
        message = parse_message(request((name, value)))
        assert message.headers.items() == [(full, value)]
        assert message.headers.get(full.upper()) == value
        assert message.headers.get(compact) == value  # the API accepts compact forms too


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("Sip-Etag", "SIP-ETag"),
        ("sip-if-match", "SIP-If-Match"),
        ("content-id", "Content-ID"),
        ("mime-version", "MIME-Version"),
        ("rack", "RAck"),
        ("X-Custom-thing", "X-Custom-thing"),  # unknown names keep their spelling
    ],
)
def test_canonical_spellings(written, canonical):
    assert canonical_header_name(written) == canonical
    headers = Headers([(written, "1")])
    assert headers.items() == [(canonical, "1")]


def test_headers_are_an_ordered_case_insensitive_multimap():
    headers = Headers([("Via", "a"), ("To", "<sip:b@x>"), ("via", "b")])
    assert "VIA" in headers
    assert "v" in headers
    assert "Route" not in headers
    assert 3 not in headers
    assert headers.get("Via") == "a"
    assert headers.get_all("v") == ["a", "b"]
    assert headers.get("Route") is None
    assert headers.get_all("Route") == []
    headers.add("Route", "<sip:p1@x;lr>")
    assert headers.items()[-1] == ("Route", "<sip:p1@x;lr>")
    assert len(headers) == 4
    assert list(headers) == headers.items()


def test_set_replaces_every_field_at_the_first_ones_place():
    headers = Headers([("Via", "a"), ("To", "t"), ("Via", "b"), ("From", "f")])
    headers.set("via", "c")
    assert headers.items() == [("Via", "c"), ("To", "t"), ("From", "f")]
    headers.set("Expires", 60)
    assert headers.items()[-1] == ("Expires", "60")


def test_remove_drops_every_field_and_tolerates_absence():
    headers = Headers([("Via", "a"), ("To", "t"), ("v", "b")])
    headers.remove("VIA")
    headers.remove("Route")
    assert headers.items() == [("To", "t")]


def test_copy_is_independent_and_equality_ignores_name_spelling():
    headers = Headers([("Call-ID", "1"), ("X-A", "v")])
    other = headers.copy()
    other.add("X-B", "w")
    assert len(headers) == 2
    assert Headers([("i", "1"), ("x-a", "v")]) == headers
    assert Headers([("X-A", "v"), ("Call-ID", "1")]) != headers  # order matters
    assert headers != "not headers"
    assert "Call-ID" in repr(headers)


def test_only_keeps_the_named_fields_in_their_order():
    headers = Headers([("Via", "a"), ("v", "b"), ("f", "<sip:x@y>"), ("Route", "<sip:r>"), ("CSeq", "1 X")])
    assert headers.only("cseq", "Via", "From").items() == [
        ("Via", "a"),
        ("Via", "b"),
        ("From", "<sip:x@y>"),
        ("CSeq", "1 X"),
    ]


def test_values_are_stripped_and_ints_accepted():
    headers = Headers([("Subject", "  hi there \t"), ("Max-Forwards", 70)])
    assert headers.items() == [("Subject", "hi there"), ("Max-Forwards", "70")]


@pytest.mark.parametrize("value", ["a\r\nVia: injected", "a\nb", "a\rb", "nul\x00", "bell\x07", "del\x7f"])
def test_values_with_control_characters_are_refused(value):
    with pytest.raises(ValueError, match="control character"):
        Headers().add("Subject", value)


@pytest.mark.parametrize("name", ["", "Bad Name", "Colon:", "Ünicode", "a\r\nb"])
def test_bad_header_names_are_refused(name):
    with pytest.raises(ValueError, match="header name"):
        Headers().add(name, "x")


def test_non_text_values_are_refused():
    with pytest.raises(TypeError):
        Headers().add("Subject", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Headers().add("Subject", True)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- comma-joined and repeated headers


@pytest.mark.parametrize(
    ("name", "elements"),
    [
        ("Via", ["SIP/2.0/UDP a.example.org;branch=z9hG4bK1", "SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK2"]),
        ("Contact", ['"Smith, Alice" <sip:alice@a.example.org>;q=0.7', "<sip:alice@b.example.org?x=1,2>;expires=60"]),
        ("Route", ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]),
        ("Record-Route", ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]),
        ("Supported", ["eventlist", "replaces", "outbound"]),
        ("Require", ["recipient-list-subscribe", "eventlist"]),
        ("Allow", ["INVITE", "ACK", "SUBSCRIBE", "NOTIFY"]),
        ("Accept", ["multipart/related", "application/pidf+xml", "application/rlmi+xml"]),
        ("Accept-Encoding", ["deflate", "gzip"]),
        ("Allow-Events", ["presence", "presence.winfo"]),
        ("Proxy-Require", ["foo", "bar"]),
        ("Unsupported", ["foo", "bar"]),
        ("Content-Encoding", ["deflate", "gzip"]),
        ("Warning", ['399 example.org "a, b"', '370 example.org "c"']),
    ],
)
def test_list_headers_comma_joined_equal_repeated(name, elements):
    joined = parse_message(request((name, ", ".join(elements))))
    repeated = parse_message(request(*((name, element) for element in elements)))
    mixed = parse_message(request((name, ",".join(elements[:2])), *((name, element) for element in elements[2:])))
    for message in (joined, repeated, mixed):
        assert message.headers.get_all(name) == elements
        assert message.headers.get(name) == elements[0]
    assert len(joined.headers) == 1
    assert len(repeated.headers) == len(elements)


def test_empty_list_elements_are_dropped():
    message = parse_message(request(("Supported", ", eventlist,,replaces ,"), ("Supported", "")))
    assert message.headers.get_all("Supported") == ["eventlist", "replaces"]
    assert message.headers.get("Supported") == "eventlist"
    assert "Supported" in message.headers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WWW-Authenticate", 'Digest realm="example.org", nonce="abc", qop="auth,auth-int", algorithm=MD5'),
        ("Proxy-Authenticate", 'Digest realm="example.org", nonce="abc"'),
        ("Authorization", 'Digest username="a", realm="r", nonce="n", uri="sip:r", response="x"'),
        ("Proxy-Authorization", 'Digest username="a", realm="r"'),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("Subject", "lunch, tomorrow?"),
        ("Event", "presence;id=1"),
        ("Subscription-State", "active;expires=3600"),
        ("Content-Type", 'multipart/related;type="application/rlmi+xml";start="<a,b>";boundary=x'),
    ],
)
def test_other_headers_are_never_split(name, value):
    message = parse_message(request((name, value), (name, "second")))
    assert message.headers.get_all(name) == [value, "second"]
    assert message.headers.get(name) == value


# ------------------------------------------------------------------------------------------ parse_message


def test_request_and_its_accessors():
    message = parse_message(OPTIONS)
    assert isinstance(message, SipRequest)
    assert (message.method, message.uri, message.body) == ("OPTIONS", "sip:bob@example.org", b"")
    assert message.call_id == "a84b4c76e66710@pc33.example.org"
    assert message.cseq == (63104, "OPTIONS")
    assert message.from_tag == "1928301774"
    assert message.to_tag is None
    assert message.via_branch == "z9hG4bK776asdhds"
    assert message.content_type is None
    assert message.content_encoding is None
    assert message.expires is None


def test_response_and_its_accessors():
    message = parse_message(OK)
    assert isinstance(message, SipResponse)
    assert (message.status, message.reason, message.body) == (200, "OK", b"hello")
    assert message.to_tag == "a6c85cf"
    assert message.content_type == "text/plain"
    assert message.cseq == (63104, "OPTIONS")


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        ("SIP/2.0 180 Ringing", 180, "Ringing"),
        ("SIP/2.0 486 Busy Here", 486, "Busy Here"),
        ("SIP/2.0 200", 200, ""),
        ("SIP/2.0 200 ", 200, ""),
        ("sip/2.0 699 Whatever  it  says", 699, "Whatever  it  says"),
        ("SIP/2.0 404 Não encontrado", 404, "Não encontrado"),
    ],
)
def test_status_lines(line, status, reason):
    message = parse_message(f"{line}\r\nCSeq: 1 OPTIONS\r\n\r\n".encode())
    assert isinstance(message, SipResponse)
    assert (message.status, message.reason) == (status, reason)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("GET / HTTP/1.1", "neither a SIP request nor a SIP response"),
        ("HTTP/1.1 200 OK", "neither a SIP request nor a SIP response"),
        ("INVITE sip:a@b", "neither a SIP request nor a SIP response"),
        ("INVITE sip:a@b SIP/2.0 extra", "neither a SIP request nor a SIP response"),
        ("SIP/1.0 200 OK", "only SIP/2.0"),
        ("SIP/2.0 20 OK", "bad status code"),
        ("SIP/2.0 099 Low", "bad status code"),
        ("SIP/2.0 700 High", "bad status code"),
        ("SIP/2.0 2OO OK", "bad status code"),
        ("IN(VITE sip:a@b SIP/2.0", "bad method"),
    ],
)
def test_bad_start_lines(line, complaint):
    with pytest.raises(SipParseError, match=complaint):
        parse_message(f"{line}\r\nCSeq: 1 OPTIONS\r\n\r\n".encode())


def test_a_request_line_of_another_sip_version_is_read_with_its_version():
    message = parse_message(b"OPTIONS sip:a@b sip/7.0\r\n\r\n")
    assert isinstance(message, SipRequest)
    assert (message.method, message.uri, message.version) == ("OPTIONS", "sip:a@b", "SIP/7.0")
    assert parse_message(OPTIONS).version == "SIP/2.0"


def test_whitespace_inside_a_request_uri_is_kept_in_it():
    message = parse_message(b"INVITE sip:a@b; lr SIP/2.0\r\n\r\n")
    assert message.uri == "sip:a@b; lr"


def test_extra_spaces_in_the_request_line_are_tolerated():
    message = parse_message(b"OPTIONS  sip:a@b  SIP/2.0\r\n\r\n")
    assert (message.method, message.uri) == ("OPTIONS", "sip:a@b")


def test_leading_line_ends_are_skipped():
    assert parse_message(b"\r\n\r\n\n" + OPTIONS) == parse_message(OPTIONS)


def test_lf_only_and_mixed_line_ends_are_tolerated():
    lf_only = OPTIONS.replace(b"\r\n", b"\n")
    assert parse_message(lf_only) == parse_message(OPTIONS)
    mixed = OPTIONS.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n").replace(b"0\r\n\r\n", b"0\n\r\n")
    assert parse_message(mixed) == parse_message(OPTIONS)
    lf_body = OK.replace(b"\r\n", b"\n")
    assert parse_message(lf_body).body == b"hello"


def test_folded_header_lines_are_joined_with_one_space():
    message = parse_message(
        b"OPTIONS sip:a@b SIP/2.0\r\n"
        b"Subject: I know you're there,\r\n"
        b"   pick up the phone\r\n"
        b"\tand talk to me!\r\n"
        b"Via: SIP/2.0/UDP a;branch=z9hG4bK1,\r\n SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
        b"X-Empty:\r\n  continued\r\n"
        b"\r\n"
    )
    assert message.headers.get("Subject") == "I know you're there, pick up the phone and talk to me!"
    assert message.headers.get_all("Via") == ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2"]
    assert message.headers.get("X-Empty") == "continued"


def test_a_continuation_line_first_is_an_error():
    with pytest.raises(SipParseError, match="continues nothing"):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n folded: x\r\n\r\n")


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        (b"No colon here", "has no ':'"),
        (b"Bad Name: x", "bad header name"),
        (b": no name", "bad header name"),
        (b"Subject: nul\x00byte", "control character"),
        (b"Subject: a\rb", "control character"),
    ],
)
def test_bad_header_lines(line, complaint):
    with pytest.raises(SipParseError, match=complaint):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n" + line + b"\r\n\r\n")


def test_whitespace_before_the_colon_is_tolerated():
    message = parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID \t: abc\r\nSubject:no-space\r\n\r\n")
    assert message.call_id == "abc"
    assert message.headers.get("Subject") == "no-space"


def test_invalid_utf8_in_headers_is_replaced_not_raised():
    message = parse_message(b"OPTIONS sip:\xff@b SIP/2.0\r\nSubject: caf\xc3\xa9 \xe9t\xe9\r\n\r\n")
    assert message.uri == "sip:\ufffd@b"
    assert message.headers.get("Subject") == "café \ufffdt\ufffd"


def test_a_missing_empty_line_is_an_error():
    with pytest.raises(SipParseError, match="no empty line"):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n")


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n", b"\n"])
def test_keepalives_are_not_messages(data):
    assert is_keepalive(data)
    with pytest.raises(SipParseError, match="keep-alive"):
        parse_message(data)


def test_is_keepalive_is_false_for_messages():
    assert not is_keepalive(OPTIONS)
    assert not is_keepalive(b"\r\n x")


# ------------------------------------------------------------------------------ Content-Length on datagrams


def test_missing_content_length_means_the_rest_of_the_datagram():
    data = request(("Call-ID", "1"), body=b"the body\r\n\r\nwith blank lines")
    assert parse_message(data).body == b"the body\r\n\r\nwith blank lines"
    assert parse_message(request(("Call-ID", "1"))).body == b""


def test_a_smaller_content_length_cuts_the_body():
    assert parse_message(request(("Content-Length", "3"), body=b"abcdef")).body == b"abc"
    assert parse_message(request(("l", "0"), body=b"trailing junk")).body == b""


def test_a_bigger_content_length_is_an_error():
    with pytest.raises(SipParseError, match="Content-Length is 10 but only 6 body bytes arrived"):
        parse_message(request(("Content-Length", "10"), body=b"abcdef"))


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "٣", "0x10", "1 2"])
def test_a_content_length_that_is_not_a_number_is_an_error(value):
    with pytest.raises(SipParseError, match="Content-Length"):
        parse_message(request(("Content-Length", value), body=b"abc"))


def test_repeated_content_lengths_must_agree():
    assert parse_message(request(("Content-Length", "3"), ("l", "003"), body=b"abc")).body == b"abc"
    with pytest.raises(SipParseError, match="conflicting Content-Length"):
        parse_message(request(("Content-Length", "3"), ("Content-Length", "2"), body=b"abc"))


VIA_LINE = ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-defect")


@pytest.mark.parametrize(
    ("headers", "body", "defect"),
    [
        (
            [("Content-Length", "10")],
            b"abcdef",
            "Content-Length is 10 but only 6 body bytes arrived (truncated datagram?)",
        ),
        ([("Content-Length", "-999")], b"abcdef", "Content-Length '-999' is not a number"),
        ([("Content-Length", "3"), ("Content-Length", "2")], b"abcdef", "conflicting Content-Length headers: 3, 2"),
    ],
)
def test_a_request_with_a_via_and_a_bad_content_length_reads_with_its_defect(headers, body, defect):
    message = parse_message(request(VIA_LINE, *headers, body=body))
    assert isinstance(message, SipRequest)
    assert message.defect == defect
    assert message.body == body  # the rest of the datagram


def test_a_request_with_a_via_and_a_bad_header_line_reads_without_that_line():
    message = parse_message(
        request(VIA_LINE, ("Call-ID", "1"), body=b"").replace(
            b"Call-ID: 1", b"Bad Name: x\r\n folded on\r\nCall-ID: 1\r\nNo colon"
        )
    )
    assert message.defect == "bad header name 'Bad Name' on line 3"
    assert message.headers.items() == [VIA_LINE, ("Call-ID", "1")]


def test_a_response_with_a_bad_header_line_is_still_an_error():
    with pytest.raises(SipParseError, match="has no ':'"):
        parse_message(OK.replace(b"Content-Type: text/plain", b"Content-Type text/plain"))


def test_a_stream_keeps_its_framing_past_a_bad_header_line_but_not_past_a_bad_content_length():
    parser = StreamParser()
    first = request(VIA_LINE, ("Content-Length", "2"), body=b"hi").replace(b"Content-Length", b"X\x01: y\r\nl")
    messages = parser.feed(first + OPTIONS)
    assert [message.defect for message in messages] == ["control character in header line 3: 'X\\x01: y'", None]
    assert messages[0].body == b"hi"
    with pytest.raises(SipParseError, match="conflicting Content-Length"):
        parser.feed(request(VIA_LINE, ("Content-Length", "3"), ("Content-Length", "2"), body=b"abc"))


def test_escaped_controls_in_a_quoted_string_are_read_and_written_back():
    value = '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:a@b>'
    message = parse_message(request(VIA_LINE, ("To", value)))
    assert message.headers.get("To") == value
    assert parse_message(message.to_bytes()).headers.get("To") == value
    raw = parse_message(request(VIA_LINE, ("Call-ID", "1")).replace(b"Call-ID: 1", b'To: "NUL:\x00" <sip:a@b>'))
    assert raw.defect == "control character in header line 3: 'To: \"NUL:\\x00\" <sip:a@b>'"
    assert "To" not in raw.headers


def test_a_huge_content_length_is_refused_without_converting_it():
    with pytest.raises(SipParseError, match=r"over the \d+-byte body limit"):
        parse_message(request(("Content-Length", "9" * 5000), body=b"abc"))


# -------------------------------------------------------------------------------------------- size limits


def test_headers_up_to_the_limit_are_accepted_and_over_it_refused():
    start = b"OPTIONS sip:a@b SIP/2.0\r\nX-Big: "
    fits = start + b"x" * (MAX_HEADER_BYTES - len(start)) + b"\r\n\r\n"
    assert parse_message(fits).headers.get("X-Big") == "x" * (MAX_HEADER_BYTES - len(start))
    too_big = start + b"x" * (MAX_HEADER_BYTES - len(start) + 1) + b"\r\n\r\n"
    with pytest.raises(SipParseError, match="over the 65536-byte limit"):
        parse_message(too_big)
    with pytest.raises(SipParseError, match="over the 65536-byte limit"):
        parse_message(start + b"x" * 100_000)  # no end of headers at all


def test_header_field_count_limit():
    fields = [("X-N", str(index)) for index in range(MAX_HEADER_FIELDS)]
    assert len(parse_message(request(*fields)).headers) == MAX_HEADER_FIELDS
    with pytest.raises(SipParseError, match=f"more than {MAX_HEADER_FIELDS} header fields"):
        parse_message(request(*fields, ("X-N", "one too many")))


def test_folded_lines_do_not_count_as_fields():
    folded = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"Subject: a\r\n" + b" more\r\n" * 1000 + b"\r\n"
    assert len(parse_message(folded).headers) == 1


def test_body_limit():
    assert DEFAULT_MAX_BODY == 4 * 1024 * 1024
    body = b"x" * 1000
    assert parse_message(request(body=body), max_body=1000).body == body
    with pytest.raises(SipParseError, match="body is 1001 bytes, over the 1000-byte limit"):
        parse_message(request(body=body + b"x"), max_body=1000)
    with pytest.raises(SipParseError, match="over the 1000-byte body limit"):
        parse_message(request(("Content-Length", "1001"), body=body + b"x"), max_body=1000)
    big = b"x" * (DEFAULT_MAX_BODY + 1)
    with pytest.raises(SipParseError, match="over the 4194304-byte limit"):
        parse_message(request(body=big))


# -------------------------------------------------------------------------------------------- accessors


def test_cseq_absent_or_malformed_raises_the_typed_error():
    with pytest.raises(SipParseError, match="no CSeq"):
        _ = parse_message(request(("Call-ID", "1"))).cseq
    for value in ("OPTIONS", "1", "x OPTIONS", "2147483648 OPTIONS", "1 OPTIONS extra", "12345678901 OPTIONS"):
        with pytest.raises(SipParseError, match="CSeq"):
            _ = parse_message(request(("CSeq", value))).cseq
    assert parse_message(request(("CSeq", "2147483647\tNOTIFY"))).cseq == (2147483647, "NOTIFY")


def test_expires():
    assert parse_message(request(("Expires", "0"))).expires == 0
    assert parse_message(request(("Expires", "3600"))).expires == 3600
    assert parse_message(request(("Expires", "99999999999"))).expires == 2**32 - 1
    assert parse_message(request(("Expires", "1" * 5000))).expires == 2**32 - 1
    with pytest.raises(SipParseError, match="Expires"):
        _ = parse_message(request(("Expires", "Thu, 01 Dec 1994 16:00:00 GMT"))).expires


def test_tags_and_branch():
    message = parse_message(
        request(
            ("Via", "SIP/2.0/TCP h;Branch=z9hG4bK-top;rport, SIP/2.0/UDP g;branch=z9hG4bK-second"),
            ("f", 'sip:alice@example.org;tag="q"'),
            ("t", '"A; B" <sip:bob@example.org;tag=not-this>;tag=this'),
        )
    )
    assert message.via_branch == "z9hG4bK-top"
    assert message.from_tag == '"q"'  # addr-spec form: the parameters belong to the header
    assert message.to_tag == "this"
    assert parse_message(request(("Via", "SIP/2.0/UDP h"))).via_branch is None
    assert parse_message(request(("Call-ID", "1"))).via_branch is None
    with pytest.raises(SipParseError):
        _ = parse_message(request(("From", "<sip:alice@example.org"))).from_tag


def test_content_encoding_lists_every_coding():
    assert parse_message(request(("e", "deflate"), ("Content-Encoding", "gzip"))).content_encoding == "deflate, gzip"


# --------------------------------------------------------------------------------------------- to_bytes


def test_to_bytes_writes_crlf_and_sets_content_length_in_place():
    message = parse_message(OK)
    message.body = b"hello, world"
    data = message.to_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello, world")
    assert message.headers.get("Content-Length") == "5"  # to_bytes does not change the message


def test_to_bytes_adds_content_length_last_and_writes_canonical_names():
    message = SipRequest("NOTIFY", "sip:a@b", Headers([("i", "1"), ("cseq", "2 NOTIFY")]), b"xy")
    assert (
        message.to_bytes() == b"NOTIFY sip:a@b SIP/2.0\r\nCall-ID: 1\r\nCSeq: 2 NOTIFY\r\nContent-Length: 2\r\n\r\nxy"
    )
    duplicated = Headers([("Content-Length", "9"), ("Call-ID", "1"), ("l", "9")])
    response = SipResponse(200, "OK", duplicated)
    assert response.to_bytes() == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\nCall-ID: 1\r\n\r\n"


def test_to_bytes_refuses_what_could_not_be_read_back():
    with pytest.raises(ValueError, match="method"):
        SipRequest("BAD METHOD", "sip:a@b", Headers()).to_bytes()
    for uri in ("", "sip:a b@c", "sip:a\r\n@c"):
        with pytest.raises(ValueError, match="Request-URI"):
            SipRequest("OPTIONS", uri, Headers()).to_bytes()
    with pytest.raises(ValueError, match="status"):
        SipResponse(99, "x", Headers()).to_bytes()
    with pytest.raises(ValueError, match="reason"):
        SipResponse(200, "OK\r\nVia: x", Headers()).to_bytes()


def test_to_bytes_round_trips_the_examples():
    for data in (OPTIONS, OK):
        assert parse_message(data).to_bytes() == data


def test_the_error_is_one_class_exported_twice():
    assert MessageSipParseError is SipParseError
    assert issubclass(SipParseError, ValueError)


# ----------------------------------------------------------------------- real messages (wire-notes section 1)

LIST_BODY = (
    b'<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>'
    b'<entry uri="sip:+33612345678@example.org;user=phone"/><entry uri="sip:bob@example.org"/>'
    b"</list></resource-lists>"
)

LINPHONE_SUBSCRIBE = crlf(
    "SUBSCRIBE sip:rls@example.org SIP/2.0\n"
    "Via: SIP/2.0/TCP 192.0.2.10:49152;alias;branch=z9hG4bK.Ab12Cd34;rport\n"
    'From: "Alice" <sip:alice@example.org>;tag=Xy7pQ\n'
    "To: <sip:rls@example.org>\n"
    "CSeq: 20 SUBSCRIBE\n"
    "Call-ID: 8c6fJ-l5YP\n"
    "Max-Forwards: 70\n"
    "Supported: eventlist\n"
    "Event: presence\n"
    "Expires: 3600\n"
    "Content-Type: application/resource-lists+xml\n"
    "Content-Encoding: deflate\n"
    "Content-Disposition: recipient-list\n"
    "Require: recipient-list-subscribe\n"
    "Accept: multipart/related\n"
    "Accept: application/pidf+xml\n"
    "Accept: application/rlmi+xml\n"
    "Accept-Encoding: deflate\n"
    'Contact: <sip:alice@192.0.2.10:49152;transport=tcp>;+org.linphone.specs="lime"\n'
    "User-Agent: Linphonec/5.1.65\n"
    f"Content-Length: {len(zlib.compress(LIST_BODY))}\n"
    "\n"
) + zlib.compress(LIST_BODY)


def test_linphone_list_subscribe():
    message = parse_message(LINPHONE_SUBSCRIBE)
    assert isinstance(message, SipRequest)
    assert (message.method, message.uri) == ("SUBSCRIBE", "sip:rls@example.org")
    assert message.headers.get_all("Supported") == ["eventlist"]
    assert message.headers.get("Event") == "presence"
    assert message.expires == 3600
    assert message.content_type == "application/resource-lists+xml"
    assert message.content_encoding == "deflate"
    assert message.headers.get("Content-Disposition") == "recipient-list"
    assert message.headers.get_all("Require") == ["recipient-list-subscribe"]
    assert message.headers.get_all("Accept") == ["multipart/related", "application/pidf+xml", "application/rlmi+xml"]
    assert message.headers.get_all("Accept-Encoding") == ["deflate"]
    assert message.headers.get("User-Agent") == "Linphonec/5.1.65"
    assert message.via_branch == "z9hG4bK.Ab12Cd34"
    assert message.from_tag == "Xy7pQ"
    assert message.to_tag is None
    assert message.cseq == (20, "SUBSCRIBE")
    assert zlib.decompress(message.body) == LIST_BODY
    assert parse_message(message.to_bytes()) == message


def test_linphone_refresh_over_udp_without_content_length():
    # In-dialog refresh: no body, no Content-Type, still Content-Encoding: deflate, and no Content-Length at all.
    refresh = crlf(
        "SUBSCRIBE sip:rls@198.51.100.7:5060 SIP/2.0\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.refresh;rport\n"
        "From: <sip:alice@example.org>;tag=Xy7pQ\n"
        "To: <sip:rls@example.org>;tag=srv1\n"
        "CSeq: 21 SUBSCRIBE\n"
        "Call-ID: 8c6fJ-l5YP\n"
        "Event: presence\n"
        "Expires: 0\n"
        "Content-Encoding: deflate\n"
        "\n"
    )
    message = parse_message(refresh)
    assert message.body == b""
    assert message.content_encoding == "deflate"
    assert message.content_type is None
    assert message.expires == 0
    assert message.to_tag == "srv1"
    assert "Content-Length" not in message.headers


def test_legacy_notify_headers_keep_their_values_exactly():
    notify = crlf(
        "NOTIFY sip:alice@192.0.2.10:49152;transport=tcp SIP/2.0\n"
        "Event: Presence\n"
        "Subscription-State: active;expires=3599\n"
        'Content-Type: multipart/related;type="application/rlmi+xml";start="<nXYxAE@x>";boundary=XYZ\n'
        "l: 0\n"
        "\n"
    )
    message = parse_message(notify)
    assert message.headers.get("Event") == "Presence"  # liblinphone 5.1 needs the capital P
    assert message.content_type == 'multipart/related;type="application/rlmi+xml";start="<nXYxAE@x>";boundary=XYZ'


def test_linphone_publish_with_sip_if_match():
    publish = request(("sip-if-match", "a1b2c3"), ("Expires", "600"), ("Event", "presence"))
    message = parse_message(publish)
    assert message.headers.items()[0] == ("SIP-If-Match", "a1b2c3")
    assert b"SIP-If-Match: a1b2c3\r\n" in message.to_bytes()


# ------------------------------------------------------------------------------------------ StreamParser

STREAM = LINPHONE_SUBSCRIBE + OK


def test_a_stream_split_at_every_offset_gives_both_messages():
    expected = [parse_message(LINPHONE_SUBSCRIBE), parse_message(OK)]
    for cut in range(len(STREAM) + 1):
        parser = StreamParser()
        messages = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
        assert messages == expected, cut
        assert parser.buffered == 0


def test_a_stream_fed_one_byte_at_a_time():
    parser = StreamParser()
    messages = []
    for index in range(len(STREAM)):
        messages += parser.feed(STREAM[index : index + 1])
        if index == len(LINPHONE_SUBSCRIBE) - 1:
            assert len(messages) == 1  # delivered as soon as its last byte is in
    assert messages == [parse_message(LINPHONE_SUBSCRIBE), parse_message(OK)]


def test_keepalives_between_messages_are_ignored():
    parser = StreamParser()
    stream = b"\r\n\r\n" + OPTIONS + b"\r\n" + OK + b"\r\n\r\n" + b"\n" + OPTIONS + b"\r\n\r\n"
    assert parser.feed(stream) == [parse_message(OPTIONS), parse_message(OK), parse_message(OPTIONS)]
    assert parser.feed(b"\r\n") == []
    assert parser.buffered == 0
    assert not parser.failed


def test_keepalive_split_mid_crlf():
    parser = StreamParser()
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(OPTIONS) == [parse_message(OPTIONS)]


def test_a_stream_message_without_content_length_is_an_error():
    parser = StreamParser()
    with pytest.raises(SipParseError, match="no Content-Length"):
        parser.feed(request(("Call-ID", "1")))
    assert parser.failed
    with pytest.raises(SipParseError, match="must be closed"):
        parser.feed(OPTIONS)


def test_stream_body_may_contain_blank_lines_and_lf_only_heads():
    body = b"line\r\n\r\nmore\n\n"
    data = request(("Content-Length", str(len(body))), body=body).replace(b"\r\n", b"\n", 2)
    assert StreamParser().feed(data + OPTIONS)[0].body == body


def test_garbage_is_refused_at_its_first_line():
    parser = StreamParser()
    with pytest.raises(SipParseError, match="neither a SIP request nor a SIP response"):
        parser.feed(b"GET / HTTP/1.1\r\nHost: example.org\r\n")  # no end of headers needed to know
    assert parser.failed


def test_binary_bytes_are_refused_before_any_line_end():
    parser = StreamParser()
    with pytest.raises(SipParseError, match="binary"):
        parser.feed(b"\x16\x03\x01\x02\x00")  # a TLS record header: no line end may ever come
    assert parser.failed


def test_a_start_line_split_anywhere_still_parses():
    parser = StreamParser()
    for byte in OPTIONS[:-1]:
        assert parser.feed(bytes([byte])) == []
    assert parser.feed(OPTIONS[-1:]) == [parse_message(OPTIONS)]


def test_messages_before_garbage_are_delivered_then_the_error():
    parser = StreamParser()
    assert parser.feed(OPTIONS + b"\x16\x03\x01 not sip\r\n\r\n") == [parse_message(OPTIONS)]
    assert parser.failed
    with pytest.raises(SipParseError, match="must be closed"):
        parser.feed(b"")


def test_stream_size_limits():
    parser = StreamParser()
    with pytest.raises(SipParseError, match="65536-byte limit"):
        parser.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX-Big: " + b"x" * MAX_HEADER_BYTES)
    fields = b"".join(b"X-N: %d\r\n" % index for index in range(MAX_HEADER_FIELDS + 1))
    with pytest.raises(SipParseError, match="header fields"):
        StreamParser().feed(b"OPTIONS sip:a@b SIP/2.0\r\n" + fields + b"Content-Length: 0\r\n\r\n")
    small = StreamParser(max_body=10)
    with pytest.raises(SipParseError, match="over the 10-byte body limit"):
        small.feed(request(("Content-Length", "11")))  # refused before the body arrives
    fits = StreamParser(max_body=10)
    assert fits.feed(request(("Content-Length", "10"), body=b"0123456789"))[0].body == b"0123456789"


def test_stream_header_limit_is_checked_byte_by_byte():
    parser = StreamParser()
    head = b"OPTIONS sip:a@b SIP/2.0\r\nX-Big: "
    parser.feed(head)
    for _ in range(MAX_HEADER_BYTES // 4096 - 1):  # just under the limit: still waiting
        assert parser.feed(b"x" * 4096) == []
    with pytest.raises(SipParseError, match="65536-byte limit"):
        parser.feed(b"x" * 4096)


def test_a_long_message_fed_in_small_chunks_is_searched_once():
    # The end-of-headers search resumes where it stopped: 64 KiB of headers in 1-byte chunks stays fast.
    head = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nX-Big: " + b"y" * 30_000 + b"\r\n\r\n"
    parser = StreamParser()
    messages = []
    for index in range(len(head)):
        messages += parser.feed(head[index : index + 1])
    assert len(messages) == 1
    assert len(messages[0].headers.get("X-Big")) == 30_000


# ---------------------------------------------------------------------------------------------- properties

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKEN = st.from_regex(r"[A-Za-z0-9.!%*_+`'~-]{1,12}", fullmatch=True)
FIELD_TEXT = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",), blacklist_characters="\x7f"))
HEADER_NAMES = st.one_of(
    st.sampled_from(["Via", "v", "To", "From", "Call-ID", "CSeq", "Contact", "Accept", "Event", "Expires", "x"]),
    TOKEN,
).filter(lambda name: canonical_header_name(name) != "Content-Length")
HEADER_LISTS = st.lists(st.tuples(HEADER_NAMES, FIELD_TEXT.map(lambda value: value.strip(" \t"))), max_size=12)
URIS = st.text(st.characters(min_codepoint=0x21, blacklist_categories=("Cs",), blacklist_characters="\x7f"), min_size=1)


@st.composite
def messages(draw: st.DrawFn) -> SipRequest | SipResponse:
    headers = Headers(draw(HEADER_LISTS))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        return SipRequest(draw(TOKEN), draw(URIS), headers, body)
    reason = draw(FIELD_TEXT).strip(" \t")
    return SipResponse(draw(st.integers(100, 699)), reason, headers, body)


def without_length(headers: Headers) -> Headers:
    copy = headers.copy()
    copy.remove("Content-Length")
    return copy


def assert_same(parsed: SipRequest | SipResponse, original: SipRequest | SipResponse) -> None:
    assert type(parsed) is type(original)
    if isinstance(original, SipRequest):
        assert (parsed.method, parsed.uri) == (original.method, original.uri)
    else:
        assert (parsed.status, parsed.reason) == (original.status, original.reason)
    assert parsed.body == original.body
    assert without_length(parsed.headers) == without_length(original.headers)
    assert parsed.headers.get("Content-Length") == str(len(original.body))


@ROUND_TRIP
@given(messages())
def test_round_trip_through_bytes(message):
    data = message.to_bytes()
    parsed = parse_message(data)
    assert_same(parsed, message)
    assert parsed.to_bytes() == data


@settings(ROUND_TRIP, max_examples=60)
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_round_trip_through_a_split_stream(originals, data):
    keepalive = st.sampled_from([b"", b"\r\n", b"\r\n\r\n"])
    stream = b"".join(data.draw(keepalive) + message.to_bytes() for message in originals) + data.draw(keepalive)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    parser = StreamParser()
    parsed = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        parsed += parser.feed(stream[start:end])
    assert len(parsed) == len(originals)
    for one, original in zip(parsed, originals, strict=True):
        assert_same(one, original)


def outcome(call: Callable[[bytes], object], data: bytes) -> tuple[object, SipParseError | None]:
    """What `call(data)` returns, or the SipParseError it raises; any other exception propagates."""
    try:
        return call(data), None
    except SipParseError as error:
        return None, error


SIP_PIECES = [
    b"INVITE sip:a@b SIP/2.0",
    b"SIP/2.0 200 OK",
    b"SIP/2.0 ",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b",",
    b";",
    b'"',
    b"<",
    b">",
    b"Content-Length: 5",
    b"l: 99999999999999999999",
    b"Content-Length: -1",
    b"Via: SIP/2.0/UDP h;branch=z9hG4bK",
    b"CSeq: 1 INVITE",
    b"\xff\xfe",
    b"\x00",
    b"\xc3\xa9",
]


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(SIP_PIECES), max_size=30).map(b"".join)))
def test_random_bytes_into_parse_message_raise_only_the_typed_error(data):
    message, error = outcome(parse_message, data)
    if error is not None:
        assert "\n" not in str(error)
        return
    for accessor in ("call_id", "cseq", "from_tag", "to_tag", "via_branch", "content_encoding", "expires"):
        with contextlib.suppress(SipParseError):
            getattr(message, accessor)


@FUZZ
@given(st.sampled_from([OPTIONS, OK, LINPHONE_SUBSCRIBE]), st.data())
def test_mutated_real_messages_raise_only_the_typed_error(original, data):
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.one_of(st.sampled_from(SIP_PIECES), st.binary(min_size=1, max_size=4)))
        if action == "insert":
            mutated[position:position] = piece
        elif action == "delete":
            del mutated[position : position + len(piece)]
        else:
            mutated[position : position + len(piece)] = piece
    for parse in (parse_message, lambda raw: StreamParser().feed(raw)):
        with contextlib.suppress(SipParseError):
            parse(bytes(mutated))


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=80), st.sampled_from(SIP_PIECES)), max_size=20))
def test_random_chunks_into_a_stream_raise_only_the_typed_error(chunks):
    parser = StreamParser(max_body=1000)
    for chunk in chunks:
        _, error = outcome(parser.feed, chunk)
        assert error is None or ("\n" not in str(error) and parser.failed)


@FUZZ
@given(st.lists(st.sampled_from([*SIP_PIECES, b"Via:", b"via :", b"X-Y:  v ", b"a b:"]), max_size=30).map(b"".join))
def test_the_quick_head_reader_agrees_with_the_line_by_line_one(data):
    """Heads without control characters or folded lines are read a field a line by a quick reader; whenever it
    takes a head, the line-by-line reader (which words the errors) reads the same fields, and where that one
    refuses a head, the quick one does too."""
    lines = (b"OPTIONS sip:a@b SIP/2.0\r\n" + data).decode("utf-8", "replace").split("\n")
    if message_module._NEEDS_CARE.search("\n".join(lines).encode()):
        return
    quick = message_module._plain_fields(lines)
    try:
        checked, problem = message_module._checked_fields(lines)
    except MessageSipParseError:
        assert quick is None
        return
    if problem is not None:
        assert quick is None
        return
    assert quick in (None, checked)


# ------------------------------------------------------------------------------------------------- peek_answer

ANSWER = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;rport=5060;branch=z9hG4bKab12;received=192.0.2.1\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKlower\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n"
    b"Call-ID: c\r\nCSeq: 3 NOTIFY\r\nContent-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("old", "new", "peeked"),
    [
        (b"", b"", (200, "z9hG4bKab12")),
        (b"Via:", b"v :", (200, "z9hG4bKab12")),  # compact form, space before the colon
        (b";branch=", b" ; BRANCH = ", (200, "z9hG4bKab12")),
        (b"200 OK", b"481 Call/Transaction Does Not Exist", (481, "z9hG4bKab12")),
        (b"received=192.0.2.1\r\n", b"received=192.0.2.1,SIP/2.0/UDP h;branch=z9hG4bKnext\r\n", (200, "z9hG4bKab12")),
    ],
)
def test_peek_answer_reads_the_status_and_the_top_via_branch(old, new, peeked):
    data = ANSWER.replace(old, new, 1)
    assert peek_answer(data) == peeked
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    assert (message.status, message.via_branch) == peeked


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"SIP/2.0 200 OK", b"NOTIFY sip:a@x SIP/2.0"),  # a request
        (b"SIP/2.0 200", b"\r\nSIP/2.0 200"),  # leading line ends
        (b";rport=5060;branch", b';x="a;branch=z9hG4bKfake";branch'),  # a quoted string in the Via
        (b";rport=5060;branch=z9hG4bKab12;received=192.0.2.1\r\n", b"\r\n ;branch=z9hG4bKab12\r\n"),  # folded
        (b";rport=5060;branch=z9hG4bKab12;received=192.0.2.1", b";rport=5060"),  # no branch in the top Via
        (b"\r\n\r\n", b"\r\n"),  # no end of head
    ],
)
def test_peek_answer_leaves_anything_unusual_to_the_parser(old, new):
    assert peek_answer(ANSWER.replace(old, new, 1)) is None


_VIA_PIECES = [b";", b"=", b",", b" ", b"\t", b'"', b"\\", b"<", b"\r\n ", b"branch", b"BRANCH", b"z9hG4bKx", b"a"]


@given(
    st.sampled_from([b"Via", b"v", b"VIA"]),
    st.lists(st.sampled_from(_VIA_PIECES), max_size=12).map(b"".join),
    st.binary(max_size=100),
)
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_peek_answer_never_disagrees_with_the_parser(name, params, noise):
    data = ANSWER.replace(b"Via", name, 1).replace(b";rport=", params + b";rport=", 1) + noise
    peeked = peek_answer(data)
    if peeked is None:
        return
    with contextlib.suppress(SipParseError, MessageSipParseError):
        message = parse_message(data)
        assert isinstance(message, SipResponse)
        assert (message.status, message.via_branch) == peeked


def test_a_stream_offers_bodiless_answers_and_passes_on_what_is_declined_or_has_a_body():
    offered: list[tuple[int, str]] = []

    def answers(status: int, branch: str) -> bool:
        offered.append((status, branch))
        return branch == "z9hG4bKab12"

    declined = ANSWER.replace(b"z9hG4bKab12", b"z9hG4bKother")
    with_body = ANSWER.replace(b"Content-Length: 0", b"Content-Length: 2") + b"ok"
    two_lengths = ANSWER.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 0")
    request = b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKr\r\nContent-Length: 0\r\n\r\n"
    stream = ANSWER + declined + with_body + two_lengths + request + ANSWER
    parser = StreamParser(answers=answers)
    messages = [message for byte in range(len(stream)) for message in parser.feed(stream[byte : byte + 1])]
    assert offered == [(200, "z9hG4bKab12"), (200, "z9hG4bKother"), (200, "z9hG4bKab12")]
    assert [(type(message).__name__, message.via_branch) for message in messages] == [
        ("SipResponse", "z9hG4bKother"),
        ("SipResponse", "z9hG4bKab12"),  # a body: its end is the parser's to find
        ("SipResponse", "z9hG4bKab12"),  # Content-Length twice: likewise
        ("SipRequest", "z9hG4bKr"),
    ]
    assert messages[1].body == b"ok"
    assert not parser.failed
