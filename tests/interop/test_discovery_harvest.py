"""Discovery without harvesting (issue 15), against the real `smartbook server run`: 1,000 accounts whose numbers lie
in one mobile block, 10 harvester accounts sending lists of 10,000 random numbers of that block round after round
over a bare SIP client, and a genuine user whose 5,000-contact book and a day of its edits are never held back.

The issue's harvester sends a list every minute; the quota counts new numbers in a sliding day, so how fast the
rounds come is immaterial to what it is answered: the rounds here go back to back."""

from __future__ import annotations

import itertools
import math
import random
import secrets
import socket
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import phonenumbers
import pytest

from smartbook_tui.presence import InstanceState, ListState, build_resource_lists, decode_notify_body, summarize
from smartbook_tui.server.discovery import DiscoveryPolicy
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import SipMessage, SipRequest, SipResponse, StreamParser
from tests.peers.sip_kit import list_subscribe, response_to
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer

WAIT = 30.0  # how long a socket waits before the test gives up on a hung server; never what a test asserts
BLOCK = range(33_610_000_000, 33_610_100_000)  # +33 6 10 00 00 00 .. +33 6 10 09 99 99: French mobiles
ACCOUNTS = 1_000  # numbers of the block with an account: a density of 1 %
DENSITY = ACCOUNTS / len(BLOCK)
HARVESTERS = 10
LIST_SIZE = 10_000  # the server's largest list
ROUNDS = 5  # 50,000 numbers a harvester: a first list within the quota, a second across it, the rest past it
QUOTA = DiscoveryPolicy().quota  # the default, 12,000 new numbers a day: the server runs with it
BOOK = 5_000  # the genuine user's contacts, one number each
EDITS = 50  # numbers added to the book in a day, and as many removed
RLS = f"sip:rls@{DOMAIN}"
_serial = itertools.count(1)


def alias(number: int) -> str:
    return f"sip:+{number}@{DOMAIN};user=phone"


def number_of(uri: str) -> int:
    return int(uri.removeprefix("sip:+").partition("@")[0])


# ---------------------------------------------------------------------------------------------- a bare client


@dataclass
class Answers:
    """What a list subscription was told of each number it named: found (an account), not found, or withheld."""

    found: set[int] = field(default_factory=set)
    not_found: set[int] = field(default_factory=set)
    withheld: set[int] = field(default_factory=set)
    warning: str | None = None

    @property
    def answered(self) -> set[int]:
        return self.found | self.not_found


class SipClient:
    """One account over one TCP connection: SUBSCRIBEs to lists with digest credentials (the nonce reused), and
    the NOTIFYs of each dialog read and answered."""

    def __init__(self, server: SmartbookServer, user: str) -> None:
        self.user = user
        self.sock = socket.create_connection(server.sip, timeout=WAIT)
        self.local: tuple[str, int] = self.sock.getsockname()
        self.digest = DigestSession(Credentials(user, PASSWORD))
        self.auth_header = "Proxy-Authorization"
        self._parser = StreamParser()
        self._ready: list[SipMessage] = []
        self._held: list[SipRequest] = []  # requests that came while a response was awaited

    def close(self) -> None:
        self.sock.close()

    def _receive(self) -> SipMessage:
        while not self._ready:
            data = self.sock.recv(1 << 20)
            if not data:
                raise AssertionError(f"the server closed {self.user}'s connection")
            self._ready += self._parser.feed(data)
        return self._ready.pop(0)

    def _subscribe(self, call_id: str, body: bytes) -> SipRequest:
        credentials = self.digest.authorize(method="SUBSCRIBE", uri=RLS, cnonce=secrets.token_hex(8))
        return list_subscribe(
            self.user,
            DOMAIN,
            f"{self.local[0]}:{self.local[1]}",
            call_id=call_id,
            cseq=next(_serial),
            body=body,
            branch=f"-harvest{secrets.token_hex(6)}",
            auth=(self.auth_header, credentials) if credentials is not None else None,
        )

    def _send(self, request: SipRequest) -> SipResponse:
        """The final response to `request`; the NOTIFYs coming meanwhile wait for `notify_of`."""
        self.sock.sendall(request.to_bytes())
        while True:
            message = self._receive()
            if isinstance(message, SipResponse) and message.via_branch == request.via_branch:
                if message.status >= 200:
                    return message
            elif isinstance(message, SipRequest):
                self._held.append(message)

    def subscribe(self, call_id: str, body: bytes) -> SipResponse:
        """Send a SUBSCRIBE, answering a challenge once: its final response."""
        response = self._send(self._subscribe(call_id, body))
        if response.status in (401, 407):
            name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            self.auth_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
            self.digest.answer(response.headers.get_all(name), method="SUBSCRIBE", uri=RLS, cnonce="-")
            response = self._send(self._subscribe(call_id, body))
        if response.status < 300:
            self.digest.accepted()
        return response

    def list_answers(self, numbers: Sequence[int]) -> tuple[Answers, list[int]]:
        """Subscribe to a list of `numbers` in a new dialog and read its NOTIFYs until each number was named:
        what each number was answered, and the numbers in the order the list carried them."""
        body = build_resource_lists(alias(number) for number in numbers)
        call_id = f"harvest-{self.user}-{next(_serial)}"
        response = self.subscribe(call_id, zlib.compress(body))
        assert response.status == 200, f"{response.status} {response.reason}"
        answers = Answers(warning=response.headers.get("Warning"))
        listed = set(numbers)
        while len(answers.answered | answers.withheld) < len(listed):
            state = self.notify_of(call_id)
            for resource in state.resources:
                number = number_of(resource.uri)
                if any(i.state is InstanceState.TERMINATED and i.reason == "rejected" for i in resource.instances):
                    answers.withheld.add(number)
                elif resource.presence is not None and summarize(resource.presence).has_account:
                    answers.found.add(number)
                else:
                    assert not resource.instances or resource.presence is not None, resource
                    answers.not_found.add(number)
        assert answers.answered | answers.withheld == listed
        assert not answers.answered & answers.withheld
        return answers, sorted(listed, key=alias)  # the list goes sorted, as Linphone and smartbook send it

    def notify_of(self, call_id: str) -> ListState:
        """The next NOTIFY of the dialog `call_id` (answered 200) as a list state."""
        while True:
            message = self._held.pop(0) if self._held else self._receive()
            if isinstance(message, SipRequest) and message.method == "NOTIFY":
                self.sock.sendall(response_to(message).to_bytes())
                if message.call_id != call_id:
                    continue
                headers = message.headers
                state = decode_notify_body(headers.get("Content-Type"), headers.get("Content-Encoding"), message.body)
                assert isinstance(state, ListState), state
                return state


# ---------------------------------------------------------------------------------------------- the server


@dataclass
class Harvest:
    """The server, which numbers have accounts, and what each harvester sent and was answered."""

    server: SmartbookServer
    accounts: set[int]
    sent: dict[str, list[list[int]]]  # per harvester, each round's numbers in the order the list carried them
    answers: dict[str, list[Answers]]


def valid_mobiles(rng: random.Random, count: int, among: Sequence[int]) -> list[int]:
    numbers = rng.sample(among, count)
    for number in numbers[:: max(1, count // 50)]:  # every number of the block is; a sample of them checked
        parsed = phonenumbers.parse(f"+{number}")
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) is phonenumbers.PhoneNumberType.MOBILE, number
    return numbers


def harvest_rounds(server: SmartbookServer, user: str, seed: int) -> tuple[list[list[int]], list[Answers]]:
    rng = random.Random(seed)
    client = SipClient(server, user)
    sent, answers = [], []
    try:
        for _ in range(ROUNDS):
            answer, order = client.list_answers(valid_mobiles(rng, LIST_SIZE, BLOCK))  # new random numbers
            sent.append(order)
            answers.append(answer)
    finally:
        client.close()
    return sent, answers


@pytest.fixture(scope="module")
def harvest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvest]:
    """The server with its accounts, after the 10 harvesters ran their rounds (side by side, one thread each)."""
    directory = tmp_path_factory.mktemp("discovery-harvest")
    # --overload-lag 0: a 10,000-entry list holds the loop longer than the 0.2 s after which new requests get 503,
    # and this test is about what the lists are answered, not about retrying a busy server. Every client here is
    # 127.0.0.1: the ceiling per address (tests/unit/test_discovery.py) would lump the harvesters and the genuine
    # user together, so it is off; the accounts' quotas are what is tested.
    server = SmartbookServer(directory, ("--overload-lag", "0", "--log-level", "INFO", "--discovery-per-address", "0"))
    rng = random.Random(15)
    accounts = valid_mobiles(rng, ACCOUNTS, BLOCK)
    store = Store.open(server.db)
    try:
        store._db.execute("PRAGMA synchronous = OFF")  # setup only: the server opens the file with FULL
        for index, number in enumerate(accounts):
            store.add_account(f"u{index}", DOMAIN, PASSWORD, f"+{number}")
        for index in range(HARVESTERS):
            store.add_account(f"harvester{index}", DOMAIN, PASSWORD)
        store.add_account("gina", DOMAIN, PASSWORD)
    finally:
        store.close()
    server.start()
    try:
        users = [f"harvester{index}" for index in range(HARVESTERS)]
        with ThreadPoolExecutor(HARVESTERS) as pool:
            results = list(pool.map(harvest_rounds, itertools.repeat(server), users, range(100, 100 + HARVESTERS)))
        yield Harvest(
            server,
            set(accounts),
            {user: sent for user, (sent, _) in zip(users, results, strict=True)},
            {user: answers for user, (_, answers) in zip(users, results, strict=True)},
        )
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------- the tests


def test_each_harvester_learns_of_its_first_quota_numbers_only_and_the_rest_is_withheld(harvest: Harvest) -> None:
    discovered_by_all = 0
    for user, rounds in harvest.sent.items():
        answers = harvest.answers[user]
        order = list(dict.fromkeys(itertools.chain.from_iterable(rounds)))  # distinct numbers, in the order named
        charged = set(order[:QUOTA])
        answered = set().union(*(answer.answered for answer in answers))
        withheld = set().union(*(answer.withheld for answer in answers))
        found = set().union(*(answer.found for answer in answers))
        assert len(order) > QUOTA  # the harvester asked past its quota
        assert answered == charged, user  # the quota's arithmetic: its first QUOTA distinct numbers, no other
        assert withheld == set(order) - charged, user  # every other number withheld, never "no account"
        assert found == charged & harvest.accounts, user  # the accounts among those numbers, all of them
        assert answers[0].warning is None  # 10,000 new numbers are within the quota
        for answer in answers[1:]:
            assert answer.withheld, user
            assert answer.warning is not None, user
            assert f"{len(answer.withheld)} numbers of your book were not checked" in answer.warning
        assert found < set(order) & harvest.accounts  # what the quota kept from it
        discovered_by_all += len(found)
    # All of them together: about QUOTA x density each; the margin is five standard deviations of the sampling.
    expected = HARVESTERS * QUOTA * DENSITY
    assert discovered_by_all <= expected + 5 * math.sqrt(expected)
    assert "harvester0@127.0.0.1 hit the discovery quota" in harvest.server.log


def test_a_genuine_users_book_and_its_edits_are_never_held_back(harvest: Harvest) -> None:
    rng = random.Random(5)
    with_account = rng.sample(sorted(harvest.accounts), BOOK // 10 + EDITS)
    without = rng.sample(sorted(set(BLOCK) - harvest.accounts), BOOK - BOOK // 10 + EDITS)
    book = with_account[: BOOK // 10] + without[: BOOK - BOOK // 10]
    client = SipClient(harvest.server, "gina")
    try:
        first, _ = client.list_answers(book)
        assert (first.warning, first.withheld) == (None, set())
        assert first.found == set(book) & harvest.accounts
        assert first.not_found == set(book) - harvest.accounts
        # A day of edits: 50 contacts gone, 50 new (half of them users); the new book goes in a new dialog.
        removed = set(rng.sample(book, EDITS))
        added = with_account[BOOK // 10 :][: EDITS // 2] + without[BOOK - BOOK // 10 :][: EDITS - EDITS // 2]
        edited = [number for number in book if number not in removed] + added
        second, _ = client.list_answers(edited)
        assert (second.warning, second.withheld) == (None, set())
        assert second.found == set(edited) & harvest.accounts
        assert set(added) & harvest.accounts <= second.found
    finally:
        client.close()
    assert "gina@127.0.0.1 hit the discovery quota" not in harvest.server.log
