"""The dialogs of calls: a call ringing here (answer or decline), and which number to call when a contact has
several."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, Static
from textual.widgets.option_list import Option

from smartbook_tui.roster.calls import CallTarget

Answer = Literal["answer", "decline"]


class IncomingCallDialog(ModalScreen[Answer | None]):
    """Someone calls: who (the book's name when the number or address is in it), answer or decline. It goes away by
    itself when the caller gives up (`call_id` names the call for the app)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "dismiss('answer')", "Answer", id="answer-call"),
        Binding("d,escape", "dismiss('decline')", "Decline", id="decline-call"),
    ]

    def __init__(self, call_id: int, *, caller: str, address: str) -> None:
        super().__init__()
        self.call_id = call_id
        self.caller = caller
        self.address = address
        self._over = False

    AUTO_FOCUS = "#answer"

    def call_over(self) -> None:
        """The call stopped ringing (the caller gave up): go now, or as soon as a screen above this one goes."""
        self._over = True
        self._go_if_on_top()

    def on_screen_resume(self) -> None:
        if self._over:
            self._go_if_on_top()

    def _go_if_on_top(self) -> None:
        # Only from the top of the stack (`is_current` is also true under a modal screen): a ScreenResume queued
        # before the dialog went (the call ended as it rang) would otherwise pop the screen under it.
        if self.is_active:
            self.dismiss(None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Incoming call", classes="dialog-title")
            yield Static(Content.assemble((self.caller, "bold"), "\n", (self.address, "dim")), classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Decline (d)", id="decline", variant="error")
                yield Button("Answer (a)", id="answer", variant="success")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss("answer" if event.button.id == "answer" else "decline")


class NumberChooser(ModalScreen[CallTarget | None]):
    """Which of a contact's numbers and addresses to call: the service's users first, marked."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="cancel-call")]

    def __init__(self, name: str, targets: list[CallTarget], *, service_name: str) -> None:
        super().__init__()
        self.contact_name = name
        self.targets = targets
        self.service_name = service_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Call {self.contact_name}", classes="dialog-title")
            yield OptionList(*(Option(self._line(target)) for target in self.targets), id="call-targets")
            yield Static("↑↓ choose · Enter calls · Esc cancels", classes="dialog-text")

    def _line(self, target: CallTarget) -> Content:
        if target.has_account:
            return Content.assemble(target.label, "  ", (f" {self.service_name} ", "reverse $success"))
        return Content(target.label)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.targets[event.option_index])
