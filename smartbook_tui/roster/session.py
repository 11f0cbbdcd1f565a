"""The session: settings -> the live book -> the list subscription -> the phone, shared by the app and `smartbook
watch`. Everything it has to tell arrives as a `SessionEvent` on the event loop; trouble becomes a `Notice` and a
state, never an exception out of `run`.

The book's numbers go to the service only once `share_book` is True (the user's consent). A list stored on the
server (`list_uri`) carries nothing of the book, so it is subscribed to either way. The phone (pjsua2) is imported
only when the session has one, so that `watch` never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from smartbook_tui import __version__
from smartbook_tui.config import Settings
from smartbook_tui.phone.states import CallEvent, OwnPresence, OwnStatus, Registration, RegistrationState
from smartbook_tui.sip.aio import open_flow
from smartbook_tui.sip.auth import Credentials
from smartbook_tui.sip.uri import SipParseError, SipUri, parse_sip_uri
from smartbook_tui.subscriber.book import BookSubscription
from smartbook_tui.subscriber.machine import Phase, ServerWarning, Status, SubscriptionConfig, Updates
from smartbook_tui.subscriber.runner import Connect, Event, Flow

from .device import device_instance
from .events import (
    BookLoaded,
    ListStatus,
    Notice,
    OwnPresenceChanged,
    PresenceChanged,
    RegistrationChanged,
    SessionEvent,
    Severity,
)
from .live_book import BookSnapshot, LiveBook
from .session_calls import SessionCalls
from .session_options import SessionOptions

if TYPE_CHECKING:
    from smartbook_tui.phone.engine import Phone

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
USER_AGENT = f"smartbook/{__version__}"
TROUBLE_NOTICE_AFTER = 3.0  # seconds the list subscription must stay down before a notice says so
PHONE_WAITS_FOR_BOOK = 1.0  # seconds at most the phone's start waits for the book to be read and its list asked for


class SessionError(ValueError):
    """Options a session cannot start with; the message is one line a person can act on."""


@dataclass(frozen=True, slots=True)
class _Account:
    aor: SipUri
    transport: str
    server: tuple[str, int]  # host (a name or an address) and port requests go to
    proxy_given: bool
    ssl_context: ssl.SSLContext | None
    credentials: Credentials | None

    @property
    def domain(self) -> str:
        return self.aor.host


def resolve_account(settings: Settings, password: str | None) -> _Account:
    """The account of `settings`, checked. Raises SessionError saying what to fix."""
    account = settings.account
    if not account.sip_uri:
        raise SessionError("no account given: use --sip-uri sip:user@domain (or [account] sip_uri in the settings)")
    try:
        aor = parse_sip_uri(account.sip_uri)
    except SipParseError as exc:
        raise SessionError(str(exc)) from None
    transport = (account.transport or "tcp").lower()
    if transport not in DEFAULT_PORTS:
        raise SessionError(f"unknown transport {transport!r}: use udp, tcp or tls")
    server = split_proxy(account.proxy or aor.host, DEFAULT_PORTS[transport])
    try:
        ssl_context = _ssl_context(account.ca) if transport == "tls" else None
    except (OSError, ssl.SSLError) as exc:
        raise SessionError(f"cannot use the CA file {account.ca}: {exc}") from None
    credentials = Credentials(account.username or aor.user or "", password) if password else None
    return _Account(
        SipUri("sip", aor.user, None, aor.host, aor.port),
        transport,
        server,
        account.proxy is not None,
        ssl_context,
        credentials,
    )


def split_proxy(proxy: str, default_port: int) -> tuple[str, int]:
    """HOST[:PORT] (an IPv6 address in brackets) as host and port. Raises SessionError."""
    host, port = proxy, default_port
    if proxy.startswith("["):
        host, _, rest = proxy[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), proxy)
    elif proxy.count(":") == 1:
        host, _, digits = proxy.partition(":")
        port = _port(digits, proxy)
    if not host:
        raise SessionError(f"the proxy {proxy!r} names no host: give HOST or HOST:PORT")
    return host, port


def _port(digits: str, proxy: str) -> int:
    if not digits.isdigit() or not 0 < int(digits) < 65536:
        raise SessionError(f"the proxy {proxy!r} has no valid port: give HOST or HOST:PORT")
    return int(digits)


def _ssl_context(ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca.expanduser()))
    return context


def list_subscriber(config: SubscriptionConfig, connect: Connect, transport: str) -> BookSubscription:
    """The list subscription of a book: the one place that says which class carries it."""
    return BookSubscription(config, connect, transport=transport)


class Session:
    """One account's session. Raises SessionError when `options` cannot work (no account, a wrong transport...)."""

    def __init__(self, options: SessionOptions, *, phone: bool = True) -> None:
        self.options = options
        self._account = resolve_account(options.settings, options.password)
        self._with_phone = phone
        self._share = options.share_book is True
        self._list_uri = options.settings.account.list_uri
        self._rls_uri = options.settings.account.rls_uri or f"sip:rls@{self._account.domain}"
        self._stop = asyncio.Event()
        self._book_read = asyncio.Event()  # the first book is out (and its list subscription begun, if any)
        self._on_event: Callable[[SessionEvent], None] = lambda _event: None
        self._book = LiveBook(
            options.settings, domain=self._account.domain, on_notice=self._tell, log_file=options.log_file
        )
        self._resources: tuple[str, ...] | None = None  # None until the book has settled
        self._subscriber: BookSubscription | None = None
        self._subscriber_task: asyncio.Task[None] | None = None
        self._subscriber_stopping = False
        # The list the server refused for good (a 1-tuple around it, whose None is the list stored on the server),
        # never sent again as it is.
        self._refused: tuple[tuple[str, ...] | None] | None = None
        self._list_state = ListStatus(Phase.IDLE, "", complete=False, resources=0)
        self._list_trouble = False  # a notice said the status is out of date
        self._trouble_timer: asyncio.TimerHandle | None = None
        self._waiting_detail = ""
        self._quota = ""  # the service's last word on numbers it did not check (ServerWarning)
        self._phone: Phone | None = None
        self.calls = SessionCalls(str(self._account.aor), options.call_log, self._emit)
        self._registration_trouble: str | None = None
        self._presence: tuple[OwnStatus, str | None] | None = None  # asked for before the phone was up
        self._running = False

    @property
    def domain(self) -> str:
        """Where the book's numbers become resources."""
        return self._account.domain

    # ------------------------------------------------------------------------------------------------ owner API

    async def run(self, on_event: Callable[[SessionEvent], None]) -> None:
        """Run until `stop()`: events go to `on_event` on the loop. Never raises for what a network, a server or a
        file can do; the state and a Notice say it instead."""
        self._on_event = on_event
        self._running = True
        book_task = asyncio.create_task(self._run_book())
        try:
            if self._list_uri:
                self._update_list()
            if self._with_phone and not self._stop.is_set():
                await self._book_read_or_stop()
                if not self._stop.is_set():
                    await self._start_phone()
            await self._stop.wait()
        finally:
            self._running = False
            self._cancel_trouble_timer()
            book_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await book_task
            await self._stop_list()
            await self._shutdown_phone()

    async def _book_read_or_stop(self) -> None:
        """The book and its list first: the phone's start (pjsua2 and its endpoint, ~50 ms of the loop) would hold up
        the book's reading and the table's first paint. A book slow to come (CardDAV) holds it up a second at most."""
        waits = [asyncio.ensure_future(self._book_read.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, timeout=PHONE_WAITS_FOR_BOOK, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def stop(self) -> None:
        """End `run`: unsubscribe, unregister, and return (safe to call from the loop at any time)."""
        self._stop.set()

    def set_presence(self, status: OwnStatus, note: str | None = None) -> None:
        """Publish the user's own presence (kept until the phone is up)."""
        if self._phone is not None:
            self._phone.set_presence(status, note)
        else:
            self._presence = (status, note)

    def share_book(self, allowed: bool) -> None:
        """Consent given (subscribe with the book) or withdrawn (unsubscribe, the book stays on screen)."""
        if allowed == self._share:
            return
        self._share = allowed
        if not allowed and self._subscriber is not None and not self._list_uri:
            self._notice(Severity.INFORMATION, f"the book is no longer sent to {self.options.service_name}")
        if self._running:
            self._update_list()

    # ------------------------------------------------------------------------------------------------ the book

    async def _run_book(self) -> None:
        try:
            await self._book.run(self._book_changed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fault of the book's code: the session goes on with the book it has
            log.exception("the address book stopped being watched")
            self._notice(Severity.ERROR, f"the address book is no longer watched for changes ({exc}): see the log")

    def _book_changed(self, snapshot: BookSnapshot) -> None:
        if self._stop.is_set():
            return
        self._emit(BookLoaded(snapshot.contacts, snapshot.skipped, snapshot.sources, self.domain))
        if snapshot.settled:
            self._resources = snapshot.resources
            self._update_list()
        self._book_read.set()

    # ------------------------------------------------------------------------------------------------ the list

    def _wanted(self) -> tuple[str, ...] | str | None:
        """The resources to subscribe to (None: the list stored on the server), or why there is no subscription."""
        wanted: tuple[str, ...] | None = None
        if not self._list_uri:
            if not self._share:
                return (
                    f"the book is not shared with {self.options.service_name}: nobody's status is shown until you "
                    "agree to send its numbers"
                )
            if self._resources is None:
                return "reading the book"
            if not self._resources:
                return "the book has no numbers or addresses to look up"
            wanted = self._resources
        if self._refused is not None and self._refused[0] == wanted:
            return self._list_state.detail  # refused for good: asked again only once the book changes
        return wanted

    def _update_list(self) -> None:
        if self._stop.is_set() or self._subscriber_stopping:
            return  # what is wanted is looked at again once the stopping subscription has ended
        wanted = self._wanted()
        if isinstance(wanted, str):
            if self._subscriber is not None:
                self._subscriber_stopping = True
                self._subscriber.stop()
            elif self._list_state.phase is not Phase.FAILED:
                self._set_list_state(ListStatus(Phase.IDLE, wanted, complete=False, resources=0))
        elif self._subscriber is not None:
            if wanted is not None:
                self._subscriber.replace_list(wanted)
        else:
            self._start_list(wanted)

    def _start_list(self, resources: tuple[str, ...] | None) -> None:
        account = self._account
        config = SubscriptionConfig(
            aor=str(account.aor),
            target=self._rls_uri if resources is not None else str(self._list_uri),
            resources=resources,
            credentials=account.credentials,
            expires=self.options.expires,
            user_agent=USER_AGENT,
        )
        connect = functools.partial(self._connect, max_body=config.max_body)
        subscriber = list_subscriber(config, connect, account.transport)
        self._subscriber = subscriber
        self._subscriber_task = asyncio.create_task(self._run_list(subscriber))

    async def _run_list(self, subscriber: BookSubscription) -> None:
        try:
            await subscriber.run(lambda event: self._list_event(subscriber, event))
        except Exception as exc:  # a transport that cannot be set up at all
            log.exception("the list subscription ended")
            self._list_event(subscriber, Status(Phase.FAILED, str(exc)))
        finally:
            if self._subscriber is subscriber:
                self._subscriber = None
                self._subscriber_task = None
                self._subscriber_stopping = False
                if self._running:
                    self._update_list()

    async def _stop_list(self) -> None:
        subscriber, task = self._subscriber, self._subscriber_task
        if subscriber is None or task is None:
            return
        subscriber.stop()
        await task  # _run_list says itself what went wrong, if anything did

    def _list_event(self, subscriber: BookSubscription, event: Event) -> None:
        if subscriber is not self._subscriber:
            return
        resources = len(subscriber.resources or ()) if self._list_uri is None else 0
        if isinstance(event, Updates):
            self._emit(PresenceChanged(event.updates))
            if subscriber.complete != self._list_state.complete:
                state = self._list_state
                self._set_list_state(ListStatus(state.phase, state.detail, subscriber.complete, resources, self._quota))
            return
        if isinstance(event, ServerWarning):  # said once; the list goes on as it is, nothing is retried for it
            if event.text != self._quota:
                self._quota = event.text
                self._notice(Severity.WARNING, event.text)
                self._set_list_state(replace(self._list_state, quota=event.text))
            return
        self._set_list_state(ListStatus(event.phase, event.detail, subscriber.complete, resources, self._quota))
        if event.phase is Phase.WAITING:
            self._waiting_detail = event.detail
        if event.phase is Phase.FAILED:
            self._refused = (subscriber.resources,)
            self._notice(Severity.ERROR, event.detail)
        elif event.phase is Phase.WAITING and not self._list_trouble and self._trouble_timer is None:
            # A server restart resubscribes within a moment: only trouble that lasts is worth a notice.
            self._trouble_timer = asyncio.get_running_loop().call_later(TROUBLE_NOTICE_AFTER, self._tell_trouble)
        elif event.phase is Phase.ACTIVE:
            self._cancel_trouble_timer()
            if self._list_trouble:
                self._list_trouble = False
                self._notice(Severity.INFORMATION, "the contacts' status is live again")

    def _tell_trouble(self) -> None:
        self._trouble_timer = None
        if self._list_state.phase in (Phase.WAITING, Phase.SUBSCRIBING):
            self._list_trouble = True
            self._notice(Severity.WARNING, f"the contacts' status is out of date: {self._waiting_detail}")

    def _cancel_trouble_timer(self) -> None:
        if self._trouble_timer is not None:
            self._trouble_timer.cancel()
            self._trouble_timer = None

    def _set_list_state(self, state: ListStatus) -> None:
        self._list_state = state
        self._emit(state)

    async def _connect(
        self, on_message: Callable[..., None], on_lost: Callable[[Exception | None], None], *, max_body: int
    ) -> Flow:
        account = self._account
        host, port = account.server
        return await open_flow(
            account.transport,
            (await _address(host, port), port),
            on_message=lambda message, _source: on_message(message),
            on_lost=on_lost,
            ssl_context=account.ssl_context,
            server_hostname=host if account.transport == "tls" else None,
            max_body=max_body,
            ca_option="--ca",
        )

    # ------------------------------------------------------------------------------------------------ the phone

    async def _start_phone(self) -> None:
        from smartbook_tui.phone.engine import Phone, PhoneAccount  # noqa: PLC0415 (pjsua2 only when wanted)

        settings = self.options.settings.account
        account = PhoneAccount(
            sip_uri=str(self._account.aor),
            username=settings.username or self._account.aor.user or "",
            password=self.options.password or "",
            proxy=self._account.server if self._account.proxy_given else None,
            transport=self._account.transport,
            ca=settings.ca,
            instance=device_instance(),
        )
        try:
            phone = Phone(
                account,
                on_event=self._phone_event,
                null_audio=self.options.null_audio,
                audio_device=self.options.audio_device,
                user_agent=USER_AGENT,
            )
            await phone.start()
        except Exception as exc:  # no endpoint: the book and the list work without one
            log.exception("the phone did not start")
            self._notice(Severity.ERROR, f"the phone cannot start ({exc}): calls and your own status are off")
            return
        self._phone = self.calls.phone = phone
        if self._presence is not None:
            phone.set_presence(*self._presence)
            self._presence = None

    async def _shutdown_phone(self) -> None:
        phone, self._phone = self._phone, None
        self.calls.phone = None
        if phone is None:
            return
        try:
            await phone.shutdown()
        except Exception:
            log.exception("the phone did not shut down cleanly")

    def _phone_event(self, event: Registration | OwnPresence | CallEvent) -> None:
        if isinstance(event, CallEvent):
            self.calls.phone_event(event)
            return
        if isinstance(event, OwnPresence):
            self._emit(OwnPresenceChanged(event))
            if event.detail and not event.published:
                self._notice(Severity.WARNING, f"your status was not published: {event.detail}")
            return
        self._emit(RegistrationChanged(event))
        if event.state is RegistrationState.FAILED and event.detail != self._registration_trouble:
            self._registration_trouble = event.detail
            self._notice(Severity.ERROR, f"not registered: {event.detail}")
        elif event.state is RegistrationState.REGISTERED and self._registration_trouble is not None:
            self._registration_trouble = None
            self._notice(Severity.INFORMATION, "registered again")

    # ------------------------------------------------------------------------------------------------ events

    def _notice(self, severity: Severity, message: str) -> None:
        self._tell(Notice(severity, message))

    def _tell(self, notice: Notice) -> None:
        # INFO whatever the severity: the owner shows it; a WARNING would reach stderr where logging is not set up.
        log.info("notice (%s): %s", notice.severity.value, notice.message)
        self._emit(notice)

    def _emit(self, event: SessionEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # the owner's fault must not end the session's tasks
            log.exception("the session's owner failed on %s", type(event).__name__)


async def _address(host: str, port: int) -> str:
    """`host` as an address: looked up on each connection, so that a name that moved is followed."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionError(f"cannot find {host}: {exc.strerror or exc}") from None
    return str(found[0][4][0])
