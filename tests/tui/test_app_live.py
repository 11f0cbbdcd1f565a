"""The app against the real parts: smartbook's server on 127.0.0.1, the real Session (list subscription, live
book, pjsua2 phone with null audio), driven by keys through Textual's pilot and read off the screen."""

from __future__ import annotations

import stat
import tomllib

from smartbook_tui.config import load_settings
from smartbook_tui.roster.consent import ConsentStore
from smartbook_tui.tui.screens.account import AccountScreen
from smartbook_tui.tui.screens.dialogs import ConsentDialog
from tests.peers.sip_publish import Publisher
from tests.peers.smartbook_server import PASSWORD
from tests.tui.conftest import ODILE
from tests.tui.screen import (
    cursor_name,
    cursor_to,
    detail,
    names,
    notifications,
    row_of,
    status_bar,
    toggle,
    wait_until,
)

SIZE = (120, 40)


def has_badge(app, name: str) -> bool:
    row = row_of(app, name)
    return row is not None and "Linphone" in row


def asked(app) -> bool:
    """The consent dialog is up, its text drawn."""
    return isinstance(app.screen, ConsentDialog) and bool(app.screen.query(".dialog-text"))


async def live(pilot) -> None:
    """Wait until the book is read, the account registered and the users' badges shown."""
    app = pilot.app
    await wait_until(pilot, "the registration", lambda: "registered" in status_bar(app))
    await wait_until(
        pilot, "Camille's and Inès's badges", lambda: has_badge(app, "Camille Martin") and has_badge(app, "Inès Durand")
    )


async def test_the_switch_shows_only_users_with_its_count_and_back(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        assert "40 contacts" in toggle(app)
        assert "○━━" in toggle(app)
        await pilot.press("l")
        await wait_until(pilot, "the users alone", lambda: names(app) == ["Camille Martin", "Inès Durand"])
        assert "2 of 40" in toggle(app)
        assert "━━●" in toggle(app)
        await pilot.press("l")
        await wait_until(pilot, "every contact again", lambda: len(names(app)) > 2)
        assert "40 contacts" in toggle(app)


async def test_the_cursor_stays_on_its_contact_when_the_switch_flips(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        await cursor_to(pilot, "Inès Durand")
        await pilot.press("l")
        await wait_until(pilot, "the users alone", lambda: len(names(app)) == 2)
        assert cursor_name(app) == "Inès Durand"
        await pilot.press("l")
        await wait_until(pilot, "every contact", lambda: len(names(app)) > 2)
        assert cursor_name(app) == "Inès Durand"
        assert "Inès Durand" in detail(app)


async def test_search_as_you_type_and_escape_clears(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        await pilot.press("slash", *"durand")
        await wait_until(pilot, "the Durands", lambda: all("Durand" in name for name in names(app)))
        assert len(names(app)) == 4
        assert "4 of 40" in toggle(app)
        await pilot.press("escape")
        await wait_until(pilot, "the whole book", lambda: "40 contacts" in toggle(app))
        await pilot.press("slash", *"0639981234")  # a number, spelt otherwise than the card writes it
        await wait_until(pilot, "Camille found by number", lambda: names(app) == ["Camille Martin"])


async def test_sort_by_status_puts_users_first(make_app):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        by_name = names(app)
        assert by_name[:2] != ["Camille Martin", "Inès Durand"]
        await pilot.press("s")
        await wait_until(pilot, "the users on top", lambda: set(names(app)[:2]) == {"Camille Martin", "Inès Durand"})
        assert "sorted by status" in str(app.screen.query_one("#sort-label").render())
        await pilot.press("s")
        await wait_until(pilot, "name order again", lambda: names(app) == by_name)
        assert "sorted by name" in str(app.screen.query_one("#sort-label").render())


async def test_the_detail_pane_shows_each_number_the_address_and_the_source(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        await cursor_to(pilot, "Camille Martin")
        text = detail(app)
        assert "Camille Martin" in text
        assert "06 39 98 12 34" in text
        assert "Linphone" in text
        assert server.aor("camille") in text
        assert "phone-export.vcf" in text


async def test_a_status_change_and_a_note_arrive(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        camille = Publisher(server.sip, "camille", PASSWORD)
        assert await camille.publish("open", "At the market") == 200
        await wait_until(pilot, "Camille online", lambda: "● online" in (row_of(app, "Camille Martin") or ""))
        await cursor_to(pilot, "Camille Martin")
        await wait_until(pilot, "her note", lambda: "At the market" in detail(app))
        assert await camille.publish("closed") == 200
        await wait_until(pilot, "Camille offline", lambda: "offline" in (row_of(app, "Camille Martin") or ""))


async def test_a_user_joining_gets_a_badge(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        assert not has_badge(app, "Odile Garnier")
        server.add_account("odile", ODILE, public=True)
        await wait_until(pilot, "Odile's badge", lambda: has_badge(app, "Odile Garnier"))


async def test_an_edited_vcard_file_reaches_the_table(make_app, book):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        card = (
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new\r\nFN:Zoé Nouvelle\r\nTEL;TYPE=CELL:06 39 98 12 34\r\nEND:VCARD\r\n"
        )
        (book / "new.vcf").write_text(card, encoding="utf-8")
        await wait_until(pilot, "one more contact", lambda: "41 contacts" in toggle(app))
        await pilot.press("slash", *"zoe")
        await wait_until(pilot, "the new contact with Camille's number", lambda: has_badge(app, "Zoé Nouvelle"))


async def test_the_server_killed_and_restarted(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        server.stop()
        await wait_until(pilot, "the list in trouble", lambda: "list: live" not in status_bar(app), timeout=60)
        await wait_until(pilot, "a notification of it", lambda: notifications(app), timeout=60)
        assert has_badge(app, "Camille Martin")  # the table keeps what it knew
        server.start()
        await wait_until(pilot, "the list live again", lambda: "list: live" in status_bar(app), timeout=90)
        await wait_until(pilot, "registered again", lambda: "not registered" not in status_bar(app), timeout=90)
        assert has_badge(app, "Camille Martin")


async def test_first_run_asks_for_the_account_and_saves_it(make_app, server, tmp_path):
    app = make_app(sip_uri="")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(
            pilot, "the account form", lambda: isinstance(app.screen, AccountScreen) and app.screen.query("#sip-uri")
        )
        await pilot.click("#sip-uri")
        await pilot.press(*server.aor("alice"))
        await pilot.click("#password")
        await pilot.press(*PASSWORD)
        await pilot.click("#proxy")
        await pilot.press(*server.proxy)
        await pilot.press("ctrl+s")
        await wait_until(pilot, "the main screen", lambda: not isinstance(app.screen, AccountScreen))
        await live(pilot)
    config = tmp_path / "config" / "config.toml"
    saved = load_settings(config).account
    assert saved.sip_uri == server.aor("alice")
    assert saved.proxy == server.proxy
    assert "password" not in tomllib.loads(config.read_text())["account"]  # only its file is named
    assert saved.password_file is not None
    assert saved.password_file.read_text().strip() == PASSWORD
    assert stat.S_IMODE(saved.password_file.stat().st_mode) == 0o600


async def test_consent_declined_keeps_an_address_book_and_says_how_to_share(make_app, server):
    app = make_app(share_book=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, "the consent question", lambda: asked(app))
        question = str(app.screen.query_one(".dialog-text").render())
        assert "127.0.0.1" in question
        assert "contacts" in question
        await pilot.press("n")
        await wait_until(pilot, "the book", lambda: "Camille Martin" in names(app))
        await wait_until(pilot, "how to share later", lambda: any("share" in n.lower() for n in notifications(app)))
        assert "book not shared" in status_bar(app)
        assert ConsentStore().get(server.aor("alice")) is False
        await wait_until(pilot, "the registration", lambda: "registered" in status_bar(app))
        assert not has_badge(app, "Camille Martin")
        await pilot.press("b")
        await wait_until(pilot, "the question again", lambda: asked(app))
        await pilot.press("y")
        await wait_until(pilot, "Camille's badge", lambda: has_badge(app, "Camille Martin"))
        assert ConsentStore().get(server.aor("alice")) is True


async def test_quit_unregisters_and_unsubscribes(make_app, server):
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await live(pilot)
        await pilot.press("q")
        await wait_until(pilot, "the app's end", lambda: app.return_code is not None)
    assert app.return_code == 0
    server.wait_for_log(f"{server.aor('alice')} unregisters")
    server.wait_for_log("subscription of alice to sip:rls@127.0.0.1 ends")
