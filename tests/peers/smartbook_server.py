"""smartbook's own presence server as a real process, for the tests: `smartbook server run` on a free port with
its own database, accounts made with the admin commands, and helpers to read its log and stop or restart it. With
`api=True` it also serves the account API (`--http`) on a free port, its console SMS gateway writing to `outbox`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DOMAIN = "127.0.0.1"
PASSWORD = "correct horse"
_START_TIMEOUT = 15.0


def smartbook(
    *args: str, env: dict[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess:
    """Run the `smartbook` command (this interpreter's), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "smartbook_tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input_text,
        timeout=60,
        check=False,
    )


@dataclass
class SmartbookServer:
    """One server process. `start()` waits for its ready file; `sip` is then its UDP/TCP (host, port)."""

    directory: Path
    extra_args: Sequence[str] = ()
    domain: str = DOMAIN
    process: subprocess.Popen[bytes] | None = None
    sip: tuple[str, int] = ("", 0)
    tls: tuple[str, int] | None = None
    api: bool = False
    http: tuple[str, int] | None = None  # the account API's address, once started with `api`
    _port: int = 0
    _http_port: int = 0
    _log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log_path = self.directory / "server.log"
        self.password_file.write_text(PASSWORD + "\n")

    @property
    def db(self) -> Path:
        return self.directory / "server.sqlite3"

    @property
    def password_file(self) -> Path:
        return self.directory / "password"

    @property
    def proxy(self) -> str:
        return f"{self.sip[0]}:{self.sip[1]}"

    @property
    def outbox(self) -> Path:
        """Where the console SMS gateway appends each SMS as a JSON line."""
        return self.directory / "sms-outbox.jsonl"

    @property
    def api_url(self) -> str:
        assert self.http is not None, "the server was not started with api=True"
        return f"http://{self.http[0]}:{self.http[1]}/api"

    def sms(self) -> list[dict[str, str]]:
        """The SMS sent so far, oldest first."""
        return [json.loads(line) for line in self.outbox.read_text().splitlines()] if self.outbox.exists() else []

    def last_code(self, to: str) -> str:
        """The code of the last SMS sent to `to`."""
        texts = [message["text"] for message in self.sms() if message["to"] == to]
        assert texts, f"no SMS was sent to {to}"
        match = re.search(r"\b(\d{4})\b", texts[-1])
        assert match is not None, texts[-1]
        return match.group(1)

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        """`smartbook server ARGS --db ... --domain ...`; fails the test when it fails."""
        done = smartbook("server", *args, "--db", str(self.db), "--domain", self.domain)
        assert done.returncode == 0, done.stderr
        return done

    def add_account(self, user: str, phone: str | None = None, *, public: bool = False) -> None:
        extra = (["--phone", phone] if phone else []) + (["--public-presence"] if public else [])
        self.admin("account", "add", user, "--password-file", str(self.password_file), *extra)

    def start(self) -> SmartbookServer:
        ready = self.directory / "ready.json"
        ready.unlink(missing_ok=True)
        # The port of the first start is kept across restarts, so that clients find the server again.
        command = [
            sys.executable,
            "-m",
            "smartbook_tui.cli",
            "server",
            "run",
            "--sip",
            f"127.0.0.1:{self._port}",
            "--db",
            str(self.db),
            "--domain",
            self.domain,
            "--ready-file",
            str(ready),
            "--log-level",
            "DEBUG",
            *(("--http", f"127.0.0.1:{self._http_port}", "--sms-outbox", str(self.outbox)) if self.api else ()),
            *self.extra_args,
        ]
        log = self._log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while not ready.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"smartbook server exited with {self.process.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"smartbook server did not start in {_START_TIMEOUT:.0f} s:\n{self.log}")
            time.sleep(0.02)
        document = json.loads(ready.read_text())
        host, _, port = document["tcp"].rpartition(":")
        self.sip = (host, int(port))
        self._port = self.sip[1]
        if "tls" in document:
            host, _, port = document["tls"].rpartition(":")
            self.tls = (host, int(port))
        if "http" in document:
            host, _, port = document["http"].rpartition(":")
            self.http = (host, int(port))
            self._http_port = self.http[1]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the process (SIGTERM: a clean stop that tells every subscriber); its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        status = self.process.returncode
        self.process = None
        return status

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server never logged {text!r}:\n{self.log[-4000:]}")
            time.sleep(0.05)


@contextmanager
def run_smartbook_server(
    directory: Path, *extra_args: str, accounts: Sequence[tuple[str, str | None]] = (), api: bool = False
) -> Iterator[SmartbookServer]:
    """A started server with `accounts` ((user, phone or None) pairs) made first, serving the account API with
    `api`; stopped at the end."""
    server = SmartbookServer(directory, extra_args, api=api)
    for user, phone in accounts:
        server.add_account(user, phone)
    server.start()
    try:
        yield server
    finally:
        server.stop()
