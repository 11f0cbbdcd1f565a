"""Many small documents parsed together (a list NOTIFY's PIDF parts) give exactly what parsing each alone gives:
the same trees, the same errors, and nothing of one document reaching into another, whatever the documents hold."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smartbook_tui.presence import PresenceDocumentError
from smartbook_tui.presence._xml import parse_xml, parse_xml_documents
from smartbook_tui.presence.pidf import parse_pidf, parse_pidf_documents

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
PIDF = b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:%d@example.org"><tuple id="t"><status><basic>open</basic></status><contact>sip:u%d@example.org</contact></tuple></presence>'  # noqa: E501

HOSTILE = [
    b"<!DOCTYPE presence [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><presence>&x;</presence>",
    b"<presence>&undefined;</presence>",
    b"<presence/><presence/>",  # two roots
    b"text<presence/>",
    b"<presence/>\xc2\xa0",  # a non-XML space after the root
    b"<presence/></part><part><presence/>",  # reaching into the next part
    b"</part></parts><parts><part><presence/>",
    b"<presence/><!-- a comment -->",
    b"<presence/><?pi data?>",
    b"<presence><![CDATA[x]]></presence>",
    b'<?xml version="1.0" encoding="ISO-8859-1"?><presence note="\xe9"/>',
    b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><presence/>',
    '<?xml version="1.0" encoding="UTF-16"?><presence/>'.encode("utf-16"),
    b"  <presence/>",
    b'<?xml version="1.0"?>\n<presence/>\n',
    b"<presence>]]></presence>",
    b"",
    b"<p:presence/>",  # an undeclared prefix
    b"<presence>\xff</presence>",
]


def good(index: int) -> bytes:
    return DECLARATION + PIDF % (index, index)


def one_by_one(documents: list[bytes]) -> list[object]:
    found: list[object] = []
    for document in documents:
        try:
            found.append(parse_xml(document, "PIDF document", 1000))
        except PresenceDocumentError as exc:
            found.append(exc)
    return found


def same(together: list[object], alone: list[object]) -> None:
    assert len(together) == len(alone)
    for mine, theirs in zip(together, alone, strict=True):
        if isinstance(theirs, PresenceDocumentError):
            assert isinstance(mine, PresenceDocumentError)
            assert str(mine) == str(theirs)
        else:
            assert isinstance(mine, etree._Element)
            assert isinstance(theirs, etree._Element)
            assert etree.tostring(mine, with_tail=False) == etree.tostring(theirs, with_tail=False)


def test_good_documents_parse_together_as_alone():
    documents = [good(index) for index in range(50)]
    together = parse_xml_documents(documents, "PIDF document", 1000)
    same(together, one_by_one(documents))
    assert [element.get("entity") for element in together] == [f"sip:{i}@example.org" for i in range(50)]


def test_each_hostile_document_among_good_ones_gets_its_own_answer():
    for hostile in HOSTILE:
        documents = [good(0), hostile, good(1), DECLARATION + b"<presence/>", good(2)]
        same(parse_xml_documents(documents, "PIDF document", 1000), one_by_one(documents))


def test_the_size_cap_is_each_documents():
    documents = [good(0), good(1) + b" " * 1000, good(2)]
    together = parse_xml_documents(documents, "PIDF document", 1000)
    same(together, one_by_one(documents))
    assert isinstance(together[1], PresenceDocumentError)


def test_pidf_documents_read_as_parse_pidf_reads_each():
    documents = [good(0), b"<presence/><presence/>", b'<presence xmlns="urn:x"/>', good(1)]
    for mine, document in zip(parse_pidf_documents(documents, 1000), documents, strict=True):
        if isinstance(mine, PresenceDocumentError):
            with pytest.raises(PresenceDocumentError, match=re.escape(str(mine))):
                parse_pidf(document, 1000)
        else:
            assert mine == parse_pidf(document, 1000)


PIECES = [*HOSTILE, good(7), b"<presence/>", b"</part>", b"<part>", b"</parts>", b"&amp;", b"<a>", b"</a>", b" \t\r\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), min_size=0, max_size=3).map(b"".join), min_size=2, max_size=6))
def test_any_documents_parse_together_as_alone(documents):
    same(parse_xml_documents(documents, "PIDF document", 1000), one_by_one(documents))
