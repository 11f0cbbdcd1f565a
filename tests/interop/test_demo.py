"""`smartbook demo --backend-only` as a user runs it: the embedded server on a free port with the demo users, watched
by `smartbook watch` as the demo's account on the fixtures book; the badges, a status changing, a user joining;
then Ctrl-C, after which no process and no file of the demo is left."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smartbook_tui.cli import build_parser
from smartbook_tui.demo.cast import load_cast
from smartbook_tui.demo.launch import DEFAULT_BOOK, DEFAULT_CAST, DemoOptions, run_demo
from tests.interop.pjsua2_call_peer import peer_command
from tests.interop.test_phone_calls import Peer
from tests.peers import require_binary
from tests.peers.json_lines import JsonLines, Line

CAST = load_cast(DEFAULT_CAST)
JOINER = next(user for user in CAST.users if user.joins)
PUBLIC = [  # found by their number, with a live status that changes
    user for user in CAST.users if user.public_presence and len(user.statuses) > 1 and user.phone and not user.joins
]
SILENT = next(user for user in CAST.users if not user.statuses)  # has an account, never signs in
CALLER = next(user for user in CAST.users if user.calls_you)
JOIN_AFTER = 5  # long enough for the watcher's first full state to come before the join
APP_JOIN_AFTER = 8  # the same for the app's first screen with badges (pjsua2 and Textual start first)


def resource(phone: str) -> str:
    return f"sip:{phone}@{CAST.domain};user=phone"


def presence_of(uri: str):
    return lambda line: line.get("event") == "presence" and line.get("uri") == uri


async def start_demo(tmp_path: Path, *extra: str) -> tuple[asyncio.subprocess.Process, dict[str, object], Path]:
    """`smartbook demo --backend-only` with its temporary directory under tmp_path; the process, what its ready file
    says, and that temporary root."""
    temporary_root = tmp_path / "tmp"
    temporary_root.mkdir()
    ready_file = tmp_path / "ready.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartbook_tui.cli",
        "demo",
        "--backend-only",
        "--ready-file",
        str(ready_file),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"TMPDIR": str(temporary_root)},
    )
    async with asyncio.timeout(30):
        while not ready_file.exists():
            assert process.returncode is None, (await process.communicate())[1].decode()
            await asyncio.sleep(0.05)
    return process, json.loads(ready_file.read_text()), temporary_root


async def start_watch(ready: dict[str, object]) -> JsonLines:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartbook_tui.cli",
        "watch",
        "--sip-uri",
        str(ready["account"]),
        "--proxy",
        str(ready["sip"]),
        "--password-file",
        str(ready["password_file"]),
        "--vcard",
        str(DEFAULT_BOOK),
        "--region",
        "FR",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return JsonLines(process, "smartbook watch")


def process_gone(pid: int) -> bool:
    """Whether `pid` ends within 10 s (a zombie waiting for a parent that does not reap it counts as ended)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


async def test_the_demo_shows_badges_status_changes_and_a_user_joining_then_leaves_nothing(tmp_path: Path) -> None:
    demo, ready, temporary_root = await start_demo(tmp_path, "--period", "1", "--join-after", str(JOIN_AFTER))
    watch = await start_watch(ready)
    try:
        complete = await watch.until(lambda line: "state of all" in str(line.get("detail")), timeout=30)
        first: dict[str, Line] = {}
        for line in watch.lines[: watch.lines.index(complete)]:
            if line.get("event") == "presence":
                first[str(line["uri"])] = line

        # The demo users' numbers have accounts, live status for the public ones, the badge alone for one who
        # never signs in; the joining user has no account yet.
        for user in PUBLIC:
            assert first[resource(user.phone)]["has_account"] is True, user
            assert first[resource(user.phone)]["sip_address"] == f"sip:{user.username}@{CAST.domain}"
        assert first[resource(SILENT.phone)]["has_account"] is True
        assert first[resource(SILENT.phone)]["status"] == "offline"
        assert first[resource(JOINER.phone)]["has_account"] is False

        # A demo user's status changes while we watch.
        mover = resource(PUBLIC[0].phone)
        before = (first[mover]["status"], first[mover]["note"])
        await watch.until(
            lambda line: presence_of(mover)(line) and (line["status"], line["note"]) != before,
            after=watch.mark(),
            timeout=15,
        )

        # The joining user's badge appears, with their address and live status.
        joined = await watch.until(
            lambda line: presence_of(resource(JOINER.phone))(line) and line["has_account"] is True, timeout=30
        )
        assert joined["sip_address"] == f"sip:{JOINER.username}@{CAST.domain}"
        assert joined["status"] in {step.status.value for step in JOINER.statuses}
    finally:
        await watch.stop(signal.SIGINT)
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        async with asyncio.timeout(15):
            _, stderr = await demo.communicate()
    assert demo.returncode == 0, stderr.decode()
    assert process_gone(int(ready["pid"]))
    assert list(temporary_root.iterdir()) == []


@pytest.mark.peer("pjsua2")
async def test_the_demo_users_answer_calls_with_a_tone_and_one_calls_you(tmp_path: Path) -> None:
    demo, ready, _ = await start_demo(tmp_path, "--call-after", "2")
    port = int(str(ready["sip"]).rpartition(":")[2])
    command = peer_command(transport="tcp", server_port=port, user=str(ready["username"]))
    me = await Peer.start(*command, "--password-file", str(ready["password_file"]), "--domain", CAST.domain)
    try:
        incoming = await me.event("incoming")
        assert f"sip:{CALLER.username}@{CAST.domain}" in str(incoming["remote"])
        me.send("answer")
        await me.event("state", state="CONFIRMED")
        me.send("hangup")
        await me.event("state", state="DISCONNECTED")

        callee = next(user for user in CAST.users if user.statuses and not user.calls_you)
        lines = me.send("call", uri=f"sip:{callee.username}@{CAST.domain}")
        await me.event("state", state="CONFIRMED", after=lines)  # answered after a ring
        await asyncio.sleep(1.0)
        lines = me.send("counts")
        assert int((await me.event("counts", after=lines))["received"]) > 0  # the tone comes
        me.send("hangup")
        await me.event("state", state="DISCONNECTED", after=lines)
    finally:
        await me.quit()
        demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            await demo.communicate()
    assert demo.returncode == 0


async def test_the_demo_says_so_when_its_server_dies_and_cleans_up(tmp_path: Path) -> None:
    demo, ready, temporary_root = await start_demo(tmp_path)
    os.kill(int(ready["pid"]), signal.SIGKILL)
    async with asyncio.timeout(15):
        _, stderr = await demo.communicate()
    assert demo.returncode == 1
    assert "the demo's server stopped" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert list(temporary_root.iterdir()) == []


async def test_the_backend_stops_when_the_demo_is_killed(tmp_path: Path) -> None:
    demo, ready, _ = await start_demo(tmp_path)
    demo.kill()
    await demo.wait()
    assert process_gone(int(ready["pid"]))


CAST_OF_SAM = """domain = "example.org"
[me]
username = "demo"
password = "x"
[[user]]
username = "sam"
password = "y"
"""
BAD_CAST = CAST_OF_SAM + 'statuses = [{ status = "sleepy" }]\n'
SILENT_CALLER = CAST_OF_SAM + "calls_you = true\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--period", "0"], "--period: must be 0.2 to 60 s, not 0"),
        (["--cast", "/nonexistent/cast.toml"], "cast /nonexistent/cast.toml is missing"),
        (["--cast", "{bad_cast}"], "[[user]] number 1: status 'sleepy' is none of online, away, busy"),
        (["--cast", "{silent_caller}"], "[[user]] number 1: a user who calls you signs in: give them statuses"),
        (["--call-after", "-1"], "--call-after: must be between 0 and 3600 seconds, not -1"),
    ],
)
async def test_bad_demo_options_get_one_line(tmp_path: Path, arguments: list[str], message: str) -> None:
    casts = {"bad_cast": tmp_path / "cast.toml", "silent_caller": tmp_path / "caller.toml"}
    casts["bad_cast"].write_text(BAD_CAST)
    casts["silent_caller"].write_text(SILENT_CALLER)
    arguments = [argument.format(**casts) for argument in arguments]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartbook_tui.cli",
        "demo",
        "--backend-only",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert message in stderr.decode().strip().splitlines()[-1]  # after argparse's usage lines, if any
    assert "Traceback" not in stderr.decode()


class Terminal:
    """A tmux server of the test's own (its socket under tmp_path) with one 150x50 window running `command`."""

    def __init__(self, tmux: str, socket: Path, command: str) -> None:
        self.tmux, self.socket = tmux, socket
        self._run("new-session", "-d", "-x", "150", "-y", "50", command)

    def _run(self, *arguments: str) -> str:
        done = subprocess.run(
            [self.tmux, "-S", str(self.socket), *arguments], capture_output=True, text=True, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self._run("send-keys", *keys)

    async def until(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{screen}")
            await asyncio.sleep(0.1)

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, check=False)


def row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if f" {name} " in line), "")


def backends_under(temporary_root: Path) -> list[str]:
    """The ids of the demo backends running with their files under `temporary_root`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_text(errors="replace").split("\0")
        except OSError:
            continue
        if "smartbook_tui.demo.backend" in arguments and any(str(temporary_root) in item for item in arguments):
            found.append(cmdline.parent.name)
    return found


async def test_smartbook_demo_in_a_terminal_shows_live_badges_and_the_toggle_then_quits_cleanly(tmp_path: Path) -> None:
    tmux = require_binary("tmux", "tmux")
    temporary_root = tmp_path / "tmp"
    temporary_root.mkdir()
    demo = shlex.join(
        [sys.executable, "-m", "smartbook_tui.cli", "demo", "--period", "1", "--join-after", str(APP_JOIN_AFTER)]
    )
    # (the pane may get COLUMNS=80 and LINES=24 from its environment, which the app would take over the window's size)
    command = f"env -u COLUMNS -u LINES TMPDIR={shlex.quote(str(temporary_root))} {demo}; echo EXIT=$?; sleep 60"
    terminal = Terminal(tmux, tmp_path / "tmux.sock", command)
    try:
        screen = await terminal.until(lambda screen: "Linphone" in row(screen, "Camille Martin"), "Camille's badge")
        assert "Linphone" not in row(screen, "Zoé Duval")  # not a user yet
        assert "Linphone" in row(screen, "Chloé Lambert")  # found by her SIP address
        assert "Linphone" not in row(screen, "Antoine Chevalier")
        await terminal.until(lambda screen: "Linphone" in row(screen, "Zoé Duval"), "Zoé joining")

        terminal.keys("l")
        screen = await terminal.until(
            lambda screen: "of 40" in screen and row(screen, "Antoine Chevalier") == "", "the users alone, counted"
        )
        assert "Linphone" in row(screen, "Zoé Duval")

        assert backends_under(temporary_root)

        terminal.keys("q")
        await terminal.until(lambda screen: "EXIT=0" in screen, "the demo's end", timeout=15)
        assert backends_under(temporary_root) == []
        assert list(temporary_root.iterdir()) == []
    finally:
        terminal.close()


def test_the_app_runs_on_private_directories_and_its_crash_stops_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary_root = tmp_path / "tmp"
    temporary_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary_root))
    xdg = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
    before = {name: os.environ.get(name) for name in xdg}
    seen: dict[str, object] = {}

    def crashing_app(arguments: list[str]) -> int:
        seen["options"] = build_parser().parse_args(arguments)  # what `smartbook` makes of them
        seen["directories"] = {name: os.environ[name] for name in xdg}
        seen["backends"] = backends_under(temporary_root)
        raise RuntimeError("the app crashed")

    with pytest.raises(RuntimeError, match="the app crashed"):
        run_demo(DemoOptions(), crashing_app)

    options = seen["options"]
    assert options.command is None  # the app, not a subcommand
    assert (options.sip_uri, options.region, options.share_book, options.null_audio) == (CAST.me_uri, "FR", True, True)
    assert options.vcard == [DEFAULT_BOOK]
    for path in (options.config, options.password_file, options.log_file, *seen["directories"].values()):
        assert Path(path).is_relative_to(temporary_root)
    assert seen["backends"]
    assert backends_under(temporary_root) == []
    assert list(temporary_root.iterdir()) == []
    assert {name: os.environ.get(name) for name in xdg} == before
