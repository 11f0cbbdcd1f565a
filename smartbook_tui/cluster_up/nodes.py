"""The presence server nodes: `smartbook server run` processes of this interpreter on free loopback ports, each
with the cluster's Redis and PostgreSQL, trusting the Kamailio in front (same address) and not rate-limiting it."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.config import split_host_port

from .parts import HOST, Part, start, wait_until


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What every node of the cluster is given."""

    redis_url: str
    db_url: str
    domain: str
    notify_interval: float
    config: Path  # an empty settings file: the user's own [server] settings stay out of the cluster


def start_node(node_id: str, settings: NodeSettings, directory: Path) -> tuple[Part, tuple[str, int]]:
    """The node started and serving; with its SIP address (UDP and TCP)."""
    home = directory / node_id
    home.mkdir(exist_ok=True)
    ready_file = home / "ready.json"
    ready_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "smartbook_tui.cli", "--config", str(settings.config), "server", "run"]
    command += ["--cluster", settings.redis_url, "--node-id", node_id, "--db", settings.db_url]
    command += ["--domain", settings.domain, "--sip", f"{HOST}:0", "--ready-file", str(ready_file)]
    # Kamailio's requests count as its clients' (it adds their Via) and are never rate-limited as one source.
    command += ["--trusted-proxy", HOST, "--udp-rate", "0", "--stream-rate", "0"]
    command += ["--notify-interval", f"{settings.notify_interval:g}"]
    part = start(node_id, command, directory / f"{node_id}.log")
    wait_until(part, ready_file.exists)
    address = split_host_port(json.loads(ready_file.read_text(encoding="utf-8"))["udp"])
    if address is None:
        part.stop()
        raise part.failure(f"wrote no UDP address in {ready_file}")
    return part, address
