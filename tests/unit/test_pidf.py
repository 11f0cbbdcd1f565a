from datetime import UTC, datetime

import pytest

from smartbook_tui.presence import (
    Activity,
    BasicStatus,
    MalformedDocument,
    Note,
    Person,
    Presence,
    PresenceTuple,
    UserInput,
    build_pidf,
    parse_pidf,
)
from tests.fixtures import wire

PIDF_HEAD = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
    ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@example.org">'
)


def test_linphone_publish_is_read_whole():
    presence = parse_pidf(wire("linphone-publish").body)
    assert presence.entity == "sip:alice@example.org"
    (service,) = presence.tuples
    assert service.id == "mg0g2-"
    assert service.basic is BasicStatus.OPEN
    assert service.online is True
    assert service.contact == "sip:alice@example.org"
    assert service.contact_priority == 0.8
    assert service.timestamp == datetime(2026, 11, 27, 7, 34, 48, tzinfo=UTC)
    (person,) = presence.persons
    assert person.activities == (Activity.AWAY,)
    assert person.notes == (Note("Parti déjeuner", "fr"), Note("Out for lunch", "en"))
    assert person.timestamp == datetime(2026, 11, 27, 7, 34, 48, tzinfo=UTC)
    assert presence.extensions == ()


def test_rpid_person_fields_are_read():
    document = (
        PIDF_HEAD + '<dm:person id="p"><rpid:activities><rpid:note>at the dentist</rpid:note>'
        "<rpid:appointment/><rpid:other>juggling</rpid:other><rpid:not-an-activity/></rpid:activities>"
        '<rpid:user-input last-input="2026-11-27T06:00:00+01:00">idle</rpid:user-input></dm:person></presence>'
    )
    (person,) = parse_pidf(document.encode()).persons
    assert person.activities == (Activity.APPOINTMENT, Activity.OTHER)
    assert person.other_activity == "juggling"
    assert person.activity_notes == (Note("at the dentist"),)
    assert person.user_input is UserInput.IDLE
    assert person.last_input == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def test_device_and_presence_notes_are_read():
    document = (
        PIDF_HEAD + '<note xml:lang="de">Im Urlaub</note><tuple id="t"><status><basic>closed</basic></status>'
        '<dm:deviceID>urn:uuid:d1</dm:deviceID></tuple><dm:device id="d"><dm:deviceID>urn:uuid:d1</dm:deviceID>'
        "<dm:note>desk phone</dm:note><dm:timestamp>2026-11-27T00:00:00Z</dm:timestamp></dm:device></presence>"
    )
    presence = parse_pidf(document.encode())
    assert presence.notes == (Note("Im Urlaub", "de"),)
    assert presence.tuples[0].device_id == "urn:uuid:d1"
    (device,) = presence.devices
    assert (device.id, device.device_id, device.notes) == ("d", "urn:uuid:d1", (Note("desk phone"),))


def test_unknown_extensions_are_kept_and_written_back():
    document = (
        PIDF_HEAD.replace(">", ' xmlns:caps="urn:ietf:params:xml:ns:pidf:caps" xmlns:x="urn:example:x">', 1)
        + '<tuple id="t"><status><basic>open</basic><x:mood-ring color="blue"/></status>'
        "<caps:servcaps><caps:audio>true</caps:audio></caps:servcaps><contact>sip:bob@example.org</contact></tuple>"
        '<dm:person id="p"><x:hobby>chess</x:hobby></dm:person><x:top level="1">kept</x:top></presence>'
    )
    presence = parse_pidf(document.encode())
    service = presence.tuples[0]
    assert len(service.status_extensions) == 1
    assert "mood-ring" in service.status_extensions[0]
    assert len(service.extensions) == 1
    assert "servcaps" in service.extensions[0]
    assert "chess" in presence.persons[0].extensions[0]
    assert "kept" in presence.extensions[0]
    # A server relaying this publication loses nothing it does not understand.
    assert parse_pidf(build_pidf(presence)) == presence


def test_pidf_without_namespace_from_old_clients_is_accepted():
    document = (
        b'<presence entity="sip:old@example.org"><tuple id="a"><status><basic>open</basic></status></tuple></presence>'
    )
    assert parse_pidf(document).tuples[0].basic is BasicStatus.OPEN


def test_bad_values_are_dropped_not_fatal():
    document = (
        PIDF_HEAD + '<tuple id="t"><status><basic>maybe</basic></status><contact priority="7">sip:x@y</contact>'
        "<timestamp>yesterday</timestamp></tuple></presence>"
    )
    service = parse_pidf(document.encode()).tuples[0]
    assert (service.basic, service.contact_priority, service.timestamp) == (None, None, None)
    assert service.contact == "sip:x@y"


@pytest.mark.parametrize(
    "document",
    [b"<list xmlns='urn:ietf:params:xml:ns:rlmi'/>", b"<presence xmlns='urn:other'/>", b"", b"   ", b"<presence"],
)
def test_non_pidf_is_refused(document):
    with pytest.raises(MalformedDocument):
        parse_pidf(document)


def test_built_pidf_escapes_text_and_round_trips():
    presence = Presence(
        'sip:a&b@example.org;x="1"',
        tuples=(
            PresenceTuple(
                "t<1>",
                BasicStatus.OPEN,
                "sip:a@example.org",
                0.123,
                datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                (Note("<b>bold</b> & co\r\nline two"),),
                online=True,
            ),
        ),
        persons=(Person("p", (Activity.ON_THE_PHONE,), user_input=UserInput.ACTIVE),),
    )
    built = build_pidf(presence)
    assert b"&lt;b&gt;bold&lt;/b&gt; &amp; co&#13;" in built
    assert b'<contact priority="0.123">' in built
    assert parse_pidf(built) == presence


def test_text_that_xml_cannot_hold_is_refused_at_build_time():
    with pytest.raises(ValueError, match="cannot be written"):
        build_pidf(Presence("sip:a@b", notes=(Note("bell \x07"),)))


def test_built_pidf_declares_only_the_namespaces_it_uses():
    plain = build_pidf(Presence("sip:a@example.org", tuples=(PresenceTuple("t", BasicStatus.OPEN),)))
    assert b"xmlns:dm" not in plain
    assert b"xmlns:rpid" not in plain
    assert b"xmlns:pidfonline" not in plain
    rich = build_pidf(
        Presence(
            "sip:a@example.org",
            tuples=(PresenceTuple("t", BasicStatus.OPEN, online=True),),
            persons=(Person("p", (Activity.AWAY,)),),
        )
    )
    assert b"xmlns:dm" in rich
    assert b"xmlns:rpid" in rich
    assert b"xmlns:pidfonline" in rich
    assert parse_pidf(rich).persons[0].activities == (Activity.AWAY,)
