"""Run Kamailio 5.6 (Debian `kamailio`) as the front of several smartbook nodes, with the shipped configuration
deploy/kamailio/kamailio.cfg as it is: its listen port, domain and dispatcher list come from `-A` defines, the
list is written under the test's directory.

    with run_kamailio_front(tmp_path, [("127.0.0.1", 5071), ("127.0.0.1", 5072)]) as front:
        front.address     # ("127.0.0.1", port): where clients send everything, UDP or TCP
        front.log()       # what Kamailio wrote so far (it logs each request's chosen node)

It starts in ~0.1 s; ready once it answers an OPTIONS to itself. SIGTERM to its main pid stops it and its children.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.peers import require_binary
from tests.peers.kamailio import free_port, spawn, stop_process

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
        self._process = spawn(command, self.workdir, self.log_path, self.address)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)


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
