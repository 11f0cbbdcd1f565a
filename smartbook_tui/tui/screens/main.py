"""The main screen: the contact table with its switch, search box, sort, detail pane and status bar. It owns the
roster and its view; the app hands it what the session says."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from smartbook_tui.phone.states import CallInfo, OwnPresence, Registration
from smartbook_tui.roster.batch import UpdateBatcher
from smartbook_tui.roster.events import BookLoaded, ListStatus
from smartbook_tui.roster.model import Roster
from smartbook_tui.roster.view import RosterView, SortKey
from smartbook_tui.tui.widgets.call_bar import CallBar
from smartbook_tui.tui.widgets.contact_table import ContactTable
from smartbook_tui.tui.widgets.detail_pane import DetailPane
from smartbook_tui.tui.widgets.status_bar import StatusBar
from smartbook_tui.tui.widgets.users_toggle import UsersToggle

if TYPE_CHECKING:
    from smartbook_tui.subscriber.tracker import PresenceUpdate

FLUSH_INTERVAL = 0.1  # seconds: presence reaches the table in one pass this often, however fast it arrives
BIG_CHANGE = 1000  # rows: after a change this big (a full state), its objects are set aside from the GC


def _sort_text(sort: SortKey) -> str:
    return f"sorted by {sort.value}  (s)"


def no_book_text(config_path: Path) -> str:
    return (
        "No address book yet.\n\n"
        "Start smartbook with one:\n"
        "  smartbook --vcard PATH        a .vcf file or a directory of them (repeatable)\n"
        "  smartbook --carddav URL       a CardDAV server (with --carddav-user and --carddav-password-file)\n\n"
        f"or name it in the settings file, {config_path}:\n"
        "  [contacts]\n"
        '  vcard = ["~/Contacts"]'
    )


def _set_aside_from_gc() -> None:
    """A full state's presence lives as long as the book (its rows are set aside as they are made: `Roster.set_book`):
    without this, each full collection walks all of it and freezes the keyboard for a tenth of a second with a
    10,000-contact book. Refcounting still frees it."""
    gc.freeze()


class MainScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "toggle_users", "Users only", id="toggle-users", tooltip="Show only the service's users, or all"),
        # A priority binding: the app runs it as it reads the key, so that the keys typed right after it (a paste, a
        # quick typist) go to the search box, not to the table that had the focus when they were sent.
        Binding(
            "slash", "search", "Search", id="search", tooltip="Search names, numbers and SIP addresses", priority=True
        ),
        Binding("s", "sort", "Sort", id="sort", tooltip="Sort by name or by status"),
        Binding("escape", "clear_search", "Clear search", show=False, id="clear-search", tooltip="Clear the search"),
    ]

    class Ready(Message):
        """The screen's first frame is out: the session's news can be shown, and what only they need can load."""

    def __init__(self, *, service_name: str, account: str, users_only: bool, config_path: Path) -> None:
        super().__init__()
        self.service_name = service_name
        self.config_path = config_path
        self.roster = Roster([], None)
        self.view = RosterView(self.roster, users_only=users_only)
        self.batcher = UpdateBatcher()
        self._account = account
        self._ready_told = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="toolbar"):
            yield Label("smartbook", id="brand")
            yield Label(self._account, id="account-label")
            yield UsersToggle(service_name=self.service_name, on=self.view.users_only, id="users-toggle")
            yield Label(_sort_text(self.view.sort), id="sort-label")
        with Horizontal(id="search-bar"):
            yield Label("Search", id="search-label")
            yield Input(placeholder="names, numbers, SIP addresses · Enter keeps it · Esc clears", id="search")
        with Horizontal(id="body"):
            table = ContactTable(self.roster, self.view, service_name=self.service_name, id="contacts")
            table.empty_text = "Reading the address book…"
            yield table
            yield DetailPane(service_name=self.service_name, id="detail")
            yield Static(no_book_text(self.config_path), id="empty", markup=False)
        yield CallBar(id="call-bar")
        yield StatusBar(account=self._account, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty", Static).border_title = "Empty book"
        self.query_one(ContactTable).border_title = "Contacts"
        self.query_one(ContactTable).focus()
        self.set_interval(FLUSH_INTERVAL, self.flush_presence)
        self._show_counts()

    def on_screen_resume(self) -> None:
        # Told once, from here: the screen's own handler, which runs right after this one, paints its first frame
        # before the app reads the message (`on_mount` is too early: the app then waited for a quiet moment).
        if not self._ready_told:
            self._ready_told = True
            self.post_message(self.Ready())

    @property
    def table(self) -> ContactTable:
        return self.query_one(ContactTable)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    # -- what the session says

    def set_account(self, account: str) -> None:
        self._account = account
        self.query_one("#account-label", Label).update(account)
        self.status_bar.set_account(account)

    def load_book(self, book: BookLoaded) -> None:
        self.flush_presence()  # updates for the old book land on it first
        self.roster.set_book(book.contacts, book.domain)
        self.view.rebuild()
        empty = not book.contacts
        self.query_one("#empty", Static).set_class(empty and not book.sources, "-shown")
        self.table.display = not (empty and not book.sources)
        self.query_one(DetailPane).display = self.table.display
        self.table.empty_text = "The book has no contacts." if empty else self._no_match_text()
        self.table.book_changed()
        self._show_counts()

    def add_presence(self, updates: list[PresenceUpdate]) -> None:
        self.batcher.add(updates)

    def flush_presence(self) -> None:
        """Apply what arrived since the last flush in one pass; repaint only what the eye would see change."""
        if not self.batcher.pending:
            return
        changed = self.roster.apply(self.batcher.take())
        if not changed:
            return
        if self.view.rows_changed(changed):
            self.table.view_changed()
        else:
            self.table.rows_updated(changed)
        self._show_counts()
        if len(changed) >= BIG_CHANGE:
            self.call_after_refresh(_set_aside_from_gc)

    def show_calls(self, calls: list[tuple[CallInfo, str]], current: int | None) -> None:
        self.query_one(CallBar).show(calls, current)

    def set_registration(self, registration: Registration) -> None:
        self.status_bar.set_registration(registration)

    def set_list(self, status: ListStatus | None, shared: bool | None) -> None:
        self.status_bar.set_list(status, shared)

    def set_own(self, presence: OwnPresence) -> None:
        self.status_bar.set_own(presence)

    # -- keys

    def action_toggle_users(self) -> None:
        self.view.set_users_only(not self.view.users_only)
        self._view_changed()

    @on(UsersToggle.Flipped)
    def _toggle_clicked(self) -> None:
        self.action_toggle_users()

    def action_search(self) -> None:
        self.query_one("#search-bar").add_class("-shown")
        self.set_focus(self.query_one("#search", Input))  # now: `Input.focus` would wait for the app's next turn

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        self.query_one("#search-bar").remove_class("-shown")
        self.table.focus()
        if search.value:
            search.value = ""  # Input.Changed clears the view's query

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.view.set_query(event.value)
        self._view_changed()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        if not self.query_one("#search", Input).value:
            self.query_one("#search-bar").remove_class("-shown")
        self.table.focus()

    def action_sort(self) -> None:
        self.view.set_sort(SortKey.STATUS if self.view.sort is SortKey.NAME else SortKey.NAME)
        self.query_one("#sort-label", Label).update(_sort_text(self.view.sort), layout=False)
        self._view_changed()

    @on(ContactTable.Highlighted)
    def _highlighted(self, event: ContactTable.Highlighted) -> None:
        self.query_one(DetailPane).show(event.row)

    # -- what it shows

    def _view_changed(self) -> None:
        if self.roster.rows:  # rows come only with a book
            self.table.empty_text = self._no_match_text()
        self.table.view_changed(keep_line=False)
        self._show_counts()

    def _no_match_text(self) -> str:
        if self.view.query:
            return f"No contact matches “{self.view.query}”. Esc clears the search."
        if self.view.users_only:
            return f"No {self.service_name} user in the book yet. Press l to see every contact."
        return "The book has no contacts."

    def _show_counts(self) -> None:
        view = self.view
        filtered = view.users_only or view.query
        toggle = self.query_one(UsersToggle)
        toggle.on = view.users_only
        toggle.count = f"{view.shown:,} of {view.total:,}" if filtered else f"{view.total:,} contacts"
        users = self.roster.users
        self.status_bar.set_counts(f"{users:,} {self.service_name} user{'s' if users != 1 else ''}")
