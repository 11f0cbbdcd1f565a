"""Keys and what they show, with a session double saying a fixed script (what the pilot tests against the real
server do not reach: a burst of thousands of updates under the keyboard, the palette, the presence dialog, help,
an empty book)."""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from pathlib import Path

from textual import events
from textual.widgets import Button, Input, Static

from smartbook_tui.config import AccountSettings, Settings
from smartbook_tui.contacts import contact_resource_uris
from smartbook_tui.phone.states import CallDirection, CallInfo, CallState, OwnStatus
from smartbook_tui.presence.summary import Availability, PresenceSummary
from smartbook_tui.roster.events import BookLoaded, CallChanged, PresenceChanged
from smartbook_tui.roster.session import SessionOptions
from smartbook_tui.subscriber.tracker import PresenceUpdate
from smartbook_tui.tui.app import SmartbookApp
from smartbook_tui.tui.screens.account import AccountScreen
from smartbook_tui.tui.screens.call_log import CallLogScreen
from smartbook_tui.tui.screens.dialogs import HelpDialog, PresenceDialog
from tests.tui.book import ACCOUNT, DOMAIN, fixture_contacts, live_script
from tests.tui.doubles import ScriptedSession
from tests.tui.screen import cursor_name, names, notifications, row_of, status_bar, text_of, toggle, wait_until

SIZE = (120, 40)
LOG = Path("/var/tmp/smartbook-test.log")


def scripted(events: list, *, service_name: str = "Linphone") -> tuple[SmartbookApp, list[ScriptedSession]]:
    sessions: list[ScriptedSession] = []

    def make(_options: SessionOptions) -> ScriptedSession:
        sessions.append(ScriptedSession(events))
        return sessions[-1]

    options = SessionOptions(
        settings=Settings(account=AccountSettings(sip_uri=ACCOUNT)),
        password="secret",
        share_book=True,
        log_file=LOG,
        service_name=service_name,
    )
    return SmartbookApp(options, config_path=Path("/var/tmp/smartbook-test.toml"), session_factory=make), sessions


async def shown(pilot) -> None:
    await wait_until(pilot, "the book", lambda: "Camille Martin" in names(pilot.app))
    await wait_until(pilot, "the users", lambda: "Linphone" in (row_of(pilot.app, "Camille Martin") or ""))


async def test_keys_work_while_thousands_of_updates_arrive():
    contacts = fixture_contacts()
    uris = [uri for contact in contacts for uri in contact_resource_uris(contact, DOMAIN)]
    statuses = [Availability.ONLINE, Availability.AWAY, Availability.BUSY, Availability.OFFLINE]
    app, sessions = scripted(live_script(contacts))
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        for wave in range(100):  # 100 waves over every resource: 5,500 updates, said before any key is read
            status = statuses[(wave + 1) % len(statuses)]  # the last wave: online
            sessions[0].say(
                PresenceChanged([PresenceUpdate(uri, PresenceSummary(True, uri, status, None, None)) for uri in uris])
            )
        await pilot.press("down", "down", "l")
        await wait_until(pilot, "the keys' effect", lambda: "of 40" in toggle(app))
        assert cursor_name(app) == "Baptiste Durand"  # still the contact the keys went to, now a user
        assert "━━●" in toggle(app)
        await wait_until(pilot, "the last wave", lambda: "● online" in (row_of(app, "Camille Martin") or ""))


async def test_the_cursor_stays_on_its_contact_when_presence_moves_rows():
    contacts = fixture_contacts()
    app, sessions = scripted(live_script(contacts))
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await pilot.press("s", "home")  # by status: users first; the cursor to the top
        for _ in range(40):  # to Odile, offline: below the users who are online
            if cursor_name(app) == "Odile Garnier":
                break
            await pilot.press("down")
        assert cursor_name(app) == "Odile Garnier", names(app)
        odile = next(contact for contact in contacts if contact.name == "Odile Garnier")
        uri = contact_resource_uris(odile, DOMAIN)[0]
        online = PresenceSummary(True, f"sip:odile@{DOMAIN}", Availability.ONLINE, None, None)
        sessions[0].say(PresenceChanged([PresenceUpdate(uri, online)]))
        await wait_until(pilot, "Odile online", lambda: "● online" in (row_of(app, "Odile Garnier") or ""))
        assert cursor_name(app) == "Odile Garnier"


async def test_the_palette_runs_the_same_intentions_as_the_keys():
    app, _ = scripted(live_script())
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await pilot.press("ctrl+p", *"users only")
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, "the users alone", lambda: "of 40" in toggle(app))


async def test_own_presence_and_note_go_to_the_session():
    app, sessions = scripted(live_script())
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await pilot.press("p")
        await wait_until(pilot, "the presence dialog", lambda: isinstance(app.screen, PresenceDialog))
        await pilot.press("down", "down", "down")  # online, away, busy, do not disturb
        await pilot.click("#presence-note")
        await pilot.press(*"In a meeting", "enter")
        await wait_until(pilot, "the main screen", lambda: not isinstance(app.screen, PresenceDialog))
        assert sessions[0].presence == [(OwnStatus.DO_NOT_DISTURB, "In a meeting")]
        assert "do not disturb" in status_bar(app)
        assert "In a meeting" in status_bar(app)


async def test_presence_is_not_offered_before_there_is_an_account(tmp_path):
    options = SessionOptions(settings=Settings(), password=None, share_book=None, log_file=LOG)
    app = SmartbookApp(options, config_path=tmp_path / "config.toml", session_factory=ScriptedSession)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, "the account form", lambda: isinstance(app.screen, AccountScreen) and app.screen.query("#save")
        )
        app.screen.query_one("#save", Button).focus()  # a key that no field takes goes up to the app
        await pilot.press("p", "b")
        await pilot.pause()
        assert isinstance(app.screen, AccountScreen)


async def test_help_lists_every_key_and_the_log_file():
    app, _ = scripted(live_script())
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, "help", lambda: isinstance(app.screen, HelpDialog) and app.screen.query("#help-keys"))
        keys = text_of(app, "#help-keys")
        for key, what in (("l", "users"), ("/", "Search"), ("s", "Sort"), ("p", "presence"), ("q", "Quit")):
            assert any(line.startswith(key) and what in line for line in keys.splitlines()), (key, keys)
        assert str(LOG) in str(app.screen.query_one(".dialog-text").render())
        await pilot.press("escape")
        await wait_until(pilot, "the table again", lambda: not isinstance(app.screen, HelpDialog))


async def test_an_empty_book_says_how_to_add_one():
    app, _ = scripted([BookLoaded([], [], (), DOMAIN)])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, "the empty state", lambda: app.main.query_one("#empty").display)
        text = text_of(app, "#empty")
        assert "--vcard PATH" in text
        assert "--carddav URL" in text
        assert "[contacts]" in text


async def test_a_search_that_finds_nothing_says_so():
    app, _ = scripted(live_script())
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await pilot.press("slash", *"zzz")
        await wait_until(pilot, "no match", lambda: "0 of 40" in toggle(app))
        table = app.main.table
        assert "No contact matches “zzz”" in table.render_line(2).text


async def test_the_badge_and_the_switch_carry_the_service_name():
    app, _ = scripted(live_script(), service_name="Example Voice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, "the badge", lambda: "Example Voice" in (row_of(app, "Camille Martin") or ""))
        assert "Example Voice users only" in toggle(app)


async def test_the_cycle_collector_the_launch_turns_off_is_on_again_once_the_screen_is_up():
    """`smartbook` launches with it off (`cli.app`): the app must not run for hours without it."""
    app, _sessions = scripted(live_script(fixture_contacts()))
    gc.disable()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await shown(pilot)
            assert gc.isenabled()
    finally:
        gc.enable()


async def test_what_is_typed_right_after_slash_goes_to_the_search_box():
    """Keys as quick as a paste: none may reach the table while the search box is still taking the focus."""
    app, _sessions = scripted(live_script(fixture_contacts()))
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        for character in "/0639981201":  # sent as the terminal's driver sends them, without waiting in between
            key = events.Key("slash" if character == "/" else character, character)
            key.set_sender(app)
            app._driver.send_message(key)
        await wait_until(pilot, "the search", lambda: names(app) == ["Hélène Lévesque"])
        assert app.screen.query_one("#search", Input).value == "0639981201"


async def test_a_call_before_the_phone_is_up_says_why_and_the_call_log_starts_empty():
    app, _ = scripted(live_script())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shown(pilot)
        await pilot.press("enter")
        await wait_until(pilot, "why not", lambda: any("the phone is not running" in t for t in notifications(app)))
        await pilot.press("h", "m", "o", "5")  # no call: the call's keys do nothing
        await pilot.press("r")
        await wait_until(pilot, "the call log", lambda: isinstance(app.screen, CallLogScreen))
        assert "No calls yet" in str(app.screen.query_one(".dialog-text", Static).render())
        await pilot.press("escape")
        await wait_until(pilot, "the list again", lambda: app.screen is app.main)


async def test_a_call_given_up_as_soon_as_it_rings_leaves_the_app_running_and_the_keys_working():
    app, sessions = scripted(live_script(fixture_contacts()))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shown(pilot)
        ringing = CallInfo(1, CallDirection.INCOMING, "sip:camille@example.org", "", CallState.INCOMING, time.time())
        # the end comes before the dialog has handled its first ScreenResume, as on a busy machine
        sessions[0].say(CallChanged(ringing))
        sessions[0].say(CallChanged(replace(ringing, state=CallState.ENDED, ended=time.time(), end_reason="cancelled")))
        await wait_until(
            pilot, "the missed call said", lambda: "Missed call from Camille Martin" in str(notifications(app))
        )
        await pilot.press("home", "down")
        assert app.is_running
        assert app.screen is app.main
        assert cursor_name(app) == names(app)[1]
