"""Run a real Radicale (PyPI `radicale`, a CardDAV/CalDAV server) on 127.0.0.1 for the tests.

Radicale starts in ~0.3 s with no configuration file (`--config` with no path), its storage in a directory the
test owns, and htpasswd authentication in plain text (user:password lines; no extra package needed). Each user
owns /USER/ (principal and address-book home at once); an extended MKCOL there creates an address book.
`stop()` ends the process by its pid; `start()` brings it back on the same port with the same storage, so a test
can take the server down and up again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.peers import running_under_ci

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0

NS_CARDDAV = "urn:ietf:params:xml:ns:carddav"
_MKCOL_ADDRESSBOOK = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<d:mkcol xmlns:d="DAV:" xmlns:c="{NS_CARDDAV}"><d:set><d:prop>'
    "<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>"
    "<d:displayname>{name}</d:displayname>"
    "</d:prop></d:set></d:mkcol>"
)


def require_radicale() -> None:
    """Skip the test (fail it under CI=true) when Radicale is not installed in this Python."""
    try:
        import radicale  # noqa: F401
    except ImportError:
        reason = "radicale is not installed (pip install radicale; it is in the test extra)"
        if running_under_ci():
            pytest.fail(f"{reason}; CI=true requires every real peer")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Radicale:
    """One Radicale server process; `url` is its root, e.g. http://127.0.0.1:PORT/."""

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str],
        *,
        certificate: tuple[Path, Path] | None = None,  # (certificate, key) in PEM: serve https
    ) -> None:
        self.directory = directory
        self.users = dict(users)
        self.port = free_port()
        self.certificate = certificate
        scheme = "https" if certificate else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self.log_path = directory / "radicale.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_users()

    def _write_users(self) -> None:
        lines = "".join(f"{user}:{password}\n" for user, password in self.users.items())
        (self.directory / "htpasswd").write_text(lines)

    def add_user(self, user: str, password: str) -> None:
        """Radicale reads the htpasswd file again when it changes: no restart needed."""
        self.users[user] = password
        self._write_users()

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "radicale",
            "--config",  # with no path: read no configuration file at all
            f"--storage-filesystem-folder={self.directory / 'storage'}",
            f"--server-hosts=127.0.0.1:{self.port}",
            "--auth-type=htpasswd",
            f"--auth-htpasswd-filename={self.directory / 'htpasswd'}",
            "--auth-htpasswd-encryption=plain",
            "--auth-delay=0",  # Radicale waits after a wrong password (1 s by default)
            "--logging-level=warning",
        ]
        if self.certificate:
            certificate, key = self.certificate
            command += ["--server-ssl", f"--server-certificate={certificate}", f"--server-key={key}"]
        return command

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        environment = {**os.environ, "HOME": str(self.directory)}  # no user configuration either
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=self.directory
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"radicale exited with {self._process.returncode}:\n{self.log()}")
            try:
                httpx.get(self.url, timeout=1.0, verify=False)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            return
        self.stop()
        raise RuntimeError(f"radicale did not answer on {self.url} within {START_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------- what a test does to its data

    def client(self, user: str) -> httpx.Client:
        """An httpx client logged in as `user`, rooted at the server (the tests' own hands on the data)."""
        return httpx.Client(base_url=self.url, auth=(user, self.users[user]), timeout=5.0, verify=False)

    def make_address_book(self, user: str, name: str = "contacts", display_name: str = "Contacts") -> str:
        """Create /user/name/ as an address book (extended MKCOL); return its URL."""
        path = f"/{user}/{name}/"
        with self.client(user) as client:
            response = client.request("MKCOL", path, content=_MKCOL_ADDRESSBOOK.format(name=display_name).encode())
        if response.status_code != httpx.codes.CREATED:
            raise RuntimeError(f"MKCOL {path} answered {response.status_code}: {response.text}")
        return f"{self.url.rstrip('/')}{path}"

    def put_card(self, user: str, book_url: str, name: str, vcard: str) -> None:
        with self.client(user) as client:
            response = client.put(
                f"{book_url}{name}", content=vcard.encode(), headers={"Content-Type": "text/vcard; charset=utf-8"}
            )
        if response.status_code not in (httpx.codes.CREATED, httpx.codes.NO_CONTENT):
            raise RuntimeError(f"PUT {name} answered {response.status_code}: {response.text}")

    def delete_card(self, user: str, book_url: str, name: str) -> None:
        with self.client(user) as client:
            response = client.delete(f"{book_url}{name}")
        if response.status_code not in (httpx.codes.OK, httpx.codes.NO_CONTENT):
            raise RuntimeError(f"DELETE {name} answered {response.status_code}: {response.text}")


@contextmanager
def run_radicale(
    directory: Path, users: Mapping[str, str], *, certificate: tuple[Path, Path] | None = None
) -> Iterator[Radicale]:
    """A started Radicale for the block's duration; stopped by pid afterwards, whatever happens."""
    require_radicale()
    directory.mkdir(parents=True, exist_ok=True)
    server = Radicale(directory, users, certificate=certificate)
    server.start()
    try:
        yield server
    finally:
        server.stop()
