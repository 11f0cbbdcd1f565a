"""The Assistant's screens against the real account API (smartbook's server on 127.0.0.1 with `--http` and the
console SMS gateway), driven by keys through Textual's pilot: the codes are read as a user reads them, from the SMS
the app shows (the demo's notifications) or from the server's outbox."""

from __future__ import annotations

import dataclasses
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.assistant.outbox import OUTBOX_VARIABLE
from smartbook_tui.cli import build_parser
from smartbook_tui.cli.options import app_options, merge_session_settings
from smartbook_tui.config import AccountSettings, Settings, load_settings
from smartbook_tui.demo.launch import DEFAULT_BOOK, DemoOptions, app_arguments, backend_running
from smartbook_tui.roster.session_options import SessionOptions
from smartbook_tui.tui.app import SmartbookApp
from smartbook_tui.tui.screens.account import AccountScreen
from smartbook_tui.tui.screens.assistant import AssistantScreen, Task
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server
from tests.tui.conftest import USERS
from tests.tui.screen import notifications, row_of, status_bar, text_of, wait_until

SIZE = (120, 40)
NEWCOMER = "+33612345678"  # Zoé Petit's mobile, a card the test adds to the book: nobody has it yet
DORA = "+33698765432"  # an account's own number, for recovering it


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    """conftest's server and users, with the account API and its console SMS gateway."""
    with run_smartbook_server(
        tmp_path / "server", "--notify-interval", "0.05", "--api-rate", "0", accounts=[("alice", None)], api=True
    ) as running:
        for user, phone in USERS.items():
            running.add_account(user, phone, public=True)
        running.add_account("dora", DORA)
        yield running


@pytest.fixture
def book(book: Path) -> Path:
    (book / "newcomer.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoé Petit\r\nTEL;TYPE=CELL:06 12 34 56 78\r\nEND:VCARD\r\n"
    )
    return book


def make(
    server: SmartbookServer, book: Path, tmp_path: Path, *, signed_in: bool, api: str | None = None
) -> SmartbookApp:
    account = AccountSettings(sip_uri=server.aor("alice"), proxy=server.proxy) if signed_in else AccountSettings()
    options = SessionOptions(
        settings=Settings(vcard=[book], region="FR", account=account),
        password=PASSWORD if signed_in else None,
        share_book=True,
        null_audio=True,
        log_file=tmp_path / "smartbook.log",
        call_log=tmp_path / "calls.json",
        account_api=api or server.api_url,
    )
    return SmartbookApp(options, config_path=tmp_path / "config" / "config.toml")


def message(app) -> str:
    return text_of(app, "#assistant-message")


def on_step(app, step: str) -> bool:
    return isinstance(app.screen, AssistantScreen) and app.screen.query_one("#assistant-steps").current == step


async def first_run_form(pilot) -> None:
    app = pilot.app
    await wait_until(
        pilot, "the account form", lambda: isinstance(app.screen, AccountScreen) and app.screen.query("Select")
    )
    await pilot.pause(0.2)


async def open_from_palette(pilot, command: str) -> None:
    await pilot.press("ctrl+p", *command)
    await pilot.pause()
    await pilot.press("enter")
    await wait_until(pilot, "the Assistant", lambda: on_step(pilot.app, "phone-step"))


async def send_code_to(pilot, typed: str) -> None:
    await pilot.press(*typed)
    await wait_until(pilot, "the number checked", lambda: text_of(pilot.app, "#phone-check").startswith("✓"))
    await pilot.press("enter")
    await wait_until(pilot, "the code step", lambda: on_step(pilot.app, "code-step"))


async def type_code(pilot, code: str) -> None:
    pilot.app.screen.query_one("#code").focus()
    await pilot.press(*code, "enter")


def has_badge(app, name: str) -> bool:
    row = row_of(app, name)
    return row is not None and "Linphone" in row


async def test_first_run_makes_an_account_from_a_number_with_the_code_of_the_sms_shown(
    server, book, tmp_path, monkeypatch
):
    monkeypatch.setenv(OUTBOX_VARIABLE, str(server.outbox))  # as `smartbook demo` does
    app = make(server, book, tmp_path, signed_in=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await first_run_form(pilot)
        await pilot.click("#assistant-create")
        await wait_until(pilot, "the Assistant", lambda: on_step(app, "phone-step"))
        await pilot.press(*"06 12")
        await wait_until(pilot, "too short", lambda: text_of(app, "#phone-check") == "The number is too short.")
        await send_code_to(pilot, " 34 56 78")
        assert "A code was sent by SMS to +33 6 12 34 56 78." in text_of(app, "#code-sent")
        await wait_until(pilot, "the SMS", lambda: any("SMS to +33 6 12 34 56 78" in n for n in notifications(app)))
        [sms] = [n for n in notifications(app) if "your code is" in n]
        await type_code(pilot, re.search(r"your code is (\d{4})", sms).group(1))
        await wait_until(pilot, "the new account registered", lambda: "registered" in status_bar(app))
        assert f"sip:{NEWCOMER}@{server.domain}" in status_bar(app)
    saved = load_settings(tmp_path / "config" / "config.toml").account
    assert (saved.sip_uri, saved.proxy, saved.transport) == (f"sip:{NEWCOMER}@{server.domain}", server.proxy, "tcp")
    assert saved.password_file is not None
    assert stat.S_IMODE(saved.password_file.stat().st_mode) == 0o600


async def test_a_number_of_the_book_becomes_a_user_and_the_signed_in_account_stays(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, "the registration", lambda: "registered" in status_bar(app))
        await pilot.press("slash", *"Petit")  # her row alone, whatever the table's height
        await wait_until(pilot, "Zoé in the book", lambda: row_of(app, "Zoé Petit") is not None)
        assert not has_badge(app, "Zoé Petit")
        await open_from_palette(pilot, "create an account")
        await send_code_to(pilot, "06 12 34 56 78")
        await type_code(pilot, server.last_code(NEWCOMER))
        await wait_until(pilot, "Zoé's badge", lambda: has_badge(app, "Zoé Petit"))
        [done] = [n for n in notifications(app) if "is made and activated" in n]
        assert f"{server.aor('alice')} stays the account you sign in with" in done
        assert "password-+33612345678" in done
        assert server.aor("alice") in status_bar(app)
    assert not (tmp_path / "config" / "config.toml").exists()  # the settings were not touched


async def test_a_number_linked_to_the_signed_in_account_shows_on_its_contact(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *"Petit")  # her row alone, whatever the table's height
        await wait_until(pilot, "Zoé in the book", lambda: row_of(app, "Zoé Petit") is not None)
        await open_from_palette(pilot, "link a phone number")
        assert server.aor("alice") in text_of(app, "#link-account")
        await send_code_to(pilot, "+33 6 12 34 56 78")
        await type_code(pilot, server.last_code(NEWCOMER))
        await wait_until(pilot, "the link said", lambda: any("is now the number of" in n for n in notifications(app)))
        await wait_until(pilot, "Zoé's number now alice's", lambda: has_badge(app, "Zoé Petit"))


def creating_on_a_clock(server, tmp_path, now: list[float]) -> AssistantScreen:
    """The Assistant's account creation, its resend timer on the clock `now[0]` the test moves."""
    return AssistantScreen(
        Task.CREATE,
        api_url=server.api_url,
        region="FR",
        config_path=tmp_path / "config" / "config.toml",
        account=None,
        password=None,
        clock=lambda: now[0],
    )


async def test_a_wrong_code_says_the_tries_left_and_a_void_one_offers_a_new_code_at_once(server, book, tmp_path):
    now = [1000.0]
    app = make(server, book, tmp_path, signed_in=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = creating_on_a_clock(server, tmp_path, now)
        app.push_screen(screen)
        await wait_until(pilot, "the Assistant", lambda: on_step(app, "phone-step"))
        await send_code_to(pilot, "06 12 34 56 78")
        resend = screen.query_one("#resend")
        assert resend.disabled
        assert str(resend.label) == "New code in 30 s"
        wrong = "0000" if server.last_code(NEWCOMER) != "0000" else "1111"
        await type_code(pilot, wrong)
        await wait_until(pilot, "the tries left", lambda: "2 tries left" in message(app))
        assert screen.query_one("#code").value == ""
        await type_code(pilot, wrong)
        await wait_until(pilot, "one try left", lambda: "1 try left" in message(app) or "1 tries left" in message(app))
        await type_code(pilot, wrong)
        await wait_until(pilot, "the code void", lambda: "no longer works" in message(app))
        await wait_until(pilot, "a new code offered", lambda: not resend.disabled)
        assert str(resend.label) == "New code"


async def test_a_new_code_is_offered_once_the_timer_runs_out_and_works(server, book, tmp_path):
    now = [1000.0]
    app = make(server, book, tmp_path, signed_in=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = creating_on_a_clock(server, tmp_path, now)
        app.push_screen(screen)
        await wait_until(pilot, "the Assistant", lambda: on_step(app, "phone-step"))
        screen.query_one("#new-username").value = "zoe"
        await send_code_to(pilot, "06 12 34 56 78")
        resend = screen.query_one("#resend")
        now[0] += 12
        await wait_until(pilot, "the timer", lambda: str(resend.label) == "New code in 18 s")
        now[0] += 18
        await wait_until(pilot, "a new code offered", lambda: not resend.disabled)
        await pilot.click("#resend")
        await wait_until(pilot, "the new code said", lambda: "A new code was sent" in text_of(app, "#code-sent"))
        assert len(server.sms()) == 2
        await type_code(pilot, server.last_code(NEWCOMER))
        await wait_until(pilot, "the account made", lambda: not isinstance(app.screen, AssistantScreen))
    assert load_settings(tmp_path / "config" / "config.toml").account.sip_uri == f"sip:zoe@{server.domain}"


async def test_recovering_an_account_from_the_first_run_form_signs_in_with_the_new_password(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await first_run_form(pilot)
        await pilot.click("#assistant-recover")
        await wait_until(pilot, "the Assistant", lambda: on_step(app, "phone-step"))
        await send_code_to(pilot, "06 98 76 54 32")
        sent = "If +33 6 98 76 54 32 is an account's number, a code was sent to it by SMS."  # told to anyone alike
        assert text_of(app, "#code-sent") == sent
        app.screen.query_one("#new-password").value = "dora's new password"
        app.screen.query_one("#new-password-again").value = "dora's other password"
        await type_code(pilot, server.last_code(DORA))
        await wait_until(pilot, "the passwords differ", lambda: "same new password twice" in message(app))
        app.screen.query_one("#new-password-again").value = "dora's new password"
        await type_code(pilot, server.last_code(DORA))
        await wait_until(pilot, "dora registered", lambda: "registered" in status_bar(app))
        assert server.aor("dora") in status_bar(app)
    saved = load_settings(tmp_path / "config" / "config.toml").account
    assert saved.password_file.read_text().strip() == "dora's new password"


async def test_a_new_account_for_a_number_that_has_one_says_so_at_its_code(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_from_palette(pilot, "create an account")
        await send_code_to(pilot, "06 98 76 54 32")  # dora's
        await type_code(pilot, server.last_code(DORA))
        taken = "This number already has an account: recover that account with its number instead."
        await wait_until(pilot, "the number said taken", lambda: message(app) == taken)
        assert on_step(app, "code-step")
    assert not (tmp_path / "config" / "config.toml").exists()  # nothing saved


async def test_a_dead_account_api_is_a_sentence(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=True, api="http://127.0.0.1:9/api")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_from_palette(pilot, "create an account")
        await pilot.press(*"06 12 34 56 78", "enter")
        await wait_until(pilot, "the dead server said", lambda: "Cannot reach the account API" in message(app))
        assert on_step(app, "phone-step")


async def test_no_account_api_is_a_sentence_and_nothing_can_be_sent(server, book, tmp_path):
    app = make(server, book, tmp_path, signed_in=True)
    app.options = dataclasses.replace(app.options, account_api=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_from_palette(pilot, "recover an account")
        assert message(app).startswith("No account API is set: give --account-api URL")
        await pilot.press(*"06 98 76 54 32", "enter")
        assert app.screen.query_one("#send").disabled
        assert server.sms() == []


async def test_in_the_demo_a_number_of_the_book_becomes_a_linphone_user(tmp_path, monkeypatch):
    """`smartbook demo`'s backend and the app as the demo opens it: Grace Taylor's number has no account; made
    from the palette with the code of the SMS notification, she shows as a Linphone user in the demo's book."""
    with backend_running(tmp_path, DemoOptions(join_after=3000, call_after=3000)) as backend:
        args = build_parser().parse_args(app_arguments(backend, tmp_path, DEFAULT_BOOK))
        options = app_options(args, merge_session_settings(args, load_settings(args.config)))
        monkeypatch.setenv(OUTBOX_VARIABLE, str(backend.sms_outbox))
        app = SmartbookApp(options, config_path=args.config)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.press("slash", *"Grace")
            await wait_until(pilot, "Grace in the book", lambda: row_of(app, "Grace Taylor") is not None)
            assert not has_badge(app, "Grace Taylor")
            await open_from_palette(pilot, "create an account")
            await send_code_to(pilot, "+61 491 570 156")
            await wait_until(pilot, "the SMS", lambda: any("SMS to +61 491 570 156" in n for n in notifications(app)))
            [sms] = [n for n in notifications(app) if "your code is" in n]
            await type_code(pilot, re.search(r"your code is (\d{4})", sms).group(1))
            await wait_until(pilot, "Grace's badge", lambda: has_badge(app, "Grace Taylor"))
            assert backend.account in status_bar(app)
