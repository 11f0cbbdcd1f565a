"""RLMI documents (RFC 4662): the root part of a list NOTIFY, naming each resource and its instances."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from ._xml import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    NS_RLMI,
    XML_DECLARATION,
    lang_attribute,
    parse_xml,
    read_localized,
    split_tag,
    xml_attribute,
    xml_text,
)
from .data_model import LocalizedText
from .errors import MalformedDocument

Name = LocalizedText


class InstanceState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


_INSTANCE_STATES = {state.value: state for state in InstanceState}


@dataclass(slots=True)
class Instance:
    """One back-end subscription of a resource; `cid` names the body part holding its state."""

    id: str
    state: InstanceState
    reason: str | None = None
    cid: str | None = None


@dataclass(slots=True)
class Resource:
    uri: str
    names: tuple[Name, ...] = ()
    instances: tuple[Instance, ...] = ()


@dataclass(slots=True)
class Rlmi:
    uri: str
    version: int
    full_state: bool
    names: tuple[Name, ...] = ()
    resources: tuple[Resource, ...] = ()


_LIST = f"{{{NS_RLMI}}}list"
_RESOURCE = f"{{{NS_RLMI}}}resource"
_NAME = f"{{{NS_RLMI}}}name"
_INSTANCE = f"{{{NS_RLMI}}}instance"


def parse_rlmi(data: bytes, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> Rlmi:
    root = parse_xml(data, "RLMI document", max_bytes)
    if root.tag != _LIST:
        _, name = split_tag(root.tag)
        raise MalformedDocument(f"not an RLMI document: the root element is <{name or '?'}>, not <list>")
    resources: list[Resource] = []
    # The resources picked out by lxml rather than by reading each child's tag (a list's names are kept apart).
    for child in root.iterchildren(_RESOURCE):
        if len(child):
            resource = _parse_resource(child)
            if resource is not None:
                resources.append(resource)
        elif uri := (child.get("uri") or "").strip():  # a resource with no instance: the usual one, inline
            resources.append(Resource(uri))
    names = [read_localized(child) for child in root.iterchildren(_NAME)]
    return Rlmi(
        uri=root.get("uri", ""),
        version=_version(root.get("version")),
        full_state=_boolean(root.get("fullState"), "fullState"),
        names=tuple(names),
        resources=tuple(resources),
    )


_VERSION = re.compile(r"\s*([0-9]{1,20})\s*")  # ASCII digits only, and few enough for any counter


def _version(value: str | None) -> int:
    match = _VERSION.fullmatch(value or "")
    if match is None:
        raise MalformedDocument(f"RLMI version must be a non-negative integer, got {(value or '')[:40]!r}")
    return int(match.group(1))


def _boolean(value: str | None, attribute: str) -> bool:
    normalized = (value or "").strip().lower()
    if normalized in ("true", "1"):
        return True
    if normalized in ("false", "0"):
        return False
    raise MalformedDocument(f"RLMI {attribute} must be true or false, got {value!r}")


def _parse_resource(element: etree._Element) -> Resource | None:
    uri = (element.get("uri") or "").strip()
    if not uri:
        return None  # a resource without a URI cannot be matched to anything: skipped
    names: tuple[Name, ...] = ()
    instances: tuple[Instance, ...] = ()
    for child in element:
        tag = child.tag
        if tag == _INSTANCE:
            given = child.get("state") or ""
            state = _INSTANCE_STATES.get(given) or _INSTANCE_STATES.get(given.strip().lower())
            if state is not None:  # an instance with no valid state says nothing usable: skipped
                instances += (Instance(child.get("id", ""), state, child.get("reason"), child.get("cid")),)
        elif tag == _NAME:
            names += (read_localized(child),)
    return Resource(uri, names, instances)


def build_rlmi(rlmi: Rlmi) -> bytes:
    out = [rlmi_open(rlmi.uri, rlmi.version, rlmi.full_state)]
    _write_names(out, rlmi.names)
    for resource in rlmi.resources:
        out.append(f'<resource uri="{xml_attribute(resource.uri)}">')
        _write_names(out, resource.names)
        for instance in resource.instances:
            out.append(instance_xml(instance.id, instance.state, instance.cid, instance.reason))
        out.append("</resource>")
    out.append(RLMI_CLOSE)
    return "".join(out).encode()


# The pieces of an RLMI document, for `build_rlmi` and for writers of many NOTIFYs that skip the records.
RLMI_CLOSE = "</list>"


def rlmi_open(uri: str, version: int, full_state: bool) -> str:
    """The XML declaration and the opening <list> tag."""
    full = "true" if full_state else "false"
    attributes = f'uri="{xml_attribute(uri)}" version="{version}" fullState="{full}"'
    return f'{XML_DECLARATION}<list xmlns="{NS_RLMI}" {attributes}>'


def instance_xml(instance_id: str, state: InstanceState, cid: str | None = None, reason: str | None = None) -> str:
    """One <instance/> element."""
    reason_attribute = f' reason="{xml_attribute(reason)}"' if reason is not None else ""
    cid_attribute = f' cid="{xml_attribute(cid)}"' if cid is not None else ""
    return f'<instance id="{xml_attribute(instance_id)}" state="{state.value}"{reason_attribute}{cid_attribute}/>'


def active_resource_writer(instance_prefix: str) -> Callable[[str, int, str], str]:
    """A writer of <resource> elements with one active instance each, as `build_rlmi` writes them, for a server
    that writes thousands: `write(uri, key, cid)` takes the URI and the cid already escaped for an attribute, and
    names the instance `instance_prefix + str(key)` (the prefix is escaped once; an int key needs no escaping)."""
    instance_open = f'"><instance id="{xml_attribute(instance_prefix)}'
    cid_open = f'" state="{InstanceState.ACTIVE.value}" cid="'

    def write(uri: str, key: int, cid: str) -> str:
        return f'<resource uri="{uri}{instance_open}{key}{cid_open}{cid}"/></resource>'

    return write


def _write_names(out: list[str], names: Iterable[Name]) -> None:
    for name in names:
        out.append(f"<name{lang_attribute(name.lang)}>{xml_text(name.text)}</name>")
