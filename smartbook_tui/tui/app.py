"""The app: it makes the session (once the account is known and consent asked), runs it on its own loop, and
hands what it says to the main screen; keys become intentions (set presence, share the book, quit)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from smartbook_tui.assistant import OUTBOX_VARIABLE
from smartbook_tui.collector import collect_from_now_on
from smartbook_tui.phone.states import OwnPresence, OwnStatus
from smartbook_tui.roster.consent import ConsentStore
from smartbook_tui.roster.events import (
    BookLoaded,
    CallChanged,
    ListStatus,
    Notice,
    OwnPresenceChanged,
    PresenceChanged,
    RegistrationChanged,
    SessionEvent,
)
from smartbook_tui.tui.call_control import CallControl
from smartbook_tui.tui.commands import SmartbookCommands
from smartbook_tui.tui.screens.main import MainScreen
from smartbook_tui.tui.widgets.contact_table import ContactTable

# The account form and the dialogs (with the widgets only they use) load when they are first shown, not before
# the first frame.
if TYPE_CHECKING:
    from smartbook_tui.assistant.client import Discoverability
    from smartbook_tui.assistant.outbox import Outbox
    from smartbook_tui.roster.session import Session
    from smartbook_tui.roster.session_options import SessionOptions
    from smartbook_tui.tui.screens.account import SavedAccount
    from smartbook_tui.tui.screens.assistant import AssistantDone, AssistantScreen, Task
    from smartbook_tui.tui.screens.dialogs import PresenceChoice

    SessionFactory = Callable[[SessionOptions], Session]

log = logging.getLogger(__name__)

_STOP_TIMEOUT = 5.0  # seconds the session gets to unsubscribe and unregister before it is cancelled
_NOTICE_TIMEOUTS: dict[SeverityLevel, float] = {"information": 5, "warning": 10, "error": 20}
_TONE_KEYS = (*((digit, digit) for digit in "0123456789"), ("asterisk", "*"), ("number_sign", "#"))
_SMS_POLL = 0.5  # seconds between two looks at the demo's SMS outbox


class SmartbookApp(App[int]):
    CSS_PATH = "smartbook.tcss"
    TITLE = "smartbook"
    COMMANDS = App.COMMANDS | {SmartbookCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (unsubscribes and unregisters first)"),
        Binding("question_mark", "help", "Help", id="help", tooltip="This help"),
        Binding("p", "presence", "Presence", id="presence", tooltip="Set my presence and note"),
        Binding("b", "share_book", "Share book", show=False, id="share-book", tooltip="Share my book with the service"),
        Binding("enter,c", "call", "Call", id="call", tooltip="Call the contact (asks which number when several)"),
        Binding("r", "call_log", "Calls", id="call-log", tooltip="The calls: missed, incoming, outgoing"),
        Binding("h", "hang_up", "Hang up", id="hang-up", tooltip="Hang up (or cancel) the call"),
        Binding("m", "mute", "Mute", id="mute", tooltip="Mute or unmute the microphone in the call"),
        Binding("o", "hold", "Hold", id="hold", tooltip="Put the call on hold, or resume it"),
        *(
            Binding(key, f"tone('{tone}')", "Tone", show=False, id=f"tone-{tone}", tooltip="A tone (DTMF) in the call")
            for key, tone in _TONE_KEYS
        ),
    ]

    def __init__(
        self, options: SessionOptions, *, config_path: Path, session_factory: SessionFactory | None = None
    ) -> None:
        super().__init__()
        self.options = options
        self.config_path = config_path
        self.session_factory = session_factory  # None: the real Session
        self.service_name = options.service_name
        self.session: Session | None = None
        self.book_shared: bool | None = None  # None: not asked yet for this account
        self.own = OwnPresence(OwnStatus.ONLINE)
        self._session_task: asyncio.Task[None] | None = None
        self._list_status: ListStatus | None = None
        self._book: BookLoaded | None = None
        self._asking = False
        self.calls = CallControl(self)
        self.main = MainScreen(
            service_name=options.service_name,
            account=options.settings.account.sip_uri or "no account",
            users_only=options.users_only,
            config_path=config_path,
        )

    def get_default_screen(self) -> Screen:
        return self.main

    def on_main_screen_ready(self) -> None:
        collect_from_now_on()
        self._show_demo_sms()
        if self.options.settings.account.sip_uri:
            self._start_session()  # its modules load now that the first frame is out
        else:
            from smartbook_tui.tui.screens.account import AccountScreen  # noqa: PLC0415 (see the imports)

            screen = AccountScreen(config_path=self.config_path, assistant=self.assistant_screen)
            self.push_screen(screen, self._account_saved)

    def _account_saved(self, saved: SavedAccount | None) -> None:
        if saved is None:
            return
        settings = dataclasses.replace(self.options.settings, account=saved.account)
        self.options = dataclasses.replace(self.options, settings=settings, password=saved.password)
        self.main.set_account(saved.account.sip_uri or "")
        self.notify(f"Account saved in {self.config_path}.", timeout=5)
        self._start_session()

    # -- the Assistant

    def assistant_screen(self, task: Task) -> AssistantScreen:
        from smartbook_tui.contacts.phones import default_region  # noqa: PLC0415 (see the imports)
        from smartbook_tui.tui.screens.assistant import AssistantScreen  # noqa: PLC0415

        try:
            region = default_region(self.options.settings.region)
        except ValueError:  # a region phonenumbers does not know: the session says so; numbers need their +code
            region = None
        return AssistantScreen(
            task,
            api_url=self.options.account_api,
            region=region,
            config_path=self.config_path,
            account=self.options.settings.account,
            password=self.options.password,
        )

    def action_assistant(self, task: str) -> None:
        from smartbook_tui.tui.screens.assistant import Task  # noqa: PLC0415 (see the imports)

        self.push_screen(self.assistant_screen(Task(task)), self._assistant_done)

    def _assistant_done(self, done: AssistantDone | None) -> None:
        if done is not None:
            self.notify(done.message, title="Assistant", timeout=30)

    def action_discoverable(self) -> None:
        from smartbook_tui.tui.screens.discoverable import DiscoverableScreen  # noqa: PLC0415 (see the imports)

        screen = DiscoverableScreen(
            api_url=self.options.account_api, account=self.options.settings.account, password=self.options.password
        )
        self.push_screen(screen, self._discoverable_saved)

    def _discoverable_saved(self, setting: Discoverability | None) -> None:
        if setting is not None:
            from smartbook_tui.assistant.discoverable import sentence  # noqa: PLC0415 (see the imports)

            self.notify(sentence(setting), title="Saved", timeout=10)

    def _show_demo_sms(self) -> None:
        """`smartbook demo` names its server's SMS outbox: each SMS is shown as it would reach the phone."""
        path = os.environ.get(OUTBOX_VARIABLE)
        if path:
            from smartbook_tui.assistant.outbox import Outbox  # noqa: PLC0415 (see the imports)

            outbox = Outbox(Path(path))
            self.set_interval(_SMS_POLL, lambda: self._notify_sms(outbox))

    def _notify_sms(self, outbox: Outbox) -> None:
        for sms in outbox.new_messages():
            self.notify(sms.notice(), title="SMS (demo)", timeout=60)

    # -- the session

    @property
    def _account(self) -> str:
        return self.options.settings.account.sip_uri or ""

    @property
    def domain(self) -> str | None:
        """Where the book's numbers become resources: the book's, else the account's."""
        if self._book is not None and self._book.domain:
            return self._book.domain
        return self._account.partition("@")[2].split(";")[0] or None

    def _start_session(self) -> None:
        self.book_shared = self._known_consent()
        self.main.set_list(None, self.book_shared)
        factory = self.session_factory
        if factory is None:
            from smartbook_tui.roster.session import Session  # noqa: PLC0415 (its stack loads after the first frame)

            factory = Session
        try:
            session = factory(dataclasses.replace(self.options, share_book=self.book_shared))
        except (ValueError, OSError) as exc:  # settings the session cannot use: say so, keep the screen
            log.warning("cannot start the session: %s", exc)
            self.notify(f"Cannot start: {exc}", severity="error", timeout=30)
            return
        self.session = session
        self._session_task = asyncio.create_task(self._run_session(session), name="smartbook session")

    def _known_consent(self) -> bool | None:
        """Consent to send the book: the flag, else the answer given before for this account, else None (ask)."""
        if self.options.settings.account.list_uri:
            return True  # the list lives on the server: the book is not sent
        if self.options.share_book is not None:  # --share-book answers yes for good; --no-share-book, for this run
            if self.options.share_book:
                self._remember_consent(True)
            return self.options.share_book
        return ConsentStore().get(self._account)

    def _remember_consent(self, allowed: bool) -> None:
        try:
            ConsentStore().set(self._account, allowed)
        except OSError as exc:
            log.warning("cannot save the consent answer: %s", exc)
            self.notify(
                f"Your answer could not be saved ({exc.strerror}); you will be asked again.", severity="warning"
            )

    async def _run_session(self, session: Session) -> None:
        try:
            await session.run(self._on_event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the session stopped")
            self.notify(
                f"The connection to the service stopped ({exc}). See the log: {self.options.log_file}",
                severity="error",
                timeout=30,
            )

    def _on_event(self, event: SessionEvent) -> None:
        if self.session is None or not self.main.is_attached:
            return  # the app is closing: what the session says while it stops is for the log alone
        try:
            self._handle(event)
        except Exception:
            log.exception("cannot show %s", type(event).__name__)
            self.notify(f"Something could not be shown; see the log: {self.options.log_file}", severity="error")

    def _handle(self, event: SessionEvent) -> None:
        match event:
            case PresenceChanged(updates):
                self.main.add_presence(updates)
            case BookLoaded():
                self._book = event
                self.main.load_book(event)
                if self.book_shared is None:
                    self._ask_consent()
            case ListStatus():
                self._list_status = event
                self.main.set_list(event, self.book_shared)
            case RegistrationChanged(registration):
                self.main.set_registration(registration)
            case CallChanged(call, digit):
                if not digit:  # a tone the other side sent: nothing to show
                    self.calls.changed(call)
            case OwnPresenceChanged(presence):
                self.own = presence
                self.main.set_own(presence)
            case Notice(severity, message):
                level: SeverityLevel = severity.value  # type: ignore[assignment]
                self.notify(message, severity=level, timeout=_NOTICE_TIMEOUTS[level])

    async def _stop_session(self) -> None:
        session, task = self.session, self._session_task
        self.session, self._session_task = None, None
        if session is None or task is None:
            return
        session.stop()
        try:
            await asyncio.wait_for(task, _STOP_TIMEOUT)
        except TimeoutError:
            log.warning("the session did not stop in %.0f s; cancelled", _STOP_TIMEOUT)
        except Exception:
            log.exception("the session failed while stopping")

    async def on_unmount(self) -> None:
        await self._stop_session()

    # -- consent

    def _ask_consent(self) -> None:
        book = self._book
        if self._asking or book is None:
            return
        contacts = [c for c in book.contacts if c.sip_addresses or any(n.e164 for n in c.numbers)]
        if not contacts:
            return  # nothing would be sent: ask when the book has something
        numbers = sum(len(c.sip_addresses) + sum(1 for n in c.numbers if n.e164) for c in contacts)
        self._asking = True
        from smartbook_tui.tui.screens.dialogs import ConsentDialog  # noqa: PLC0415 (see the imports)

        dialog = ConsentDialog(
            service_name=self.service_name, recipient=self._recipient(), contacts=len(contacts), numbers=numbers
        )
        self.push_screen(dialog, self._consent_answered)

    def _recipient(self) -> str:
        account = self.options.settings.account
        domain = self._account.partition("@")[2].split(";")[0] or self._account
        return f"{domain} (through {account.proxy})" if account.proxy and account.proxy != domain else domain

    def _consent_answered(self, allowed: bool | None) -> None:
        self._asking = False
        allowed = bool(allowed)
        self._remember_consent(allowed)
        self._set_shared(allowed)
        if not allowed:
            self.notify(
                "Your book stays on this computer. To share it later: press b, or “Share my book” in the "
                "command palette (Ctrl+P), or start with --share-book.",
                title="Not shared",
                timeout=15,
            )

    def _set_shared(self, allowed: bool) -> None:
        self.book_shared = allowed
        if self.session is not None:
            self.session.share_book(allowed)
        self.main.set_list(self._list_status, allowed)

    # -- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Presence, sharing and calls act on a running account: not from the account form or over another dialog;
        the keys of a call only while there is one."""
        if action in _CALL_ACTIONS:
            return self.screen is self.main and self.calls.current is not None
        if action in _MAIN_SCREEN_ACTIONS:
            return self.screen is self.main
        return True

    def action_call(self) -> None:
        row = self.main.table.cursor_row
        if row is None:
            self.notify("No contact is selected.", timeout=4)
        else:
            self.calls.call_row(row)

    def action_call_log(self) -> None:
        from smartbook_tui.tui.screens.call_log import CallLogScreen  # noqa: PLC0415 (see the imports)

        name_of = lambda record: self.calls.name_for(record.remote, record.display_name or "")  # noqa: E731
        self.push_screen(CallLogScreen(self.calls.records(), name_of), self.calls.call_back)

    def action_hang_up(self) -> None:
        self.calls.hang_up()

    def action_mute(self) -> None:
        self.calls.toggle_mute()

    def action_hold(self) -> None:
        self.calls.toggle_hold()

    def action_tone(self, tone: str) -> None:
        self.calls.send_tone(tone)

    def action_share_book(self) -> None:
        if self.book_shared:
            self.notify("Your book is already shared.", timeout=4)
        elif self._book is None:
            self.notify("The book is not read yet.", timeout=4)
        else:
            self._ask_consent()

    def action_unshare_book(self) -> None:
        self._remember_consent(False)
        self._set_shared(False)
        self.notify("Your book is no longer shared. Press b to share it again.", timeout=8)

    def action_presence(self) -> None:
        from smartbook_tui.tui.screens.dialogs import PresenceDialog  # noqa: PLC0415 (see the imports)

        self.push_screen(PresenceDialog(self.own.status, self.own.note), self._presence_chosen)

    def _presence_chosen(self, choice: PresenceChoice | None) -> None:
        if choice is None:
            return
        if self.session is None:
            self.notify("No account is connected yet.", severity="warning")
            return
        self.own = OwnPresence(choice.status, choice.note)
        self.main.set_own(self.own)
        self.session.set_presence(choice.status, choice.note)

    def action_help(self) -> None:
        from smartbook_tui.tui.screens.dialogs import HelpDialog  # noqa: PLC0415 (see the imports)

        self.push_screen(
            HelpDialog(self.key_table(), log_file=str(self.options.log_file), config_path=str(self.config_path))
        )

    def key_table(self) -> list[tuple[str, str]]:
        """Every key the app answers, as bound: the main screen's, the table's, the app's, the palette."""
        keys: list[tuple[list[str], str]] = []
        for bindings in (MainScreen.BINDINGS, ContactTable.BINDINGS, self.BINDINGS):
            for binding in (item for item in bindings if isinstance(item, Binding)):
                shown = [self.get_key_display(dataclasses.replace(binding, key=key)) for key in binding.key.split(",")]
                what = binding.tooltip or binding.description
                if keys and keys[-1][1] == what:  # keys bound one by one to the same thing (the tones): one line
                    keys[-1][0].extend(shown)
                else:
                    keys.append((shown, what))
        table = [(_compact(shown), what) for shown, what in keys]
        table.append((self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")), "Command palette"))
        return table

    async def action_quit(self) -> None:
        await self._stop_session()
        self.exit(0)


_MAIN_SCREEN_ACTIONS = frozenset(
    {"presence", "share_book", "unshare_book", "call", "call_log", "assistant", "discoverable"}
)
_CALL_ACTIONS = frozenset({"hang_up", "mute", "hold", "tone"})


def _compact(keys: list[str]) -> str:
    """Keys as the help lists them, a run of the digits written as one: "0-9 * #"."""
    digits = "".join(key for key in keys if key.isdigit() and len(key) == 1)
    if len(digits) < 3 or digits not in "0123456789":
        return " ".join(keys)
    return " ".join([f"{digits[0]}-{digits[-1]}", *(key for key in keys if not (key.isdigit() and len(key) == 1))])


def run_app(options: SessionOptions, config_path: Path) -> int:
    """Run the app on this terminal until the user quits; its exit status (the caller sends the logs to the log
    file, `roster.logfile.log_to_file`, before: nothing may print on the terminal the app draws on)."""
    return SmartbookApp(options, config_path=config_path).run() or 0
