"""smartbook's CardDAV client against a real Radicale on 127.0.0.1: discovery, full fetch, incremental sync,
wrong password, server down, offline restart from the cache, TLS with a private CA.

One Radicale serves the module, each test logging in as its own user (its own /user/ home); tests that stop or
reconfigure the server start their own. The last test uses a scripted server instead: Radicale speaks Basic
authentication only, and Digest must be tried somewhere.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import socket
import stat
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from smartbook_tui.contacts.carddav import (
    AddressBook,
    CardDavAccount,
    CardDavAuthError,
    CardDavBook,
    CardDavConfigError,
    CardDavTLSError,
    CardDavUnreachable,
    SyncResult,
    sync_carddav,
)
from tests.peers.radicale import Radicale, run_radicale
from tests.peers.tls import make_certificates

pytestmark = pytest.mark.peer("radicale")

PASSWORD = "correct horse battery staple"

ANNE = """BEGIN:VCARD
VERSION:3.0
UID:anne-martin
FN:Anne Martin
N:Martin;Anne;;;
TEL;TYPE=CELL:06 12 34 56 78
TEL;TYPE=HOME:+33 1 23 45 67 89
END:VCARD
"""

BOB = """BEGIN:VCARD
VERSION:4.0
UID:bob-brown
FN:Bob Brown
TEL;VALUE=uri;TYPE=cell:tel:+44-7700-900123
END:VCARD
"""

CLARA = """BEGIN:VCARD
VERSION:3.0
UID:clara-sip
FN:Clara Sip
IMPP:sip:clara@example.org
END:VCARD
"""

DAVE = """BEGIN:VCARD
VERSION:3.0
UID:dave-new
FN:Dave New
TEL;TYPE=WORK:+49 30 1234567
END:VCARD
"""

_users = itertools.count(1)


@dataclass
class Setup:
    server: Radicale
    user: str
    book_url: str
    password_file: Path
    cache_dir: Path

    def account(self, url: str | None = None, **overrides: object) -> CardDavAccount:
        settings = {"username": self.user, "password_file": self.password_file, **overrides}
        return CardDavAccount(url or self.server.url, **settings)

    def book(self, url: str | None = None, **overrides: object) -> CardDavBook:
        return CardDavBook(self.account(url, **overrides), cache_dir=self.cache_dir)


def _setup(server: Radicale, tmp_path: Path, cards: dict[str, str]) -> Setup:
    user = f"user{next(_users)}"
    server.add_user(user, PASSWORD)
    book_url = server.make_address_book(user)
    for name, card in cards.items():
        server.put_card(user, book_url, name, card)
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    return Setup(server, user, book_url, password_file, tmp_path / "cache")


@pytest.fixture(scope="module")
def shared_radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with run_radicale(tmp_path_factory.mktemp("radicale"), {}) as server:
        yield server


@pytest.fixture
def own_radicale(tmp_path: Path) -> Iterator[Radicale]:
    with run_radicale(tmp_path / "radicale", {}) as server:
        yield server


@pytest.fixture
def setup(shared_radicale: Radicale, tmp_path: Path) -> Setup:
    return _setup(shared_radicale, tmp_path, {"anne.vcf": ANNE, "bob.vcf": BOB, "clara.vcf": CLARA})


def names(result: SyncResult) -> list[str]:
    return sorted(contact.name for contact in result.book.contacts)


async def synced(book: CardDavBook) -> SyncResult:
    result = await book.sync()
    assert result.error is None, result.error
    return result


# ------------------------------------------------------------------------------------------------ discovery


async def test_discovery_from_the_server_root_finds_every_address_book(setup: Setup) -> None:
    work_url = setup.server.make_address_book(setup.user, "work", "Work contacts")
    async with setup.book() as book:
        found = await book.discover()
    assert sorted(found, key=lambda b: b.url) == [
        AddressBook(setup.book_url, "Contacts"),
        AddressBook(work_url, "Work contacts"),
    ]


async def test_discovery_from_a_principal_or_an_address_book_url(setup: Setup) -> None:
    async with setup.book(f"{setup.server.url}{setup.user}/") as book:
        assert await book.discover() == [AddressBook(setup.book_url, "Contacts")]
    async with setup.book(setup.book_url) as book:
        assert await book.discover() == [AddressBook(setup.book_url, "Contacts")]


# ------------------------------------------------------------------------------------------------ fetching


async def test_full_fetch_reads_every_card_through_the_vcard_parser(setup: Setup) -> None:
    async with setup.book() as book:
        result = await synced(book)
    assert (result.added, result.changed, result.removed) == (3, 0, 0)
    assert result.address_books == (AddressBook(setup.book_url, "Contacts"),)
    assert names(result) == ["Anne Martin", "Bob Brown", "Clara Sip"]
    by_name = {contact.name: contact for contact in result.book.contacts}
    anne = by_name["Anne Martin"]
    assert anne.id == "anne-martin"
    assert [(n.raw, n.kinds) for n in anne.numbers] == [("06 12 34 56 78", ("cell",)), ("+33 1 23 45 67 89", ("home",))]
    assert anne.source == f"{setup.book_url}anne.vcf"
    assert [n.raw for n in by_name["Bob Brown"].numbers] == ["+44-7700-900123"]
    assert by_name["Clara Sip"].sip_addresses == ("sip:clara@example.org",)
    assert result.book.summary() == "3 contacts read, 0 skipped"
    assert result.synced_at is not None


async def test_many_cards_are_fetched_in_multiget_batches(setup: Setup) -> None:
    for index in range(7):
        setup.server.put_card(
            setup.user,
            setup.book_url,
            f"n{index}.vcf",
            f"BEGIN:VCARD\nVERSION:3.0\nUID:n{index}\nFN:Person {index}\nTEL:+3361234560{index}\nEND:VCARD\n",
        )
    async with CardDavBook(setup.account(), cache_dir=setup.cache_dir, batch_size=2) as book:
        result = await synced(book)
    assert result.added == 10
    assert len(result.book.contacts) == 10


# ------------------------------------------------------------------------------------------ incremental sync


async def test_an_added_contact_appears_after_sync(setup: Setup) -> None:
    async with setup.book() as book:
        await synced(book)
        setup.server.put_card(setup.user, setup.book_url, "dave.vcf", DAVE)
        result = await synced(book)
        assert (result.added, result.changed, result.removed) == (1, 0, 0)
        assert names(result) == ["Anne Martin", "Bob Brown", "Clara Sip", "Dave New"]
        again = await synced(book)
        assert not again.has_changes
        assert names(again) == names(result)


async def test_an_edited_contact_changes(setup: Setup) -> None:
    async with setup.book() as book:
        await synced(book)
        setup.server.put_card(setup.user, setup.book_url, "bob.vcf", BOB.replace("Bob Brown", "Robert Brown"))
        result = await synced(book)
    assert (result.added, result.changed, result.removed) == (0, 1, 0)
    assert names(result) == ["Anne Martin", "Clara Sip", "Robert Brown"]


async def test_a_deleted_contact_disappears(setup: Setup) -> None:
    async with setup.book() as book:
        await synced(book)
        setup.server.delete_card(setup.user, setup.book_url, "anne.vcf")
        result = await synced(book)
    assert (result.added, result.changed, result.removed) == (0, 0, 1)
    assert names(result) == ["Bob Brown", "Clara Sip"]


async def test_a_sync_token_the_server_rejects_means_a_full_resync(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    async with setup.book() as book:
        await synced(book)
    cache_file = book.cache_path
    document = json.loads(cache_file.read_text())
    document["books"][0]["sync_token"] = "http://radicale.org/ns/sync/not-a-token-it-knows"
    cache_file.write_text(json.dumps(document))
    setup.server.delete_card(setup.user, setup.book_url, "clara.vcf")
    setup.server.put_card(setup.user, setup.book_url, "dave.vcf", DAVE)
    async with setup.book() as book:  # a new object reads the doctored cache
        with caplog.at_level(logging.INFO, logger="smartbook_tui.contacts.carddav"):
            result = await synced(book)
    assert "forgot the sync token" in caplog.text  # Radicale: 403 <valid-sync-token/>
    assert (result.added, result.changed, result.removed) == (1, 0, 1)
    assert names(result) == ["Anne Martin", "Bob Brown", "Dave New"]
    assert json.loads(cache_file.read_text())["books"][0]["sync_token"].startswith("http://radicale.org/ns/sync/")


class _NoSyncCollection(httpx.AsyncBaseTransport):
    """Radicale as a server without RFC 6578 would be: sync-collection REPORTs are refused."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "REPORT" and b"sync-collection" in request.content:
            self.refused += 1
            body = b'<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:supported-report/></d:error>'
            return httpx.Response(403, content=body, headers={"Content-Type": "application/xml"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_server_without_sync_collection_is_followed_by_etags(setup: Setup) -> None:
    transport = _NoSyncCollection()
    async with CardDavBook(setup.account(), cache_dir=setup.cache_dir, transport=transport) as book:
        first = await synced(book)
        assert names(first) == ["Anne Martin", "Bob Brown", "Clara Sip"]
        setup.server.put_card(setup.user, setup.book_url, "dave.vcf", DAVE)
        setup.server.put_card(setup.user, setup.book_url, "bob.vcf", BOB.replace("Bob Brown", "Robert Brown"))
        setup.server.delete_card(setup.user, setup.book_url, "anne.vcf")
        result = await synced(book)
    assert (result.added, result.changed, result.removed) == (1, 1, 1)
    assert names(result) == ["Clara Sip", "Dave New", "Robert Brown"]
    assert transport.refused == 1  # asked once, then remembered


# ------------------------------------------------------------------------------------------ failures, cache


async def test_a_wrong_password_gives_one_clear_error_and_the_cached_book(setup: Setup, tmp_path: Path) -> None:
    async with setup.book() as book:
        await synced(book)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    async with setup.book(password_file=wrong) as book:
        result = await book.sync()
    error = result.error
    assert isinstance(error, CardDavAuthError)
    assert str(error) == (
        f"the server refused the user name or password (HTTP 401) at {setup.server.url.rstrip('/')}: "
        "check --carddav-user and the password file"
    )
    assert "\n" not in str(error)
    assert error.status == 401
    assert names(result) == ["Anne Martin", "Bob Brown", "Clara Sip"]  # the last good copy
    for text in (str(error), repr(error), repr(result), repr(book), repr(setup.account(password="secret-pw"))):
        assert "not the password" not in text
        assert PASSWORD not in text
        assert "secret-pw" not in text


async def test_a_corrected_password_file_is_read_again_on_the_next_sync(setup: Setup) -> None:
    setup.password_file.write_text("a typo\n")
    async with setup.book() as book:
        assert isinstance((await book.sync()).error, CardDavAuthError)
        setup.password_file.write_text(PASSWORD + "\n")
        result = await synced(book)
    assert names(result) == ["Anne Martin", "Bob Brown", "Clara Sip"]


async def test_a_wrong_password_without_a_cache_gives_an_empty_book(setup: Setup, tmp_path: Path) -> None:
    async with CardDavBook(setup.account(password="nope"), cache_dir=tmp_path / "empty") as book:
        result = await book.sync()
    assert isinstance(result.error, CardDavAuthError)
    assert result.book.contacts == []
    assert result.synced_at is None


async def test_a_missing_password_file_is_reported(setup: Setup, tmp_path: Path) -> None:
    async with setup.book(password_file=tmp_path / "absent") as book:
        result = await book.sync()
    assert isinstance(result.error, CardDavConfigError)
    assert (
        str(result.error) == f"cannot read the CardDAV password file {tmp_path / 'absent'}: No such file or directory"
    )


async def test_server_down_serves_the_cached_book_then_recovers(own_radicale: Radicale, tmp_path: Path) -> None:
    setup = _setup(own_radicale, tmp_path, {"anne.vcf": ANNE, "bob.vcf": BOB})
    async with setup.book() as book:
        first = await synced(book)
        own_radicale.stop()
        down = await book.sync()
        assert isinstance(down.error, CardDavUnreachable)
        assert str(down.error) == f"cannot reach {own_radicale.url.rstrip('/')}: connection refused"
        assert names(down) == ["Anne Martin", "Bob Brown"]
        assert down.synced_at == first.synced_at
        own_radicale.start()
        own_radicale.put_card(setup.user, setup.book_url, "dave.vcf", DAVE)
        back = await synced(book)
    assert (back.added, back.changed, back.removed) == (1, 0, 0)
    assert names(back) == ["Anne Martin", "Bob Brown", "Dave New"]


async def test_a_server_that_never_answers_times_out(setup: Setup) -> None:
    with socket.socket() as silent:  # listens (the kernel completes the handshake) but never reads
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        async with CardDavBook(setup.account(url, timeout=0.3), cache_dir=setup.cache_dir) as book:
            result = await book.sync()
    assert isinstance(result.error, CardDavUnreachable)
    assert str(result.error) == f"no answer from {url.rstrip('/')} within 0.3 s: check the network and the server"


async def test_a_restart_offline_shows_the_cached_book(own_radicale: Radicale, tmp_path: Path) -> None:
    setup = _setup(own_radicale, tmp_path, {"anne.vcf": ANNE, "clara.vcf": CLARA})
    async with setup.book() as book:
        first = await synced(book)
    own_radicale.stop()
    async with setup.book() as restarted:
        shown = restarted.cached()  # what the app shows at start-up, before any network I/O
        assert names(shown) == ["Anne Martin", "Clara Sip"]
        assert shown.error is None
        assert shown.synced_at == first.synced_at
        assert shown.address_books == (AddressBook(setup.book_url, "Contacts"),)
        result = await restarted.sync()
    assert isinstance(result.error, CardDavUnreachable)
    assert names(result) == ["Anne Martin", "Clara Sip"]


async def test_cache_files_are_private_and_hold_no_password(setup: Setup) -> None:
    async with setup.book() as book:
        await synced(book)
    path = book.cache_path
    assert path.parent == setup.cache_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(setup.cache_dir.stat().st_mode) == 0o700
    assert [p.name for p in setup.cache_dir.iterdir()] == [path.name]  # no temporary file left behind
    text = path.read_text()
    assert PASSWORD not in text
    document = json.loads(text)
    assert document["books"][0]["url"] == setup.book_url
    cards = {card["href"]: card for card in document["books"][0]["cards"]}
    assert cards[f"{setup.book_url}anne.vcf"]["vcard"].startswith("BEGIN:VCARD")
    assert cards[f"{setup.book_url}anne.vcf"]["etag"]


def test_one_sync_from_synchronous_code(setup: Setup) -> None:
    result = sync_carddav(setup.account(), cache_dir=setup.cache_dir)
    assert result.error is None
    assert result.summary() == "3 contacts read, 0 skipped; 3 added, 0 changed, 0 removed"


# ---------------------------------------------------------------------------------------------------- polling


async def test_polling_brings_a_new_contact_without_a_restart(setup: Setup) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # stands in for five minutes, during which someone adds Dave
        slept.append(seconds)
        setup.server.put_card(setup.user, setup.book_url, "dave.vcf", DAVE)

    book = CardDavBook(setup.account(), cache_dir=setup.cache_dir, sleep=sleep)
    results = []
    async with book, aclosing(book.poll(120.0)) as updates:
        async for result in updates:
            results.append(result)
            if len(results) == 2:
                break
    assert slept == [120.0]
    assert [r.added for r in results] == [3, 1]
    assert "Dave New" in names(results[1])


# ---------------------------------------------------------------------------------------- transport security


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(CardDavConfigError) as refused:
        CardDavBook(CardDavAccount("http://dav.example.org/", "alice", password="x"))
    assert str(refused.value) == (
        "refusing plain http to http://dav.example.org: the password and contacts would cross the network "
        "unencrypted; use https://, or pass --carddav-insecure-http if this network is trusted"
    )
    CardDavBook(CardDavAccount("http://dav.example.org/", allow_insecure_http=True))
    CardDavBook(CardDavAccount("http://localhost:5232/"))
    CardDavBook(CardDavAccount("http://[::1]:5232/"))
    with pytest.raises(CardDavConfigError, match="carries a password"):
        CardDavBook(CardDavAccount("https://alice:secret@dav.example.org/"))


async def test_tls_is_verified_and_a_private_ca_can_be_added(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    with run_radicale(tmp_path / "radicale", {}, certificate=(certificates.cert, certificates.key)) as server:
        setup = _setup(server, tmp_path, {"bob.vcf": BOB})
        async with setup.book() as book:
            refused = await book.sync()
        assert isinstance(refused.error, CardDavTLSError)
        assert str(refused.error).startswith(f"cannot verify the TLS certificate of {server.url.rstrip('/')} (")
        assert str(refused.error).endswith("if the server uses a private CA, add it with --carddav-ca FILE")
        async with setup.book(ca_file=certificates.ca) as book:
            result = await synced(book)
    assert names(result) == ["Bob Brown"]


# ----------------------------------------------------------------------- Digest (Radicale speaks Basic only)


class _DigestServer:
    """A scripted CardDAV server that asks for Digest (qop=auth) and holds one address book of one card."""

    realm, nonce = "carddav", "f00dcafe"

    def __init__(self) -> None:
        self.schemes_seen: list[str] = []

    def _authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        self.schemes_seen.append(header.split(" ", 1)[0] or "-")
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[len("Digest ") :]))
        ha1 = hashlib.md5(f"alice:{self.realm}:{PASSWORD}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{request.method}:{fields['uri']}".encode()).hexdigest()
        parts = [ha1, self.nonce, fields["nc"], fields["cnonce"], "auth", ha2]
        return fields["response"] == hashlib.md5(":".join(parts).encode()).hexdigest()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self._authorized(request):
            challenge = f'Digest realm="{self.realm}", nonce="{self.nonce}", qop="auth", algorithm=MD5'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        body = request.content.decode()
        token = ""
        if request.method == "PROPFIND":
            responses = [
                (
                    "/book/",
                    "<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>"
                    "<d:displayname>Digest book</d:displayname>",
                ),
            ]
        elif "sync-collection" in body:
            responses, token = [("/book/eve.vcf", '<d:getetag>"1"</d:getetag>')], "<d:sync-token>t1</d:sync-token>"
        else:
            card = "BEGIN:VCARD\nVERSION:3.0\nUID:eve\nFN:Eve Digest\nTEL:+33 6 00 00 00 01\nEND:VCARD\n"
            responses = [("/book/eve.vcf", f'<d:getetag>"1"</d:getetag><c:address-data>{card}</c:address-data>')]
        document = "".join(
            f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
            "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
            for href, props in responses
        )
        document = (
            '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
            f"{document}{token}</d:multistatus>"
        )
        return httpx.Response(207, content=document.encode(), headers={"Content-Type": "application/xml"})


async def test_digest_is_used_when_the_server_asks_for_it(tmp_path: Path) -> None:
    server = _DigestServer()
    account = CardDavAccount("https://dav.example.org/book/", "alice", password=PASSWORD)
    transport = httpx.MockTransport(server)
    async with CardDavBook(account, cache_dir=tmp_path, transport=transport) as book:
        result = await synced(book)
    assert names(result) == ["Eve Digest"]
    assert "Basic" not in server.schemes_seen  # the password never went out in clear
    assert server.schemes_seen[:2] == ["-", "Digest"]  # the challenge, then the answer to it
    assert set(server.schemes_seen[2:]) == {"Digest"}  # later requests answer the known challenge at once
