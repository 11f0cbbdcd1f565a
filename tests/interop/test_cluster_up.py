"""`smartbook cluster up` as a user runs it: Redis, PostgreSQL, three nodes and Kamailio from Debian on loopback,
seeded with the demo's accounts, and the demo's users publishing through Kamailio; `smartbook watch` through
Kamailio as the demo's account sees the book's badges, the demo users' statuses changing live, and the number the
ready block says to link shows up; SIGTERM stops every part, as does a part that cannot start.

Every part writes its output to its log file in the cluster's directory: a process that still has one open is a
part left running."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartbook_tui.cli import main
from smartbook_tui.cluster_up import up
from smartbook_tui.demo.cast import load_cast
from smartbook_tui.demo.launch import DEFAULT_CAST
from smartbook_tui.demo.players import in_cast
from tests.peers import require_binary
from tests.peers.kamailio import free_port
from tests.peers.postgres import require_postgres

pytestmark = [pytest.mark.peer("kamailio"), pytest.mark.peer("redis-server"), pytest.mark.peer("postgresql")]

BOOK = Path(__file__).resolve().parents[2] / "fixtures" / "contacts"
READY_LINE = "Ctrl-C stops everything."
CAMILLE = "sip:+33639981234@example.org;user=phone"  # an account with this number: a badge
MARC = "sip:+33639981313@example.org;user=phone"  # in the book, no account
ZOE = "sip:+33639984040@example.org;user=phone"  # joins: her number is linked by the ready block's command
WAIT = 120.0  # a bound on each wait, so that a hang fails the test instead of blocking the suite
CAST = load_cast(DEFAULT_CAST)
PLAYERS = {f"sip:{user.username}@{CAST.domain}" for user in in_cast(CAST)}  # the demo users who publish


@pytest.fixture(autouse=True)
def _peers() -> None:
    require_binary("redis-server", "redis-server")
    require_binary("kamailio", "kamailio")
    require_postgres()


def smartbook(*args: str) -> list[str]:
    return [sys.executable, "-m", "smartbook_tui.cli", *args]


def cluster_up(directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        smartbook("cluster", "up", "--dir", str(directory), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ready_block(process: subprocess.Popen[str]) -> list[str]:
    """The lines it prints until it says how to stop it."""
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == READY_LINE:
            return lines
    process.wait(WAIT)
    pytest.fail(f"cluster up ended with {process.returncode} before it was ready: {process.stderr.read()}")  # type: ignore[union-attr]


def watch_once(front: str, password_file: Path) -> dict[str, dict[str, object]]:
    """The book's presence as the demo's account sees it through Kamailio, by resource."""
    done = subprocess.run(
        smartbook(
            "watch", "--once", "--sip-uri", "sip:demo@example.org", "--proxy", front,
            "--password-file", str(password_file), "--vcard", str(BOOK), "--region", "FR",
        ),
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {line["uri"]: line for line in lines if line.get("event") == "presence"}


def watch_until(
    front: str, password_file: Path, wanted: Callable[[dict[str, object]], bool]
) -> list[dict[str, object]]:
    """The presence lines of a `smartbook watch` through Kamailio as the demo's account, up to the first that
    `wanted` accepts."""
    watch = subprocess.Popen(
        smartbook(
            "watch", "--sip-uri", "sip:demo@example.org", "--proxy", front,
            "--password-file", str(password_file), "--vcard", str(BOOK), "--region", "FR",
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    bound = threading.Timer(WAIT, watch.kill)  # a hang fails the test instead of blocking the suite
    bound.start()
    seen: list[dict[str, object]] = []
    try:
        assert watch.stdout is not None
        for line in watch.stdout:
            event = json.loads(line)
            if event.get("event") == "presence":
                seen.append(event)
                if wanted(event):
                    return seen
    finally:
        bound.cancel()
        watch.kill()
        watch.wait()
    pytest.fail(f"watch ended before it saw the line wanted: {seen} {watch.stderr.read()}")  # type: ignore[union-attr]


def processes_logging_to(directory: Path) -> Iterator[str]:
    """The processes whose standard output is a file in `directory`: the cluster's parts."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "fd" / "1").startswith(f"{directory}/"):
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    yield f"{entry.name} {command}"
            except OSError:
                continue  # (it ended meanwhile)


def test_cluster_up_serves_the_demo_book_through_kamailio_and_stops_everything(tmp_path):
    directory = tmp_path / "cluster"
    process = cluster_up(directory, "--sip", f"127.0.0.1:{free_port()}", "--period", "1")
    try:
        block = ready_block(process)
        parts = json.loads((directory / "cluster.json").read_text())
        assert set(parts) == {"Redis", "PostgreSQL", "node1", "node2", "node3", "Kamailio", "players"}
        front = parts["Kamailio"]["address"]
        assert any(front in line and "Kamailio" in line for line in block), block
        assert "The demo users publish a new status every 1 s through Kamailio." in block

        # The demo users publish through Kamailio, which spreads them over the nodes; the watcher, subscribed on
        # one of them, sees their statuses, and one change while it watches.
        first: dict[object, tuple[object, object]] = {}

        def a_player_changes(line: dict[str, object]) -> bool:
            if line["sip_address"] not in PLAYERS:
                return False
            status = (line["status"], line["note"])
            return first.setdefault(line["sip_address"], status) != status

        lines = watch_until(front, directory / "password", a_player_changes)
        assert any(line["sip_address"] in PLAYERS and line["status"] != "offline" for line in lines), lines

        book = watch_once(front, directory / "password")
        assert book[CAMILLE]["has_account"] is True
        assert book[CAMILLE]["sip_address"] == "sip:camille@example.org"
        assert book[MARC]["has_account"] is False
        assert book[ZOE]["has_account"] is False

        # The block's command that links zoe's number, run as printed.
        link = shlex.split(next(line for line in block if " account set zoe " in line))
        assert Path(link[0]).name == "smartbook"  # this installation's: a fresh clone's is not on PATH
        linked = subprocess.run(link, capture_output=True, text=True, timeout=WAIT, check=False)
        assert linked.returncode == 0, linked.stderr
        assert watch_once(front, directory / "password")[ZOE]["has_account"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(WAIT)
    assert status == 0, process.stderr.read()  # type: ignore[union-attr]
    assert list(processes_logging_to(directory)) == []
    postgres_home = parts["PostgreSQL"]["address"].split("host=")[1].split("&")[0]
    assert not Path(postgres_home).exists()


def test_a_part_that_cannot_start_is_named_and_nothing_is_left_running(tmp_path):
    directory = tmp_path / "cluster"
    # 192.0.2.1 (TEST-NET) is no address of this machine: Kamailio, started last, cannot listen there.
    process = cluster_up(directory, "--sip", "192.0.2.1:5060")
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 1
    assert READY_LINE not in out
    assert err.strip().splitlines() == [err.strip()], err  # one line, no traceback
    assert "Kamailio cannot listen on 192.0.2.1:5060" in err
    assert list(processes_logging_to(directory)) == []
    assert (directory / "node3.log").exists()  # the nodes had started before


def test_a_missing_debian_package_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(up, "find_binary", lambda name: None if name == "redis-server" else f"/usr/bin/{name}")
    assert main(["cluster", "up", "--dir", str(tmp_path / "cluster")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smartbook: cluster: missing Debian package")
    assert "redis-server" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "cluster").exists()  # nothing was started
