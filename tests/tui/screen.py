"""Reading what the app shows, as a person would read it: the lines of the table, the detail pane, the status bar,
the switch and the notifications; and waiting until the screen says something."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._toast import Toast

from smartbook_tui.tui.widgets.contact_table import ContactTable
from smartbook_tui.tui.widgets.users_toggle import UsersToggle

WAIT = 20.0  # seconds a pilot test waits for the screen to say something before it fails, showing the screen


def table_lines(app: App) -> list[str]:
    """The table's lines as the screen gets them (the header first), without the blank ones: a line the table did
    not ask to repaint comes from Textual's cache of what it drew, as it would on the screen."""
    table = app.screen.query_one(ContactTable)
    left, top = table.styles.gutter.left, table.styles.gutter.top  # inside the border
    drawn = table.render_lines(table.outer_size.region)[top : top + table.size.height]
    lines = [strip.crop(left, left + table.size.width).text.rstrip() for strip in drawn]
    return [line for line in lines if line]


def row_of(app: App, name: str) -> str | None:
    """The table line that shows contact `name`, if one does."""
    return next((line for line in table_lines(app)[1:] if line[1:].startswith(name)), None)


def names(app: App) -> list[str]:
    """The names shown, top to bottom (the name column, without the padding)."""
    table = app.screen.query_one(ContactTable)
    width = table._columns.name
    return [line[1 : 1 + width].rstrip(" …") for line in table_lines(app)[1:]]


def cursor_name(app: App) -> str | None:
    row = app.screen.query_one(ContactTable).cursor_row
    return row.contact.name if row is not None else None


def text_of(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def detail(app: App) -> str:
    return text_of(app, "#detail")


def status_bar(app: App) -> str:
    return text_of(app, "#status")


def call_bar(app: App) -> str:
    """The call bar's text: empty when it is hidden (no call)."""
    bar = app.main.query_one("#call-bar", Static)  # type: ignore[attr-defined]
    return str(bar.render()) if bar.display else ""


def toggle(app: App) -> str:
    return str(app.screen.query_one(UsersToggle).render())


def notifications(app: App) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query(Toast)]


def screen_dump(app: App) -> str:
    parts = [f"screen: {type(app.screen).__name__}"]
    try:
        parts += ["toolbar: " + toggle(app), "status: " + status_bar(app), "calls: " + call_bar(app)]
        parts += table_lines(app)[:25]
        parts += ["detail: " + detail(app)]
    except Exception as exc:  # another screen is on top: say what can be said
        parts.append(f"({exc})")
    parts += ["notifications: " + " | ".join(notifications(app))]
    return "\n".join(parts)


async def wait_until(pilot: Pilot, what: str, condition: Callable[[], object], timeout: float = WAIT) -> None:
    """Let the app run until `condition()` holds; fail with the screen's text when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # the widget is not there yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen never showed {what}:\n{screen_dump(pilot.app)}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


async def cursor_to(pilot: Pilot, name: str) -> None:
    """Put the table's cursor on contact `name`, from the top, as a person does with Home and Down; fail with the
    screen's text when Down stops moving it before it gets there (a key gone elsewhere, the name not shown)."""
    await pilot.press("home")
    while (here := cursor_name(pilot.app)) != name:
        await pilot.press("down")
        if cursor_name(pilot.app) == here:
            raise AssertionError(f"the cursor stopped at {here!r} before {name!r}:\n{screen_dump(pilot.app)}")
