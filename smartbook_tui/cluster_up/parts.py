"""What every part of the local cluster shares: a child process whose output goes to a log file, started in a
session of its own (Ctrl-C in the terminal reaches `smartbook cluster up` alone, which stops the parts in order),
waited for until it answers, and stopped by its pid."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_POLL = 0.05
# Debian installs daemons such as kamailio under sbin, which a non-root PATH may lack.
_SBIN = os.pathsep.join(("/usr/sbin", "/sbin"))


class ClusterError(Exception):
    """The cluster cannot start or went down; one line naming the part and its log file."""


@dataclass
class Part:
    """One running process of the cluster."""

    name: str  # as messages name it: "Redis", "node2"...
    process: subprocess.Popen[bytes]
    log_file: Path
    stop_signal: int = signal.SIGTERM  # the one that makes it stop cleanly

    def failure(self, what: str) -> ClusterError:
        return ClusterError(f"{self.name} {what}; its log: {self.log_file}")

    def ended(self) -> str | None:
        """How the process ended, or None while it runs."""
        status = self.process.poll()
        if status is None:
            return None
        return f"was killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"

    def stop(self) -> None:
        """The stop signal to its pid, then SIGKILL to its session when it does not stop in time."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                self.process.send_signal(self.stop_signal)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        # Also when the main process is gone: children it left behind are in its session's group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start(
    name: str, command: Sequence[str], log_file: Path, *, user: str | None = None, stop_signal: int = signal.SIGTERM
) -> Part:
    """Start `command` with its output appended to `log_file`, as `user` when given (the caller is then root)."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (the parts' own binaries, fixed arguments)
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            cwd=log_file.parent if user is None else "/",
        )
    return Part(name, process, log_file, stop_signal)


def wait_until(part: Part, answers: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    """Return once `answers()`; ClusterError when the part ends first or does not answer within `timeout` s. The
    part is stopped when this does not return (an interruption too): the caller has not taken it in hand yet."""
    deadline = time.monotonic() + timeout
    try:
        while not answers():
            ended = part.ended()
            if ended is not None:
                raise part.failure(f"did not start: it {ended}")
            if time.monotonic() > deadline:
                raise part.failure(f"did not answer within {timeout:g} s")
            time.sleep(_POLL)
    except BaseException:
        part.stop()
        raise


def run_step(part_name: str, command: Sequence[str], log_file: Path, *, user: str | None = None) -> None:
    """Run a set-up command of a part to its end (initdb, a config check), its output appended to `log_file`."""
    with log_file.open("ab") as log:
        done = subprocess.run(  # noqa: S603 (the parts' own binaries, fixed arguments)
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, user=user, timeout=120, check=False
        )
    if done.returncode != 0:
        step = Path(command[0]).name
        raise ClusterError(
            f"{part_name} did not start: {step} failed with status {done.returncode}; its log: {log_file}"
        )


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether `port` is free on `host` for both TCP and UDP (SIP listens with both on one port); OSError when
    `host` cannot be listened on at all."""
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind((host, port))
            udp.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return False
        raise
    return True


def free_port(host: str = HOST) -> int:
    """A port the kernel says is free for TCP, and which is free for UDP too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port_is_free(port, host):
            return port
    raise ClusterError(f"found no port free for both TCP and UDP on {host}")
