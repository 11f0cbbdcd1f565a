"""The status bar: registration, the list subscription, the counts and one's own presence, in one line."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from smartbook_tui.phone.states import OwnPresence, Registration
from smartbook_tui.roster.events import ListStatus
from smartbook_tui.tui.presentation import STATUS_STYLES, list_text, own_presence_text, registration_text

_SEPARATOR = ("  │  ", "dim")


class StatusBar(Static):
    def __init__(self, *, account: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.account = account
        self.registration: Registration | None = None
        self.list_status: ListStatus | None = None
        self.shared: bool | None = None
        self.own: OwnPresence | None = None
        self.counts = ""

    def on_mount(self) -> None:
        self._paint()

    def set_account(self, account: str) -> None:
        self.account = account
        self._paint()

    def set_registration(self, registration: Registration) -> None:
        self.registration = registration
        self._paint()

    def set_list(self, status: ListStatus | None, shared: bool | None) -> None:
        self.list_status, self.shared = status, shared
        self._paint()

    def set_own(self, presence: OwnPresence) -> None:
        self.own = presence
        self._paint()

    def set_counts(self, counts: str) -> None:
        if counts != self.counts:
            self.counts = counts
            self._paint()

    def _paint(self) -> None:
        parts: list[tuple[str, str] | str] = [(self.account, "bold")]
        for words, colour in (
            registration_text(self.registration),
            list_text(self.list_status, self.shared),
            own_presence_text(self.own),
        ):
            parts += [_SEPARATOR, (words, STATUS_STYLES.get(colour, ""))]
        if self.counts:
            parts += [_SEPARATOR, self.counts]
        self.update(Content.assemble(*parts), layout=False)  # one line, as wide as the screen whatever it says
