"""Presence documents: pure functions from bytes to typed values and back, no I/O.

PIDF with the data model and RPID (`pidf`), resource-lists (`resource_lists`), RLMI (`rlmi`), multipart/related
(`multipart`), Content-Encoding (`encoding`), whole NOTIFY bodies (`notify`) and the contact-list view of a
presentity (`summary`). Every bad input raises a `PresenceDocumentError`.

The records documents parse into are values: nothing changes them after they are made, and code that needs
another value builds a new one (`dataclasses.replace`). They are not `frozen` dataclasses only because frozen
construction costs five times as much, which on the 1,000 resources of a full-state NOTIFY is a sixth of the
decoding time (bench/documents.py). `ContentType`, shared through a cache, and `PresenceSummary` are frozen.
"""

from ._xml import LocalizedText, xml_attribute
from .encoding import DEFAULT_MAX_BODY_BYTES, decode_content_encoding, deflate, inflate
from .errors import (
    BodyTooLarge,
    MalformedDocument,
    PresenceDocumentError,
    UnsupportedContentType,
    UnsupportedEncoding,
)
from .multipart import (
    BodyPart,
    ContentType,
    build_multipart_related,
    normalize_content_id,
    parse_content_type,
    parse_multipart,
)
from .notify import (
    ListState,
    NotifyBody,
    ResourceState,
    build_list_notify,
    decode_notify_body,
    pidf_part,
    write_list_notify,
)
from .pidf import (
    Activity,
    BasicStatus,
    Device,
    Note,
    Person,
    Presence,
    PresenceTuple,
    UserInput,
    build_pidf,
    parse_pidf,
)
from .resource_lists import ListEntry, build_resource_lists, parse_resource_lists
from .rlmi import Instance, InstanceState, Name, Resource, Rlmi, build_rlmi, parse_rlmi
from .summary import NO_PRESENCE, Availability, PresenceSummary, summarize

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "NO_PRESENCE",
    "Activity",
    "Availability",
    "BasicStatus",
    "BodyPart",
    "BodyTooLarge",
    "ContentType",
    "Device",
    "Instance",
    "InstanceState",
    "ListEntry",
    "ListState",
    "LocalizedText",
    "MalformedDocument",
    "Name",
    "Note",
    "NotifyBody",
    "Person",
    "Presence",
    "PresenceDocumentError",
    "PresenceSummary",
    "PresenceTuple",
    "Resource",
    "ResourceState",
    "Rlmi",
    "UnsupportedContentType",
    "UnsupportedEncoding",
    "UserInput",
    "build_list_notify",
    "build_multipart_related",
    "build_pidf",
    "build_resource_lists",
    "build_rlmi",
    "decode_content_encoding",
    "decode_notify_body",
    "deflate",
    "inflate",
    "normalize_content_id",
    "parse_content_type",
    "parse_multipart",
    "parse_pidf",
    "parse_resource_lists",
    "parse_rlmi",
    "pidf_part",
    "summarize",
    "write_list_notify",
    "xml_attribute",
]
