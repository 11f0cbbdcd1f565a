"""The session (the app's and `watch`'s) against `smartbook server run`: the book read and watched, the list
subscription with the user's consent, and trouble told as notices and states, never raised."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from smartbook_tui.config import AccountSettings, CardDavSettings, Settings
from smartbook_tui.phone.states import OwnStatus, RegistrationState
from smartbook_tui.roster.events import (
    BookLoaded,
    ListStatus,
    Notice,
    OwnPresenceChanged,
    PresenceChanged,
    RegistrationChanged,
    SessionEvent,
    Severity,
)
from smartbook_tui.roster.session import Session, SessionOptions
from smartbook_tui.subscriber.machine import Phase
from tests.peers.radicale import run_radicale
from tests.peers.sip_publish import pidf, publish
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

FAST = ("--notify-interval", "0.2")
ALICE, BOB, CAROL, NOBODY = "+33611111111", "+33612345678", "+33622222222", "+33699999999"


def phone(number: str) -> str:
    return f"sip:{number}@127.0.0.1;user=phone"


def vcard(name: str, *properties: str) -> str:
    return "".join(f"{line}\r\n" for line in ("BEGIN:VCARD", "VERSION:3.0", f"FN:{name}", *properties, "END:VCARD"))


class Events:
    """What the session told, in order, and a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[SessionEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: SessionEvent) -> None:
        self.seen.append(event)
        self._arrived.set()

    def mark(self) -> int:
        return len(self.seen)

    async def until(self, predicate: Callable[[SessionEvent], bool], *, after: int = 0, timeout: float = 20.0):
        async def wait() -> SessionEvent:
            checked = after
            while True:
                for event in self.seen[checked:]:
                    if predicate(event):
                        return event
                checked = max(checked, len(self.seen))
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"never told: it told {self.seen[after:]}") from None

    def notices(self, severity: Severity) -> list[str]:
        return [event.message for event in self.seen if isinstance(event, Notice) and event.severity is severity]


def presence(uri: str, **expected: object) -> Callable[[SessionEvent], bool]:
    def matches(event: SessionEvent) -> bool:
        return isinstance(event, PresenceChanged) and any(
            update.uri == uri and all(getattr(update.summary, key) == value for key, value in expected.items())
            for update in event.updates
        )

    return matches


def list_phase(phase: Phase) -> Callable[[SessionEvent], bool]:
    return lambda event: isinstance(event, ListStatus) and event.phase is phase


def book_of(count: int) -> Callable[[SessionEvent], bool]:
    return lambda event: isinstance(event, BookLoaded) and len(event.contacts) == count


def options(server: SmartbookServer, *books: Path, share_book: bool | None = True, password: str = PASSWORD):
    settings = Settings(
        vcard=list(books),
        region="FR",
        account=AccountSettings(sip_uri=server.aor("alice"), proxy=server.proxy),
    )
    return SessionOptions(settings, password=password, share_book=share_book, null_audio=True)


@asynccontextmanager
async def running(session: Session) -> AsyncIterator[Events]:
    events = Events()
    task = asyncio.create_task(session.run(events))
    try:
        yield events
    finally:
        session.stop()
        await asyncio.wait_for(task, 10.0)  # run ends, and raises nothing


def subscriptions(server: SmartbookServer) -> int:
    return server.log.count("alice@127.0.0.1 subscribes to")


async def test_the_book_then_presence_then_an_edited_file_changes_the_list(tmp_path):
    book = tmp_path / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}") + vcard("Nobody", "TEL:06 99 99 99 99"))
    accounts = [("alice", ALICE), ("carol", CAROL)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts) as server:
        server.add_account("bob", BOB, public=True)
        async with running(Session(options(server, book), phone=False)) as events:
            loaded = await events.until(book_of(2))
            assert [contact.name for contact in loaded.contacts] == ["Bob", "Nobody"]
            assert loaded.domain == "127.0.0.1"
            assert loaded.sources == (str(book),)
            await events.until(presence(phone(BOB), has_account=True, sip_address="sip:bob@127.0.0.1"))
            await events.until(presence(phone(NOBODY), has_account=False))  # a national number, read as FR
            await events.until(lambda event: isinstance(event, ListStatus) and event.complete)

            mark = events.mark()
            assert await publish(server.sip, "bob", PASSWORD, pidf("sip:bob@127.0.0.1", note="at lunch")) == 200
            await events.until(presence(phone(BOB), note="at lunch"), after=mark)

            mark = events.mark()
            with book.open("a") as file:  # the user adds Carol while the session runs
                file.write(vcard("Carol", f"TEL:{CAROL}"))
            again = await events.until(book_of(3), after=mark)
            assert again.contacts[-1].name == "Carol"
            carol = await events.until(presence(phone(CAROL)), after=mark)
            assert carol.updates[0].summary.has_account is True
            assert subscriptions(server) == 1  # the new contact went as a change in the dialog (list-delta)
    assert events.notices(Severity.ERROR) == []


async def test_nothing_is_sent_before_consent_and_it_can_be_withdrawn(tmp_path):
    book = tmp_path / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("bob", BOB)]) as server:
        session = Session(options(server, book, share_book=None), phone=False)
        async with running(session) as events:
            await events.until(book_of(1))
            idle = await events.until(list_phase(Phase.IDLE))
            assert "not shared with Linphone" in idle.detail

            mark = events.mark()
            session.share_book(True)
            await events.until(presence(phone(BOB), has_account=True), after=mark)
            assert subscriptions(server) == 1  # the one after consent, none before

            mark = events.mark()
            session.share_book(False)
            stopped = await events.until(list_phase(Phase.STOPPED), after=mark)
            assert stopped.detail == "unsubscribed"
            await events.until(list_phase(Phase.IDLE), after=mark)
            server.wait_for_log("subscription of alice to sip:rls@127.0.0.1 ends")
            assert "the book is no longer sent to Linphone" in events.notices(Severity.INFORMATION)


async def test_a_dead_server_is_a_state_and_a_notice_then_the_session_recovers(tmp_path):
    book = tmp_path / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        async with running(Session(options(server, book), phone=False)) as events:
            await events.until(list_phase(Phase.ACTIVE))

            mark = events.mark()
            server.stop(signal.SIGKILL)  # no goodbye: the connection just drops
            waiting = await events.until(list_phase(Phase.WAITING), after=mark)
            assert "no connection to the server" in waiting.detail
            warning = await events.until(lambda event: isinstance(event, Notice), after=mark)
            assert warning.severity is Severity.WARNING
            assert warning.message.startswith("the contacts' status is out of date: no connection to the server")

            mark = events.mark()
            server.start()
            await events.until(list_phase(Phase.ACTIVE), after=mark, timeout=30.0)
            assert "the contacts' status is live again" in events.notices(Severity.INFORMATION)
            assert await publish(server.sip, "bob", PASSWORD, pidf("sip:bob@127.0.0.1", note="back")) == 200
            await events.until(presence(phone(BOB), note="back"), after=mark)


async def test_a_broken_card_and_a_wrong_password_are_notices_not_exceptions(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    (books / "good.vcf").write_text(vcard("Bob", f"TEL:{BOB}"))
    (books / "broken.vcf").write_text("BEGIN:VCARD\r\nno colon here\r\nEND:VCARD\r\n")
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("bob", BOB)]) as server:
        session = Session(options(server, books, password="not it"), phone=False)
        async with running(session) as events:
            loaded = await events.until(book_of(1))
            assert [card.source for card in loaded.skipped] == [str(books / "broken.vcf")]
            failed = await events.until(list_phase(Phase.FAILED))
            assert "user name or password" in failed.detail
            assert events.notices(Severity.ERROR) == [failed.detail]
            [skipped] = events.notices(Severity.WARNING)
            assert skipped.startswith(f"{books / 'broken.vcf'}: card 1 skipped")


async def test_cards_that_cannot_be_read_are_one_notice_and_each_is_in_the_log(tmp_path, caplog):
    contacts = Path(__file__).parents[2] / "fixtures" / "contacts"
    broken = contacts / "broken.vcf"
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        session = Session(options(server, contacts), phone=False)
        async with running(session) as events:
            loaded = await events.until(lambda event: isinstance(event, BookLoaded))
    assert [(card.source, card.index) for card in loaded.skipped] == [(str(broken), n) for n in (2, 3, 5)]
    [notice] = [event for event in events.seen if isinstance(event, Notice) and event.severity is Severity.WARNING]
    first = loaded.skipped[0]
    assert notice.message == (
        f"3 cards could not be read (first: {broken} card 2: {first.reason}); see the log {session.options.log_file}"
    )
    assert notice.details == tuple(str(card) for card in loaded.skipped)  # what `watch` prints, one line each
    logged = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert logged == [str(card) for card in loaded.skipped]


def registration(state: RegistrationState) -> Callable[[SessionEvent], bool]:
    return lambda event: isinstance(event, RegistrationChanged) and event.registration.state is state


async def test_with_the_phone_the_account_registers_and_publishes_its_status(tmp_path, capfd):
    book = tmp_path / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        server.add_account("bob", BOB, public=True)
        session = Session(options(server, book), phone=True)
        session.set_presence(OwnStatus.AWAY, "at lunch")  # before it runs: published once the phone is up
        async with running(session) as events:
            await events.until(registration(RegistrationState.REGISTERED))
            mine = await events.until(lambda event: isinstance(event, OwnPresenceChanged) and event.presence.published)
            assert (mine.presence.status, mine.presence.note) == (OwnStatus.AWAY, "at lunch")
            await events.until(presence(phone(BOB), has_account=True))
            server.wait_for_log("alice@127.0.0.1 registers")
        server.wait_for_log("alice@127.0.0.1 unregisters")  # stopping the session leaves nothing behind
    assert capfd.readouterr().out == ""  # pjsip printed nothing on the terminal


async def test_with_the_phone_a_carddav_server_that_never_answers_does_not_hold_up_the_registration(tmp_path):
    silent = await asyncio.start_server(lambda _reader, _writer: None, "127.0.0.1", 0)  # reads, never answers
    port = silent.sockets[0].getsockname()[1]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        settings = options(server)
        settings.settings.carddav = CardDavSettings(url=f"http://127.0.0.1:{port}/book/", insecure_http=True)
        async with running(Session(settings, phone=True)) as events:
            await events.until(registration(RegistrationState.REGISTERED), timeout=10)
            assert not any(isinstance(event, BookLoaded) and event.sources for event in events.seen)
    silent.close()


async def test_with_the_phone_a_wrong_password_is_a_state_and_one_notice(tmp_path):
    book = tmp_path / "book.vcf"
    book.write_text(vcard("Bob", f"TEL:{BOB}"))
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE)]) as server:
        session = Session(options(server, book, password="not it"), phone=True)
        async with running(session) as events:
            failed = await events.until(registration(RegistrationState.FAILED))
            await events.until(list_phase(Phase.FAILED))
            assert failed.registration.retrying is False
            errors = events.notices(Severity.ERROR)
            assert f"not registered: {failed.registration.detail}" in errors
            assert len(errors) == 2  # one for the registration, one for the list: said once each


async def test_a_carddav_book_is_followed_and_its_failures_are_notices(tmp_path):
    anne = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anne\r\nFN:Anne\r\nTEL:+33612345678\r\nEND:VCARD\r\n"
    carol = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:carol\r\nFN:Carol\r\nTEL:06 22 22 22 22\r\nEND:VCARD\r\n"
    secret = tmp_path / "carddav-password"
    secret.write_text("s3cret\n")
    with (
        run_radicale(tmp_path / "radicale", {"alice": "s3cret"}) as dav,
        run_smartbook_server(tmp_path / "server", *FAST, accounts=[("alice", ALICE), ("carol", CAROL)]) as server,
    ):
        address_book = dav.make_address_book("alice")
        dav.put_card("alice", address_book, "anne.vcf", anne)
        settings = options(server).settings
        settings.carddav = CardDavSettings(
            url=dav.url, user="alice", password_file=secret, cache=tmp_path / "cache", poll=0.2
        )
        async with running(
            Session(SessionOptions(settings, password=PASSWORD, share_book=True), phone=False)
        ) as events:
            loaded = await events.until(book_of(1))
            assert loaded.sources == (dav.url,)
            await events.until(list_phase(Phase.ACTIVE))

            mark = events.mark()
            dav.put_card("alice", address_book, "carol.vcf", carol)
            await events.until(book_of(2), after=mark)
            await events.until(presence(phone(CAROL), has_account=True), after=mark)

            mark = events.mark()
            dav.stop()
            warning = await events.until(lambda event: isinstance(event, Notice), after=mark)
            assert warning.message.startswith(f"CardDAV: cannot reach {dav.url.rstrip('/')}")
            assert warning.message.endswith("showing the last good copy")
            assert not any(isinstance(event, BookLoaded) for event in events.seen[mark:])  # the book stays
