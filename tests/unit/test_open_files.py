"""The server raises its own open-files limit so that its connection cap is reachable, and says when it cannot."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
from collections.abc import Iterator

import pytest

from smartbook_tui.server.open_files import raise_open_files_limit


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_a_low_soft_limit_is_raised_towards_the_connections_allowed(limits, caplog):
    caplog.set_level(logging.INFO, logger="smartbook_tui.server.open_files")
    hard = limits[1]
    if hard != resource.RLIM_INFINITY and hard < 2_000:
        pytest.skip(f"the hard limit here ({hard}) leaves no room to raise a soft limit of 1,024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1_024, hard))
    now = raise_open_files_limit(1_500)
    assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1_500 + 256
    assert "raised from 1024 to 1756" in caplog.text
    assert "WARNING" not in caplog.text


def test_a_hard_limit_too_low_is_said_with_what_to_do():
    # in a process of its own: a hard limit lowered cannot be raised again
    code = (
        "import logging, resource\n"
        "from smartbook_tui.server.open_files import raise_open_files_limit\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1_024))\n"
        "print(raise_open_files_limit(10_000))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "1024"
    assert "raised from 512 to 1024" in done.stderr
    assert "fewer than the 10000 connections the server allows: raise the hard limit" in done.stderr
