"""The checks every request passes before the server handles it (`server/request_checks.py`), and the core's
answers to them: RFC 3261's 400, 416, 420 and 505."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.refusal import Refusal
from smartbook_tui.server.request_checks import (
    SUPPORTED_OPTIONS,
    check_as_target,
    check_request,
    digest_credentials,
    request_uri,
    via_refusal,
)
from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from tests.unit.core_kit import Peer, make_core

VIA = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-checks"


def make(method: str = "OPTIONS", uri: str = "sip:example.org", *extra: tuple[str, str], **changes: str) -> SipRequest:
    fields = {
        "Via": VIA,
        "From": "<sip:alice@example.org>;tag=a1",
        "To": "<sip:example.org>",
        "Call-ID": "checks-1",
        "CSeq": f"1 {method}",
    }
    fields.update({name.replace("_", "-"): value for name, value in changes.items()})
    return SipRequest(method, uri, Headers([*fields.items(), *extra]))


def refusal(check, request: SipRequest) -> Refusal:
    with pytest.raises(Refusal) as raised:
        check(request)
    return raised.value


def test_a_well_formed_request_passes_every_check():
    check_as_target(make())
    check_as_target(make("REGISTER", "sip:example.org", ("Require", "eventlist")))
    assert via_refusal(make()) is None


@pytest.mark.parametrize("require", ["foo", "foo, eventlist", "100rel"])
def test_an_unknown_option_in_require_gets_420_listing_it(require):
    refused = refusal(check_as_target, make("SUBSCRIBE", "sip:bob@example.org", ("Require", require)))
    assert (refused.status, refused.reason) == (420, "Bad Extension")
    assert refused.headers["Unsupported"] == ", ".join(sorted(set(require.split(", ")) - set(SUPPORTED_OPTIONS)))


def test_several_unknown_options_are_all_listed_whatever_their_headers():
    request = make("OPTIONS", "sip:example.org", ("Require", "b-option"), ("Require", "A-Option, eventlist"))
    assert refusal(check_as_target, request).headers["Unsupported"] == "a-option, b-option"


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_require_is_never_checked_in_ack_and_cancel(method):
    check_as_target(make(method, "sip:bob@example.org", ("Require", "foo")))


def test_a_proxy_checks_not_require_but_the_rest():
    check_request(make("INVITE", "sip:bob@example.org", ("Require", "foo")))


@pytest.mark.parametrize(
    "uri", ["tel:+33612345678", "sip:bob@example.org", "sips:bob@example.org", "SIP:bob@example.org"]
)
def test_sip_sips_and_tel_request_uris_pass(uri):
    request_uri(uri)


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("http://example.org/", "http"),
        ("mailto:bob@example.org", "mailto"),
        ("nobodyKnowsThisScheme:totallyopaquecontent", "nobodyKnowsThisScheme"),
        ("soap.beep://192.0.2.103:3002", "soap.beep"),
        ("garbage", "garbage"),
    ],
)
def test_another_request_uri_scheme_gets_416(uri, scheme):
    refused = refusal(check_request, make("OPTIONS", uri))
    assert refused.status == 416
    assert refused.reason == f"Unsupported URI Scheme ({scheme[:20]})"


@pytest.mark.parametrize("uri", ["<sip:bob@example.org>", "sip:bob@example.org;\tlr", 'sip:"bob"@example.org'])
def test_a_request_uri_with_brackets_whitespace_or_quotes_gets_400(uri):
    refused = refusal(check_request, make("OPTIONS", uri))
    assert refused.status == 400
    assert "Request-URI" in refused.reason


def test_another_sip_version_gets_505():
    request = parse_message(
        b"OPTIONS sip:example.org SIP/7.0\r\nVia: SIP/7.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: v\r\n\r\n"
    )
    refused = refusal(check_request, request)
    assert refused.status == 505
    assert refused.reason == "Version Not Supported (only SIP/2.0, not SIP/7.0)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("To", "<sip:other@example.net>"),
        ("From", "<sip:other@example.net>;tag=b2"),
        ("Call-ID", "checks-2"),
        ("CSeq", "2 OPTIONS"),
        ("Max-Forwards", "70"),
        ("Content-Length", "0"),
        ("Content-Type", "text/plain"),
        ("Expires", "60"),
    ],
)
def test_a_single_value_header_given_twice_gets_400_naming_it(name, value):
    request = make()
    for _ in range(1 if name in request.headers else 2):
        request.headers.add(name, value)
    refused = refusal(check_request, request)
    assert (refused.status, refused.reason) == (400, f"Bad Request ({name} appears more than once)")


def test_what_the_parser_found_wrong_gets_400_with_its_words():
    request = parse_message(
        b"OPTIONS sip:example.org SIP/2.0\r\nVia: " + VIA.encode() + b"\r\nNo colon here\r\nCall-ID: x\r\n\r\n"
    )
    refused = refusal(check_request, request)
    assert refused.status == 400
    assert refused.reason == "Bad Request (header line 3 has no ':': 'No colon here')"


@pytest.mark.parametrize(
    "via",
    [
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 badinv01
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;",
        "SIP/2.0 192.0.2.1;branch=z9hG4bK1",
        "SIP/2.0/UDP",
        "HTTP/1.1/TCP 192.0.2.1;branch=z9hG4bK1",
    ],
)
def test_a_via_that_does_not_read_gets_400(via):
    request = make()
    request.headers.add("Via", via)
    refused = refusal(check_request, request)
    assert refused.status == 400
    assert "Via" in refused.reason


def test_vias_with_whitespace_and_several_values_read():
    check_request(make(Via="SIP  /   2.0 /UDP 192.0.2.2 ; branch = z9hG4bK1 , SIP/2.0/TCP [2001:db8::1]:5061;rport"))


def test_an_unreadable_top_via_gets_a_stateless_400_but_an_ack_nothing():
    bad = 'SIP/2.0/UDP 192.0.2.1;branch="z9hG4bK-unterminated'
    refused = via_refusal(make(Via=bad))
    assert refused is not None
    assert refused.status == 400
    assert refused.reason.startswith("Bad Request (Via: ")
    assert via_refusal(make("ACK", "sip:bob@example.org", Via=bad)) is None


@pytest.mark.parametrize(
    "via",
    [
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1<",
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2;received=<x",
        "SIP/2.0/UDP 192.0.2.1;rport=x<;branch=z9hG4bK3",
    ],
)
def test_a_via_that_only_looks_plain_is_read_in_full_and_refused(via):
    # angle brackets in a parameter's value: the glance must not let through what the full reading refuses
    refused = via_refusal(make(Via=via))
    assert refused is not None
    assert refused.status == 400


def test_only_digest_credentials_are_read():
    digest = 'Digest username="alice", realm="example.org", nonce="n", uri="sip:example.org", response="r"'
    values = ["NoOneKnowsThisScheme opaque-data=here", digest, "Basic YWxpY2U6eA==", "", f"  {digest}"]
    assert digest_credentials(values) == [digest, f"  {digest}"]


def test_a_register_for_a_tel_uri_gets_416():
    refused = refusal(check_as_target, make("REGISTER", "tel:+33612345678"))
    assert (refused.status, refused.reason) == (416, "Unsupported URI Scheme (a REGISTER names a SIP domain)")


# ---------------------------------------------------------------------------------------------- the core's answers


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PresenceServer]:
    with Store.open(tmp_path / "server.sqlite3") as store:
        store.add_account("alice", "example.org", "a password")
        via = {"UDP": "192.0.2.1:5060", "TCP": "192.0.2.1:5060", "TLS": "192.0.2.1:5061"}
        yield make_core(store, "example.org", via)


def answer(server: PresenceServer, request: SipRequest) -> SipResponse:
    sent = server.receive(request, Peer(), 1.0)
    assert len(sent) == 1
    response = parse_message(sent[0].data)
    assert isinstance(response, SipResponse)
    return response


def test_an_options_to_the_server_with_an_unknown_require_gets_420_not_200(server):
    assert answer(server, make()).status == 200
    refused = answer(server, make("OPTIONS", "sip:example.org", ("Require", "foo"), Via=f"{VIA}-2"))
    assert (refused.status, refused.headers.get("Unsupported")) == (420, "foo")


@pytest.mark.parametrize("uri", ["http://example.org/", "tel:+33612345678", "garbage"])
def test_a_register_for_another_uri_than_a_sip_one_gets_416(server, uri):
    assert answer(server, make("REGISTER", uri)).status == 416


@pytest.mark.parametrize(("method", "status", "challenge"), [("REGISTER", 401, "WWW"), ("SUBSCRIBE", 407, "Proxy")])
def test_credentials_of_an_unknown_scheme_get_the_challenge(server, method, status, challenge):
    header = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
    extra = [(header, "NoOneKnowsThisScheme opaque-data=here"), ("Event", "presence"), ("Contact", "<sip:a@h>")]
    response = answer(server, make(method, "sip:example.org", *extra))
    assert response.status == status
    assert (response.headers.get(f"{challenge}-Authenticate") or "").startswith("Digest ")


def test_an_unreadable_via_gets_a_400_sent_back(server):
    response = answer(server, make(Via='SIP/2.0/UDP 192.0.2.1;branch="z9hG4bK-unterminated'))
    assert response.status == 400
    assert response.headers.get("Via") == 'SIP/2.0/UDP 192.0.2.1;branch="z9hG4bK-unterminated'
