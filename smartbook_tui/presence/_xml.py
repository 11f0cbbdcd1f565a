"""XML for the presence documents: parsing (through smartbook_tui.xmlsafe, the one safe parser, plus a size
cap), escaping for the string builders, and the small shared value types. The builders write XML as strings
(several times faster than building trees) through the escapes below.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from smartbook_tui.xmlsafe import UntrustedXmlError, parse_untrusted_documents, parse_untrusted_xml

from .data_model import LocalizedText
from .errors import BodyTooLarge, MalformedDocument, PresenceDocumentError

NS_PIDF = "urn:ietf:params:xml:ns:pidf"
NS_DATA_MODEL = "urn:ietf:params:xml:ns:pidf:data-model"
NS_RPID = "urn:ietf:params:xml:ns:pidf:rpid"
NS_PIDF_ONLINE = "http://www.linphone.org/xsds/pidfonline.xsd"
NS_RLMI = "urn:ietf:params:xml:ns:rlmi"
NS_RESOURCE_LISTS = "urn:ietf:params:xml:ns:resource-lists"
NS_XML = "http://www.w3.org/XML/1998/namespace"
XML_LANG = f"{{{NS_XML}}}lang"

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# The cap on one XML document (a NOTIFY body as a whole is capped separately, after inflation).
DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def parse_xml(data: bytes, what: str, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse `data` as one XML document named `what` in error messages, or raise a PresenceDocumentError."""
    if len(data) > max_bytes:
        raise BodyTooLarge(f"{what} is {len(data)} bytes, over the {max_bytes}-byte cap")
    try:
        return parse_untrusted_xml(data, what)
    except UntrustedXmlError as exc:
        raise MalformedDocument(str(exc)) from None


def parse_xml_documents(
    documents: Sequence[bytes], what: str, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> list[etree._Element | PresenceDocumentError]:
    """`parse_xml` of each document, with the same answers, quicker for many small ones (they are parsed together
    where they can be: see xmlsafe.parse_untrusted_documents)."""
    sized = [document for document in documents if len(document) <= max_bytes]
    together = iter(parse_untrusted_documents(sized, what) if len(sized) > 1 else [None] * len(sized))
    found: list[etree._Element | PresenceDocumentError] = []
    for document in documents:
        root = next(together) if len(document) <= max_bytes else None
        if root is None:
            try:
                root = parse_xml(document, what, max_bytes)
            except PresenceDocumentError as exc:
                found.append(exc)
                continue
        found.append(root)
    return found


def split_tag(tag: object) -> tuple[str | None, str]:
    """('{ns}name') -> (ns, name); entity references and other non-elements give (None, '')."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def element_text(element: etree._Element) -> str:
    if len(element):  # mixed content: rare, and slower to read
        return "".join(element.itertext()).strip()
    text = element.text
    return text.strip() if text else ""


def serialize_element(element: etree._Element) -> str:
    """An element this layer does not model, kept verbatim with just the namespaces it uses, to be written back."""
    standalone = copy.deepcopy(element)  # carries every namespace in scope; keep only those it uses
    etree.cleanup_namespaces(standalone)
    return etree.tostring(standalone, encoding="unicode", with_tail=False)


def read_localized(element: etree._Element) -> LocalizedText:
    return LocalizedText(element_text(element), element.get(XML_LANG))


def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 date-time as PIDF carries it; None when unreadable (a bad timestamp never sinks a document)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


# \r must survive a parse (parsers turn a literal CR into LF), as must tabs and newlines inside attributes.
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
)


@functools.cache
def _not_xml_chars() -> re.Pattern[str]:
    # Made on first need: a class over all of Unicode takes milliseconds to compile, and most runs never need it.
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(value: str, escapes: dict[int, str]) -> str:
    bad = _not_xml_chars().search(value)
    if bad:
        raise PresenceDocumentError(f"character {bad.group()!r} cannot be written in an XML document")
    return value.translate(escapes)


# The usual value (a SIP URI, an id, a note) is printable ASCII without & < > ": str methods tell at a glance,
# several times faster than a pattern; only the rest is searched for what needs escaping.


def xml_text(value: str) -> str:
    if value.isascii() and value.isprintable() and "&" not in value and "<" not in value and ">" not in value:
        return value
    return _escape(value, _TEXT_ESCAPES)


def xml_attribute(value: str) -> str:
    if (
        value.isascii()
        and value.isprintable()
        and "&" not in value
        and "<" not in value
        and ">" not in value
        and '"' not in value
    ):
        return value
    return _escape(value, _ATTRIBUTE_ESCAPES)


def lang_attribute(lang: str | None) -> str:
    return f' xml:lang="{xml_attribute(lang)}"' if lang else ""
