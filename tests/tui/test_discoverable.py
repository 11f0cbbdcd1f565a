""" "Account: who can find me by my number" from the command palette, against the real account API (smartbook's
server on 127.0.0.1 with `--http`), driven by keys through Textual's pilot."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.config import AccountSettings, Settings
from smartbook_tui.roster.session_options import SessionOptions
from smartbook_tui.tui.app import SmartbookApp
from smartbook_tui.tui.screens.discoverable import TITLE, DiscoverableScreen
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server
from tests.tui.screen import notifications, status_bar, text_of, wait_until

SIZE = (120, 40)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("alice", None)], api=True) as running:
        yield running


def make(server: SmartbookServer, book: Path, tmp_path: Path, *, api: str | None = None) -> SmartbookApp:
    options = SessionOptions(
        settings=Settings(vcard=[book], region="FR", account=AccountSettings(server.aor("alice"), proxy=server.proxy)),
        password=PASSWORD,
        share_book=True,
        null_audio=True,
        log_file=tmp_path / "smartbook.log",
        call_log=tmp_path / "calls.json",
        account_api=api or server.api_url,
    )
    return SmartbookApp(options, config_path=tmp_path / "config" / "config.toml")


def alices_setting(server: SmartbookServer) -> object:
    accounts = [json.loads(line) for line in server.admin("account", "list", "--json").stdout.splitlines()]
    return next(account["discoverable"] for account in accounts if account["username"] == "alice")


def said(app: SmartbookApp, title: str) -> list[str]:
    """The notifications with this title (the book's own, of its unreadable cards, are not this test's)."""
    return [text for text in notifications(app) if text.startswith(f"{title}\n")]


async def open_modal(pilot, *, wait: bool = True) -> None:
    """From the command palette; `wait` for the modal (one that gives up at once may be gone already)."""
    await pilot.press("ctrl+p", *"who can find me")
    await pilot.pause()
    await pilot.press("enter")
    if wait:
        await wait_until(pilot, "the modal", lambda: isinstance(pilot.app.screen, DiscoverableScreen))


async def test_choosing_nobody_saves_it_for_the_account_and_says_so(server, book, tmp_path):
    app = make(server, book, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, "the registration", lambda: "registered" in status_bar(app))
        await open_modal(pilot)
        await wait_until(
            pilot,
            "the setting in effect",
            lambda: "everyone, the server's default" in text_of(app, "#discoverable-now"),
        )
        choices = app.screen.query_one("#discoverable-choices")
        assert choices.get_option_at_index(choices.highlighted).id == "default"
        await pilot.press("up", "enter")
        await wait_until(pilot, "the modal closed", lambda: app.screen is app.main)
        await wait_until(pilot, "the saved setting said", lambda: said(app, "Saved"))
        assert said(app, "Saved") == [
            "Saved\nWho can find you by your number: nobody (your number serves calls and recovery only)."
        ]
        assert alices_setting(server) == "nobody"

        await open_modal(pilot)
        await wait_until(pilot, "nobody in effect", lambda: "number: nobody (" in text_of(app, "#discoverable-now"))
        choices = app.screen.query_one("#discoverable-choices")
        assert choices.get_option_at_index(choices.highlighted).id == "nobody"
        await pilot.press("escape")
        assert app.screen is app.main
    assert alices_setting(server) == "nobody"


async def test_a_dead_or_missing_account_api_is_a_sentence_and_the_modal_closes(server, book, tmp_path):
    app = make(server, book, tmp_path, api="http://127.0.0.1:9/api")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_modal(pilot, wait=False)
        await wait_until(pilot, "the dead API said", lambda: said(app, TITLE))
        [dead] = said(app, TITLE)
        assert dead.startswith(f"{TITLE}\nCannot reach the account API at http://127.0.0.1:9/api")
        await wait_until(pilot, "the modal closed", lambda: app.screen is app.main)

        app.options = dataclasses.replace(app.options, account_api=None)
        await open_modal(pilot, wait=False)
        await wait_until(
            pilot, "no API said", lambda: any("No account API is set" in text for text in said(app, TITLE))
        )
        assert app.screen is app.main
    assert alices_setting(server) is None
