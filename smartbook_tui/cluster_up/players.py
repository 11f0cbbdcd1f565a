"""The demo's users who publish (smartbook_tui.demo.players), pointed at Kamailio: the front sends each user's
PUBLISHes to the node their address hashes to, and a watcher's subscription may reach another, so their statuses
change live across nodes. Started last, once the front answers; there is no port of theirs to wait for."""

from __future__ import annotations

import sys
from pathlib import Path

from .parts import Part, start

NAME = "players"


def start_players(cast: Path, front: tuple[str, int], period: float, directory: Path) -> Part:
    command = [sys.executable, "-m", "smartbook_tui.demo.players", "--cast", str(cast)]
    command += ["--server", f"{front[0]}:{front[1]}", "--period", str(period)]
    return start(NAME, command, directory / f"{NAME}.log")
