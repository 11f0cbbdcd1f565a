"""The documents real peers send, captured live and read with smartbook's presence layer.

linphonec (liblinphone 5.1) and pjsua2 run against a recording SIP server on 127.0.0.1; what they send must
decode to what a user of those programs would expect to see.
"""

from __future__ import annotations

import pytest

from smartbook_tui.presence import (
    Availability,
    build_resource_lists,
    decode_content_encoding,
    parse_pidf,
    parse_resource_lists,
    summarize,
)
from tests.peers import require_binary
from tests.peers.linphonec import run_linphonec
from tests.peers.pjsua2_publisher import run_pjsua2_publisher
from tests.peers.sip_recorder import RecordedRequest, SipRecorder

BOOK = """BEGIN:VCARD
VERSION:4.0
FN:Anne Martin
TEL;TYPE=cell:06 12 34 56 78
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Emma Martin
TEL;TYPE=cell:06 12 34 56 78
TEL;TYPE=home:01 23 45 67 89
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Charlotte Brown
TEL;TYPE=cell:+44 7700 900123
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Dave
IMPP:sip:dave@127.0.0.1
END:VCARD
"""

EXPECTED_URIS = [
    "sip:+33123456789@127.0.0.1;user=phone",
    "sip:+33612345678@127.0.0.1;user=phone",
    "sip:+447700900123@127.0.0.1;user=phone",
    "sip:dave@127.0.0.1",
]


def _is_list_subscribe(request: RecordedRequest) -> bool:
    return request.header("Content-Type") == "application/resource-lists+xml" and bool(request.body)


@pytest.mark.peer("linphonec")
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_linphonec_list_subscribe_and_publish_decode(tmp_path, transport):
    require_binary("linphonec", "linphone-cli")
    with SipRecorder() as server:
        run = run_linphonec(
            tmp_path,
            sip_port=server.port,
            transport=transport,
            vcards=BOOK,
            until=lambda: any(_is_list_subscribe(r) for r in server.requests("SUBSCRIBE")),
        )
        subscribe = server.wait_for("SUBSCRIBE", _is_list_subscribe, timeout=1.0)
        publish = server.wait_for("PUBLISH", lambda r: bool(r.body), timeout=1.0)

    assert subscribe.header("Content-Encoding") == "deflate", run.log[-2000:]
    assert subscribe.header("Content-Disposition") == "recipient-list"
    listed = decode_content_encoding(subscribe.header("Content-Encoding"), subscribe.body)
    uris = [entry.uri for entry in parse_resource_lists(listed)]
    # Sorted, de-duplicated (Anne and Emma share a number), national numbers made E.164 with dial_prefix 33.
    assert uris == EXPECTED_URIS
    # The list smartbook writes for the same book carries the same entries, in the same order.
    assert [entry.uri for entry in parse_resource_lists(build_resource_lists(reversed(uris)))] == uris

    summary = summarize(parse_pidf(publish.body))
    assert summary.has_account
    assert summary.sip_address == "sip:alice@127.0.0.1"
    assert summary.status is Availability.ONLINE


@pytest.mark.peer("pjsua2")
def test_pjsua2_publications_give_the_status_the_user_chose():
    steps = ["online", "away:Gone fishing", "busy:In a meeting", "offline"]
    with SipRecorder() as server:
        result = run_pjsua2_publisher(server.port, steps)
        assert result.returncode == 0, result.stderr
        bodies = [request.body for request in server.requests("PUBLISH") if request.body]

    summaries = [summarize(parse_pidf(body)) for body in bodies]
    assert [(s.status, s.note) for s in summaries] == [
        (Availability.ONLINE, None),
        (Availability.AWAY, "Gone fishing"),
        (Availability.BUSY, "In a meeting"),
        (Availability.OFFLINE, None),
    ]
