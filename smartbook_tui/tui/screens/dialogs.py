"""The dialogs over the main screen: own presence, consent to share the book, help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from smartbook_tui.phone.states import OwnStatus
from smartbook_tui.tui.presentation import OWN_STATUSES


@dataclass(frozen=True, slots=True)
class PresenceChoice:
    status: OwnStatus
    note: str | None


class PresenceDialog(ModalScreen[PresenceChoice | None]):
    """Pick one's own status and an optional note; Enter publishes, Escape leaves things as they are."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="cancel")]

    def __init__(self, current: OwnStatus, note: str | None) -> None:
        super().__init__()
        self.current = current
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("My presence", classes="dialog-title")
            yield OptionList(*(Option(words, id=status.value) for status, words in OWN_STATUSES), id="presence-choices")
            yield Input(value=self.note or "", placeholder="A note for your contacts (optional)", id="presence-note")
            yield Static("↑↓ choose · Enter publishes · Esc cancels", classes="dialog-text")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = [status for status, _ in OWN_STATUSES].index(self.current)
        choices.focus()

    @on(OptionList.OptionSelected)
    @on(Input.Submitted)
    def _publish(self) -> None:
        choices = self.query_one(OptionList)
        status = OWN_STATUSES[choices.highlighted or 0][0]
        note = self.query_one("#presence-note", Input).value.strip() or None
        self.dismiss(PresenceChoice(status, note))


class ConsentDialog(ModalScreen[bool]):
    """Ask before the book's numbers first go to the service: what is sent and to whom."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "Share", id="consent-yes"),
        Binding("n,escape", "dismiss(False)", "Not now", id="consent-no"),
    ]

    def __init__(self, *, service_name: str, recipient: str, contacts: int, numbers: int) -> None:
        super().__init__()
        self.service_name = service_name
        self.recipient = recipient
        self.contacts = contacts
        self.numbers = numbers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Find your contacts on {self.service_name}?", classes="dialog-title")
            yield Static(
                Content.assemble(
                    f"To show which contacts have a {self.service_name} account, smartbook sends the phone numbers "
                    f"and SIP addresses of {self.contacts:,} contacts ({self.numbers:,} in all) to ",
                    (self.recipient, "bold"),
                    ", and keeps a subscription to their presence there.\n\n"
                    "Names and the rest of your cards never leave this computer.\n\n"
                    "If you decline, smartbook works as a plain address book and phone; you can share later with "
                    "the b key, the command palette (“Share my book”) or --share-book.",
                ),
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Not now (n)", id="consent-no")
                yield Button("Share (y)", id="consent-yes", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#consent-yes", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "consent-yes")


class HelpDialog(ModalScreen[None]):
    """Every key (as bound, so it never drifts from the bindings), where the log goes, and how to share later."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss(None)", "Close", id="close-help")
    ]

    def __init__(self, keys: list[tuple[str, str]], *, log_file: str, config_path: str) -> None:
        super().__init__()
        self.keys = keys
        self.log_file = log_file
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.keys), default=0) + 3
        keys: list[tuple[str, str] | str] = []
        for key, description in self.keys:
            keys += [(f"{key:<{width}}", "bold $text-accent"), f"{description}\n"]
        files = Content.assemble(
            ("\nLog file       ", "bold"),
            self.log_file,
            ("\nSettings file  ", "bold"),
            self.config_path,
            "\n\nEsc closes this help.",
        )
        with Vertical(classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            yield Static(Content.assemble(*keys), id="help-keys")
            yield Static(files, classes="dialog-text")
