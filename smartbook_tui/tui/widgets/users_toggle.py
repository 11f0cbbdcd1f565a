"""The "users only" switch of the toolbar, with the count it leaves ("12 of 318"); a click flips it like `l`."""

from __future__ import annotations

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class UsersToggle(Widget):
    on: reactive[bool] = reactive(False)
    count: reactive[str] = reactive("")

    class Flipped(Message):
        """The user clicked the switch."""

    def __init__(self, *, service_name: str, on: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.service_name = service_name
        self.set_reactive(UsersToggle.on, on)

    def on_mount(self) -> None:
        # As wide as its longest count ("50,000 of 50,000"), so that a new count repaints it without a layout.
        self.styles.width = len(f"━━● {self.service_name} users only ") + len("50,000 of 50,000") + 1

    def render(self) -> Content:
        knob = ("━━●", "$success bold") if self.on else ("○━━", "$text-muted")
        label = (f" {self.service_name} users only ", "bold" if self.on else "")
        return Content.assemble(knob, label, (self.count, "$text-accent bold"))

    def on_click(self) -> None:
        self.post_message(self.Flipped())
