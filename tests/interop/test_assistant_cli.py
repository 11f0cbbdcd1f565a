"""`smartbook assistant create|link|recover` as a user runs them against the real account API: the code typed when
asked (read from the SMS outbox, as from the phone), on standard input or on a terminal (a pty: the new password is
not echoed); each refusal one line and a non-zero exit status."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.config import load_settings
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server, smartbook

BOB, DORA = "+33612345678", "+33698765432"
WAIT = 20.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("alice", None)], api=True) as running:
        running.add_account("dora", DORA)
        yield running


def command(server: SmartbookServer, config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smartbook_tui.cli",
        "--config",
        str(config),
        "--region",
        "FR",
        "assistant",
        *args,
        "--account-api",
        server.api_url,
    ]


def wait_for_sms(server: SmartbookServer, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(server.sms()) < count:
        assert time.monotonic() < deadline, "no SMS came"
        time.sleep(0.05)


def test_create_with_the_code_on_standard_input_saves_the_account(server, tmp_path):
    config = tmp_path / "config" / "config.toml"
    process = subprocess.Popen(
        command(server, config, "create", "--phone", "06 12 34 56 78", "--username", "bob"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_sms(server, 1)
    wrong = "0000" if server.last_code(BOB) != "0000" else "1111"
    out, err = process.communicate(f"{wrong}\n{server.last_code(BOB)}\n", timeout=WAIT)
    assert process.returncode == 0, err
    assert "A code was sent by SMS to +33 6 12 34 56 78." in err
    assert "Wrong code" in err
    assert out.startswith(f"The account sip:bob@{server.domain} is made and activated. Saved in {config}")
    account = load_settings(config).account
    assert (account.sip_uri, account.proxy, account.transport) == (f"sip:bob@{server.domain}", server.proxy, "tcp")
    assert stat.S_IMODE(account.password_file.stat().st_mode) == 0o600
    assert account.password_file.read_text().strip() not in out + err  # the server's password is never shown


def test_link_a_number_to_the_signed_in_account(server, tmp_path):
    password = tmp_path / "alice-password"
    password.write_text(PASSWORD)
    config = tmp_path / "config.toml"
    args = command(server, config, "link", "--phone", BOB)
    args[3:3] = ["--sip-uri", server.aor("alice"), "--password-file", str(password)]
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_sms(server, 1)
    out, err = process.communicate(f"{server.last_code(BOB)}\n", timeout=WAIT)
    assert process.returncode == 0, err
    assert out == f"+33 6 12 34 56 78 is now the number of {server.aor('alice')}.\n"
    assert not config.exists()


def test_recover_on_a_terminal_asks_the_new_password_without_echo(server, tmp_path):
    config = tmp_path / "config.toml"
    master, slave = pty.openpty()
    process = subprocess.Popen(
        command(server, config, "recover", "--phone", "06 98 76 54 32"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    screen = b""

    def until(text: bytes) -> None:
        nonlocal screen
        deadline = time.monotonic() + WAIT
        while text not in screen:
            assert time.monotonic() < deadline, f"never saw {text!r} in {screen!r}"
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen += os.read(master, 4096)
                except OSError:  # the process ended
                    assert text in screen, f"never saw {text!r} in {screen!r}"

    try:
        until(b"Code (Enter alone sends a new one): ")
        os.write(master, f"{server.last_code(DORA)}\n".encode())
        until(b"New password: ")
        os.write(master, b"dora's new password\n")
        until(b"The same password again: ")
        os.write(master, b"dora's new password\n")
        until(b"has its new password")
        assert process.wait(WAIT) == 0
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert b"dora's new password" not in screen
    account = load_settings(config).account
    assert account.sip_uri == server.aor("dora")
    assert account.password_file.read_text().strip() == "dora's new password"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--phone", "01 45 67 89 01"], "+33 1 45 67 89 01 is a landline"),
        (["create", "--phone", BOB, "--username", "alice"], "This user name is taken: choose another."),
        (["link", "--phone", BOB], "No account is signed in"),
    ],
)
def test_a_refusal_is_one_line_and_a_non_zero_status(server, tmp_path, args, message):
    done = smartbook(*command(server, tmp_path / "config.toml", *args)[3:], input_text="")
    assert done.returncode != 0
    [line] = [line for line in done.stderr.splitlines() if line.startswith("smartbook: ")]
    assert message in line
    assert "Traceback" not in done.stderr


def test_recovering_a_number_without_an_account_sends_nothing_and_no_code_works(server, tmp_path):
    done = smartbook(
        *command(server, tmp_path / "config.toml", "recover", "--phone", "+33 6 11 11 11 11")[3:],
        input_text="1234\na new password, long enough\n",
    )
    assert done.returncode != 0
    assert "No code is waiting for this number: ask for a new one." in done.stderr
    assert server.sms() == []
    assert "Traceback" not in done.stderr


def test_a_dead_account_api_is_one_line(tmp_path):
    done = smartbook("assistant", "create", "--phone", BOB, "--account-api", "http://127.0.0.1:9/api", input_text="")
    assert done.returncode != 0
    assert done.stderr.startswith("smartbook: Cannot reach the account API at http://127.0.0.1:9/api")
    assert len(done.stderr.splitlines()) == 1
