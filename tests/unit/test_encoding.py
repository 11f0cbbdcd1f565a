import gzip
import zlib

import pytest

from smartbook_tui.presence import (
    BodyTooLarge,
    MalformedDocument,
    UnsupportedEncoding,
    decode_content_encoding,
    deflate,
    inflate,
)

TEXT = b"<resource-lists>" + b"<entry uri='sip:+33600000000@example.org;user=phone'/>" * 50 + b"</resource-lists>"


def test_deflate_is_a_zlib_stream_as_linphone_sends():
    assert zlib.decompress(deflate(TEXT)) == TEXT
    assert deflate(TEXT)[:1] == b"\x78"  # zlib header, not raw deflate


def test_raw_deflate_is_accepted_too():
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert inflate(raw.compress(TEXT) + raw.flush()) == TEXT


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (None, TEXT),
        ("", TEXT),
        ("identity", TEXT),
        ("deflate", deflate(TEXT)),
        ("Deflate ", deflate(TEXT)),
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate, gzip", gzip.compress(deflate(TEXT))),
    ],
)
def test_content_encodings(encoding, encoded):
    assert decode_content_encoding(encoding, encoded) == TEXT


def test_empty_body_with_deflate_header_is_an_empty_body():
    # Linphone's in-dialog refresh: Content-Encoding: deflate and no body.
    assert decode_content_encoding("deflate", b"") == b""


def test_unknown_encoding_is_named():
    with pytest.raises(UnsupportedEncoding, match="'br'"):
        decode_content_encoding("br", b"\x00")


@pytest.mark.parametrize("data", [deflate(TEXT)[:-4], b"not compressed at all", gzip.compress(TEXT)[:20]])
def test_corrupt_or_truncated_streams(data):
    with pytest.raises(MalformedDocument):
        inflate(data)


def test_cap_is_exact():
    assert inflate(deflate(b"a" * 1000), max_size=1000) == b"a" * 1000
    with pytest.raises(BodyTooLarge):
        inflate(deflate(b"a" * 1001), max_size=1000)
    with pytest.raises(BodyTooLarge):
        decode_content_encoding("gzip", gzip.compress(b"a" * 1001), max_size=1000)
    with pytest.raises(BodyTooLarge):
        decode_content_encoding(None, b"a" * 1001, max_size=1000)
