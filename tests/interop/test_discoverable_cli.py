"""`smartbook assistant discoverable [CHOICE]` against the real account API: the signed-in account's setting said
in one sentence, changed, and each refusal one line with a non-zero exit status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server, smartbook


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("alice", None)], api=True) as running:
        yield running


def discoverable(server: SmartbookServer, tmp_path: Path, *choice: str, password: str = PASSWORD):
    password_file = tmp_path / "alice-password"
    password_file.write_text(password)
    return smartbook(
        "--config", str(tmp_path / "config.toml"),
        "--sip-uri", server.aor("alice"), "--password-file", str(password_file),
        "assistant", "discoverable", *choice, "--account-api", server.api_url,
        input_text="",
    )  # fmt: skip


def test_the_setting_is_said_then_changed_then_said_again(server, tmp_path):
    now = discoverable(server, tmp_path)
    assert now.returncode == 0, now.stderr
    assert now.stdout == (
        "Who can find you by your number: everyone, the server's default "
        "(anyone who has your number sees you have an account).\n"
    )
    changed = discoverable(server, tmp_path, "nobody")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == "Who can find you by your number: nobody (your number serves calls and recovery only).\n"
    assert "nobody" in discoverable(server, tmp_path).stdout
    back = discoverable(server, tmp_path, "default")
    assert back.stdout == now.stdout


def test_a_wrong_password_is_one_line_and_nothing_changes(server, tmp_path):
    refused = discoverable(server, tmp_path, "contacts", password="not alice's")
    assert refused.returncode != 0
    assert refused.stderr == "smartbook: The service refused the account's user name or password.\n"
    assert "the server's default" in discoverable(server, tmp_path).stdout


def test_without_an_account_or_a_live_api_it_is_one_line(server, tmp_path):
    alone = smartbook(
        "--config", str(tmp_path / "config.toml"), "assistant", "discoverable", "--account-api", server.api_url,
        input_text="",
    )  # fmt: skip
    assert alone.returncode != 0
    assert alone.stderr.startswith("smartbook: No account is signed in")
    assert "say who can find it by its number" in alone.stderr
    assert len(alone.stderr.splitlines()) == 1

    server.stop()
    dead = discoverable(server, tmp_path)
    assert dead.returncode != 0
    assert dead.stderr.startswith(f"smartbook: Cannot reach the account API at {server.api_url}")
    assert len(dead.stderr.splitlines()) == 1
