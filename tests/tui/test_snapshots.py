"""Snapshots of the screens a user sees (pytest-textual-snapshot): a fixed book and a session double saying a
fixed script, so that each picture is the same on every run. Review a changed one as SVG, then accept it with
`pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from smartbook_tui.config import AccountSettings, Settings
from smartbook_tui.phone.states import Registration, RegistrationState
from smartbook_tui.roster.events import ListStatus, Notice, RegistrationChanged, Severity
from smartbook_tui.roster.session import SessionOptions
from smartbook_tui.subscriber.machine import Phase
from smartbook_tui.tui.app import SmartbookApp
from tests.tui.book import ACCOUNT, USERS, live_script
from tests.tui.doubles import ScriptedSession
from tests.tui.screen import wait_until

SIZE = (120, 40)
CONFIG = Path("/home/user/.config/smartbook/config.toml")
LOG = Path("/home/user/.local/state/smartbook/log/smartbook.log")


def scripted_app(events: list) -> SmartbookApp:
    options = SessionOptions(
        settings=Settings(account=AccountSettings(sip_uri=ACCOUNT)),
        password="secret",
        share_book=True,
        null_audio=True,
        log_file=LOG,
    )
    return SmartbookApp(options, config_path=CONFIG, session_factory=lambda _options: ScriptedSession(events))


async def shown(pilot) -> None:
    """Wait until the script's presence is on screen, with the cursor not blinking."""
    app = pilot.app
    await wait_until(pilot, "the users", lambda: app.main.roster.users >= len(USERS) and not app.main.batcher.pending)
    app.main.query_one(Input).cursor_blink = False
    await pilot.pause()


def test_main_screen(snap_compare):
    assert snap_compare(scripted_app(live_script()), terminal_size=SIZE, run_before=shown)


def test_main_screen_in_80_columns(snap_compare):
    assert snap_compare(scripted_app(live_script()), terminal_size=(80, 24), run_before=shown)


def test_users_only(snap_compare):
    assert snap_compare(scripted_app(live_script()), press=["l", "down", "down"], terminal_size=SIZE, run_before=shown)


def test_search(snap_compare):
    assert snap_compare(scripted_app(live_script()), press=["slash", *"dur"], terminal_size=SIZE, run_before=shown)


def test_help(snap_compare):
    assert snap_compare(scripted_app(live_script()), press=["question_mark"], terminal_size=SIZE, run_before=shown)


def test_wrong_password_and_a_dead_server(snap_compare):
    script = [
        *live_script(),
        RegistrationChanged(Registration(RegistrationState.FAILED, "wrong password for alice", retrying=False)),
        Notice(Severity.ERROR, "not registered: wrong password for alice: fix it in the password file"),
        ListStatus(Phase.WAITING, "no answer from 127.0.0.1:5070", False, 53),
    ]
    assert snap_compare(scripted_app(script), terminal_size=SIZE, run_before=shown)
