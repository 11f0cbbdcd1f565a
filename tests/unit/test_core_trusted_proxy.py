"""`--trusted-proxy` and the `trusted_proxies` setting, and the core behind such a proxy: two phones of one account
are two devices, though every request comes from the proxy."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.cli import build_parser
from smartbook_tui.cli.server_run import run_options
from smartbook_tui.config import ConfigError, load_settings
from smartbook_tui.server.client_address import trusted_addresses
from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from smartbook_tui.sip.peer import Peer
from tests.unit.core_kit import make_core

PROXY = ("10.0.0.5", 5060)
TRUSTED = trusted_addresses(["10.0.0.5"])
PROXY_VIA = "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKproxy"
_serial = itertools.count(1)


def trusted_of(tmp_path: Path, setting: str | None, *options: str) -> frozenset[str]:
    config = tmp_path / "config.toml"
    config.write_text(f"[server]\n{setting}\n" if setting else "")
    args = build_parser().parse_args(["--config", str(config), "server", "run", *options])
    return run_options(args, load_settings(args.config)).config.trusted_proxies


def test_trusted_proxies_come_from_the_repeated_option_else_the_setting(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert trusted_of(tmp_path, None) == frozenset()
    setting = 'trusted_proxies = ["127.0.0.1", "::1"]'
    assert trusted_of(tmp_path, setting) == {"127.0.0.1", "::1"}
    assert trusted_of(tmp_path, setting, "--trusted-proxy", "10.0.0.5", "--trusted-proxy", "[fd00::5]") == {
        "10.0.0.5",
        "fd00::5",
    }


def test_a_trusted_proxy_that_is_no_address_is_refused_by_name(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies .*'kamailio'"):
        trusted_of(tmp_path, 'trusted_proxies = ["kamailio"]')
    with pytest.raises(SystemExit):
        trusted_of(tmp_path, None, "--trusted-proxy", "kamailio")
    assert "--trusted-proxy" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ the core behind a proxy


def relay(server: PresenceServer, phone: str, method: str, *extra: tuple[str, str], body: bytes = b"") -> SipResponse:
    """`method` from bob's `phone` (the client address the proxy heard it from) through the proxy at 10.0.0.5, with
    `extra` headers: the answer."""
    number = next(_serial)
    headers = Headers(
        [
            ("Via", f"{PROXY_VIA}{number}"),
            ("Via", f"SIP/2.0/UDP 192.168.1.20:5060;received={phone};branch=z9hG4bKclient{number}"),
            ("From", "<sip:bob@example.org>;tag=b"),
            ("To", "<sip:bob@example.org>"),
            ("Call-ID", f"{method}-{phone}"),
            ("CSeq", f"{number} {method}"),
            *extra,
        ]
    )
    request = SipRequest(method, "sip:bob@example.org", headers, body)
    [sent] = server.receive(parse_message(request.to_bytes()), Peer("UDP", PROXY), 1.0)
    answer = parse_message(sent.data)
    assert isinstance(answer, SipResponse)
    return answer


def answer(challenge: SipResponse, method: str) -> tuple[str, str]:
    """The credentials header answering `challenge` with bob's password."""
    name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    value = DigestSession(Credentials("bob", "secret")).answer(
        challenge.headers.get_all(name), method=method, uri="sip:bob@example.org", cnonce="c"
    )
    return ("Authorization" if challenge.status == 401 else "Proxy-Authorization", value)


def signed(server: PresenceServer, phone: str, method: str, *extra: tuple[str, str], body: bytes = b"") -> SipResponse:
    """`relay`, answering the digest challenge from the same phone: the final response."""
    challenge = relay(server, phone, method, *extra, body=body)
    return relay(server, phone, method, *extra, answer(challenge, method), body=body)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PresenceServer]:
    """A core for example.org, with the account bob, behind the trusted proxy 10.0.0.5."""
    with Store.open(tmp_path / "server.sqlite3") as store:
        store.add_account("bob", "example.org", "secret")
        yield make_core(store, "example.org", {"UDP": "10.0.0.9:5060"}, trusted_proxies=TRUSTED)


def test_a_nonce_sent_to_one_client_of_the_proxy_does_not_serve_another(server: PresenceServer) -> None:
    contact = ("Contact", "<sip:bob@192.168.1.20:5060>")
    challenge = relay(server, "203.0.113.7", "REGISTER", contact)
    assert relay(server, "198.51.100.9", "REGISTER", contact, answer(challenge, "REGISTER")).status == 401
    assert relay(server, "203.0.113.7", "REGISTER", contact, answer(challenge, "REGISTER")).status == 200


def pidf(note: str) -> bytes:
    return (
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.org"><tuple id="t"><status><basic>'
        f"open</basic></status><note>{note}</note></tuple></presence>"
    ).encode()


def test_two_phones_behind_a_trusted_proxy_keep_a_publication_each(server: PresenceServer) -> None:
    """A publication without an ETag replaces the one its device left behind (a restarted phone): behind the proxy
    each phone is its client address, not the proxy's, so neither takes the other's place."""
    for phone in ("203.0.113.7", "203.0.113.8"):
        contact = f'<sip:bob@{phone}:5060>;+sip.instance="<urn:uuid:{phone}>"'
        assert signed(server, phone, "REGISTER", ("Contact", contact)).status == 200
    presence = (("Event", "presence"), ("Content-Type", "application/pidf+xml"))
    for phone, note in (("203.0.113.7", "first phone"), ("203.0.113.8", "second phone"), ("203.0.113.7", "back")):
        assert signed(server, phone, "PUBLISH", *presence, body=pidf(note)).status == 200
    composed = server.publications.compose("sip:bob@example.org")
    assert composed is not None
    assert sorted(note.text for item in composed.tuples for note in item.notes) == ["back", "second phone"]
