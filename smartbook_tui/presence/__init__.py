"""Presence documents: pure functions from bytes to typed values and back, no I/O.

PIDF's data model as plain records (`data_model`), PIDF with RPID (`pidf`), resource-lists (`resource_lists`),
RLMI (`rlmi`), multipart/related (`multipart`), Content-Encoding (`encoding`), whole NOTIFY bodies (`notify`) and
the contact-list view of a presentity (`summary`). Every bad input raises a `PresenceDocumentError`.

The records documents parse into are values: nothing changes them after they are made, and code that needs
another value builds a new one (`dataclasses.replace`). They are not `frozen` dataclasses only because frozen
construction costs five times as much, which on the 1,000 resources of a full-state NOTIFY is a sixth of the
decoding time (bench/documents.py). `ContentType`, shared through a cache, and `PresenceSummary` are frozen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartbook_tui.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from ._xml import xml_attribute, xml_text
    from .data_model import (
        Activity,
        BasicStatus,
        Device,
        LocalizedText,
        Note,
        Person,
        Presence,
        PresenceTuple,
        UserInput,
    )
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
    from .pidf import build_pidf, parse_pidf
    from .resource_lists import (
        LIST_DELTA,
        ListEntry,
        build_list_delta,
        build_resource_lists,
        parse_list_delta,
        parse_resource_lists,
        resource_list_uris,
    )
    from .rlmi import Instance, InstanceState, Name, Resource, Rlmi, build_rlmi, parse_rlmi
    from .summary import NO_PRESENCE, Availability, PresenceSummary, summarize

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "LIST_DELTA",
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
    "build_list_delta",
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
    "parse_list_delta",
    "parse_multipart",
    "parse_pidf",
    "parse_resource_lists",
    "parse_rlmi",
    "pidf_part",
    "resource_list_uris",
    "summarize",
    "write_list_notify",
    "xml_attribute",
    "xml_text",
]

# Each name and the submodule it is imported from when first used.
_SUBMODULE_OF = {
    "xml_attribute": "_xml",
    "xml_text": "_xml",
    "Activity": "data_model",
    "BasicStatus": "data_model",
    "Device": "data_model",
    "LocalizedText": "data_model",
    "Note": "data_model",
    "Person": "data_model",
    "Presence": "data_model",
    "PresenceTuple": "data_model",
    "UserInput": "data_model",
    "DEFAULT_MAX_BODY_BYTES": "encoding",
    "decode_content_encoding": "encoding",
    "deflate": "encoding",
    "inflate": "encoding",
    "BodyTooLarge": "errors",
    "MalformedDocument": "errors",
    "PresenceDocumentError": "errors",
    "UnsupportedContentType": "errors",
    "UnsupportedEncoding": "errors",
    "BodyPart": "multipart",
    "ContentType": "multipart",
    "build_multipart_related": "multipart",
    "normalize_content_id": "multipart",
    "parse_content_type": "multipart",
    "parse_multipart": "multipart",
    "ListState": "notify",
    "NotifyBody": "notify",
    "ResourceState": "notify",
    "build_list_notify": "notify",
    "decode_notify_body": "notify",
    "pidf_part": "notify",
    "write_list_notify": "notify",
    "build_pidf": "pidf",
    "parse_pidf": "pidf",
    "ListEntry": "resource_lists",
    "build_resource_lists": "resource_lists",
    "parse_resource_lists": "resource_lists",
    "LIST_DELTA": "resource_lists",
    "build_list_delta": "resource_lists",
    "parse_list_delta": "resource_lists",
    "resource_list_uris": "resource_lists",
    "Instance": "rlmi",
    "InstanceState": "rlmi",
    "Name": "rlmi",
    "Resource": "rlmi",
    "Rlmi": "rlmi",
    "build_rlmi": "rlmi",
    "parse_rlmi": "rlmi",
    "NO_PRESENCE": "summary",
    "Availability": "summary",
    "PresenceSummary": "summary",
    "summarize": "summary",
}

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
