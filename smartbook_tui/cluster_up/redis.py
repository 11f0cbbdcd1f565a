"""Redis (Debian `redis-server`), the nodes' shared live state, on a free loopback port. Without persistence
unless asked: what the nodes keep there is rebuilt by them, and a fresh cluster starts from nothing."""

from __future__ import annotations

import socket
from pathlib import Path

from .parts import HOST, Part, free_port, start, wait_until


def start_redis(binary: str, directory: Path, log_file: Path, *, persist: bool) -> tuple[Part, str]:
    """Redis started and answering PING; with its URL."""
    data = directory / "redis"
    data.mkdir(exist_ok=True)
    port = free_port()
    command = [binary, "--bind", HOST, "--port", str(port), "--dir", str(data), "--daemonize", "no"]
    command += ["--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    part = start("Redis", command, log_file)
    wait_until(part, lambda: _answers_ping(port))
    return part, f"redis://{HOST}:{port}/0"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
