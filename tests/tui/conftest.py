"""The pilot tests' world: smartbook's own server on a free port with a few users whose numbers are in the
fixtures' book, a copy of that book the test may edit, and the app made with the real Session (null audio)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartbook_tui.config import AccountSettings, Settings
from smartbook_tui.roster.session import SessionOptions
from smartbook_tui.tui.app import SmartbookApp
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server
from tests.tui.book import BOOK

# user -> the number the server knows them by, as the fixtures' book writes it for one contact
USERS = {
    "camille": "+33639981234",  # Camille Martin, "06 39 98 12 34"
    "ines": "+33700123456",  # Inès Durand, "07 00 12 34 56"
}
ODILE = "+33353014455"  # Odile Garnier's home number: she joins during a test


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--notify-interval", "0.05", accounts=[("alice", None)]) as running:
        for user, phone in USERS.items():
            running.add_account(user, phone, public=True)
        yield running


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A copy of the fixtures' book (40 contacts): the tests edit it as a user edits their files."""
    copy = tmp_path / "book"
    shutil.copytree(BOOK, copy)
    (copy / "expected.toml").unlink()
    (copy / "README.md").unlink()
    return copy


AppFactory = Callable[..., SmartbookApp]


@pytest.fixture
def make_app(server: SmartbookServer, book: Path, tmp_path: Path) -> AppFactory:
    def make(*, share_book: bool | None = True, sip_uri: str | None = None, users_only: bool = False) -> SmartbookApp:
        account = AccountSettings(sip_uri=server.aor("alice") if sip_uri is None else sip_uri, proxy=server.proxy)
        settings = Settings(vcard=[book], region="FR", account=account)
        options = SessionOptions(
            settings=settings,
            password=PASSWORD,
            share_book=share_book,
            users_only=users_only,
            null_audio=True,
            log_file=tmp_path / "smartbook.log",
            call_log=tmp_path / "calls.json",
        )
        return SmartbookApp(options, config_path=tmp_path / "config" / "config.toml")

    return make
