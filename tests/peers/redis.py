"""A throwaway Redis (Debian `redis-server`) on 127.0.0.1 for the tests: no persistence, its files in the test's
directory, stopped on exit. `restart()` stops it and starts a new one on the same port: everything it held is lost,
as with a Redis restarted without persistence.

    with run_redis(tmp_path) as redis:
        redis.url  # redis://127.0.0.1:PORT/0
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.peers import require_binary
from tests.peers.radicale import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


@dataclass
class RedisServer:
    binary: str
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        log = (self.directory / "redis.log").open("ab")
        command = [self.binary, "--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*command, "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.directory / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def run_redis(directory: Path) -> Iterator[RedisServer]:
    binary = require_binary("redis-server", "redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(binary, directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
