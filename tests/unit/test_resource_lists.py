import pytest

from smartbook_tui.presence import (
    ListEntry,
    MalformedDocument,
    build_resource_lists,
    parse_resource_lists,
    resource_list_uris,
)
from tests.fixtures import wire


def test_build_matches_what_linphone_sends():
    uris = [
        "sip:dave@example.org",
        "sip:+447700900123@example.org;user=phone",
        "sip:+33698765432@example.org;user=phone",
        "sip:+33612345678@example.org;user=phone",
        "sip:+33612345678@example.org;user=phone",
    ]
    assert build_resource_lists(uris) == wire("linphone-list-subscribe").body.rstrip(b"\n")


def test_parse_nested_lists_with_display_names_each_uri_once():
    document = b"""<?xml version="1.0"?>
    <resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
      <list name="friends">
        <display-name>Friends</display-name>
        <entry uri="sip:bob@example.org"><display-name>Bob</display-name></entry>
        <list name="family">
          <entry uri="tel:+33612345678"><display-name xml:lang="fr">Maman</display-name></entry>
          <entry uri="sip:bob@example.org"><display-name>Bob again</display-name></entry>
          <entry-ref ref="users/alice/list/x"/>
          <external anchor="http://127.0.0.1:1/list"/>
          <entry/>
        </list>
      </list>
      <list><entry uri=" sip:carol@example.org "/></list>
    </resource-lists>"""
    assert parse_resource_lists(document) == (
        ListEntry("sip:bob@example.org", "Bob"),
        ListEntry("tel:+33612345678", "Maman"),
        ListEntry("sip:carol@example.org"),
    )
    assert resource_list_uris(document) == ["sip:bob@example.org", "tel:+33612345678", "sip:carol@example.org"]


def test_linphone_fixture_parses():
    entries = parse_resource_lists(wire("linphone-list-subscribe").body)
    assert [entry.uri for entry in entries][:1] == ["sip:+33612345678@example.org;user=phone"]
    assert len(entries) == 4


def test_other_root_is_refused():
    with pytest.raises(MalformedDocument, match="resource-lists"):
        parse_resource_lists(b'<resource-lists xmlns="urn:wrong"/>')
    with pytest.raises(MalformedDocument, match="resource-lists"):
        resource_list_uris(b'<resource-lists xmlns="urn:wrong"><entry uri="sip:bob@example.org"/></resource-lists>')
