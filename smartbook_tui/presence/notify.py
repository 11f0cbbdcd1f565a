"""Presence NOTIFY bodies as a whole: a single PIDF, or an RLMI list (multipart/related, RFC 4662) whose
resources carry their PIDF parts; decoded into one typed value, and built back for the server side."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .encoding import DEFAULT_MAX_BODY_BYTES, decode_content_encoding
from .errors import MalformedDocument, PresenceDocumentError, UnsupportedContentType
from .multipart import (
    BodyPart,
    ContentType,
    build_multipart_related,
    check_boundary,
    check_content_id,
    check_delimiters,
    delimiter_line,
    normalize_content_id,
    parse_content_type,
    parse_multipart,
    part_head,
    part_headers,
    related_type,
)
from .pidf import Presence, build_pidf, parse_pidf, parse_pidf_documents
from .rlmi import (
    RLMI_CLOSE,
    Instance,
    InstanceState,
    Name,
    Resource,
    Rlmi,
    active_resource_writer,
    build_rlmi,
    instance_xml,
    parse_rlmi,
    rlmi_open,
)

PIDF_TYPE = "application/pidf+xml"
RLMI_TYPE = "application/rlmi+xml"
MULTIPART_RELATED = "multipart/related"
_RLMI_PART_TYPE = ContentType(RLMI_TYPE, (("charset", "UTF-8"),))
_PIDF_PART_TYPE = ContentType(PIDF_TYPE, (("charset", "UTF-8"),))

# RFC 4662 lets a resource be a list in its own right; a depth cap keeps a crafted body from recursing forever.
_MAX_LIST_DEPTH = 8


@dataclass(slots=True)
class ResourceState:
    """One resource of a list NOTIFY, with the state carried by its active instance, if any."""

    uri: str
    names: tuple[Name, ...] = ()
    instances: tuple[Instance, ...] = ()
    presence: Presence | None = None
    sublist: ListState | None = None
    error: str | None = None  # why this resource's part could not be read (the rest of the list still is)


@dataclass(slots=True)
class ListState:
    uri: str
    version: int
    full_state: bool
    names: tuple[Name, ...] = ()
    resources: tuple[ResourceState, ...] = ()


NotifyBody = ListState | Presence | None


def decode_notify_body(
    content_type: str | None,
    content_encoding: str | None,
    body: bytes,
    max_size: int = DEFAULT_MAX_BODY_BYTES,
) -> NotifyBody:
    """A presence NOTIFY's body as a typed value: None when it has no body (a NOTIFY may carry none),
    a `Presence` for a single presentity, a `ListState` for a resource list."""
    decoded = decode_content_encoding(content_encoding, body, max_size)
    if not decoded:
        return None
    if not content_type or not content_type.strip():
        raise UnsupportedContentType("NOTIFY has a body but no Content-Type")
    return _decode_document(parse_content_type(content_type), decoded, max_size, depth=0)


def _decode_document(content_type: ContentType, body: bytes, max_size: int, depth: int) -> ListState | Presence:
    if content_type.mime == PIDF_TYPE:
        return parse_pidf(body, max_size)
    if content_type.mime == RLMI_TYPE:  # a list with no part but its RLMI
        return _list_state(parse_rlmi(body, max_size), {}, max_size, depth)
    if content_type.mime == MULTIPART_RELATED:
        return _decode_list(content_type, body, max_size, depth)
    raise UnsupportedContentType(
        f"Content-Type {content_type.mime} is not a presence body ({PIDF_TYPE} or {MULTIPART_RELATED})"
    )


def _decode_list(content_type: ContentType, body: bytes, max_size: int, depth: int) -> ListState:
    if depth >= _MAX_LIST_DEPTH:
        raise MalformedDocument(f"resource lists are nested more than {_MAX_LIST_DEPTH} deep")
    parts = parse_multipart(content_type, body)
    start = content_type.get("start")
    root = parts[0]
    if start is not None:
        wanted = normalize_content_id(start)
        root = next((part for part in parts if part.content_id == wanted), root)
    if root.content_type.mime != RLMI_TYPE:
        raise MalformedDocument(f"the root part of a list NOTIFY is {root.content_type.mime}, not {RLMI_TYPE}")
    by_cid = {part.content_id: part for part in parts if part.content_id is not None and part is not root}
    return _list_state(parse_rlmi(root.body, max_size), by_cid, max_size, depth)


def _list_state(rlmi: Rlmi, parts: dict[str, BodyPart], max_size: int, depth: int) -> ListState:
    # (A resource without instances, most of a big list's, has no part: no call for it.)
    chosen = [_state_part(resource, parts) if resource.instances else None for resource in rlmi.resources]
    # The PIDF parts are read together (quicker for thousands); nested lists and the rest one by one.
    presences = iter(
        parse_pidf_documents(
            [part.body for part in chosen if part is not None and part.content_type.mime == PIDF_TYPE], max_size
        )
    )
    resources = []
    for resource, part in zip(rlmi.resources, chosen, strict=True):
        uri, names, instances = resource.uri, resource.names, resource.instances
        if part is None:
            resources.append(ResourceState(uri, names, instances))
            continue
        document: ListState | Presence | PresenceDocumentError
        if part.content_type.mime == PIDF_TYPE:
            document = next(presences)
        else:
            try:
                document = _decode_document(part.content_type, part.body, max_size, depth + 1)
            except PresenceDocumentError as exc:
                document = exc
        if isinstance(document, PresenceDocumentError):
            resources.append(ResourceState(uri, names, instances, error=str(document)))
        elif isinstance(document, ListState):
            resources.append(ResourceState(uri, names, instances, sublist=document))
        else:
            resources.append(ResourceState(uri, names, instances, presence=document))
    return ListState(rlmi.uri, rlmi.version, rlmi.full_state, rlmi.names, tuple(resources))


def _state_part(resource: Resource, parts: dict[str, BodyPart]) -> BodyPart | None:
    """The part that holds the state of a resource with instances: that of its first active instance that has one."""
    instances = resource.instances
    if len(instances) == 1:  # the usual resource, without the generator
        instance = instances[0]
        return parts.get(instance.cid) if instance.state is InstanceState.ACTIVE and instance.cid else None
    return next((parts[cid] for cid in _active_cids(instances) if cid in parts), None)


def _active_cids(instances: Sequence[Instance]) -> Iterator[str]:
    """The cids of the active instances: only those carry state a watcher may read (RFC 4662 section 5)."""
    return (i.cid for i in instances if i.state is InstanceState.ACTIVE and i.cid is not None)


def pidf_part(content_id: str, document: bytes, *, legacy: bool) -> bytes:
    """A PIDF document as a part of a list NOTIFY, without its delimiter line (for `write_list_notify`)."""
    check_content_id(content_id)
    return part_headers(content_id, _PIDF_PART_TYPE, legacy) + document + b"\r\n"


def write_list_notify(
    list_uri: str,
    version: int,
    full_state: bool,
    resources: Iterable[tuple[str, int, str, bytes] | tuple[str, int, None, None]],
    *,
    ended: Mapping[int, str] | None = None,
    instance_prefix: str,
    root_cid: str,
    boundary: str,
    legacy: bool = False,
) -> tuple[str, bytes]:
    """(Content-Type, body) of a list NOTIFY as a server writes thousands: each resource is (its URI escaped for
    an attribute, key, cid, its `pidf_part` with that cid) for one active instance named `instance_prefix +
    str(key)` (keys unique in the list), or (escaped URI, key, None, None) for a resource without one, unless
    `ended` has its key: then its instance is `terminated` with that reason. The same bytes as `build_list_notify`
    gives for that state, without the records in between; the parts may be made once for every NOTIFY that
    carries them."""
    check_boundary(boundary)
    marker = f"--{boundary}".encode()
    delimiter = delimiter_line(boundary)
    write_resource = active_resource_writer(instance_prefix)
    rlmi = [rlmi_open(list_uri, version, full_state)]
    parts: list[bytes] = []
    for uri, key, cid, part in resources:
        if part is None:
            reason = ended.get(key) if ended else None
            if reason is None:
                rlmi.append(f'<resource uri="{uri}"></resource>')
            else:
                instance = instance_xml(f"{instance_prefix}{key}", InstanceState.TERMINATED, reason=reason)
                rlmi.append(f'<resource uri="{uri}">{instance}</resource>')
            continue
        rlmi.append(write_resource(uri, key, cid))
        parts += (delimiter, part)
    rlmi.append(RLMI_CLOSE)
    root = "".join(rlmi).encode()
    check_content_id(root_cid)
    body = b"".join((part_head(boundary, root_cid, _RLMI_PART_TYPE, legacy), root, b"\r\n", *parts, marker, b"--\r\n"))
    check_delimiters(body, marker, 1 + len(parts) // 2)  # (the root, then two items a part in `parts`)
    return related_type(RLMI_TYPE, root_cid, boundary, legacy), body


def build_list_notify(state: ListState, *, root_cid: str, boundary: str, legacy: bool = False) -> tuple[str, bytes]:
    """(Content-Type, body) of a list NOTIFY: the RLMI root, then one PIDF part per active instance that has a
    cid and a presence (nested lists are not written). `legacy` gives the form liblinphone < 5.4 requires
    (see multipart.build_multipart_related)."""
    rlmi = Rlmi(
        state.uri,
        state.version,
        state.full_state,
        state.names,
        tuple(Resource(resource.uri, resource.names, resource.instances) for resource in state.resources),
    )
    parts: list[BodyPart] = [BodyPart(_RLMI_PART_TYPE, build_rlmi(rlmi), root_cid)]
    for resource in state.resources:
        if resource.presence is None:
            continue
        cid = next(_active_cids(resource.instances), None)
        if cid is not None:
            parts.append(BodyPart(_PIDF_PART_TYPE, build_pidf(resource.presence), cid))
    return build_multipart_related(parts, boundary=boundary, legacy=legacy)
