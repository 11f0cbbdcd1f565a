"""`me/discoverable` of the account API (issue 15), end to end: the real `smartbook server run --http` on 127.0.0.1,
the account saying who can find it by its number with its SIP credentials (Digest) or the token of an activation,
and a watcher (`smartbook watch`) seeing the change at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.interop.test_accounts_api import BOB, activate, create, digest
from tests.interop.test_server_watch import FAST, address, phone, presence_of, start_watch, stop, vcard, write_book
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

ALICE = "+33611111111"


def url(server: SmartbookServer) -> str:
    return f"{server.api_url}/accounts/me/discoverable"


def with_digest(client: httpx.Client, method: str, server: SmartbookServer, user: str, body: object = None):
    """`method` on me/discoverable with `user`'s Digest credentials, answering the server's challenge."""
    challenged = client.request(method, url(server), json=body)
    assert challenged.status_code == 401, challenged.text
    header = digest(challenged, user, PASSWORD, "SHA-256")
    return client.request(method, url(server), json=body, headers={"Authorization": header})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("bob", BOB)], api=True) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


def test_the_account_reads_and_sets_who_finds_it_by_its_number_with_its_sip_credentials(server, client):
    read = with_digest(client, "GET", server, "bob")
    assert read.status_code == 200, read.text
    assert read.json() == {"discoverable": "everyone", "default": True}

    for choice in ("contacts", "nobody", "everyone"):
        saved = with_digest(client, "PUT", server, "bob", {"discoverable": choice})
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"discoverable": choice, "default": False}
        assert with_digest(client, "GET", server, "bob").json() == {"discoverable": choice, "default": False}
    [listed] = [json.loads(line) for line in server.admin("account", "list", "--json").stdout.splitlines()]
    assert (listed["username"], listed["discoverable"]) == ("bob", "everyone")  # the account's own, saved

    back = with_digest(client, "PUT", server, "bob", {"discoverable": "default"})
    assert back.json() == {"discoverable": "everyone", "default": True}


def test_the_token_of_an_activation_signs_in_too(server, client):
    create(client, server, username="carol", password=PASSWORD, phone="+33622222222")
    token = activate(client, server, "carol@127.0.0.1", server.last_code("+33622222222")).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    saved = client.put(url(server), json={"discoverable": "nobody"}, headers=bearer)
    assert saved.json() == {"discoverable": "nobody", "default": False}
    assert client.get(url(server), headers=bearer).json() == {"discoverable": "nobody", "default": False}
    assert client.get(f"{server.api_url}/accounts/%2B33622222222/info-by-phone").status_code == 404


def test_without_credentials_it_is_401_and_a_value_it_does_not_know_is_422(server, client):
    for method, body in (("GET", None), ("PUT", {"discoverable": "nobody"})):
        refused = client.request(method, url(server), json=body)
        assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")
        assert refused.headers.get_list("www-authenticate")
        wrong = client.request(method, url(server), json=body, headers={"Authorization": "Bearer not-a-token"})
        assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")

    for body in ({"discoverable": "friends"}, {"discoverable": None}, {}, ["nobody"]):
        bad = with_digest(client, "PUT", server, "bob", body)
        assert (bad.status_code, bad.json()["error"]) == (422, "invalid_body"), body
        assert "\n" not in bad.json()["message"]
    assert with_digest(client, "GET", server, "bob").json() == {"discoverable": "everyone", "default": True}


def test_the_servers_own_default_is_what_an_account_that_says_nothing_gets(tmp_path, client):
    args = ("--api-rate", "0", "--discoverable", "contacts")
    with run_smartbook_server(tmp_path / "server", *args, accounts=[("bob", BOB)], api=True) as server:
        assert with_digest(client, "GET", server, "bob").json() == {"discoverable": "contacts", "default": True}
        saved = with_digest(client, "PUT", server, "bob", {"discoverable": "everyone"})
        assert saved.json() == {"discoverable": "everyone", "default": False}
        back = with_digest(client, "PUT", server, "bob", {"discoverable": "default"})
        assert back.json() == {"discoverable": "contacts", "default": True}


async def test_a_watcher_sees_the_number_turn_into_no_account_at_once_and_back(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"))
    accounts = [("alice", ALICE), ("bob", BOB)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts, api=True) as server:
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            bob = await watch.until(presence_of(phone(BOB), has_account=True))
            assert bob["sip_address"] == address("bob")
            async with httpx.AsyncClient(timeout=20) as client:

                async def bob_says(choice: str) -> dict[str, object]:
                    body = {"discoverable": choice}
                    header = digest(await client.put(url(server), json=body), "bob", PASSWORD, "MD5")
                    return (await client.put(url(server), json=body, headers={"Authorization": header})).json()

                mark = watch.mark()
                assert await bob_says("nobody") == {"discoverable": "nobody", "default": False}
                await watch.until(presence_of(phone(BOB), has_account=False, sip_address=None), after=mark)

                mark = watch.mark()
                assert await bob_says("default") == {"discoverable": "everyone", "default": True}
                bob = await watch.until(presence_of(phone(BOB), has_account=True), after=mark)
                assert bob["sip_address"] == address("bob")
        finally:
            await stop(watch)
