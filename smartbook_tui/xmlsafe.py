"""The one way smartbook parses XML it did not write (presence bodies, WebDAV answers): entities are never
resolved, no DTD is loaded, nothing is fetched or opened (every external resource resolves to nothing), and a
document with a DOCTYPE is refused outright, since none of the formats read here uses one."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from lxml import etree


class UntrustedXmlError(ValueError):
    """The bytes are not an acceptable XML document; the message says why, in one line."""


class _NoExternalResources(etree.Resolver):
    """Every external DTD or entity resolves to nothing: no file is opened, no URL fetched (a FIFO named in a
    DOCTYPE would otherwise block the parse, and a file's content could leak into a document)."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        return self.resolve_string("", context)


_local = threading.local()


def _parser(huge_tree: bool) -> etree.XMLParser:
    # lxml parser objects must not be shared between threads: keep one of each kind per thread. collect_ids
    # stays at its default: collect_ids=False makes libxml2 load external DTD subsets from files.
    name = "huge" if huge_tree else "plain"
    parser = getattr(_local, name, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge_tree,
            remove_comments=True,
            remove_pis=True,
        )
        parser.resolvers.add(_NoExternalResources())
        setattr(_local, name, parser)
    return parser


def parse_untrusted_xml(data: bytes, what: str, *, huge_tree: bool = False) -> etree._Element:
    """The root element of `data`, named `what` in error messages. `huge_tree` lifts libxml2's limits on text
    and depth, for documents whose size the caller has already capped (a multistatus of thousands of cards)."""
    if not data or data.isspace():
        raise UntrustedXmlError(f"{what} is empty")
    try:
        root = etree.fromstring(data, _parser(huge_tree))
    except etree.XMLSyntaxError as exc:
        raise UntrustedXmlError(f"{what} is not well-formed XML: {_first_line(str(exc))}") from None
    except (ValueError, TypeError) as exc:  # e.g. an encoding lxml cannot use
        raise UntrustedXmlError(f"{what} cannot be read as XML: {_first_line(str(exc))}") from None
    if root is None:
        raise UntrustedXmlError(f"{what} is empty")
    if root.getroottree().docinfo.doctype:
        raise UntrustedXmlError(f"{what} has a DOCTYPE, which is never used here; refused")
    return root


def _first_line(message: str) -> str:
    return message.splitlines()[0] if message else "no detail"


# Many small documents in one parse: each goes inside a <part> of one <parts> document. Only a document that needs
# no more than elements, attributes, text and references qualifies (nothing that starts with <! or <?, past an XML
# declaration that says nothing but UTF-8): then it cannot reach past its <part>, and one parser call does the
# work of thousands (a list NOTIFY's PIDF parts: ~5x quicker than one call each).
_DECLARATION = re.compile(
    rb"""<\?xml\s+version\s*=\s*(?:"1\.[0-9]"|'1\.[0-9]')(?:\s+encoding\s*=\s*(?:"[Uu][Tt][Ff]-8"|'[Uu][Tt][Ff]-8'))?"""
    rb"""(?:\s+standalone\s*=\s*(?:"(?:yes|no)"|'(?:yes|no)'))?\s*\?>"""
)
_LEADING_SPACE = b" \t\r\n"


def parse_untrusted_documents(documents: Sequence[bytes], what: str) -> list[etree._Element | None]:
    """The root element of each document, parsed together in one parser call, or None for a document that has to
    be parsed alone with `parse_untrusted_xml` (one that does not qualify, see above; all of them when the batch
    does not parse, so that each error is that document's own)."""
    bodies: list[bytes] = []
    slots: list[int] = []
    for index, document in enumerate(documents):
        if document.startswith(_USUAL_DECLARATION):
            body = document[len(_USUAL_DECLARATION) :]
        else:
            declaration = _DECLARATION.match(document)
            body = document[declaration.end() :] if declaration else document
        if b"<!" in body or b"<?" in body or (body[:1] != b"<" and not body.lstrip(_LEADING_SPACE).startswith(b"<")):
            continue
        bodies.append(body)
        slots.append(index)
    found: list[etree._Element | None] = [None] * len(documents)
    if not bodies:
        return found
    try:
        root = etree.fromstring(b"<parts><part>" + b"</part><part>".join(bodies) + b"</part></parts>", _parser(False))
    except (etree.XMLSyntaxError, ValueError, TypeError):
        return found
    # Each <part> holds one element and no text but XML white space (asked of the tree in three calls, not
    # thousands): then each root is its document's, and nothing of one document reached into another.
    roots = _PART_ROOTS(root)
    if len(root) != len(bodies) or len(roots) != len(bodies) or _EMPTY_PARTS(root) or _TEXT_IN_PARTS(root):
        return found
    for index, element in zip(slots, roots, strict=True):
        found[index] = element
    return found


_USUAL_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
_PART_ROOTS = etree.XPath("part/*")
_EMPTY_PARTS = etree.XPath("boolean(part[not(*)])")
_TEXT_IN_PARTS = etree.XPath("boolean(part/text()[normalize-space()])")
