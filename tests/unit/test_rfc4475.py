"""RFC 4475's torture messages (`tests/peers/rfc4475/`, the RFC's names) through the parser and the server's core:
the valid ones parse and get the answer any such request gets, the invalid ones get their code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from tests.peers.rfc4475 import DIRECTORY, DOMAIN, INVALID, RESPONSES, USER, VALID, read
from tests.unit.core_kit import Peer, make_core

VIA = {"UDP": "192.0.2.1:5060", "TCP": "192.0.2.1:5060", "TLS": "192.0.2.1:5061"}


def test_every_message_of_the_directory_is_here():
    named = {*VALID, *INVALID, *RESPONSES, "bigcode"}
    assert {path.stem for path in DIRECTORY.glob("*.dat")} == named


def test_the_messages_are_the_rfcs_bytes():
    """CRLF line ends throughout, and intmeth's escaped controls and UTF-8 as the RFC writes them in hex."""
    for path in DIRECTORY.glob("*.dat"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
        assert b"\n" not in head.replace(b"\r\n", b""), path.name
    intmeth = read("intmeth")
    assert b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:' in intmeth
    assert bytes.fromhex("D180D0B0D0B1D0BED182D0B0D18ED189D0B8D0B9") in intmeth
    assert bytes.fromhex("EFBBBFE5A4A7E5819CE99BBB") in intmeth


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PresenceServer]:
    with Store.open(tmp_path / "server.sqlite3") as store:
        store.add_account(USER, DOMAIN, "a password")
        yield make_core(store, DOMAIN, VIA)


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
