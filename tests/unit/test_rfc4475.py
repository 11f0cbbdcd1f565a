"""RFC 4475's torture messages (`tests/peers/rfc4475/`, the RFC's names) through the parser and the server's core:
the valid ones parse and get the answer any such request gets, the invalid ones get their code."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartbook_tui.server.core import PresenceServer, ServerConfig
from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import SipParseError, SipRequest, SipResponse, parse_message

MESSAGES = Path(__file__).parent.parent / "peers" / "rfc4475"
DOMAIN = "example.com"  # the RFC's requests are mostly for users of example.com
VIA = {"UDP": "192.0.2.1:5060", "TCP": "192.0.2.1:5060", "TLS": "192.0.2.1:5061"}

# The final answer each request gets from a server of example.com with an account `user` and no registration.
# Valid requests get the answer their method and address call for: a challenge, 480 (`user` has no device),
# 404 (no such user), 403 (another domain: no relaying; a Route it did not record), 405 (a method it does not
# know), 483 (Max-Forwards 0).
VALID = {
    "wsinv": 403,  # 3.1.1.1: in a dialog (To tag) through a Route that is not the server's
    "intmeth": 405,  # 3.1.1.2: escaped controls in a quoted display name, an unknown method
    "esc01": 403,  # 3.1.1.3: for example.net
    "escnull": 401,  # 3.1.1.4
    "esc02": 405,  # 3.1.1.5: RE%47IST%45R is not REGISTER
    "lwsdisp": 480,  # 3.1.1.6
    "longreq": 480,  # 3.1.1.7
    "dblreq": 401,  # 3.1.1.8: the INVITE after Content-Length is not read
    "semiuri": 404,  # 3.1.1.9: the user part is `user;par=u@example.net`
    "transports": 480,  # 3.1.1.10
    "mpart01": 403,  # 3.1.1.11: a Route to another server
    "badbranch": 480,  # 3.2.1
    "unksm2": 400,  # 3.3.4: valid, but a registrar refuses a To that is no SIP address
    "invut": 480,  # 3.3.6: the body's type is the callee's to refuse
    "zeromf": 483,  # 3.3.11
    "cparam01": 401,  # 3.3.12
    "cparam02": 401,  # 3.3.13
    "regescrt": 401,  # 3.3.14
    "sdp01": 480,  # 3.3.15
    # Malformed ones the RFC lets an element accept ("liberal in what it accepts"), as the server does:
    "lwsstart": 480,  # 3.1.2.9: several SP in the request line
    "trws": 404,  # 3.1.2.10: SP after the request line
    "escruri": 480,  # 3.1.2.11: escaped headers in the Request-URI (not sent on: the device's contact is)
    "baddate": 480,  # 3.1.2.12: a Date the server does not read
    "regbadct": 401,  # 3.1.2.13: challenged before its Contact is read
    "badaspec": 403,  # 3.1.2.14: spaces around the To addr-spec
    "baddn": 403,  # 3.1.2.15: an unquoted display name with a comma
}
INVALID = {
    "badinv01": (400, "a Via does not read"),  # 3.1.2.1
    "clerr": (400, "Content-Length is 9999"),  # 3.1.2.2
    "ncl": (400, "Content-Length '-999' is not a number"),  # 3.1.2.3
    "scalar02": (400, "CSeq"),  # 3.1.2.4
    "quotbal": (400, "unterminated quoted string"),  # 3.1.2.6
    "ltgtruri": (400, "Request-URI"),  # 3.1.2.7
    "lwsruri": (400, "Request-URI"),  # 3.1.2.8
    "badvers": (505, "SIP/7.0"),  # 3.1.2.16
    "mismatch01": (400, "CSeq names INVITE"),  # 3.1.2.17
    "mismatch02": (400, "CSeq names INVITE"),  # 3.1.2.18
    "insuf": (400, "no From header"),  # 3.3.1
    "unkscm": (416, "nobodyKnowsThisSchem"),  # 3.3.2
    "novelsc": (416, "soap.beep"),  # 3.3.3
    "bext01": (420, "Bad Extension"),  # 3.3.5
    "regaut01": (401, "Unauthorized"),  # 3.3.7: a challenge, not a 400
    "multi01": (400, "appears more than once"),  # 3.3.8
    "mcl01": (400, "conflicting Content-Length"),  # 3.3.9
    "inv2543": (400, "the From header has no tag"),  # 3.4.1: RFC 2543 syntax; the server requires the From tag
}
RESPONSES = {"scalarlg": 503, "unreason": 200, "noreason": 100, "bcast": 200}  # 3.1.2.5, 3.1.1.12, 3.1.1.13, 3.3.10


def read(name: str) -> bytes:
    return (MESSAGES / f"{name}.dat").read_bytes()


def test_every_message_of_the_directory_is_here():
    named = {*VALID, *INVALID, *RESPONSES, "bigcode"}
    assert {path.stem for path in MESSAGES.glob("*.dat")} == named


@pytest.mark.parametrize("name", [*VALID, *INVALID])
def test_each_request_parses(name):
    request = parse_message(read(name))
    assert isinstance(request, SipRequest)
    assert (request.defect is not None) == (name in ("clerr", "ncl", "mcl01"))


def test_intmeth_reads_as_written():
    request = parse_message(read("intmeth"))
    assert request.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert request.uri.startswith("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!")
    assert request.headers.get("To") == '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" ' + (
        "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>"
    )
    assert request.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert request.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert request.cseq == (139122385, request.method)


def test_wsinv_reads_through_its_folding_and_compact_forms():
    request = parse_message(read("wsinv"))
    assert request.cseq == (9, "INVITE")
    assert request.to_tag == "1918181833n"
    assert request.from_tag == "98asjd8"
    assert len(request.headers.get_all("Via")) == 3
    assert len(request.body) == 150


@pytest.mark.parametrize(("name", "status"), RESPONSES.items())
def test_each_response_parses(name, status):
    response = parse_message(read(name))
    assert isinstance(response, SipResponse)
    assert response.status == status


def test_an_overlarge_status_code_is_refused():
    with pytest.raises(SipParseError, match="bad status code"):
        parse_message(read("bigcode"))


# ---------------------------------------------------------------------------------------------- the core's answers


@dataclass(frozen=True)
class Peer:
    transport: str = "UDP"
    address: tuple[str, int] = ("192.0.2.9", 5060)
    connection: int | None = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PresenceServer]:
    with Store.open(tmp_path / "server.sqlite3") as store:
        store.add_account("user", DOMAIN, "a password")
        counter = itertools.count()
        yield PresenceServer(ServerConfig(DOMAIN, VIA), store, secret=b"k" * 32, token=lambda: f"t{next(counter)}")


def answers(server: PresenceServer, name: str) -> list[SipResponse]:
    sent = server.receive(parse_message(read(name)), Peer(), 1.0)
    responses = [parse_message(send.data) for send in sent]
    assert all(isinstance(response, SipResponse) for response in responses)
    return responses  # type: ignore[return-value]


@pytest.mark.parametrize(("name", "status"), VALID.items())
def test_a_valid_request_gets_the_answer_of_its_kind(server, name, status):
    *provisional, final = answers(server, name)
    assert final.status == status, f"{final.status} {final.reason}"
    assert all(response.status == 100 for response in provisional)
    if status != 400:
        assert not final.reason.startswith("Bad Request")


@pytest.mark.parametrize("name", INVALID)
def test_an_invalid_request_gets_its_code(server, name):
    status, named = INVALID[name]
    *_, final = answers(server, name)
    assert final.status == status, f"{final.status} {final.reason}"
    assert named in final.reason


def test_bext01_names_the_options_nobody_supports(server):
    *_, final = answers(server, "bext01")
    assert final.headers.get_all("Unsupported") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
