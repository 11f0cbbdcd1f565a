"""resource-lists documents (RFC 4826): the body of an RFC 5367 list SUBSCRIBE, and server-stored lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from ._xml import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    NS_RESOURCE_LISTS,
    XML_DECLARATION,
    element_text,
    parse_xml,
    split_tag,
    xml_attribute,
)
from .errors import MalformedDocument


@dataclass(slots=True)
class ListEntry:
    uri: str
    display_name: str | None = None


_OPEN = f'{XML_DECLARATION}<resource-lists xmlns="{NS_RESOURCE_LISTS}"><list>'
_CLOSE = "</list></resource-lists>"


def build_resource_lists(uris: Iterable[str]) -> bytes:
    """The list body Linphone sends: one <list>, entries sorted and de-duplicated, no display names."""
    listed = sorted(set(uris))
    if not listed:
        return f"{_OPEN}{_CLOSE}".encode()
    # One join of the escaped URIs rather than an f-string each: a book is sent as lists of 10,000.
    entries = '"/><entry uri="'.join(map(xml_attribute, listed))
    return f'{_OPEN}<entry uri="{entries}"/>{_CLOSE}'.encode()


# A change to the list of a subscription in progress, sent by the subscriber in a SUBSCRIBE refresh with
# `Require: list-delta` once the server's answer said `Supported: list-delta` (smartbook's own extension: RFC 5367
# fixes a request-contained list for the dialog's life): one resource-lists document with a <list name="added"> and
# a <list name="removed">.
LIST_DELTA = "list-delta"  # the option tag
_ADDED, _REMOVED = "added", "removed"


def build_list_delta(added: Iterable[str], removed: Iterable[str]) -> bytes:
    """The body of a list change: the entries to add and those to remove."""
    parts = [XML_DECLARATION, f'<resource-lists xmlns="{NS_RESOURCE_LISTS}">']
    for name, uris in ((_ADDED, added), (_REMOVED, removed)):
        entries = "".join(f'<entry uri="{xml_attribute(uri)}"/>' for uri in sorted(set(uris)))
        parts.append(f'<list name="{name}">{entries}</list>')
    parts.append("</resource-lists>")
    return "".join(parts).encode()


def parse_list_delta(data: bytes, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> tuple[list[str], list[str]]:
    """(added, removed) of a list change, each URI once, in document order; MalformedDocument when the document is
    not one (a list that is neither "added" nor "removed", or an entry outside them)."""
    root = _read_root(data, max_bytes)
    found: dict[str, dict[str, None]] = {_ADDED: {}, _REMOVED: {}}
    for child in root:
        if not isinstance(child.tag, str):
            continue  # a comment or a processing instruction
        name = child.get("name")
        if split_tag(child.tag) != (NS_RESOURCE_LISTS, "list") or name not in found:
            raise MalformedDocument('a list change holds a <list name="added"> and a <list name="removed"> only')
        for entry in child.iter(_ENTRY):
            uri = (entry.get("uri") or "").strip()
            if uri:
                found[name][uri] = None
    return list(found[_ADDED]), list(found[_REMOVED])


def parse_resource_lists(data: bytes, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> tuple[ListEntry, ...]:
    """Every <entry> of every (nested) <list>, in document order, each URI once (its first display name wins).

    Entries without a URI are skipped, as are entry-refs and external lists, which a request-contained list
    cannot use (RFC 5367 section 4).
    """
    entries: dict[str, ListEntry] = {}
    for entry in _read_root(data, max_bytes).iter(_ENTRY):
        uri = (entry.get("uri") or "").strip()
        if uri and uri not in entries:
            entries[uri] = ListEntry(uri, _display_name(entry))
    return tuple(entries.values())


def resource_list_uris(data: bytes, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> list[str]:
    """The URIs of `parse_resource_lists`' entries, in the same order, read in one call rather than entry by entry
    (a server reads lists of 10,000 entries, whose display names it does not use)."""
    uris = dict.fromkeys(uri.strip() for uri in _ENTRY_URIS(_read_root(data, max_bytes)))
    uris.pop("", None)
    return list(uris)


_ENTRY = f"{{{NS_RESOURCE_LISTS}}}entry"
_ENTRY_URIS = etree.XPath("//lists:entry/@uri", namespaces={"lists": NS_RESOURCE_LISTS}, smart_strings=False)


def _read_root(data: bytes, max_bytes: int) -> etree._Element:
    root = parse_xml(data, "resource-lists document", max_bytes)
    ns, name = split_tag(root.tag)
    if name != "resource-lists" or ns != NS_RESOURCE_LISTS:
        raise MalformedDocument(f"not a resource-lists document: the root element is <{name or '?'}>")
    return root


def _display_name(entry: etree._Element) -> str | None:
    for child in entry:
        if child.tag == f"{{{NS_RESOURCE_LISTS}}}display-name":
            return element_text(child) or None
    return None
