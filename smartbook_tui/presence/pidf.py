"""PIDF (RFC 3863) with the presence data model (RFC 4479), RPID (RFC 4480) and Linphone's online mark.

`parse_pidf` reads bytes into a `Presence`; `build_pidf` writes one back. Elements this module does not model are
kept verbatim in `extensions` and written back in place, so a server can relay what a client published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from lxml import etree

from ._xml import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    NS_DATA_MODEL,
    NS_PIDF,
    NS_PIDF_ONLINE,
    NS_RPID,
    XML_DECLARATION,
    element_text,
    format_timestamp,
    lang_attribute,
    parse_timestamp,
    parse_xml,
    parse_xml_documents,
    read_localized,
    serialize_element,
    split_tag,
    xml_attribute,
    xml_text,
)
from .data_model import Activity, BasicStatus, Device, Note, Person, Presence, PresenceTuple, UserInput
from .errors import MalformedDocument, PresenceDocumentError

# ---------------------------------------------------------------------------------------------- parsing


def _pidf(name: str) -> frozenset[str]:
    # Some old clients write PIDF without its namespace: accept their elements as PIDF ones.
    return frozenset({f"{{{NS_PIDF}}}{name}", name})


_PRESENCE, _TUPLE, _NOTE, _STATUS, _BASIC, _CONTACT, _TIMESTAMP = map(
    _pidf, ("presence", "tuple", "note", "status", "basic", "contact", "timestamp")
)
_DM_PERSON = f"{{{NS_DATA_MODEL}}}person"
_DM_DEVICE = f"{{{NS_DATA_MODEL}}}device"
_DM_DEVICE_ID = f"{{{NS_DATA_MODEL}}}deviceID"
_DM_NOTE = f"{{{NS_DATA_MODEL}}}note"
_DM_TIMESTAMP = f"{{{NS_DATA_MODEL}}}timestamp"
_RPID_ACTIVITIES = f"{{{NS_RPID}}}activities"
_RPID_USER_INPUT = f"{{{NS_RPID}}}user-input"
_RPID_NOTE = f"{{{NS_RPID}}}note"
_RPID_OTHER = f"{{{NS_RPID}}}other"
_RPID_ACTIVITY_TAGS = {f"{{{NS_RPID}}}{activity.value}": activity for activity in Activity}
_ONLINE = f"{{{NS_PIDF_ONLINE}}}online"


def _is_element(node: etree._Element) -> bool:
    # Entity references left unresolved are nodes too, with a non-string tag: they carry nothing for us.
    return type(node.tag) is str


def parse_pidf(data: bytes, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> Presence:
    return _read_presence(parse_xml(data, "PIDF document", max_bytes))


def parse_pidf_documents(
    documents: Sequence[bytes], max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> list[Presence | PresenceDocumentError]:
    """`parse_pidf` of each document (a list NOTIFY's parts), each error in its place; quicker than one at a time.
    They are parsed `_BATCH` at a time: all the speed of parsing them together, and only one batch's trees in
    memory at once (all 10,000 of a full state would hold ~20 MB more)."""
    found: list[Presence | PresenceDocumentError] = []
    for start in range(0, len(documents), _BATCH):
        for root in parse_xml_documents(documents[start : start + _BATCH], "PIDF document", max_bytes):
            if isinstance(root, PresenceDocumentError):
                found.append(root)
                continue
            try:
                found.append(_read_presence(root))
            except PresenceDocumentError as exc:
                found.append(exc)
    return found


_BATCH = 250


def _read_presence(root: etree._Element) -> Presence:
    if root.tag not in _PRESENCE:
        _, name = split_tag(root.tag)
        raise MalformedDocument(f"not a PIDF document: the root element is <{name or '?'}>, not <presence>")
    # Tuples grown one item at a time and records made with positional arguments: a list NOTIFY reads thousands
    # of these documents, most with one tuple and at most one person, where lists and keywords cost more.
    tuples: tuple[PresenceTuple, ...] = ()
    persons: tuple[Person, ...] = ()
    devices: tuple[Device, ...] = ()
    notes: tuple[Note, ...] = ()
    extensions: tuple[str, ...] = ()
    for child in root:
        tag = child.tag
        if tag in _TUPLE:
            tuples += (_parse_tuple(child),)
        elif tag == _DM_PERSON:
            persons += (_parse_person(child),)
        elif tag in _NOTE:
            notes += (read_localized(child),)
        elif tag == _DM_DEVICE:
            devices += (_parse_device(child),)
        elif _is_element(child):
            extensions += (serialize_element(child),)
    return Presence(root.get("entity", ""), tuples, persons, devices, notes, extensions)


def _parse_tuple(element: etree._Element) -> PresenceTuple:
    basic: BasicStatus | None = None
    online = False
    contact: str | None = None
    priority: float | None = None
    timestamp: datetime | None = None
    device_id: str | None = None
    notes: tuple[Note, ...] = ()
    status_extensions: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    for child in element:
        tag = child.tag
        if tag in _STATUS:
            for item in child:
                item_tag = item.tag
                if item_tag in _BASIC:
                    basic = _BASIC_STATUSES.get(element_text(item).lower())
                elif item_tag == _ONLINE:
                    online = True
                elif _is_element(item):
                    status_extensions += (serialize_element(item),)
        elif tag in _CONTACT:
            contact = element_text(child) or None
            given = child.get("priority")
            priority = None if given is None else _priority(given)
        elif tag in _TIMESTAMP:
            timestamp = parse_timestamp(element_text(child))
        elif tag in _NOTE:
            notes += (read_localized(child),)
        elif tag == _DM_DEVICE_ID:
            device_id = element_text(child) or None
        elif _is_element(child):
            extensions += (serialize_element(child),)
    return PresenceTuple(
        element.get("id", ""),
        basic,
        contact,
        priority,
        timestamp,
        notes,
        online,
        device_id,
        status_extensions,
        extensions,
    )


# A basic status that is neither open nor closed counts as no basic status at all.
_BASIC_STATUSES = {status.value: status for status in BasicStatus}


def _priority(value: str) -> float | None:
    try:
        priority = float(value)
    except ValueError:
        return None
    return priority if 0.0 <= priority <= 1.0 else None


def _parse_person(element: etree._Element) -> Person:
    activities: tuple[Activity, ...] = ()
    other_activity: str | None = None
    activity_notes: tuple[Note, ...] = ()
    user_input: UserInput | None = None
    last_input: datetime | None = None
    notes: tuple[Note, ...] = ()
    timestamp: datetime | None = None
    extensions: tuple[str, ...] = ()
    for child in element:
        tag = child.tag
        if tag == _RPID_ACTIVITIES:
            for item in child:
                item_tag = item.tag
                if item_tag == _RPID_NOTE:
                    activity_notes += (read_localized(item),)
                elif item_tag in _RPID_ACTIVITY_TAGS:
                    activities += (_RPID_ACTIVITY_TAGS[item_tag],)
                    if item_tag == _RPID_OTHER:
                        other_activity = element_text(item) or None
        elif tag == _RPID_USER_INPUT:
            user_input = _USER_INPUTS.get(element_text(child).lower())
            last_input_value = child.get("last-input")
            last_input = parse_timestamp(last_input_value) if last_input_value else None
        elif tag == _DM_NOTE:
            notes += (read_localized(child),)
        elif tag == _DM_TIMESTAMP:
            timestamp = parse_timestamp(element_text(child))
        elif _is_element(child):
            extensions += (serialize_element(child),)
    return Person(
        element.get("id", ""),
        activities,
        other_activity,
        activity_notes,
        user_input,
        last_input,
        notes,
        timestamp,
        extensions,
    )


_USER_INPUTS = {value.value: value for value in UserInput}


def _parse_device(element: etree._Element) -> Device:
    device_id: str | None = None
    notes: list[Note] = []
    timestamp: datetime | None = None
    extensions: list[str] = []
    for child in element:
        tag = child.tag
        if tag == _DM_DEVICE_ID:
            device_id = element_text(child) or None
        elif tag == _DM_NOTE:
            notes.append(read_localized(child))
        elif tag == _DM_TIMESTAMP:
            timestamp = parse_timestamp(element_text(child))
        elif _is_element(child):
            extensions.append(serialize_element(child))
    return Device(
        id=element.get("id", ""),
        device_id=device_id,
        notes=tuple(notes),
        timestamp=timestamp,
        extensions=tuple(extensions),
    )


# ---------------------------------------------------------------------------------------------- building

_ROOT_OPEN = f'<presence xmlns="{NS_PIDF}"'
_DECLARE_DATA_MODEL = f' xmlns:dm="{NS_DATA_MODEL}"'
_DECLARE_RPID = f' xmlns:rpid="{NS_RPID}"'
_DECLARE_PIDF_ONLINE = f' xmlns:pidfonline="{NS_PIDF_ONLINE}"'


def build_pidf(presence: Presence) -> bytes:
    # Only the namespaces the document uses are declared: smaller, and quicker for the watcher to parse.
    out: list[str] = [XML_DECLARATION, _ROOT_OPEN]
    if presence.persons or presence.devices or any(item.device_id is not None for item in presence.tuples):
        out.append(_DECLARE_DATA_MODEL)
    if presence.persons:
        out.append(_DECLARE_RPID)
    if any(item.online for item in presence.tuples):
        out.append(_DECLARE_PIDF_ONLINE)
    out += (' entity="', xml_attribute(presence.entity), '">')
    for item in presence.tuples:
        _write_tuple(out, item)
    _write_notes(out, "note", presence.notes)
    for person in presence.persons:
        _write_person(out, person)
    for device in presence.devices:
        _write_device(out, device)
    out.extend(presence.extensions)
    out.append("</presence>")
    return "".join(out).encode()


def _write_notes(out: list[str], tag: str, notes: Iterable[Note]) -> None:
    for note in notes:
        out.append(f"<{tag}{lang_attribute(note.lang)}>{xml_text(note.text)}</{tag}>")


def _write_timestamp(out: list[str], tag: str, moment: datetime | None) -> None:
    if moment is not None:
        out.append(f"<{tag}>{format_timestamp(moment)}</{tag}>")


def _write_tuple(out: list[str], item: PresenceTuple) -> None:
    out.append(f'<tuple id="{xml_attribute(item.id)}"><status>')
    if item.basic is not None:
        out.append(f"<basic>{item.basic.value}</basic>")
    if item.online:
        out.append("<pidfonline:online/>")
    out.extend(item.status_extensions)
    out.append("</status>")
    if item.device_id is not None:
        out.append(f"<dm:deviceID>{xml_text(item.device_id)}</dm:deviceID>")
    out.extend(item.extensions)
    if item.contact is not None:
        priority = "" if item.contact_priority is None else f' priority="{_qvalue(item.contact_priority)}"'
        out.append(f"<contact{priority}>{xml_text(item.contact)}</contact>")
    _write_notes(out, "note", item.notes)
    _write_timestamp(out, "timestamp", item.timestamp)
    out.append("</tuple>")


def _qvalue(priority: float) -> str:
    # A contact priority is a SIP qvalue: at most three decimals.
    return f"{priority:.3f}".rstrip("0").rstrip(".") or "0"


def _write_person(out: list[str], person: Person) -> None:
    out.append(f'<dm:person id="{xml_attribute(person.id)}">')
    if person.activities or person.activity_notes:
        out.append("<rpid:activities>")
        _write_notes(out, "rpid:note", person.activity_notes)
        for activity in person.activities:
            if activity is Activity.OTHER and person.other_activity:
                out.append(f"<rpid:other>{xml_text(person.other_activity)}</rpid:other>")
            else:
                out.append(f"<rpid:{activity.value}/>")
        out.append("</rpid:activities>")
    if person.user_input is not None:
        last_input = f' last-input="{format_timestamp(person.last_input)}"' if person.last_input is not None else ""
        out.append(f"<rpid:user-input{last_input}>{person.user_input.value}</rpid:user-input>")
    out.extend(person.extensions)
    _write_notes(out, "dm:note", person.notes)
    _write_timestamp(out, "dm:timestamp", person.timestamp)
    out.append("</dm:person>")


def _write_device(out: list[str], device: Device) -> None:
    out.append(f'<dm:device id="{xml_attribute(device.id)}">')
    out.extend(device.extensions)
    if device.device_id is not None:
        out.append(f"<dm:deviceID>{xml_text(device.device_id)}</dm:deviceID>")
    _write_notes(out, "dm:note", device.notes)
    _write_timestamp(out, "dm:timestamp", device.timestamp)
    out.append("</dm:device>")
