"""The account API of `smartbook server run --http`, end to end: the server a real process on 127.0.0.1, its console
SMS gateway writing the codes to an outbox file the tests read, every request real HTTP (httpx)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from smartbook_tui.sip.auth import Credentials, authorization, parse_challenge
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

BOB, CAROL, ERIN = "+33612345678", "+33622222222", "+33633333333"


def path(text: str) -> str:
    """A path segment with its `+` and `@` escaped, as a client writes them."""
    return quote(text, safe="")


def digest(response: httpx.Response, user: str, password: str, algorithm: str) -> str:
    """The Authorization answering the 401 `response` with the challenge of `algorithm`."""
    challenges = [parse_challenge(value) for value in response.headers.get_list("www-authenticate")]
    challenge = next(challenge for challenge in challenges if challenge.algorithm == algorithm)
    return authorization(
        challenge,
        method=response.request.method,
        uri=response.request.url.raw_path.decode(),
        credentials=Credentials(user, password),
        cnonce=secrets.token_hex(8),
        nonce_count=1,
    )


def signed_in(
    client: httpx.Client, url: str, body: dict[str, str], credentials: tuple[str, str], algorithm: str = "MD5"
) -> httpx.Response:
    """POST `body` to a `me` path with Digest `credentials` (user, password), answering the server's challenge."""
    challenged = client.post(url, json=body)
    assert challenged.status_code == 401, challenged.text
    assert challenged.json()["error"] == "unauthorized"
    return client.post(url, json=body, headers={"Authorization": digest(challenged, *credentials, algorithm)})


def create(client: httpx.Client, server: SmartbookServer, **body: str) -> httpx.Response:
    return client.post(f"{server.api_url}/accounts/public", json=body)


def activate(client: httpx.Client, server: SmartbookServer, sip: str, code: str) -> httpx.Response:
    return client.post(f"{server.api_url}/accounts/{path(sip)}/activate/phone", json={"code": code})


def info(client: httpx.Client, server: SmartbookServer, number: str) -> httpx.Response:
    return client.get(f"{server.api_url}/accounts/{path(number)}/info-by-phone")


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", api=True) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


def assert_secrets_not_logged(server: SmartbookServer, *secrets_: str) -> None:
    log = server.log
    for secret in secrets_:
        assert secret not in log


# ---------------------------------------------------------------------------------------------- create, activate


def test_an_account_made_from_a_number_alone_is_named_after_it_and_signs_in_once_activated(api_server, client):
    created = create(client, api_server, phone="06 12 34 56 78")
    assert created.status_code == 201, created.text
    body = created.json()
    password = body["password"]
    assert len(password) >= 16
    assert body | {"password": "?"} == {
        "username": BOB,
        "domain": "127.0.0.1",
        "activated": False,
        "phone": BOB,
        "password": "?",
    }
    assert [message["to"] for message in api_server.sms()] == [BOB]
    assert info(client, api_server, BOB).json() == {"activated": False, "realm": "127.0.0.1", "phone": True}

    code = api_server.last_code(BOB)
    activated = activate(client, api_server, f"{BOB}@127.0.0.1", code)
    assert activated.status_code == 200, activated.text
    account = activated.json()
    assert account["activated"] is True
    assert (account["username"], account["phone"], account["sip_uri"]) == (BOB, BOB, f"sip:{BOB}@127.0.0.1")
    assert account["proxy"] == f"sip:{api_server.proxy};transport=tcp"
    assert account["token_expires_in"] == 3600
    assert info(client, api_server, BOB).json() == {"activated": True, "realm": "127.0.0.1", "phone": True}

    # The password given once signs in (Digest, both algorithms), as does the token.
    for algorithm in ("MD5", "SHA-256"):
        answer = signed_in(
            client, f"{api_server.api_url}/accounts/me/phone", {"code": "0000"}, (BOB, password), algorithm
        )
        assert (answer.status_code, answer.json()["error"]) == (404, "no_pending_code")
    bearer = {"Authorization": f"Bearer {account['token']}"}
    answer = client.post(f"{api_server.api_url}/accounts/me/phone/request", json={"phone": BOB}, headers=bearer)
    assert answer.json() == {"phone": BOB}
    assert_secrets_not_logged(api_server, password, code, account["token"])
    assert f"SMS to {BOB}: sent" in api_server.log


def test_an_account_with_a_chosen_username_keeps_its_password_and_gets_the_number(api_server, client):
    created = create(client, api_server, username="bob", password=PASSWORD, algorithm="SHA-256", phone=BOB)
    assert created.status_code == 201, created.text
    assert created.json() == {"username": "bob", "domain": "127.0.0.1", "activated": False, "phone": BOB}
    wrong_place = activate(client, api_server, "bob@elsewhere.org", api_server.last_code(BOB))
    assert (wrong_place.status_code, wrong_place.json()["error"]) == (404, "no_such_account")

    activated = activate(client, api_server, "sip:bob@127.0.0.1", api_server.last_code(BOB))
    assert activated.status_code == 200, activated.text
    assert (activated.json()["sip_uri"], activated.json()["phone"]) == ("sip:bob@127.0.0.1", BOB)
    listed = api_server.admin("account", "list").stdout
    assert "bob" in listed
    assert BOB in listed
    request = f"{api_server.api_url}/accounts/me/phone/request"
    answer = signed_in(client, request, {"phone": BOB}, ("bob", PASSWORD))
    assert answer.status_code == 200, answer.text
    wrong = signed_in(client, request, {"phone": BOB}, ("bob", "nope"))
    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    assert_secrets_not_logged(api_server, PASSWORD)


def test_bad_input_is_refused_with_a_word_and_a_sentence(api_server, client):
    cases = [
        ({"phone": "01 23 45 67 89"}, 422, "invalid_phone"),  # a landline: no SMS
        ({"phone": "not a number"}, 422, "invalid_phone"),
        ({"phone": BOB, "username": "+33 6 99 99 99 99"}, 422, "username_looks_like_phone"),
        ({"phone": BOB, "username": "bob@home"}, 422, "invalid_username"),
        ({"phone": BOB, "password": "two\nlines"}, 422, "invalid_password"),
        ({"username": "bob"}, 422, "invalid_body"),
        ({"phone": BOB, "algorithm": "SHA-512"}, 422, "invalid_body"),
    ]
    for body, status, word in cases:
        answer = create(client, api_server, **body)
        assert (answer.status_code, answer.json()["error"]) == (status, word), body
        assert answer.json()["message"]
        assert "\n" not in answer.json()["message"]
    assert api_server.sms() == []
    assert info(client, api_server, CAROL).status_code == 404
    assert info(client, api_server, CAROL).json()["error"] == "no_such_number"
    no_code = activate(client, api_server, "nobody@127.0.0.1", "1234")
    assert (no_code.status_code, no_code.json()["error"]) == (404, "no_such_account")
    not_json = client.post(
        f"{api_server.api_url}/accounts/public", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["error"]) == (422, "invalid_body")


def test_a_taken_username_or_number_is_409(api_server, client):
    api_server.add_account("bob", BOB)
    taken = create(client, api_server, username="bob", password=PASSWORD, phone=CAROL)
    assert (taken.status_code, taken.json()["error"]) == (409, "username_taken")
    number = create(client, api_server, username="robert", password=PASSWORD, phone=BOB)
    assert (number.status_code, number.json()["error"]) == (409, "number_taken")
    assert api_server.sms() == []
