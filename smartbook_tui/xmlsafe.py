"""The one way smartbook parses XML it did not write (presence bodies, WebDAV answers): entities are never
resolved, no DTD is loaded, nothing is fetched or opened (every external resource resolves to nothing), and a
document with a DOCTYPE is refused outright, since none of the formats read here uses one."""

from __future__ import annotations

import threading

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
