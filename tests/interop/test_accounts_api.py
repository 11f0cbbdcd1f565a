"""The account API of `smartbook server run --http`, end to end: the server a real process on 127.0.0.1, its console
SMS gateway writing the codes to an outbox file the tests read, every request real HTTP (httpx)."""

from __future__ import annotations

import asyncio
import http.server
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from smartbook_tui.sip.auth import Credentials, authorization, parse_challenge
from tests.interop.test_server_limits import UdpClient, register
from tests.interop.test_server_watch import FAST, address, phone, presence_of, start_watch, stop, vcard, write_book
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

    link = f"{api_server.api_url}/accounts/me/phone"
    not_yet = signed_in(client, link, {"code": "0000"}, (BOB, password))
    assert (not_yet.status_code, not_yet.json()["error"]) == (403, "account_not_activated")

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
    assert f"SMS to {BOB}: written to the outbox" in api_server.log
    assert f"(SMS: console, no real SMS: each is appended to {api_server.outbox})" in api_server.log


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


def test_a_taken_username_is_409_and_a_taken_number_only_once_its_code_is_given(api_server, client):
    api_server.add_account("bob", BOB)
    taken = create(client, api_server, username="bob", password=PASSWORD, phone=CAROL)
    assert (taken.status_code, taken.json()["error"]) == (409, "username_taken")
    assert api_server.sms() == []

    # A taken number is answered as a free one, its code sent to it: only its holder learns it is taken.
    number = create(client, api_server, username="robert", password=PASSWORD, phone=BOB)
    assert number.status_code == 201, number.text
    assert [message["to"] for message in api_server.sms()] == [BOB]
    code = api_server.last_code(BOB)
    wrong = activate(client, api_server, "robert@127.0.0.1", f"{(int(code) + 1) % 10_000:04d}")
    assert (wrong.status_code, wrong.json()["error"]) == (422, "wrong_code")
    refused = activate(client, api_server, "robert@127.0.0.1", code)
    assert refused.json() == {
        "error": "number_taken",
        "message": f"{BOB} already has an account: recover it with its number",
    }
    assert refused.status_code == 409
    # the waiting account is gone: its username is free, and bob keeps his number
    assert create(client, api_server, username="robert", password=PASSWORD, phone=CAROL).status_code == 201
    listed = api_server.admin("account", "list").stdout
    assert [line for line in listed.splitlines() if BOB in line and "bob" in line]

    # Named after its number, the number's own account is asked for as a new one: the same 201, and 409 at the code.
    api_server.add_account(ERIN, ERIN)
    again = create(client, api_server, phone=ERIN)
    assert again.status_code == 201, again.text
    assert set(again.json()) == {"username", "domain", "activated", "phone", "password"}
    owned = activate(client, api_server, f"{ERIN}@127.0.0.1", api_server.last_code(ERIN))
    assert (owned.status_code, owned.json()["error"]) == (409, "number_taken")
    gone = activate(client, api_server, f"{ERIN}@127.0.0.1", api_server.last_code(ERIN))
    assert (gone.status_code, gone.json()["error"]) == (404, "no_pending_code")  # the code is used up
    assert (
        signed_in(client, f"{api_server.api_url}/accounts/me/phone", {"code": "0000"}, (ERIN, PASSWORD)).json()["error"]
        == "no_pending_code"
    )  # the account is untouched: its own password signs in


def test_create_link_and_recovery_requests_answer_alike_for_a_taken_and_a_free_number(tmp_path, client):
    """Whoever asks learns nothing from the answer about whether a number has an account: the same status and the
    same keys for a number that is an account's (named after it or not) and for one that is nobody's."""
    numbers = taken, named, free = BOB, ERIN, CAROL
    options = ("--api-rate", "0", "--sms-per-number", "10")
    with run_smartbook_server(tmp_path / "server", *options, api=True) as server:
        server.add_account("bob", taken)
        server.add_account(named, named)
        server.add_account("dave")

        def alike(answers: list[httpx.Response]) -> httpx.Response:
            shapes = {(answer.status_code, tuple(sorted(answer.json()))) for answer in answers}
            assert len(shapes) == 1, [answer.text for answer in answers]
            return answers[0]

        first = alike([create(client, server, phone=number) for number in numbers])
        assert (first.status_code, "password" in first.json()) == (201, True)
        again = alike([create(client, server, phone=number) for number in numbers])  # a lost code: no password
        assert (again.status_code, "password" in again.json()) == (201, False)
        chosen = [create(client, server, username=f"user{n}", password=PASSWORD, phone=numbers[n]) for n in range(3)]
        assert alike(chosen).status_code == 201
        assert [message["to"] for message in server.sms()] == [*numbers, *numbers, *numbers]

        request = f"{server.api_url}/accounts/me/phone/request"
        answers = [signed_in(client, request, {"phone": number}, ("dave", PASSWORD)) for number in numbers]
        assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"phone": n}) for n in numbers]
        link = f"{server.api_url}/accounts/me/phone"
        linked = signed_in(client, link, {"code": server.last_code(free)}, ("dave", PASSWORD))
        assert linked.json()["phone"] == free  # the last code asked for links its number
        refused = signed_in(client, request, {"phone": taken}, ("dave", PASSWORD))
        assert refused.status_code == 200
        refused = signed_in(client, link, {"code": server.last_code(taken)}, ("dave", PASSWORD))
        assert refused.json() == {
            "error": "number_taken",
            "message": f"{taken} already has an account: recover it with its number",
        }
        assert refused.status_code == 409

        recovery = f"{server.api_url}/accounts/recover-by-phone"
        before = len(server.sms())
        nobodys = "+33644444444"
        answers = [client.post(recovery, json={"phone": number}) for number in (taken, named, nobodys)]
        assert [(answer.status_code, answer.json()) for answer in answers] == [
            (200, {"phone": number}) for number in (taken, named, nobodys)
        ]
        assert [message["to"] for message in server.sms()[before:]] == [taken, named]


def test_asking_again_for_a_waiting_account_cannot_replace_its_password(api_server, client):
    assert create(client, api_server, username="bob", password=PASSWORD, phone=BOB).status_code == 201
    hijack = create(client, api_server, username="bob", password="the attacker's own", phone=BOB)
    assert (hijack.status_code, hijack.json()["error"]) == (409, "username_taken")
    resent = create(client, api_server, username="bob", phone=BOB)  # a lost code: sent again, no password made
    assert resent.status_code == 201, resent.text
    assert "password" not in resent.json()
    same = create(client, api_server, username="bob", password=PASSWORD, phone=BOB)
    assert same.status_code == 201, same.text
    assert activate(client, api_server, "bob@127.0.0.1", api_server.last_code(BOB)).status_code == 200
    link = f"{api_server.api_url}/accounts/me/phone"  # signed in, no code asked for: 404; else 401
    assert signed_in(client, link, {"code": "0000"}, ("bob", PASSWORD)).status_code == 404
    assert signed_in(client, link, {"code": "0000"}, ("bob", "the attacker's own")).status_code == 401


def test_a_body_over_the_cap_is_413_before_it_is_read(api_server, client):
    huge = client.post(
        f"{api_server.api_url}/accounts/public",
        content=b'{"phone": "' + b"1" * 100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert (huge.status_code, huge.json()["error"]) == (413, "body_too_large")
    chunked = client.post(
        f"{api_server.api_url}/accounts/public",
        content=iter([b'{"phone": "', b"1" * 100_000, b'"}']),  # no Content-Length: sent in chunks
        headers={"Content-Type": "application/json"},
    )
    assert (chunked.status_code, chunked.json()["error"]) == (413, "body_too_large")
    assert create(client, api_server, phone=BOB).status_code == 201


def test_password_guessing_over_http_is_held_back_by_the_sip_servers_backoff(tmp_path):
    """The API checks Digest with the SIP server's authenticator: wrong passwords sent over HTTP are held back after
    ten, and count in the same backoff as SIP, while the user elsewhere signs in over either at once."""
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("erin", None)], api=True) as server:
        link = f"{server.api_url}/accounts/me/phone"
        elsewhere = httpx.Client(timeout=20, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        guesser = httpx.Client(timeout=20)
        sip_guesser, sip_user = UdpClient("127.0.0.1", server.sip), UdpClient("127.0.0.2", server.sip)
        try:
            answers = [signed_in(guesser, link, {"code": "0000"}, ("erin", f"guess {n}")) for n in range(20)]
            statuses = [answer.status_code for answer in answers]
            assert statuses[:10] == [401] * 10, statuses
            held = [answer for answer in answers if answer.status_code == 429]
            assert len(held) >= 8, statuses
            assert {answer.json()["error"] for answer in held} == {"too_many_failures"}
            assert all(int(answer.headers["retry-after"]) >= 1 for answer in held)
            # one backoff: the guessing address is held back over SIP too, even with the right password
            assert register(sip_guesser, "erin", PASSWORD).status == 503
            # the user elsewhere is not
            assert register(sip_user, "erin", PASSWORD).status == 200
            answer = signed_in(elsewhere, link, {"code": "0000"}, ("erin", PASSWORD))
            assert (answer.status_code, answer.json()["error"]) == (404, "no_pending_code")
        finally:
            for closing in (guesser, elsewhere, sip_guesser, sip_user):
                closing.close()
        assert "guess 1" not in server.log
        assert "failed sign-ins as 'erin' from 127.0.0.1" in server.log


# ---------------------------------------------------------------------------------------------- codes


def test_three_wrong_codes_void_the_code_and_a_new_one_works(api_server, client):
    assert create(client, api_server, username="bob", password=PASSWORD, phone=BOB).status_code == 201
    code = api_server.last_code(BOB)
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    answers = [activate(client, api_server, "bob@127.0.0.1", wrong) for _ in range(3)]
    assert [(answer.status_code, answer.json()["error"]) for answer in answers] == [
        (422, "wrong_code"),
        (422, "wrong_code"),
        (410, "code_void"),
    ]
    assert [answer.json()["message"] for answer in answers[:2]] == [
        "wrong code: 2 tries left",
        "wrong code: 1 try left",
    ]
    too_late = activate(client, api_server, "bob@127.0.0.1", code)  # the right code, after the third wrong one
    assert (too_late.status_code, too_late.json()["error"]) == (410, "code_void")

    # Asking again (the same username, number and a password) sends a new code, which activates the account.
    assert create(client, api_server, username="bob", password=PASSWORD, phone=BOB).status_code == 201
    assert activate(client, api_server, "bob@127.0.0.1", api_server.last_code(BOB)).status_code == 200


def test_an_expired_code_is_410(tmp_path, client):
    # The operator's setting for a code's lifetime, made tiny: any later request finds the code expired.
    with run_smartbook_server(tmp_path / "server", "--code-lifetime", "0.001", api=True) as server:
        assert create(client, server, phone=BOB).status_code == 201
        time.sleep(0.01)
        expired = activate(client, server, f"{BOB}@127.0.0.1", server.last_code(BOB))
    assert (expired.status_code, expired.json()["error"]) == (410, "code_expired")


def test_a_name_taken_with_a_number_never_proven_is_free_once_its_code_expired(tmp_path, client):
    """Nobody holds a username by creating it with somebody else's number: once the code has expired, the waiting
    account is gone, the number is unknown again and the name goes to whoever proves a number."""
    with run_smartbook_server(tmp_path / "server", "--code-lifetime", "0.001", api=True) as server:
        assert create(client, server, username="grace", password="a squatter's own", phone=BOB).status_code == 201
        time.sleep(0.01)
        assert info(client, server, BOB).status_code == 404
        claimed = create(client, server, username="grace", password=PASSWORD, phone=CAROL)
        assert claimed.status_code == 201, claimed.text
        assert "removed the accounts whose activation code expired: grace@127.0.0.1" in server.log


def test_a_fourth_sms_to_a_number_in_a_day_is_429_with_retry_after(api_server, client):
    for _ in range(3):
        assert create(client, api_server, phone=BOB).status_code == 201  # a lost code, asked for again
    refused = create(client, api_server, phone=BOB)
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "too_many_sms"
    assert int(refused.headers["Retry-After"]) == body["retry_after"]
    assert 23 * 3600 < body["retry_after"] <= 24 * 3600
    assert len(api_server.sms()) == 3


def test_too_many_requests_from_one_address_are_429(tmp_path, client):
    with run_smartbook_server(tmp_path / "server", "--api-rate", "3", api=True) as server:
        answers = [info(client, server, BOB) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429]
    assert answers[-1].json()["error"] == "too_many_requests"
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_pending_code_survives_a_restart(api_server, client):
    assert create(client, api_server, username="bob", password=PASSWORD, phone=BOB).status_code == 201
    wrong = f"{(int(api_server.last_code(BOB)) + 1) % 10_000:04d}"
    assert activate(client, api_server, "bob@127.0.0.1", wrong).status_code == 422
    api_server.restart()
    # The wrong try is remembered too: one more leaves one.
    assert activate(client, api_server, "bob@127.0.0.1", wrong).json()["message"] == "wrong code: 1 try left"
    assert activate(client, api_server, "bob@127.0.0.1", api_server.last_code(BOB)).status_code == 200


# ---------------------------------------------------------------------------------------------- link, recover


async def test_a_number_linked_or_activated_shows_in_a_watchers_book_at_once(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Carol", f"TEL:{CAROL}"), vcard("Erin", f"TEL:{ERIN}"))
    accounts = [("alice", "+33611111111"), ("erin", None)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts, api=True) as server:
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            for number in (CAROL, ERIN):
                await watch.until(presence_of(phone(number), has_account=False))
            async with httpx.AsyncClient(timeout=20) as client:
                # erin links her number: a code to it, then the code, signed in with her SIP credentials.
                mark = watch.mark()
                request = await client.post(f"{server.api_url}/accounts/me/phone/request", json={"phone": ERIN})
                header = digest(request, "erin", PASSWORD, "SHA-256")
                requested = await client.post(
                    f"{server.api_url}/accounts/me/phone/request",
                    json={"phone": ERIN},
                    headers={"Authorization": header},
                )
                assert requested.json() == {"phone": ERIN}
                link = f"{server.api_url}/accounts/me/phone"
                challenge = await client.post(link, json={"code": server.last_code(ERIN)})
                linked = await client.post(
                    link,
                    json={"code": server.last_code(ERIN)},
                    headers={"Authorization": digest(challenge, "erin", PASSWORD, "MD5")},
                )
                assert linked.json() == {"username": "erin", "domain": "127.0.0.1", "phone": ERIN}
                erin = await watch.until(presence_of(phone(ERIN), has_account=True), after=mark)
                assert erin["sip_address"] == address("erin")

                # carol makes an account from her number: it shows once activated.
                mark = watch.mark()
                await client.post(f"{server.api_url}/accounts/public", json={"phone": CAROL, "username": "carol"})
                code = server.last_code(CAROL)
                activated = await client.post(
                    f"{server.api_url}/accounts/carol@127.0.0.1/activate/phone", json={"code": code}
                )
                assert activated.status_code == 200, activated.text
                carol = await watch.until(presence_of(phone(CAROL), has_account=True), after=mark)
                assert carol["sip_address"] == address("carol")
        finally:
            await stop(watch)


def test_an_account_is_recovered_with_a_code_and_a_new_password(api_server, client):
    api_server.add_account("bob", BOB)
    unknown = client.post(f"{api_server.api_url}/accounts/recover-by-phone", json={"phone": CAROL})
    assert (unknown.status_code, unknown.json()) == (200, {"phone": CAROL})
    assert api_server.sms() == []  # nothing is sent to a number without an account, and no quota counts it
    nothing = client.post(
        f"{api_server.api_url}/accounts/{path(CAROL)}/recover", json={"code": "1234", "password": "x" * 12}
    )
    assert nothing.json() == {
        "error": "no_pending_code",
        "message": f"no code is waiting for {CAROL}: ask for one first",
    }
    none_yet = client.post(
        f"{api_server.api_url}/accounts/{path(BOB)}/recover", json={"code": "1234", "password": "x" * 12}
    )
    assert none_yet.json() == {
        "error": "no_pending_code",
        "message": f"no code is waiting for {BOB}: ask for one first",
    }
    asked = client.post(f"{api_server.api_url}/accounts/recover-by-phone", json={"phone": "06 12 34 56 78"})
    assert asked.json() == {"phone": BOB}
    recover = f"{api_server.api_url}/accounts/{path(BOB)}/recover"
    new_password = "a new one, long enough"
    recovered = client.post(recover, json={"code": api_server.last_code(BOB), "password": new_password})
    assert recovered.status_code == 200, recovered.text
    body = recovered.json()
    assert (body["username"], body["sip_uri"], body["phone"]) == ("bob", "sip:bob@127.0.0.1", BOB)
    request = f"{api_server.api_url}/accounts/me/phone"
    old = signed_in(client, request, {"code": "0000"}, ("bob", PASSWORD))
    assert old.status_code == 401
    new = signed_in(client, request, {"code": "0000"}, ("bob", new_password), "SHA-256")
    assert (new.status_code, new.json()["error"]) == (404, "no_pending_code")
    again = client.post(recover, json={"code": api_server.last_code(BOB), "password": "x"})
    assert (again.status_code, again.json()["error"]) == (404, "no_pending_code")  # a code is used once
    assert_secrets_not_logged(api_server, new_password, body["token"])

    # A later recovery ends the tokens handed out before it: whoever held one loses the account with its password.
    link_request = f"{api_server.api_url}/accounts/me/phone/request"
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.post(link_request, json={"phone": BOB}, headers=bearer).status_code == 200
    client.post(f"{api_server.api_url}/accounts/recover-by-phone", json={"phone": BOB})
    latest = client.post(recover, json={"code": api_server.last_code(BOB), "password": "yet another password"})
    assert latest.status_code == 200, latest.text
    ended = client.post(link_request, json={"phone": BOB}, headers=bearer)
    assert (ended.status_code, ended.json()["error"]) == (401, "unauthorized")


def test_recovery_requests_past_a_numbers_quota_are_still_200_and_send_nothing(api_server, client):
    """A 429 only for numbers that have an account would tell which have one: the quota holds, silently."""
    api_server.add_account("bob", BOB)
    recovery = f"{api_server.api_url}/accounts/recover-by-phone"
    answers = [client.post(recovery, json={"phone": BOB}) for _ in range(4)]
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"phone": BOB})] * 4
    assert len(api_server.sms()) == 3
    assert "no recovery code sent to +33612345678: 3 codes were sent to this number" in api_server.log


# ---------------------------------------------------------------------------------------------- gateways


class Provider(http.server.BaseHTTPRequestHandler):
    """An SMS provider on 127.0.0.1: records each POST; answers `status` (class attribute, set by the test)."""

    status = 500
    delay = 0.0  # seconds before each answer
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012 (one provider a test, reset by the fixture)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(type(self).delay)
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def provider() -> Iterator[tuple[str, type[Provider]]]:
    handler = type("TestProvider", (Provider,), {"status": 500, "received": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/send", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_failing_http_gateway_is_503_and_counts_no_code(tmp_path, client, provider):
    url, handler = provider
    options = ("--sms", "http", "--sms-url", url, "--sms-header", "X-Key: s3cret")
    body_template = ("--sms-body", '{"number": "$to", "message": "$text", "from": "smartbook"}')
    with run_smartbook_server(tmp_path / "server", *options, *body_template, api=True) as server:
        failed = create(client, server, phone=BOB)
        assert (failed.status_code, failed.json()["error"]) == (503, "sms_failed")
        assert len(handler.received) == 3  # tried twice again
        assert info(client, server, BOB).status_code == 404  # nothing was created

        handler.status = 200
        for _ in range(3):  # the failed send counted against no quota
            assert create(client, server, phone=BOB).status_code == 201
    headers, body = handler.received[-1]
    assert headers["X-Key"] == "s3cret"
    sent = json.loads(body)
    assert (sent["number"], sent["from"]) == (BOB, "smartbook")
    assert sent["message"].startswith("Your smartbook code is ")
    assert "SMS gateway failed (HTTP 500)" in failed.json()["message"]


async def test_an_sms_sent_for_a_creation_that_lost_a_race_counts_against_its_numbers_quota(tmp_path, provider):
    """Two creations of one username for two numbers at once: both codes go out (the provider is slow), one account
    is made, and the SMS of the other still counts against its number's three a day."""
    url, handler = provider
    handler.status, handler.delay = 200, 0.5
    with run_smartbook_server(tmp_path / "server", "--sms", "http", "--sms-url", url, api=True) as server:
        async with httpx.AsyncClient(timeout=20) as client:
            answers = await asyncio.gather(
                *(
                    client.post(f"{server.api_url}/accounts/public", json={"username": "bob", "phone": number})
                    for number in (CAROL, ERIN)
                )
            )
            assert sorted(answer.status_code for answer in answers) == [201, 409]
            assert len(handler.received) == 2
            lost = (CAROL, ERIN)[[answer.status_code for answer in answers].index(409)]
            handler.delay = 0.0
            tries = [
                await client.post(f"{server.api_url}/accounts/public", json={"username": name, "phone": lost})
                for name in ("bob2", "bob3", "bob4")
            ]
    assert [answer.status_code for answer in tries] == [201, 201, 429]
    assert tries[-1].json()["error"] == "too_many_sms"


def test_a_busy_or_bad_http_address_is_a_one_line_error(tmp_path):
    with run_smartbook_server(tmp_path / "server", api=True) as server:
        assert server.http is not None
        busy = subprocess.run(
            [
                *(sys.executable, "-m", "smartbook_tui.cli", "server", "run", "--sip", "127.0.0.1:0"),
                *("--db", str(tmp_path / "other.sqlite3"), "--http", f"127.0.0.1:{server.http[1]}"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert busy.returncode != 0
    assert busy.stderr.strip().count("\n") == 0
    assert f"cannot serve the account API on 127.0.0.1:{server.http[1]}" in busy.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "smartbook_tui.cli", "server", "run", "--http", "nowhere"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0
    assert "--http wants HOST:PORT" in bad.stderr
