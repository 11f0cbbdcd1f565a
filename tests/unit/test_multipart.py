import pytest

from smartbook_tui.presence import (
    BodyPart,
    ContentType,
    MalformedDocument,
    PresenceDocumentError,
    build_multipart_related,
    parse_content_type,
    parse_multipart,
)

RLMI = ContentType("application/rlmi+xml")
PIDF = ContentType("application/pidf+xml")


@pytest.mark.parametrize(
    "header",
    [
        'multipart/related;type="application/rlmi+xml";start="<r@x>";boundary="b1"',
        'multipart/related;type="application/rlmi+xml";start="<r@x>";boundary=b1',
        'Multipart/Related; boundary=b1 ; START = "<r@x>"; type=application/rlmi+xml',
        'multipart/related;\r\n\tboundary="b1";type="application/rlmi+xml";start=<r@x>',
    ],
)
def test_content_type_parameters_in_any_order_quoted_or_not(header):
    content_type = parse_content_type(header.replace("\r\n\t", " "))
    assert content_type.mime == "multipart/related"
    assert content_type.get("boundary") == "b1"
    assert content_type.get("type") == "application/rlmi+xml"
    assert content_type.get("start") == "<r@x>"


def test_content_type_quoted_pairs_and_render():
    content_type = parse_content_type('text/plain; title="a \\"quoted\\" word; here"; charset=utf-8')
    assert content_type.get("title") == 'a "quoted" word; here'
    assert content_type.get("CHARSET") == "utf-8"
    assert parse_content_type(content_type.render()) == content_type


@pytest.mark.parametrize("header", ["", "pidf", "application/", "/xml", "a b/c"])
def test_content_type_without_type_and_subtype_is_refused(header):
    with pytest.raises(MalformedDocument):
        parse_content_type(header)


def test_parts_with_every_content_id_spelling():
    body = (
        b"preamble\r\n--xx\r\nContent-ID: <one@h>\r\nContent-Type: application/rlmi+xml\r\n\r\n<list/>\r\n"
        b"--xx\r\nContent-Id: two@h\r\ncontent-type: application/pidf+xml\r\n\r\nP2\r\n\r\n"
        b"--xx\r\ncontent-id:  < three@h > \r\nContent-Type: application/pidf+xml\r\n\r\nP3\r\n"
        b"--xx--\r\nepilogue"
    )
    parts = parse_multipart(ContentType("multipart/related", (("boundary", "xx"),)), body)
    assert [part.content_id for part in parts] == ["one@h", "two@h", "three@h"]
    assert [part.body for part in parts] == [b"<list/>", b"P2\r\n", b"P3"]
    assert parts[1].content_type == PIDF
    assert ("Content-Id", "two@h") in parts[1].headers


def test_lf_only_folded_headers_and_part_without_headers():
    body = b"--b\nContent-Type: application/pidf+xml;\n charset=UTF-8\nContent-ID: <a>\n\nA\n--b\n\nplain\n--b--"
    first, second = parse_multipart(ContentType("multipart/related", (("boundary", "b"),)), body)
    assert first.content_type.get("charset") == "UTF-8"
    assert first.body == b"A"
    assert second.content_type.mime == "text/plain"
    assert second.body == b"plain"


def test_transfer_encodings():
    body = (
        b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nPHByZXNlbmNlLz4=\r\n"
        b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b--\r\n"
    )
    parts = parse_multipart(ContentType("multipart/related", (("boundary", "b"),)), body)
    assert [part.body for part in parts] == [b"<presence/>", "café".encode()]


@pytest.mark.parametrize(
    ("params", "body", "message"),
    [
        ((), b"--b\r\n\r\nx\r\n--b--", "no boundary"),
        ((("boundary", "b"),), b"no delimiter at all", "never uses"),
        ((("boundary", "b"),), b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n", "truncated"),
        ((("boundary", "b"),), b"--b\r\nContent-Type: text/plain\r\nno blank line\r\n--b--", "no blank line"),
        ((("boundary", "b"),), b"--b--\r\n", "no parts"),
        ((("boundary", "b"),), b"--b\r\nContent-Transfer-Encoding: x-uue\r\n\r\nx\r\n--b--", "unknown transfer"),
    ],
)
def test_broken_multiparts_are_refused(params, body, message):
    with pytest.raises(MalformedDocument, match=message):
        parse_multipart(ContentType("multipart/related", params), body)


def _parts() -> list[BodyPart]:
    return [BodyPart(RLMI, b"<list/>", "root@example.org"), BodyPart(PIDF, b"<presence/>", "p1@example.org")]


def test_rfc_form():
    header, body = build_multipart_related(_parts(), boundary="Bnd.1")
    assert header == 'multipart/related;type="application/rlmi+xml";start="<root@example.org>";boundary="Bnd.1"'
    assert body.startswith(b"--Bnd.1\r\n")
    assert b"\r\nContent-ID: <p1@example.org>\r\n" in body
    assert body.endswith(b"\r\n--Bnd.1--\r\n")
    assert [(p.content_id, p.body) for p in parse_multipart(parse_content_type(header), body)] == [
        ("root@example.org", b"<list/>"),
        ("p1@example.org", b"<presence/>"),
    ]


def test_legacy_form_is_what_liblinphone_5_1_requires():
    # wire-notes section 2, points 2 and 3.
    header, body = build_multipart_related(_parts(), boundary="Bnd.1", legacy=True)
    assert header == 'multipart/related;type="application/rlmi+xml";start="<root@example.org>";boundary=Bnd.1'
    assert body.startswith(b"--Bnd.1\r\n")
    assert b"\r\nContent-Id: root@example.org\r\n" in body
    assert b"\r\nContent-Id: p1@example.org\r\n" in body
    assert b"Content-ID" not in body
    assert b"<p1@example.org>" not in body
    assert body.endswith(b"--Bnd.1--\r\n")
    assert [p.content_id for p in parse_multipart(parse_content_type(header), body)] == [
        "root@example.org",
        "p1@example.org",
    ]


@pytest.mark.parametrize(
    ("parts", "boundary"),
    [
        ([], "b"),
        ([BodyPart(RLMI, b"x")], "b"),
        ([BodyPart(RLMI, b"x\r\n--b\r\n", "r")], "b"),
        ([BodyPart(RLMI, b"x", "r")], "has space"),
        ([BodyPart(RLMI, b"x", "r")], "x" * 71),
    ],
)
def test_unbuildable_multiparts_are_refused(parts, boundary):
    with pytest.raises(PresenceDocumentError):
        build_multipart_related(parts, boundary=boundary)
