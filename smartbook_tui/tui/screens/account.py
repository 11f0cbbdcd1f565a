"""The first-run screen: no account is set, so the user enters one; it is saved to the settings file (the password
beside it, 0600) and the app carries on with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static

from smartbook_tui.assistant.saving import SaveError, password_file_for, save_signed_in_account
from smartbook_tui.config import AccountSettings

if TYPE_CHECKING:
    from smartbook_tui.tui.screens.assistant import AssistantDone, AssistantScreen, Task

_ADDRESS = re.compile(r"sips?:[^@\s:;]+@[^@\s;]+")
_PROXY = re.compile(r"\[?[^\s\[\]]+\]?(:\d{1,5})?")
TRANSPORTS = ("tcp", "udp", "tls")


@dataclass(frozen=True, slots=True)
class SavedAccount:
    account: AccountSettings
    password: str


class AccountScreen(Screen[SavedAccount]):
    """A form: SIP address, user name, password, proxy, transport. Ctrl+S or the button saves it. Without an
    account yet, the Assistant makes one from a phone number (or recovers one by its number)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "save", "Save", id="save-account")]

    def __init__(self, *, config_path: Path, assistant: Callable[[Task], AssistantScreen] | None = None) -> None:
        super().__init__()
        self.config_path = config_path
        self.assistant = assistant

    def compose(self) -> ComposeResult:
        with Vertical(id="account-form"):
            yield Label("Welcome to smartbook", classes="dialog-title")
            offer = " No account yet? Make one with your mobile number: a code comes by SMS." if self.assistant else ""
            yield Static(
                "No SIP account is set up yet. Enter yours; it is saved in "
                f"{self.config_path} and the password beside it, readable by you alone.{offer}",
                classes="dialog-text",
                markup=False,
            )
            yield Label("SIP address")
            yield Input(placeholder="sip:alice@example.org", id="sip-uri")
            yield Label("User name (if not the one in the address)")
            yield Input(placeholder="alice", id="username")
            yield Label("Password")
            yield Input(password=True, id="password")
            yield Label("Proxy (if not the address's domain)")
            yield Input(placeholder="sip.example.org:5060", id="proxy")
            yield Label("Transport")
            yield Select([(name.upper(), name) for name in TRANSPORTS], value="tcp", allow_blank=False, id="transport")
            yield Static("", id="account-error")
            with Horizontal(classes="dialog-buttons"):
                if self.assistant is not None:
                    yield Button("New account by SMS", id="assistant-create")
                    yield Button("Recover by SMS", id="assistant-recover")
                yield Button("Save (Ctrl+S)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#sip-uri", Input).focus()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        values = {name: self.query_one(f"#{name}", Input).value.strip() for name in ("sip-uri", "username", "proxy")}
        password = self.query_one("#password", Input).value
        problem = _problem(values["sip-uri"], password, values["proxy"])
        if problem:
            self.query_one("#account-error", Static).update(problem)
            return
        password_path = password_file_for(self.config_path)
        account = AccountSettings(
            sip_uri=values["sip-uri"],
            username=values["username"] or None,
            password_file=password_path,
            proxy=values["proxy"] or None,
            transport=str(self.query_one("#transport", Select).value),
        )
        try:
            save_signed_in_account(self.config_path, account, password)
        except SaveError as exc:
            self.query_one("#account-error", Static).update(f"Not saved: {exc}")
            return
        self.dismiss(SavedAccount(account, password))

    @on(Button.Pressed, "#assistant-create")
    @on(Button.Pressed, "#assistant-recover")
    def _open_assistant(self, event: Button.Pressed) -> None:
        from smartbook_tui.tui.screens.assistant import Task  # noqa: PLC0415 (the Assistant loads when asked for)

        if self.assistant is not None:
            task = Task.CREATE if event.button.id == "assistant-create" else Task.RECOVER
            self.app.push_screen(self.assistant(task), self._assistant_done)

    def _assistant_done(self, done: AssistantDone | None) -> None:
        if done is None:
            return
        if done.saved is not None and done.saved.in_settings and done.password is not None:
            self.app.notify(done.message, title="Assistant", timeout=15)
            self.dismiss(SavedAccount(done.saved.account, done.password))
        else:
            self.query_one("#account-error", Static).update(done.message)


def _problem(address: str, password: str, proxy: str) -> str | None:
    if not _ADDRESS.fullmatch(address):
        return "The SIP address looks like sip:alice@example.org."
    if not password:
        return "The password is missing."
    if "\n" in password or "\r" in password:
        return "A password is one line."
    if proxy and not _PROXY.fullmatch(proxy):
        return "The proxy is a host, or HOST:PORT."
    return None
