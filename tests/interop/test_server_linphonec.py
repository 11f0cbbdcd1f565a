"""Linphone's own client (Debian's `linphonec`, liblinphone 5.1) against smartbook's presence server.

linphonec registers, publishes and sends its whole vCard book as one RFC 5367 list SUBSCRIBE; the server must
answer it in the legacy NOTIFY form liblinphone < 5.4 reads, and liblinphone must then know which of its
contacts are Linphone users. What is asserted comes from linphonec's `-d 6` SIP trace and its console, and from
the server's side (its log, and `smartbook watch` as another account).

What linphonec 5.1's console can show: `friend list` lists only the default friend list (not the book loaded
from `contacts-vcard-list`) and prints no presence, and the presence callback prints
`Friend "<name>" <address> is Online` only for contacts that have a SIP address. So a book contact known by its
number alone (TEL only, the usual case) is checked in the trace: liblinphone logs
`notified [notify_presence_received]` once for each contact it stored a presence for, right after the NOTIFY
that carried it. Contacts whose card also has the number as a SIP address (IMPP) are printed on the console.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from smartbook_tui.server.store import Store
from tests.peers import require_binary
from tests.peers.linphonec import LinphonecSession, LoggedMessage, linphonec_session, log_records, sip_trace
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer

RLMI = "{urn:ietf:params:xml:ns:rlmi}"
PIDF = "{urn:ietf:params:xml:ns:pidf}"
PRESENCE_RECEIVED = "notified [notify_presence_received]"  # liblinphone stored a presence for one friend
LIST_URI = "sip:rls@127.0.0.1"  # the rls_uri the harness gives linphonec


def card(name: str, *lines: str) -> str:
    return "".join(f"{line}\r\n" for line in ("BEGIN:VCARD", "VERSION:4.0", f"FN:{name}", *lines, "END:VCARD"))


def phone_uri(e164: str) -> str:
    return f"sip:{e164}@{DOMAIN};user=phone"


# (username, number or None); the linphonec user is "lin".
ACCOUNTS = [
    ("lin", "+33633333333"),
    ("alice", "+33611111111"),
    ("bob", "+33622222222"),
    ("erin", "+33644444444"),
    ("carol", None),
    ("frank", "+33655555555"),  # not in lin's book
]
LIN_BOOK = "".join(
    [
        card("Alice", "TEL;TYPE=cell:06 11 11 11 11"),  # a number alone: the console cannot print its presence
        card("Bob B", "TEL;TYPE=cell:06 22 22 22 22", f"IMPP:{phone_uri('+33622222222')}"),
        card("Erin", f"IMPP:{phone_uri('+33644444444')}"),
        card("Nobody", "TEL;TYPE=cell:06 99 99 99 99"),  # no account
        card("Nemo", "TEL;TYPE=cell:06 88 88 88 88", f"IMPP:{phone_uri('+33688888888')}"),  # no account
        card("Carol", "IMPP:sip:carol@127.0.0.1"),
        card("Dave", "IMPP:sip:dave@127.0.0.1"),  # no account
    ]
)
LIN_LIST = [  # what linphonec subscribes to: sorted, de-duplicated, national numbers made +33
    phone_uri("+33611111111"),
    phone_uri("+33622222222"),
    phone_uri("+33644444444"),
    phone_uri("+33688888888"),
    phone_uri("+33699999999"),
    "sip:carol@127.0.0.1",
    "sip:dave@127.0.0.1",
]
# The entries that are accounts, with the account's SIP address (the tuple <contact> liblinphone calls).
LIN_USERS = {
    phone_uri("+33611111111"): "sip:alice@127.0.0.1",
    phone_uri("+33622222222"): "sip:bob@127.0.0.1",
    phone_uri("+33644444444"): "sip:erin@127.0.0.1",
    "sip:carol@127.0.0.1": "sip:carol@127.0.0.1",
}


# ---------------------------------------------------------------------------------------------- reading the trace


@dataclass
class Notify:
    """One NOTIFY linphonec received, its inflated multipart/related body read, and what became of it."""

    message: LoggedMessage
    response: LoggedMessage | None  # what linphonec answered
    presences_taken: int  # `notified [notify_presence_received]` records between the NOTIFY and the answer
    version: int = -1
    full_state: bool = False
    resources: dict[str, str | None] = field(default_factory=dict)  # uri -> cid of its active instance
    parts: dict[str, ET.Element] = field(default_factory=dict)  # cid (without <>) -> the part's XML root
    part_ids: list[str] = field(default_factory=list)  # each part's "Content-Id: value" header, as written


def exchanges(trace: Sequence[LoggedMessage], method: str, uri_prefix: str = "") -> list[tuple[LoggedMessage, int]]:
    """Each `method` request linphonec sent (to a Request-URI starting with `uri_prefix`) and the final status of
    its response (0: none yet)."""
    found = []
    for request in trace:
        if not (request.sent and request.is_request and request.method == method):
            continue
        if not request.start_line.split()[1].startswith(uri_prefix):
            continue
        key = (request.header("Call-ID"), request.header("CSeq"))
        statuses = [
            m.status
            for m in trace
            if not m.sent and not m.is_request and (m.header("Call-ID"), m.header("CSeq")) == key and m.status >= 200
        ]
        found.append((request, statuses[0] if statuses else 0))
    return found


def notifies(log: str) -> list[Notify]:
    """Every NOTIFY linphonec received, with its answer and the presences liblinphone took from it."""
    trace = sip_trace(log)
    records = [text for _, text in log_records(log)]
    found = []
    for notify in (m for m in trace if not m.sent and m.is_request and m.method == "NOTIFY"):
        key = (notify.header("Call-ID"), notify.header("CSeq"))
        answers = [m for m in trace if m.sent and not m.is_request and (m.header("Call-ID"), m.header("CSeq")) == key]
        response = answers[0] if answers else None
        end = response.record if response is not None else len(records)
        taken = sum(PRESENCE_RECEIVED in text for text in records[notify.record : end])
        found.append(_read_body(Notify(notify, response, taken)))
    return found


def _read_body(notify: Notify) -> Notify:
    content_type = notify.message.header("Content-Type") or ""
    if not notify.message.body or "boundary=" not in content_type:
        return notify
    boundary = content_type.rsplit("boundary=", 1)[1].split(";")[0].strip('"')
    for chunk in notify.message.body.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        head, _, xml = chunk.strip("\n").partition("\n\n")
        ids = [line for line in head.split("\n") if line.lower().startswith("content-id:")]
        notify.part_ids += ids
        cid = ids[0].split(":", 1)[1].strip().strip("<>") if ids else ""
        notify.parts[cid] = ET.fromstring(xml.strip().encode())
    start = content_type.split('start="', 1)[1].split('"', 1)[0].strip("<>") if 'start="' in content_type else ""
    rlmi = notify.parts.get(start)
    assert rlmi is not None, f"no part is the start {start!r}:\n{notify.message.body[:1000]}"
    notify.version = int(rlmi.get("version", "-1"))
    notify.full_state = rlmi.get("fullState") == "true"
    for resource in rlmi.findall(f"{RLMI}resource"):
        active = [i for i in resource.findall(f"{RLMI}instance") if i.get("state") == "active"]
        notify.resources[resource.get("uri", "")] = active[0].get("cid") if active else None
    return notify


def presences(notify: Notify) -> dict[str, tuple[str, str]]:
    """The resources a NOTIFY carried a presence for: uri -> (basic status, tuple contact)."""
    shown = {}
    for uri, cid in notify.resources.items():
        if cid is None:
            continue
        pidf = notify.parts[cid]
        assert pidf.get("entity") == uri
        for item in pidf.findall(f"{PIDF}tuple"):
            shown[uri] = (item.findtext(f"{PIDF}status/{PIDF}basic"), item.findtext(f"{PIDF}contact"))
    return shown


def all_answered(log: str) -> bool:
    """Whether linphonec received a NOTIFY, and answered every one it received."""
    found = notifies(log)
    return bool(found) and all(n.response is not None for n in found)


# ---------------------------------------------------------------------------------------------- setting up


def start_server(directory: Path, accounts: Sequence[tuple[str, str | None]]) -> SmartbookServer:
    """A started server whose accounts are written to its store directly (one CLI process per account is slow)."""
    server = SmartbookServer(directory)
    with Store.open(server.db) as store:
        for user, phone in accounts:
            store.add_account(user, DOMAIN, PASSWORD, phone)
    return server.start()


@dataclass
class Running:
    server: SmartbookServer
    linphonec: LinphonecSession
    log: str  # linphonec's log once its first NOTIFYs were answered


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Our server with ACCOUNTS, and linphonec as lin with LIN_BOOK, its book's presence received and answered."""
    require_binary("linphonec", "linphone-cli")
    directory = tmp_path_factory.mktemp("linphonec_on_smartbook")
    with pytest.MonkeyPatch.context() as patch:  # the server process never sees the user's own directories
        for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            patch.setenv(variable, str(directory / variable.lower()))
        server = start_server(directory / "server", ACCOUNTS)
    try:
        with linphonec_session(
            directory / "linphonec",
            sip_port=server.sip[1],
            vcards=LIN_BOOK,
            identity=server.aor("lin"),
            password=PASSWORD,
        ) as linphonec:
            wait_for_the_books_presence(linphonec)
            yield Running(server, linphonec, linphonec.log)
    finally:
        server.stop()


def wait_for_the_books_presence(linphonec: LinphonecSession) -> None:
    """Until linphonec took a presence for each user of LIN_BOOK and answered every NOTIFY."""
    linphonec.wait_until(
        lambda: linphonec.log.count(PRESENCE_RECEIVED) >= len(LIN_USERS) and all_answered(linphonec.log),
        timeout=30,
        what="the book's presence",
    )


# ---------------------------------------------------------------------------------------------- the tests


@pytest.mark.peer("linphonec")
def test_linphonec_registers_publishes_and_subscribes_its_book_and_takes_legacy_notifies(running):
    trace = sip_trace(running.log)

    # Digest: 401 for REGISTER, 407 for PUBLISH and SUBSCRIBE, then 200 with credentials.
    registers = exchanges(trace, "REGISTER")
    assert [status for _, status in registers[:2]] == [401, 200], running.log[-3000:]
    assert registers[1][0].header("Authorization")
    publishes = exchanges(trace, "PUBLISH")
    assert [status for _, status in publishes[:2]] == [407, 200]
    assert publishes[1][0].header("Proxy-Authorization")
    assert "<basic>open</basic>" in publishes[1][0].body

    # One list SUBSCRIBE (RFC 5367, deflated) holding its book's numbers and SIP addresses.
    subscribes = exchanges(trace, "SUBSCRIBE", LIST_URI)
    assert [status for _, status in subscribes] == [407, 200]
    subscribe = subscribes[1][0]
    assert subscribe.header("Proxy-Authorization")
    assert subscribe.header("Content-Type") == "application/resource-lists+xml"
    assert subscribe.header("Content-Encoding") == "deflate"
    assert subscribe.header("Content-Disposition") == "recipient-list"
    assert subscribe.header("Require") == "recipient-list-subscribe"
    assert subscribe.header("Supported") == "eventlist"
    entries = [e.get("uri") for e in ET.fromstring(subscribe.body.encode()).iter() if e.tag.endswith("}entry")]
    assert entries == LIN_LIST
    # Our server took it as a list, and recognised a liblinphone < 5.4 from its User-Agent.
    assert (subscribe.header("User-Agent") or "").startswith("Linphonec/5.1")
    assert f"lin@127.0.0.1 subscribes to {LIST_URI} (list, {len(LIN_LIST)} entries, legacy form" in running.server.log

    # Our NOTIFYs are the legacy form, and linphonec answers every one with 200.
    received = notifies(running.log)
    assert received
    for notify in received:
        assert notify.response is not None
        assert notify.response.status == 200, notify.response.start_line
        assert notify.message.header("Event") == "Presence"  # capital P, or liblinphone 5.1 ignores it
        assert (notify.message.header("Subscription-State") or "").startswith("active")
        content_type = notify.message.header("Content-Type") or ""
        assert content_type.startswith('multipart/related;type="application/rlmi+xml";start="<')
        assert ";boundary=" in content_type
        assert ";" not in content_type.rsplit(";boundary=", 1)[1]  # boundary last
        assert notify.parts, "a NOTIFY without parts"
        # Each part names itself `Content-Id: <the bare cid>` (no angle brackets), the RLMI first, and each active
        # instance's cid names a part.
        assert len(notify.part_ids) == len(notify.parts), notify.message.body[:1000]
        for header in notify.part_ids:
            assert header.startswith("Content-Id: "), header
            assert not header.removeprefix("Content-Id: ").startswith("<"), header
        start = content_type.split('start="<', 1)[1].split('>"', 1)[0]
        assert notify.part_ids[0] == f"Content-Id: {start}"
        assert {cid for cid in notify.resources.values() if cid} <= set(notify.parts)
    assert (received[0].version, received[0].full_state) == (0, True)
    assert [n.version for n in received] == list(range(len(received)))
    # What liblinphone complains of when it drops a NOTIFY or a part of one.
    assert "rlmi+xml:" not in running.log
    assert "Wrongly formatted rlmi+xml body" not in running.log


@pytest.mark.peer("linphonec")
def test_linphonec_knows_which_of_its_contacts_are_linphone_users(running):
    received = notifies(running.log)
    # Every list entry reached it; the accounts (by number or by SIP address) with a presence that makes them
    # Linphone users: basic open, and the account's SIP address as the tuple contact; the others with none.
    assert set().union(*(n.resources for n in received)) == set(LIN_LIST)
    shown: dict[str, tuple[str, str]] = {}
    for notify in received:
        shown.update(presences(notify))
    assert shown == {uri: ("open", address) for uri, address in LIN_USERS.items()}
    # liblinphone took each of them: one stored presence for each PIDF part, Alice's number-only card included.
    assert [n.presences_taken for n in received] == [len(presences(n)) for n in received]

    # Its console, for the contacts with a SIP address: the users online, the others never mentioned. (It prints
    # presence without flushing; a command's answer flushes what came before.)
    assert "registered, identity=sip:lin@127.0.0.1" in running.linphonec.command_output("status register")
    stdout = running.linphonec.stdout
    assert f'Friend "Bob B" <{phone_uri("+33622222222")}> is Online' in stdout, stdout
    assert f'Friend "Erin" <{phone_uri("+33644444444")}> is Online' in stdout
    assert 'Friend "Carol" <sip:carol@127.0.0.1> is Online' in stdout
    for absent in ("Nemo", "Nobody", "Dave", "+33688888888", "+33699999999", "dave@"):
        assert absent not in stdout
    assert "is Offline" not in stdout


@pytest.mark.peer("linphonec")
def test_our_watchers_see_the_linphonec_user_as_the_gate_allows(running, tmp_path):
    """bob is in lin's book (lin's list holds bob's number), so bob sees lin's live status; frank is not, so he
    sees only that lin has an account."""
    book = tmp_path / "book.vcf"
    book.write_text(card("Lin", "TEL;TYPE=cell:+33 6 33 33 33 33"))
    lin = phone_uri("+33633333333")
    watches = {
        user: subprocess.Popen(
            watch_command(user, running.server, book), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for user in ("bob", "frank")
    }
    seen = {}
    for user, process in watches.items():
        try:
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        seen[user] = [line for line in lines if line.get("event") == "presence" and line.get("uri") == lin]
        assert seen[user], lines
    assert linphonec_still_runs(running)

    bob = seen["bob"][-1]
    assert (bob["has_account"], bob["sip_address"], bob["status"]) == (True, "sip:lin@127.0.0.1", "online")
    frank = seen["frank"][-1]
    assert (frank["has_account"], frank["sip_address"]) == (True, "sip:lin@127.0.0.1")
    assert frank["status"] == "unknown", frank  # live status hidden by the gate


def watch_command(user: str, server: SmartbookServer, book: Path) -> list[str]:
    """`smartbook watch --once` as `user` with the book `book`: JSON lines until the first full state."""
    account = ["--sip-uri", f"sip:{user}@127.0.0.1", "--proxy", server.proxy]
    secret = ["--password-file", str(server.password_file)]
    return [sys.executable, "-m", "smartbook_tui.cli", "watch", *account, *secret, "--vcard", str(book), "--once"]


def linphonec_still_runs(running: Running) -> bool:
    return running.linphonec.process.poll() is None


# ---------------------------------------------------------------------------------------------- a big book


@pytest.mark.peer("linphonec")
def test_a_thousand_contact_book_is_fully_shown_by_linphonec(tmp_path):
    require_binary("linphonec", "linphone-cli")
    numbers = [f"+3367{i:07d}" for i in range(1000)]
    users = {number: f"user{i:03d}" for i, number in enumerate(numbers) if i % 10 == 3}  # 100 accounts
    book = "".join(card(f"Contact {i}", f"TEL;TYPE=cell:{number}") for i, number in enumerate(numbers))
    server = start_server(tmp_path / "server", [("lin", "+33633333333"), *((u, n) for n, u in users.items())])
    try:
        with linphonec_session(
            tmp_path / "linphonec", sip_port=server.sip[1], vcards=book, identity=server.aor("lin"), password=PASSWORD
        ) as linphonec:
            # Waiting only: every account's presence stored, and every NOTIFY answered.
            linphonec.wait_until(
                lambda: linphonec.log.count(PRESENCE_RECEIVED) >= len(users) and all_answered(linphonec.log),
                timeout=60,
                what="the presence of the book's 100 users",
            )
            log = linphonec.log
    finally:
        server.stop()

    assert "(list, 1000 entries, legacy form" in server.log
    received = notifies(log)
    assert all(n.response is not None and n.response.status == 200 for n in received)
    # The full state, split into NOTIFYs small enough for liblinphone 5.1 (at most 100 resources each).
    assert (received[0].version, received[0].full_state) == (0, True)
    assert [n.version for n in received] == list(range(len(received)))
    assert max(len(n.resources) for n in received) <= 100
    assert len(received) >= math.ceil(len(numbers) / 100)
    assert set().union(*(n.resources for n in received)) == {phone_uri(number) for number in numbers}
    # Every account's number shown as a Linphone user, and no other number; liblinphone took every one.
    shown: dict[str, tuple[str, str]] = {}
    for notify in received:
        shown.update(presences(notify))
    assert shown == {phone_uri(number): ("open", f"sip:{user}@127.0.0.1") for number, user in users.items()}
    assert [n.presences_taken for n in received] == [len(presences(n)) for n in received]
    assert log.count(PRESENCE_RECEIVED) == len(users)

    # For the lead: linphonec's list SUBSCRIBE to its answer to the last NOTIFY, by its log's clock.
    subscribe = exchanges(sip_trace(log), "SUBSCRIBE", LIST_URI)[0][0]
    last = received[-1].response
    assert last is not None
    seconds = (last.at - subscribe.at).total_seconds()
    print(f"\n1,000-contact book: list SUBSCRIBE -> 200 to the last of {len(received)} NOTIFYs in {seconds:.2f} s")
