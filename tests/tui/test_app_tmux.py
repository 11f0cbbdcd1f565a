"""End to end, as a person meets it: the installed `smartbook` binary in a real terminal (tmux) against `smartbook
server run`; keys typed with send-keys, the screen read with capture-pane."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers import require_binary
from tests.peers.smartbook_server import SmartbookServer

pytestmark = pytest.mark.peer("tmux")

WAIT = 30.0


class Terminal:
    """One tmux server of its own (its own socket), 120 x 40, running one command."""

    def __init__(self, tmux: str, socket: Path) -> None:
        self.tmux, self.socket = tmux, socket

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=10, check=False
        )

    def start(self, command: list[str], env: dict[str, str]) -> None:
        variables = [f"-e{name}={value}" for name, value in env.items()]
        started = self.run("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", *variables, *command)
        assert started.returncode == 0, started.stderr

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "app", *keys)

    @property
    def alive(self) -> bool:
        return self.run("has-session", "-t", "app").returncode == 0

    def wait_for(self, what: str, condition: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed {what}:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    tmux = require_binary("tmux", "tmux")
    terminal = Terminal(tmux, tmp_path / "tmux.socket")
    try:
        yield terminal
    finally:
        terminal.run("kill-server")


def line_of(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if name in line), "")


def test_the_installed_app_shows_badges_and_filters_them(terminal, server: SmartbookServer, book, tmp_path):
    binary = Path(sys.executable).parent / "smartbook"
    log_file = tmp_path / "smartbook.log"
    command = [
        str(binary),
        "--sip-uri",
        server.aor("alice"),
        "--proxy",
        server.proxy,
        "--password-file",
        str(server.password_file),
        "--vcard",
        str(book),
        "--region",
        "FR",
        "--share-book",
        "--null-audio",
        "--log-file",
        str(log_file),
    ]
    keep = ("PATH", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "LANG")
    env = {name: os.environ[name] for name in keep if name in os.environ} | {"TERM": "xterm-256color"}
    terminal.start(command, env)

    screen = terminal.wait_for("Camille's badge", lambda text: "Linphone" in line_of(text, "Camille Martin"))
    assert "40 contacts" in screen
    terminal.wait_for("the registration", lambda text: "registered" in text)

    terminal.keys("l")
    screen = terminal.wait_for("the users only", lambda text: "2 of 40" in text and "Antoine Chevalier" not in text)
    assert "Inès Durand" in screen

    terminal.keys("/")
    terminal.keys("-l", "inès")
    # the count and the detail pane are painted a frame apart: wait for both, Camille gone from the table and pane
    terminal.wait_for("the search", lambda text: "1 of 40" in text and "Camille Martin" not in text)

    terminal.keys("Escape")  # alone: an Escape followed at once by a key would read as Alt+key
    terminal.wait_for("the search cleared", lambda text: "2 of 40" in text)
    terminal.keys("q")
    deadline = time.monotonic() + WAIT
    while terminal.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive, terminal.screen()
    server.wait_for_log(f"{server.aor('alice')} unregisters")
    assert "Traceback" not in log_file.read_text()
