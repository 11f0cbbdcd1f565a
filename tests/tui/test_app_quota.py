"""The service's discovery quota on screen: the server's sentence once as a notification and in the status bar, and
the numbers it withheld as "not checked" (not as "no account", and without a badge). Against smartbook's server with
a tiny quota and the real session, then with a session double for what exactly each row and the pane say."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from smartbook_tui.contacts import contact_resource_uris
from smartbook_tui.presence import NO_PRESENCE
from smartbook_tui.roster.events import ListStatus, Notice, PresenceChanged, Severity
from smartbook_tui.subscriber.tracker import PresenceUpdate
from tests.peers.smartbook_server import SmartbookServer, run_smartbook_server
from tests.tui.book import DOMAIN, fixture_contacts, live_script
from tests.tui.conftest import USERS
from tests.tui.screen import cursor_to, detail, notifications, row_of, status_bar, table_lines, wait_until
from tests.tui.test_app_keys import SIZE, scripted, shown

QUOTA = (
    "3000 numbers of your book were not checked: your book is larger than this service lets you check today "
    "(12000 new numbers)"
)
WITHHELD = "Baptiste Durand"  # no account in the script: the quota is what keeps him unknown
NOT_CHECKED = "were not checked"  # in the server's sentence


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    """The pilot tests' server, letting an account check 5 new numbers a day: most of the book is withheld."""
    arguments = ("--notify-interval", "0.05", "--discovery-quota", "5")
    with run_smartbook_server(tmp_path / "server", *arguments, accounts=[("alice", None)]) as running:
        for user, phone in USERS.items():
            running.add_account(user, phone, public=True)
        yield running


async def test_the_servers_quota_is_one_notification_and_the_rest_of_the_book_reads_not_checked(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, "the quota's notification", lambda: any(NOT_CHECKED in t for t in notifications(app)))
        await wait_until(pilot, "the quota in the status bar", lambda: "some numbers not checked" in status_bar(app))
        await wait_until(pilot, "withheld contacts", lambda: any("not checked" in row for row in table_lines(app)[1:]))
        assert sum(NOT_CHECKED in text for text in notifications(app)) == 1


async def test_the_quota_is_said_once_and_withheld_numbers_read_not_checked():
    contacts = fixture_contacts()
    script = live_script(contacts)
    listed = next(event for event in script if isinstance(event, ListStatus))
    baptiste = next(contact for contact in contacts if contact.name == WITHHELD)
    withheld = [PresenceUpdate(uri, NO_PRESENCE, reason="rejected") for uri in contact_resource_uris(baptiste, DOMAIN)]
    app, sessions = scripted(script)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shown(pilot)
        nobody = next(c.name for c in contacts if c.name != WITHHELD and "Linphone" not in (row_of(app, c.name) or ""))
        sessions[0].say(Notice(Severity.WARNING, QUOTA))
        sessions[0].say(replace(listed, quota=QUOTA))
        sessions[0].say(PresenceChanged(withheld))
        await wait_until(pilot, "the quota's notification", lambda: any(QUOTA in text for text in notifications(app)))
        await wait_until(pilot, "the quota in the status bar", lambda: "some numbers not checked" in status_bar(app))
        await wait_until(pilot, "Baptiste not checked", lambda: "not checked" in (row_of(app, WITHHELD) or ""))
        assert "Linphone" not in (row_of(app, WITHHELD) or "")  # no badge: nobody knows yet
        assert "not checked" not in (row_of(app, nobody) or "")  # a number without an account reads as before
        assert sum(QUOTA in text for text in notifications(app)) == 1
        await cursor_to(pilot, WITHHELD)
        await wait_until(pilot, "the detail pane", lambda: "not checked" in detail(app))
        assert "no account" not in detail(app)
