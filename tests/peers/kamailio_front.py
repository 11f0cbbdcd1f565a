"""Run Kamailio 5.6 (Debian `kamailio`) as the front of several smartbook nodes, with the shipped configuration
deploy/kamailio/kamailio.cfg as it is: its listen port, domain and dispatcher list come from `-A` defines, the
list is written under the test's directory.

    with run_kamailio_front(tmp_path, [("127.0.0.1", 5071), ("127.0.0.1", 5072)]) as front:
        front.address     # ("127.0.0.1", port): where clients send everything, UDP or TCP
        front.log()       # what Kamailio wrote so far (it logs each request's chosen node)

It starts in ~0.1 s; ready once it answers an OPTIONS to itself. SIGTERM to its main pid stops it and its children.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.peers import require_binary
from tests.peers.kamailio import free_port

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "kamailio" / "kamailio.cfg"
NODE_SET = 1
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class KamailioFront:
    """One Kamailio process in front of `nodes` (their UDP host and port), on a free port of 127.0.0.1."""

    def __init__(self, workdir: Path, nodes: Sequence[tuple[str, int]], domain: str) -> None:
        self.workdir = Path(workdir)
        self.nodes = list(nodes)
        self.domain = domain
        self.port = free_port()
        self.address = ("127.0.0.1", self.port)
        self.list_path = self.workdir / "dispatcher.list"
        self.log_path = self.workdir / "kamailio-front.log"
        self._process: subprocess.Popen[bytes] | None = None

    def defines(self) -> list[str]:
        """The `-A` arguments that point the shipped configuration at this run."""
        values = {
            "LISTEN_ADDR": self.address[0],
            "LISTEN_PORT": str(self.port),
            "SIP_DOMAIN": f'"{self.domain}"',
            "DISPATCHER_LIST": f'"{self.list_path}"',
        }
        return [argument for name, value in values.items() for argument in ("-A", f"{name}={value}")]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        binary = require_binary("kamailio", "kamailio")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.list_path.write_text("".join(f"{NODE_SET} sip:{host}:{port}\n" for host, port in self.nodes))
        command = [binary, "-f", str(CONFIG), *self.defines()]
        check = subprocess.run([*command, "-c"], capture_output=True, text=True, cwd=self.workdir, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"kamailio -c rejected {CONFIG}:\n{check.stdout}{check.stderr}")
        with self.log_path.open("ab") as log:
            # Its own session, so that children outliving a crashed main process can still be killed as a group.
            self._process = subprocess.Popen(
                [*command, "-DD", "-E"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, self._process = self._process.returncode, None
                raise RuntimeError(f"kamailio exited with {code} at start-up:\n{self.log()[-4000:]}")
            if answers_options(self.address):
                return
        self.stop()
        raise RuntimeError(f"kamailio did not answer OPTIONS on {self.address} within {START_TIMEOUT} s")

    def stop(self) -> None:
        """SIGTERM to the main pid; SIGKILL to its group if it does not stop (or already died)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                pass
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def answers_options(address: tuple[str, int], wait: float = 0.05) -> bool:
    """One OPTIONS to the front itself over UDP; True if a SIP response comes back within `wait` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address[0], 0))
        local_port = sock.getsockname()[1]
        target = f"sip:{address[0]}:{address[1]}"
        request = (
            f"OPTIONS {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {address[0]}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{address[0]}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{address[0]}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(wait)
        sock.sendto(request.encode(), address)
        try:
            data = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            time.sleep(wait)  # a refused port answers at once: do not spin
            return False
    return data.startswith(b"SIP/2.0 ")


@contextmanager
def run_kamailio_front(
    tmp_path: Path, nodes: Sequence[tuple[str, int]], domain: str = "127.0.0.1"
) -> Iterator[KamailioFront]:
    """A started front for the block, in front of `nodes` (each node's UDP (host, port)); stopped by pid after."""
    front = KamailioFront(Path(tmp_path) / "kamailio-front", nodes, domain)
    try:
        front.start()
        yield front
    finally:
        front.stop()
