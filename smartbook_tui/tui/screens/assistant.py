"""The Assistant's screen: one task (make an account from a number, link a number to the signed-in account,
recover an account by its number) in two steps: the number, checked as it is typed, then the code sent by SMS,
with a timer before a new one may be asked for. What it asks and shows is all it does: the steps are
`smartbook_tui.assistant`'s."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import ClassVar

import httpx
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Input, Label, Static

from smartbook_tui.assistant.client import AccountApi
from smartbook_tui.assistant.errors import NEW_CODE_WORDS, AssistantError
from smartbook_tui.assistant.flows import (
    Clock,
    CodeFlow,
    CreateAccount,
    LinkNumber,
    NewAccount,
    RecoverAccount,
    account_auth,
    read_code,
)
from smartbook_tui.assistant.phone_entry import PhoneEntry, read_phone, shown_number
from smartbook_tui.assistant.saving import Saved, SaveError, save_new_account
from smartbook_tui.config import AccountSettings


class Task(Enum):
    CREATE = "create"
    LINK = "link"
    RECOVER = "recover"


_TITLES = {
    Task.CREATE: "Create an account with your phone number",
    Task.LINK: "Link a phone number to your account",
    Task.RECOVER: "Recover your account by its phone number",
}
_INTROS = {
    Task.CREATE: "Your mobile number proves who you are: the service sends it a code by SMS. The account's user "
    "name is the number itself, unless you choose one.",
    Task.LINK: "The number becomes your account's: the people who have it in their book see you have an account. "
    "The service sends it a code by SMS.",
    Task.RECOVER: "The service sends a code by SMS to your account's number (and nothing to a number without an "
    "account); with it, you choose a new password.",
}


@dataclass(frozen=True, slots=True)
class AssistantDone:
    """What the task did, said in `message`; `saved` and `password` when an account was saved."""

    message: str
    saved: Saved | None = None
    password: str | None = None


class AssistantScreen(ModalScreen[AssistantDone | None]):
    """The number step, then the code step. Esc leaves (nothing is saved before the code is confirmed)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="cancel-assistant")]

    def __init__(
        self,
        task: Task,
        *,
        api_url: str | None,
        region: str | None,
        config_path: Path,
        account: AccountSettings | None,
        password: str | None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__()
        self.assistant_task = task
        self.api_url = api_url
        self.phone_region = region
        self.config_path = config_path
        self.account = account if account is not None and account.sip_uri else None
        self.ca = account.ca if account is not None else None  # the CAs of SIP over TLS, for an https API too
        self.password = password
        self.clock = clock
        self.api: AccountApi | None = None
        self.flow: CodeFlow | None = None
        self.auth: httpx.Auth | None = None  # the signed-in account's, to link a number to it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="assistant-box"):
            yield Label(_TITLES[self.assistant_task], classes="dialog-title")
            with ContentSwitcher(initial="phone-step", id="assistant-steps"):
                with Vertical(id="phone-step"):
                    yield Static(_INTROS[self.assistant_task], classes="dialog-text")
                    if self.assistant_task is Task.LINK and self.account is not None:
                        yield Static(
                            f"Your account: {self.account.sip_uri}",
                            id="link-account",
                            classes="dialog-text",
                            markup=False,
                        )
                    yield Label("Mobile number")
                    yield Input(placeholder="+33 6 12 34 56 78", id="phone")
                    yield Static("", id="phone-check", classes="assistant-check")
                    if self.assistant_task is Task.CREATE:
                        yield Label("User name (optional: else the number)")
                        yield Input(placeholder="alice", id="new-username")
                    with Horizontal(classes="dialog-buttons"):
                        yield Button("Cancel (Esc)", id="cancel")
                        yield Button("Send the code", id="send", variant="primary", disabled=True)
                with Vertical(id="code-step"):
                    yield Static("", id="code-sent", classes="dialog-text")
                    yield Label("Code (the 4 digits of the SMS)")
                    yield Input(placeholder="1234", max_length=4, restrict=r"[0-9]*", id="code")
                    if self.assistant_task is Task.RECOVER:
                        yield Label("New password")
                        yield Input(password=True, id="new-password")
                        yield Label("The same password again")
                        yield Input(password=True, id="new-password-again")
                    with Horizontal(classes="dialog-buttons"):
                        yield Button("New code", id="resend", disabled=True)
                        yield Button("Confirm", id="confirm", variant="primary")
            yield Static("", id="assistant-message")

    def on_mount(self) -> None:
        try:
            if self.assistant_task is Task.LINK:
                self.auth = account_auth(self.account or AccountSettings(), self.password)
            self.api = AccountApi(self.api_url, ca=self.ca)
        except AssistantError as exc:
            self._say(str(exc))
        self.query_one("#phone", Input).focus()
        self.set_interval(1.0, self._tick)

    async def on_unmount(self) -> None:
        if self.api is not None:
            await self.api.aclose()

    # -- the number

    @on(Input.Changed, "#phone")
    def _check_phone(self) -> None:
        entry = self._phone()
        check = self.query_one("#phone-check", Static)
        check.set_class(entry.e164 is not None, "-ok")
        check.update(f"✓ {entry.shown}" if entry.e164 else entry.problem)
        self.query_one("#send", Button).disabled = entry.e164 is None or self.api is None

    @on(Input.Submitted, "#phone")
    @on(Input.Submitted, "#new-username")
    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        entry = self._phone()
        if entry.e164 is None or self.api is None:
            if self.api is not None:
                self._say(entry.problem or "Type your mobile number.")
            return
        self.flow = self._flow(self.api, entry.e164)
        self._send_code(first=True)

    def _flow(self, api: AccountApi, phone: str) -> CodeFlow:
        if self.assistant_task is Task.CREATE:
            username = self.query_one("#new-username", Input).value.strip()
            return CreateAccount(api, phone, username or None, clock=self.clock)
        if self.assistant_task is Task.LINK:
            assert self.auth is not None  # the API is not opened without it
            return LinkNumber(api, phone, self.auth, clock=self.clock)
        return RecoverAccount(api, phone, clock=self.clock)

    @on(Button.Pressed, "#resend")
    def _resend(self) -> None:
        if self.flow is not None and not self.flow.resend_in():
            self._send_code(first=False)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="assistant")
    async def _send_code(self, *, first: bool) -> None:
        flow = self.flow
        if flow is None:
            return
        self._busy("Sending the code…")
        try:
            await flow.send_code()
        except AssistantError as exc:
            self._say(str(exc))
            return
        finally:
            self._busy(None)
        self.query_one("#code-sent", Static).update(flow.sent_sentence(first=first))
        self.query_one(ContentSwitcher).current = "code-step"
        self._say("")
        code = self.query_one("#code", Input)
        code.value = ""
        code.focus()
        self._tick()

    # -- the code

    def _tick(self) -> None:
        resend = self.query_one("#resend", Button)
        wait = self.flow.resend_in() if self.flow is not None else 0.0
        resend.disabled = bool(wait) or self.flow is None
        resend.label = f"New code in {math.ceil(wait)} s" if wait else "New code"

    @on(Input.Submitted, "#code")
    @on(Input.Submitted, "#new-password")
    @on(Input.Submitted, "#new-password-again")
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        code = read_code(self.query_one("#code", Input).value)
        if code is None:
            self._say("The code is the 4 digits of the SMS.")
            return
        password = None
        if self.assistant_task is Task.RECOVER:
            password = self.query_one("#new-password", Input).value
            if not password:
                self.query_one("#new-password", Input).focus()
                self._say("Choose a new password.", error=False)
                return
            if password != self.query_one("#new-password-again", Input).value:
                self.query_one("#new-password-again", Input).focus()
                self._say("Type the same new password twice.")
                return
        self._confirm_code(code, password)

    @work(exclusive=True, group="assistant")
    async def _confirm_code(self, code: str, password: str | None) -> None:
        flow = self.flow
        self._busy("Checking the code…")
        try:
            if isinstance(flow, CreateAccount):
                done = self._saved(await flow.confirm(code), "is made and activated")
            elif isinstance(flow, RecoverAccount):
                done = self._saved(await flow.confirm(code, password or ""), "has its new password")
            elif isinstance(flow, LinkNumber):
                linked = await flow.confirm(code)
                done = AssistantDone(
                    f"{shown_number(linked.phone)} is now the number of sip:{linked.username}@{linked.domain}."
                )
            else:
                return
        except AssistantError as exc:
            if flow is not None and exc.word in NEW_CODE_WORDS:
                flow.code_gone()
                self._tick()
            self._say(str(exc))
            self.query_one("#code", Input).value = ""
            return
        except SaveError as exc:
            self._say(f"Not saved: {exc}")
            return
        finally:
            self._busy(None)
        self.dismiss(done)

    def _saved(self, new: NewAccount, what: str) -> AssistantDone:
        saved = save_new_account(self.config_path, new, self.account)
        return AssistantDone(f"The account {new.sip_uri} {what}. {saved.sentence()}", saved, new.password)

    # -- what the screen says

    def _busy(self, doing: str | None) -> None:
        self.query_one("#confirm", Button).disabled = doing is not None
        self.query_one("#send", Button).disabled = doing is not None or self.api is None or self._phone().e164 is None
        if doing is not None:
            self._say(doing, error=False)

    def _phone(self) -> PhoneEntry:
        return read_phone(self.query_one("#phone", Input).value, self.phone_region)

    def _say(self, message: str, *, error: bool = True) -> None:
        line = self.query_one("#assistant-message", Static)
        line.set_class(error, "-error")
        line.update(message)
