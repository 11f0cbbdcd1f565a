from datetime import UTC, datetime

import pytest

from smartbook_tui.presence import (
    Availability,
    BasicStatus,
    Instance,
    InstanceState,
    ListState,
    MalformedDocument,
    Name,
    Presence,
    PresenceTuple,
    ResourceState,
    UnsupportedContentType,
    build_list_notify,
    build_pidf,
    decode_content_encoding,
    decode_notify_body,
    deflate,
    inflate,
    parse_resource_lists,
    pidf_part,
    summarize,
    write_list_notify,
)
from tests.fixtures import wire, wire_fixtures


@pytest.mark.parametrize("name", sorted(wire_fixtures()))
def test_every_wire_fixture_decodes(name):
    fixture = wire(name)
    if fixture.content_type == "application/resource-lists+xml":
        assert parse_resource_lists(decode_content_encoding(fixture.content_encoding, fixture.body))
    else:
        assert decode_notify_body(fixture.content_type, fixture.content_encoding, fixture.body) is not None


def _decode(name: str):
    fixture = wire(name)
    return decode_notify_body(fixture.content_type, fixture.content_encoding, fixture.body)


def test_flexisip_phone_alias_notify_legacy_deflated():
    state = _decode("flexisip-phone-alias-notify")
    assert (state.uri, state.version, state.full_state) == ("sip:rls@example.org", 0, True)
    views = {resource.uri: summarize(resource.presence) for resource in state.resources}
    alice = views["sip:+33612345678@example.org;user=phone"]
    assert alice.has_account
    assert alice.sip_address == "sip:alice@example.org"
    assert alice.status is Availability.AWAY
    # Numbers with no account: a resource without an active instance, hence no PIDF.
    for uri in ("sip:+33698765432@example.org;user=phone", "sip:+447700900123@example.org;user=phone"):
        assert views[uri].has_account is False
        assert views[uri].status is Availability.UNKNOWN
    assert views["sip:dave@example.org"].sip_address == "sip:dave@example.org"


def test_kamailio_first_notify_without_instances():
    state = _decode("kamailio-list-notify-no-instances")
    assert [resource.uri for resource in state.resources] == [
        "sip:bob@127.0.0.1",
        "sip:carol@127.0.0.1",
        "sip:erin@127.0.0.1",
    ]
    assert state.resources[0].names == (Name("Bob"),)
    assert all(resource.instances == () and resource.presence is None for resource in state.resources)


def test_partial_update():
    state = _decode("partial-update-notify")
    assert (state.version, state.full_state) == (3, False)
    bruno, dave = state.resources
    assert bruno.names == (Name("Bruno", "en"),)
    assert summarize(bruno.presence).status is Availability.ON_THE_PHONE
    assert summarize(bruno.presence).last_seen == datetime(2026, 11, 27, 8, 1, tzinfo=UTC)
    assert dave.presence is None
    assert dave.instances == (Instance("8fk2ls", InstanceState.TERMINATED, reason="noresource"),)


def test_nested_list():
    state = _decode("rfc4662-nested-list")
    (colleagues,) = state.resources
    assert colleagues.presence is None
    assert colleagues.sublist is not None
    assert colleagues.sublist.names == (Name("Colleagues", "en"),)
    frank, grace = colleagues.sublist.resources
    assert frank.presence is None
    assert frank.instances[0].state is InstanceState.PENDING
    assert summarize(grace.presence).status is Availability.OFFLINE


def test_single_pidf_and_empty_bodies():
    presence = decode_notify_body("application/pidf+xml", None, wire("linphone-publish").body)
    assert isinstance(presence, Presence)
    assert decode_notify_body(None, None, b"") is None  # Kamailio: nothing published, no body
    assert decode_notify_body("application/pidf+xml", "deflate", b"") is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [(None, b"<presence/>"), ("  ", b"<presence/>"), ("text/plain", b"hello"), ("application/xcap-diff+xml", b"<x/>")],
)
def test_unsupported_content_types(content_type, body):
    with pytest.raises(UnsupportedContentType):
        decode_notify_body(content_type, None, body)


def test_one_broken_part_does_not_lose_the_rest():
    fixture = wire("flexisip-phone-alias-notify")
    body = inflate(fixture.body).replace(b"<contact>sip:alice@example.org</contact>", b"<contact>sip:alice", 1)
    state = decode_notify_body(fixture.content_type, None, body)
    broken = state.resources[0]
    assert broken.presence is None
    assert "not well-formed" in broken.error
    assert summarize(state.resources[3].presence).has_account


def test_root_part_must_be_rlmi():
    body = b"--b\r\nContent-ID: <r>\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b--\r\n"
    with pytest.raises(MalformedDocument, match="root part"):
        decode_notify_body('multipart/related;boundary=b;start="<r>"', None, body)


def _state(count: int) -> ListState:
    def resource(index: int) -> ResourceState:
        uri = f"sip:+336{index:08d}@example.org;user=phone"
        if index % 3 == 0:  # no account: no active instance, no part
            return ResourceState(uri)
        presence = Presence(uri, tuples=(PresenceTuple(f"t{index}", BasicStatus.OPEN, f"sip:user{index}@example.org"),))
        return ResourceState(
            uri,
            instances=(Instance(f"i{index}", InstanceState.ACTIVE, cid=f"c{index}@example.org"),),
            presence=presence,
        )

    return ListState("sip:rls@example.org", 0, True, resources=tuple(resource(i) for i in range(count)))


@pytest.mark.parametrize("legacy", [False, True])
def test_built_list_notify_decodes_to_the_same_state(legacy):
    state = _state(30)
    content_type, body = build_list_notify(state, root_cid="root@example.org", boundary="smartbook-b0", legacy=legacy)
    assert decode_notify_body(content_type, None, body) == state
    assert decode_notify_body(content_type, "deflate", deflate(body)) == state
    assert body.count(b"application/pidf+xml") == 20


def test_captured_kamailio_list_notifies():
    full = _decode("kamailio-captured-full-state")
    assert (full.version, full.full_state) == (1, True)
    assert all(resource.instances == () for resource in full.resources)
    partial = _decode("kamailio-captured-partial")
    assert (partial.version, partial.full_state) == (2, False)
    views = {resource.uri: summarize(resource.presence) for resource in partial.resources}
    assert views["sip:bob@127.0.0.1"].status is Availability.ONLINE
    assert views["sip:carol@127.0.0.1"].status is Availability.ONLINE


@pytest.mark.parametrize("legacy", [False, True])
def test_write_list_notify_gives_the_bytes_build_list_notify_gives(legacy):
    alice = Presence(
        "sip:+33612345678@example.org;user=phone", tuples=(PresenceTuple("a", BasicStatus.OPEN, "sip:a@x"),)
    )
    document = build_pidf(alice)
    resources = (
        ResourceState(alice.entity, instances=(Instance("i.0", InstanceState.ACTIVE, cid="c.0"),), presence=alice),
        ResourceState("sip:+33611111111@example.org;user=phone"),
    )
    state = ListState("sip:rls@example.org", 3, False, resources=resources)
    written = write_list_notify(
        state.uri,
        state.version,
        state.full_state,
        [
            (alice.entity, 0, "c.0", pidf_part("c.0", document, legacy=legacy)),
            ("sip:+33611111111@example.org;user=phone", 1, None, None),
        ],
        instance_prefix="i.",
        root_cid="root",
        boundary="b0undary",
        legacy=legacy,
    )
    assert written == build_list_notify(state, root_cid="root", boundary="b0undary", legacy=legacy)
    decoded = decode_notify_body(written[0], None, written[1])
    assert isinstance(decoded, ListState)
    assert [resource.presence is not None for resource in decoded.resources] == [True, False]
