"""Digest authentication in the server's sans-IO core: a name with no account costs what a wrong password costs,
and the accounts the store holds are the ones that sign in, changed a moment ago or not."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator

import pytest

from smartbook_tui.server.core import PresenceServer
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, parse_message
from tests.unit.core_kit import Peer, make_core

DOMAIN = "example.org"
PASSWORD = "open sesame"
VIA = {"UDP": "192.0.2.1:5070", "TCP": "192.0.2.1:5070"}

_serial = itertools.count()
SOMEONE = Peer(address=("198.51.100.7", 5060))  # a client over UDP


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with Store.open(tmp_path / "server.sqlite3") as opened:
        opened.add_account("alice", DOMAIN, PASSWORD)
        yield opened


def make_server(store: Store, **config: object) -> PresenceServer:
    return make_core(store, DOMAIN, VIA, **config)


def register(user: str, peer: Peer, authorization: str | None = None) -> SipRequest:
    number = next(_serial)
    host, port = peer.address
    headers = Headers(
        [
            ("Via", f"SIP/2.0/{peer.transport} {host}:{port};branch=z9hG4bK-auth{number}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{DOMAIN}>;tag=t{number}"),
            ("To", f"<sip:{user}@{DOMAIN}>"),
            ("Call-ID", f"auth-{number}"),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:{user}@{host}:{port}>"),
            ("Expires", "600"),
        ]
    )
    if authorization is not None:
        headers.add("Authorization", authorization)
    return parse_message(SipRequest("REGISTER", f"sip:{DOMAIN}", headers).to_bytes())  # type: ignore[return-value]


def answer(server: PresenceServer, request: SipRequest, peer: Peer, now: float) -> SipResponse:
    (sent,) = server.receive(request, peer, now)
    response = parse_message(sent.data)
    assert isinstance(response, SipResponse)
    return response


def signed_try(server: PresenceServer, user: str, password: str, peer: Peer, now: float) -> SipRequest:
    """A REGISTER answering a fresh challenge as `user` with `password`."""
    challenge = answer(server, register(user, peer), peer, now)
    assert challenge.status == 401, challenge
    value = DigestSession(Credentials(user, password)).answer(
        challenge.headers.get_all("WWW-Authenticate"), method="REGISTER", uri=f"sip:{DOMAIN}", cnonce="c0ffee"
    )
    return register(user, peer, value)


def sign_in(server: PresenceServer, user: str, password: str, peer: Peer = SOMEONE, now: float = 0.0) -> SipResponse:
    return answer(server, signed_try(server, user, password, peer, now), peer, now)


# ---------------------------------------------------------------------------------------------- constant work


def handled_in(server: PresenceServer, request: SipRequest) -> int:
    started = time.perf_counter_ns()
    response = answer(server, request, SOMEONE, 0.0)
    took = time.perf_counter_ns() - started
    assert response.status == 401
    return took


def test_a_name_without_an_account_costs_what_a_wrong_password_costs(store: Store) -> None:
    """Both kinds alternate in one run; the median of the paired differences must be within its own noise (the
    spread of the differences over the square root of their count), or a hundredth of a try's cost."""
    server = make_server(store, rate_limit=0, auth_failures=0)  # every try checked, none held back
    known: list[int] = []
    unknown: list[int] = []
    for number in range(900):
        tries = [("alice", known), ("nobody", unknown)]
        for user, times in tries if number % 2 else reversed(tries):
            times.append(handled_in(server, signed_try(server, user, "not the password", SOMEONE, 0.0)))
    known, unknown = known[100:], unknown[100:]  # (warming up)
    differences = [u - k for k, u in zip(known, unknown, strict=True)]
    quartiles = statistics.quantiles(differences, n=4)
    noise = (quartiles[2] - quartiles[0]) / len(differences) ** 0.5
    allowed = max(4 * noise, statistics.median(known) / 100)
    assert abs(statistics.median(differences)) <= allowed, (statistics.median(differences), noise)


def test_a_name_without_an_account_gets_the_challenge_a_wrong_password_gets(store: Store) -> None:
    server = make_server(store)
    wrong = sign_in(server, "alice", "not the password")
    unknown = sign_in(server, "nobody", "not the password")
    assert (wrong.status, wrong.reason) == (unknown.status, unknown.reason) == (401, "Unauthorized")
    assert [h.split("nonce=")[0] for h in wrong.headers.get_all("WWW-Authenticate")] == [
        h.split("nonce=")[0] for h in unknown.headers.get_all("WWW-Authenticate")
    ]


# ---------------------------------------------------------------------------------------------- the store's accounts


def test_an_account_made_while_the_server_runs_signs_in_at_once(store: Store) -> None:
    server = make_server(store)
    assert sign_in(server, "dave", PASSWORD).status == 401
    store.add_account("dave", DOMAIN, PASSWORD)
    assert sign_in(server, "dave", PASSWORD).status == 200


def test_a_new_password_replaces_the_old_at_once(store: Store) -> None:
    server = make_server(store)
    assert sign_in(server, "alice", PASSWORD).status == 200
    store.replace_password("alice", DOMAIN, "a new one, long enough")
    assert sign_in(server, "alice", PASSWORD).status == 401
    assert sign_in(server, "alice", "a new one, long enough").status == 200


def test_a_removed_or_deactivated_account_no_longer_signs_in(store: Store) -> None:
    store.add_account("dave", DOMAIN, PASSWORD)
    server = make_server(store)
    assert sign_in(server, "dave", PASSWORD).status == 200
    store.set_activated("dave", DOMAIN, False)
    assert sign_in(server, "dave", PASSWORD).status == 401
    store.set_activated("dave", DOMAIN, True)
    assert sign_in(server, "dave", PASSWORD).status == 200
    store.remove_account("dave", DOMAIN)
    assert sign_in(server, "dave", PASSWORD).status == 401
