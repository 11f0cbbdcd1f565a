"""The XML of WebDAV and CardDAV: the request bodies sent (PROPFIND, sync-collection, addressbook-multiget)
and the multistatus answers read, through smartbook_tui.xmlsafe, the one parser for XML smartbook did not
write."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from lxml import etree

from smartbook_tui.xmlsafe import UntrustedXmlError, parse_untrusted_xml

from .errors import CardDavProtocolError
from .urls import _resolve

NS_DAV = "DAV:"
NS_CARDDAV = "urn:ietf:params:xml:ns:carddav"
_DAV = "{DAV:}"
_CARD = "{urn:ietf:params:xml:ns:carddav}"


@dataclass(slots=True)
class _DavResponse:
    url: str  # the href, resolved and normalised
    status: int | None  # the response-level status (a removed member in sync-collection: 404)
    props: dict[str, etree._Element]  # the properties found (2xx propstat), by Clark name


@dataclass(slots=True)
class _Multistatus:
    responses: list[_DavResponse]
    sync_token: str | None


# ---------------------------------------------------------------------------------------------- XML bodies

_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_NAMESPACES = f'xmlns:d="{NS_DAV}" xmlns:c="{NS_CARDDAV}"'


def _propfind(props: str) -> bytes:
    return f"{_XML_HEAD}<d:propfind {_NAMESPACES}><d:prop>{props}</d:prop></d:propfind>".encode()


_PROPFIND_DISCOVERY = _propfind("<d:resourcetype/><d:displayname/><d:current-user-principal/><c:addressbook-home-set/>")
_PROPFIND_HOME_SET = _propfind("<c:addressbook-home-set/>")
_PROPFIND_BOOKS = _propfind("<d:resourcetype/><d:displayname/>")
_PROPFIND_ETAGS = _propfind("<d:resourcetype/><d:getetag/><d:getcontenttype/>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sync_collection_body(token: str | None) -> bytes:
    token_element = f"<d:sync-token>{_escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    return (
        f"{_XML_HEAD}<d:sync-collection {_NAMESPACES}>{token_element}<d:sync-level>1</d:sync-level>"
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    ).encode()


def _multiget_body(hrefs: list[str]) -> bytes:
    # The hrefs are sent as absolute paths: the cards live on the book's server.
    paths = "".join(f"<d:href>{_escape(httpx.URL(href).raw_path.decode('ascii'))}</d:href>" for href in hrefs)
    return (
        f"{_XML_HEAD}<c:addressbook-multiget {_NAMESPACES}><d:prop><d:getetag/><c:address-data/></d:prop>"
        f"{paths}</c:addressbook-multiget>"
    ).encode()


# ---------------------------------------------------------------------------------------- XML answers


def _parse_xml(data: bytes, what: str) -> etree._Element:
    try:
        # huge_tree: one multistatus may carry thousands of cards; its size is capped when read
        return parse_untrusted_xml(data, what, huge_tree=True)
    except UntrustedXmlError as exc:
        raise CardDavProtocolError(str(exc)) from None


def _parse_multistatus(data: bytes, base: httpx.URL, what: str) -> _Multistatus:
    root = _parse_xml(data, what)
    if root.tag != f"{_DAV}multistatus":
        raise CardDavProtocolError(f"{what} is not a WebDAV multistatus")
    responses: list[_DavResponse] = []
    for element in root.iterchildren(f"{_DAV}response"):
        status = _status_code(element.findtext(f"{_DAV}status"))
        props: dict[str, etree._Element] = {}
        for propstat in element.iterchildren(f"{_DAV}propstat"):
            code = _status_code(propstat.findtext(f"{_DAV}status"))
            prop = propstat.find(f"{_DAV}prop")
            if prop is not None and (code is None or 200 <= code < 300):
                for child in prop:
                    if isinstance(child.tag, str):
                        props[child.tag] = child
        for href in element.iterchildren(f"{_DAV}href"):
            if href.text and href.text.strip():
                responses.append(_DavResponse(_resolve(base, href.text), status, props))
    token = root.findtext(f"{_DAV}sync-token")
    return _Multistatus(responses, token.strip() if token and token.strip() else None)


def _has_precondition(data: bytes, tag: str) -> bool:
    try:
        root = _parse_xml(data, "an error answer")
    except CardDavProtocolError:
        return False
    return root.tag == tag or root.find(f".//{tag}") is not None


def _status_code(line: str | None) -> int | None:
    # "HTTP/1.1 404 Not Found"
    parts = (line or "").split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def _text(element: etree._Element | None, strip: bool = True) -> str:
    if element is None:
        return ""
    text = "".join(element.itertext())
    return text.strip() if strip else text


def _etag(response: _DavResponse) -> str | None:
    return _text(response.props.get(f"{_DAV}getetag")) or None


def _resource_types(response: _DavResponse) -> set[str]:
    element = response.props.get(f"{_DAV}resourcetype")
    return {child.tag for child in element if isinstance(child.tag, str)} if element is not None else set()


def _hrefs(response: _DavResponse, prop: str, base: httpx.URL) -> list[str]:
    element = response.props.get(prop)
    if element is None:
        return []
    return [
        _resolve(base, href.text) for href in element.iterchildren(f"{_DAV}href") if href.text and href.text.strip()
    ]


def _display_name(response: _DavResponse) -> str:
    name = _text(response.props.get(f"{_DAV}displayname"))
    return name or unquote(response.url.rstrip("/").rsplit("/", 1)[-1])
