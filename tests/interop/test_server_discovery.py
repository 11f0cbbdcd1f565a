"""Who can find an account by its number, against the real `smartbook server run --discoverable ...`: the lists of
`smartbook watch` and the account API's unauthenticated `info-by-phone`, with the accounts' own settings made by
`smartbook server account set --discoverable`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.interop.test_accounts_api import info
from tests.interop.test_server_watch import (
    ALICE,
    BOB,
    CAROL,
    FAST,
    NOBODY,
    address,
    assert_unsubscribed,
    by_uri,
    is_phase,
    phone,
    presence_of,
    start_watch,
    stop,
    vcard,
    watch_once,
    write_book,
)
from tests.peers.json_lines import Line
from tests.peers.smartbook_server import run_smartbook_server

ERIN = "+33633333333"


def as_seen(line: Line) -> dict[object, object]:
    """What a watcher's line tells of a resource, beside which resource and which contacts it is."""
    return {key: value for key, value in line.items() if key not in ("uri", "contacts")}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


async def test_with_contacts_a_strangers_list_shows_the_number_without_an_account(tmp_path: Path) -> None:
    """bob's book names alice, so alice finds bob by his number; carol, whom no list of bob's names, sees his number
    exactly as one without an account, until bob lets everyone find him; by his address she always finds him."""
    bobs_book = write_book(tmp_path / "bob.vcf", vcard("Alice", f"TEL:{ALICE}"))
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Nobody", f"TEL:{NOBODY}"))
    by_address = write_book(tmp_path / "address.vcf", vcard("Bob", "IMPP:sip:bob@127.0.0.1"))
    accounts = [("alice", ALICE), ("bob", BOB), ("carol", CAROL)]
    with run_smartbook_server(tmp_path / "server", *FAST, "--discoverable", "contacts", accounts=accounts) as server:
        bob = await start_watch(server, "bob", "--vcard", str(bobs_book))
        carol = None
        try:
            await bob.until(is_phase("active"))
            await bob.until(presence_of(phone(ALICE)))  # his list is in: the server knows whom it names

            seen = by_uri(await watch_once(server, "alice", "--vcard", str(book)))
            assert (seen[phone(BOB)]["has_account"], seen[phone(BOB)]["sip_address"]) == (True, address("bob"))

            seen = by_uri(await watch_once(server, "carol", "--vcard", str(book)))
            assert (seen[phone(BOB)]["has_account"], seen[phone(BOB)]["sip_address"]) == (False, None)
            assert as_seen(seen[phone(BOB)]) == as_seen(seen[phone(NOBODY)])  # nothing tells the two apart

            seen = by_uri(await watch_once(server, "carol", "--vcard", str(by_address)))
            assert (seen[address("bob")]["has_account"], seen[address("bob")]["sip_address"]) == (True, address("bob"))

            carol = await start_watch(server, "carol", "--vcard", str(book))
            await carol.until(presence_of(phone(BOB), has_account=False))
            mark = carol.mark()
            server.admin("account", "set", "bob", "--discoverable", "everyone")
            found = await carol.until(presence_of(phone(BOB), has_account=True), after=mark)  # without resubscribing
            assert found["sip_address"] == address("bob")
        finally:
            await stop(bob)
            if carol is not None:
                await stop(carol)
    assert carol is not None
    assert_unsubscribed(carol)
    assert carol.phases.count("subscribing") == 1


def test_info_by_phone_is_404_for_an_account_not_everyone_may_find(tmp_path: Path, client: httpx.Client) -> None:
    accounts = [("bob", BOB), ("carol", CAROL)]
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=accounts, api=True) as server:
        assert info(client, server, BOB).status_code == 200
        unknown = info(client, server, ERIN)
        assert unknown.status_code == 404
        for setting in ("nobody", "contacts"):  # the API asks without an account: no one is a contact there
            server.admin("account", "set", "carol", "--discoverable", setting)
            hidden = info(client, server, CAROL)
            assert hidden.status_code == 404
            assert hidden.headers["content-type"] == unknown.headers["content-type"]
            assert hidden.json() == {"error": "no_such_number", "message": f"no account has the number {CAROL}"}
            assert unknown.json() == {"error": "no_such_number", "message": f"no account has the number {ERIN}"}

    # The server's --discoverable for the accounts that do not say; an account's own setting wins.
    with run_smartbook_server(tmp_path / "nobody", "--api-rate", "0", "--discoverable", "nobody", api=True) as server:
        server.add_account("bob", BOB)
        server.add_account("carol", CAROL)
        server.admin("account", "set", "carol", "--discoverable", "everyone")
        assert info(client, server, BOB).status_code == 404
        assert info(client, server, CAROL).json() == {"activated": True, "realm": "127.0.0.1", "phone": True}
