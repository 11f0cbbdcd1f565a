"""The contact table: a Line API widget over the roster view. Only the visible lines are drawn; each line is
cached by (contact, row version, cursor), so a burst of presence costs the rows on screen, not the book."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from math import ceil
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from smartbook_tui.roster.model import Roster, Row
from smartbook_tui.roster.view import RosterView
from smartbook_tui.tui.presentation import NOT_CHECKED, availability_text

_GAP = 2
_STATUS_WIDTH = 14  # "☎ on the phone"
_FOUND_WIDTH = 18  # "+33 6 39 98 12 01"; a longer number or a SIP address is cut
_COLOUR_CLASSES = ("online", "away", "busy", "phone", "offline", "unknown", "none")
# What a table line shows, as the key of its drawing: a row's (contact id, version, cursor bar, cursor mark), the
# empty view's text, or nothing.
_LineKey = tuple[str, int, bool, bool] | str | None


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each column starts and how wide it is, for one table width."""

    name: int
    badge: int
    status: int
    found: int
    note: int

    @classmethod
    def fit(cls, width: int, badge: int) -> Columns:
        free = width - (badge + _STATUS_WIDTH + _FOUND_WIDTH + 4 * _GAP + 2)  # the cursor's mark, a space at the end
        name = min(max(free * 3 // 5, 16), 32)
        return cls(name, badge, _STATUS_WIDTH, _FOUND_WIDTH, max(free - name, 0))

    @property
    def line(self) -> int:
        """The cells of a row's line: the cursor's mark, then the columns and the gaps between them."""
        return 1 + self.name + self.badge + self.status + self.found + self.note + 4 * _GAP


def _bar_drawing(bar: ScrollBar) -> list[Segment]:
    """What a vertical scrollbar draws for its sizes and position, as its renderer works it out."""
    virtual, window = bar.window_virtual_size, bar.window_size
    return bar.renderer.render_bar(
        size=bar.size.height,
        virtual_size=ceil(virtual),
        window_size=ceil(window if window < virtual else 0),
        position=bar.position,
    ).segments


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: padded, or cut with an ellipsis."""
    if width <= 0:
        return ""
    if text.isascii() and text.isprintable():  # a cell a character: no widths to look up
        return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


class ContactTable(ScrollView, can_focus=True):
    """The rows of a `RosterView`, one line each under a fixed header line. The cursor follows a contact, not a
    line: when the view is filtered, searched, sorted or re-ordered by presence, it stays on the same contact."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "contact-table--header",
        "contact-table--cursor",
        "contact-table--badge",
        "contact-table--found",
        "contact-table--note",
        "contact-table--empty",
        *(f"contact-table--{colour}" for colour in _COLOUR_CLASSES),
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="cursor-up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="cursor-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="page-down"),
        Binding("home,g", "edge(0)", "First contact", show=False, id="first"),
        Binding("end,G", "edge(1)", "Last contact", show=False, id="last"),
    ]

    class Highlighted(Message):
        """The cursor is on another contact, or the contact under it changed (None: no contact shown)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, roster: Roster, view: RosterView, *, service_name: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.roster = roster
        self.view = view
        self.service_name = service_name
        self.empty_text = ""
        self._cursor = 0
        self._cursor_id: str | None = None
        self._cache: LRUCache[tuple[str, int, bool, bool], Strip] = LRUCache(1024)
        self._drawn: dict[int, _LineKey] = {}  # screen line -> the key of what it shows since its last drawing
        self._columns = Columns.fit(80, self._badge_width)
        self._styles: dict[str, Style] | None = None

    @property
    def _badge_width(self) -> int:
        return cell_len(self.service_name) + 2

    @property
    def cursor_row(self) -> Row | None:
        if not self.view.indices:
            return None
        return self.roster.rows[self.view.indices[self._cursor]]

    @property
    def _page(self) -> int:
        return max(self.size.height - 1, 1)  # the header takes a line

    # -- what the screen tells it

    def view_changed(self, *, keep_line: bool = True) -> None:
        """The view's rows or their order changed: keep the cursor on its contact (or where it was, when that
        contact left the view). Live changes keep it on the same screen line too, so that nothing jumps under the
        eye; after a key (filter, search, sort) the list starts from its top when the contact fits on the page."""
        screen_line = self._cursor - round(self.scroll_y)
        position = self.view.position_of(self._cursor_id) if self._cursor_id is not None else None
        if position is None:
            position = self._cursor
        self._cursor = max(min(position, len(self.view.indices) - 1), 0)
        self._size_to_view()
        top = self._cursor - screen_line if keep_line or self._cursor >= self._page else 0
        self.scroll_to(y=max(top, 0), animate=False, immediate=True)  # a scroll repaints every line itself
        self._keep_cursor_visible()
        self._repaint_changed_lines()
        self._announce()

    def _size_to_view(self) -> None:
        """Fit the scrollable height to the view. The table's own box keeps its size, so the scrollbar is told
        directly instead of through a layout of the whole screen (which would double the cost of a repaint)."""
        size = Size(0, len(self.view.indices) + 1)
        if size == self.virtual_size:
            return
        self.set_reactive(ContactTable.virtual_size, size)
        if not self.show_vertical_scrollbar:
            self._scroll_update(size)
            return
        self._set_bar(ScrollBar.window_virtual_size, size.height)
        self._set_bar(ScrollBar.window_size, self.container_size.height - self.scrollbar_size_horizontal)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if self.show_vertical_scrollbar:
            self._set_bar(ScrollBar.position, self.vertical_scrollbar.validate_position(new_value))
        super().watch_scroll_y(old_value, new_value)  # the bar's position is set already: no repaint of its own

    def _set_bar(self, setting: Reactive[Any], value: Any) -> None:
        """Give the scrollbar a new size or position, and repaint it only when its thumb moves: over thousands of
        rows, a thumb of one cell stays where it is for a new height or a scroll of a few lines. Then only the
        lines from the first cell that changed to the last (one line each) are repainted."""
        bar = self.vertical_scrollbar
        drawn = _bar_drawing(bar)
        bar.set_reactive(setting, value)
        changed = [y for y, (old, new) in enumerate(zip_longest(drawn, _bar_drawing(bar))) if old != new]
        if changed:
            bar.refresh(Region(0, changed[0], bar.size.width, changed[-1] - changed[0] + 1))

    def rows_updated(self, changed: set[int]) -> None:
        """Rows changed in place (same view order): repaint the lines of those on screen, if any."""
        if not changed:
            return
        self._repaint_changed_lines()
        if self.view.indices and self.view.indices[self._cursor] in changed:
            self.post_message(self.Highlighted(self.cursor_row))

    def _repaint_changed_lines(self) -> None:
        """Repaint the screen lines that would show another row, or another version of their row, than they show:
        when a burst re-orders a sorted view, most lines on screen still show what they showed, and a whole-table
        repaint would cost Textual each of them again."""
        top = round(self.scroll_y)
        for y in range(1, self._page + 1):
            if self._drawn.get(y) != self._line(y)[1]:
                self.refresh_line(top + y)

    def book_changed(self) -> None:
        """A new book: every strip may be stale."""
        self._cache.clear()
        self.view_changed()

    # -- keys and mouse

    def action_cursor(self, delta: int) -> None:
        self._move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self._cursor + direction * self._page)

    def action_edge(self, end: int) -> None:
        self._move_to(len(self.view.indices) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self._move_to(round(self.scroll_y) + offset.y - 1)

    def _move_to(self, position: int) -> None:
        if not self.view.indices:
            return
        position = max(min(position, len(self.view.indices) - 1), 0)
        if position == self._cursor:
            return
        top, previous = round(self.scroll_y), self._cursor
        self._cursor = position
        self._keep_cursor_visible()
        if round(self.scroll_y) == top:  # no scroll: only the two lines the cursor left and reached change
            self.refresh_line(previous + 1)
            self.refresh_line(position + 1)
        else:
            self.refresh()
        self._announce()

    def _keep_cursor_visible(self) -> None:
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + self._page:
            self.scroll_to(y=self._cursor - self._page + 1, animate=False, immediate=True)

    def _announce(self) -> None:
        row = self.cursor_row
        self._cursor_id = row.contact.id if row is not None else None
        self.post_message(self.Highlighted(row))

    # -- drawing

    def on_resize(self, event: events.Resize) -> None:
        self._columns = Columns.fit(event.size.width, self._badge_width)
        self._cache.clear()
        self._size_to_view()
        self._keep_cursor_visible()

    def on_focus(self) -> None:
        self.refresh()  # the cursor line's strip is cached by focus too: no strip to forget

    def on_blur(self) -> None:
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cache.clear()

    def _style(self, name: str) -> Style:
        if self._styles is None:
            base = self.rich_style
            self._styles = {
                component: base + self.get_component_rich_style(f"contact-table--{component}")
                for component in ("header", "cursor", "badge", "found", "note", "empty", *_COLOUR_CLASSES)
            }
            self._styles["base"] = base
        return self._styles[name]

    def _line(self, y: int) -> tuple[Row | None, _LineKey]:
        """The row screen line `y` (under the header) shows, if any, and the key of the line's drawing."""
        position = round(self.scroll_y) + y - 1
        indices = self.view.indices
        if position >= len(indices):
            return None, self.empty_text if not indices and y == 2 and self.empty_text else None
        row = self.roster.rows[indices[position]]
        at_cursor = position == self._cursor  # the mark shows at the cursor, focused or not
        return row, (row.contact.id, row.version, at_cursor and self.has_focus_within_screen, at_cursor)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header(width)
        row, key = self._line(y)
        self._drawn[y] = key
        if row is None or not isinstance(key, tuple):
            if key:
                return Strip([Segment(fit("  " + key, width), self._style("empty"))], width)
            return Strip.blank(width, self._style("base"))
        strip = self._cache.get(key)
        if strip is None:
            strip = self._row_strip(row, key[2], key[3], width)
            self._cache[key] = strip
        return strip

    @property
    def has_focus_within_screen(self) -> bool:
        """The cursor shows as a bar while the table or the search box is focused (typing keeps it visible)."""
        focused = self.screen.focused if self.is_attached else None
        return focused is self or (focused is not None and focused.id == "search")

    def _header(self, width: int) -> Strip:
        columns, style = self._columns, self._style("header")
        text = (
            " "
            + fit("Name", columns.name + _GAP)
            + fit("", columns.badge + _GAP)
            + fit("Status", columns.status + _GAP)
            + fit("Found by", columns.found + _GAP)
            + "Note"
        )
        return Strip([Segment(fit(text, width), style)], width)

    def _row_strip(self, row: Row, is_cursor: bool, is_cursor_line: bool, width: int) -> Strip:
        columns = self._columns
        cursor = self._style("cursor") if is_cursor else None

        def styled(name: str) -> Style:
            style = self._style(name)
            return style + Style(bgcolor=cursor.bgcolor, bold=True) if cursor is not None else style

        plain = cursor if cursor is not None else self._style("base")
        status, colour = availability_text(row.status, row.has_account)
        if row.withheld:  # the service's quota left a number unchecked: not the same as no account, and no badge
            status, colour = NOT_CHECKED
        badge = f" {self.service_name} " if row.has_account else ""
        marker = "▌" if is_cursor_line else " "
        segments = [
            Segment(marker, styled("badge") if is_cursor_line and cursor is None else plain),
            Segment(fit(row.contact.name, columns.name), plain),
            Segment(" " * _GAP, plain),
            Segment(fit(badge, columns.badge), styled("badge") if badge else plain),
            Segment(" " * _GAP, plain),
            Segment(fit(status, columns.status), styled(colour)),
            Segment(" " * _GAP, plain),
            Segment(fit(row.found_by or "", columns.found), styled("found")),
            Segment(" " * _GAP, plain),
            Segment(fit(row.note or "", columns.note), styled("note")),
        ]
        if columns.line > width:  # narrower than the narrowest columns: cut
            return Strip(segments).adjust_cell_length(width, plain)
        if columns.line < width:
            segments.append(Segment(" " * (width - columns.line), plain))
        return Strip(segments, width)  # every cell is fitted: no need to measure the line again
