"""`smartbook server run` as a process: what its ready file says, what it tells clients, how it stops."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.interop.test_server_transport_limits import answered_over_tcp
from tests.peers.smartbook_server import run_smartbook_server


def test_the_ready_file_gives_the_bound_address_and_the_advertised_one(tmp_path):
    with run_smartbook_server(tmp_path / "server", "--advertise", "sip.example.test") as server:
        ready = json.loads((server.directory / "ready.json").read_text())
        port = server.sip[1]
        assert (ready["tcp"], ready["udp"], ready["domain"]) == (f"127.0.0.1:{port}",) * 2 + ("127.0.0.1",)
        assert ready["advertised"] == {"udp": f"sip.example.test:{port}", "tcp": f"sip.example.test:{port}"}
        assert server.process is not None
        assert ready["pid"] == server.process.pid


def test_sigterm_stops_it_cleanly(tmp_path):
    with run_smartbook_server(tmp_path / "server") as server:
        assert server.stop(signal.SIGTERM) == 0
        assert "stopping: telling 0 subscribers" in server.log
        assert "Traceback" not in server.log


def test_json_logs_are_one_object_a_line(tmp_path):
    with run_smartbook_server(tmp_path / "server", "--log-format", "json") as server:
        pass
    entries = [json.loads(line) for line in server.log.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(entry["message"].startswith("smartbook server for 127.0.0.1 listening") for entry in entries)
    assert entries[-1]["message"] == "stopping: telling 0 subscribers"


def wake_ups(pid: int) -> int:
    """How many times the process's threads have slept and woken up so far (the kernel's count)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel counts a process's wake-ups in /proc on Linux")
def test_an_idle_server_sleeps_and_still_answers_at_once(tmp_path):
    with run_smartbook_server(tmp_path / "server", accounts=[("alice", None)]) as server:
        assert server.process is not None
        assert answered_over_tcp(server, "127.0.0.1") == 200
        time.sleep(0.5)  # the heartbeat of the overload measure goes to sleep
        before = wake_ups(server.process.pid)
        time.sleep(3.0)
        woken = wake_ups(server.process.pid) - before
        assert woken <= 12, f"woke up {woken} times in 3 s with nothing to do"  # the change-log poll: once a second
        assert answered_over_tcp(server, "127.0.0.1") == 200
