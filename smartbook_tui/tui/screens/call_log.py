"""The call log: missed, incoming and outgoing calls, newest first, with the names the book gives them today; Enter
calls the other side back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from smartbook_tui.phone.states import CallDirection
from smartbook_tui.roster.call_log import CallOutcome, CallRecord
from smartbook_tui.tui.presentation import duration_text

# outcome (and direction, for an answered call) -> the mark and its style
_MARKS: dict[tuple[CallOutcome, CallDirection], tuple[str, str]] = {
    (CallOutcome.ANSWERED, CallDirection.INCOMING): ("↙ in ", "$success"),
    (CallOutcome.ANSWERED, CallDirection.OUTGOING): ("↗ out", "$accent"),
    (CallOutcome.MISSED, CallDirection.INCOMING): ("✗ missed", "$error bold"),
    (CallOutcome.DECLINED, CallDirection.INCOMING): ("⊘ declined", "$warning"),
    (CallOutcome.FAILED, CallDirection.OUTGOING): ("↗ out", "dim"),
}


def when_text(started: datetime, now: datetime) -> str:
    """When a call was, in local time: the hour today, the day and hour this year, the full date before."""
    local = started.astimezone(now.tzinfo)
    if local.date() == now.date():
        return local.strftime("today %H:%M")
    if local.year == now.year:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y %H:%M")


class CallLogScreen(ModalScreen[CallRecord | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,r,q", "dismiss(None)", "Close", id="close-call-log"),
    ]

    def __init__(self, records: list[CallRecord], name_of: Callable[[CallRecord], str]) -> None:
        super().__init__(id="call-log")
        self.records = records
        self.name_of = name_of

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="call-log-box"):
            yield Label("Calls", classes="dialog-title")
            if self.records:
                now = datetime.now().astimezone()
                yield OptionList(*(Option(self._line(record, now)) for record in self.records), id="call-records")
                yield Static("↑↓ choose · Enter calls back · Esc closes", classes="dialog-text")
            else:
                yield Static("No calls yet. Press Enter or c on a contact to call.", classes="dialog-text")

    def _line(self, record: CallRecord, now: datetime) -> Content:
        mark, style = _MARKS.get((record.outcome, record.direction), ("·", ""))
        result = duration_text(record.talked) if record.outcome is CallOutcome.ANSWERED else record.ending
        return Content.assemble(
            (f"{mark:<11}", style),
            (f"{self.name_of(record):<32.32}", "bold"),
            f"  {when_text(record.started, now)}  ",
            (result, "dim"),
        )

    def on_mount(self) -> None:
        if self.records:
            self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _call_back(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.records[event.option_index])
