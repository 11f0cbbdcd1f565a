"""`smartbook server run` as a process: what its ready file says, what it tells clients, how it stops."""

from __future__ import annotations

import json
import signal

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
