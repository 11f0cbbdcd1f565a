"""SIPp (Debian package sip-tester) as a test peer: run one of the scenarios of tests/peers/sipp/ against a server
and read back what it received.

SIPp names its trace files after the scenario file, next to it: the scenario is copied into the test's own
directory and SIPp runs there, so nothing is written into the source tree. `-trace_msg` logs every message sent
and received; `SippRun.responses` parses the received ones with smartbook's own parser, so a test asserts on
statuses and headers rather than on SIPp's statistics screens.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.sip.message import SipResponse, parse_message

from . import require_binary

SCENARIOS = Path(__file__).with_name("sipp")
_SEPARATOR = re.compile(rb"^-{40,} [^\n]*\n", re.MULTILINE)
_RECEIVED = re.compile(rb"^(?:UDP|TCP|TLS) message received \[(\d+)\] bytes :\n\n")


@dataclass
class SippRun:
    """One SIPp process; `wait()` gives its exit status, then `responses` reads its message log."""

    process: subprocess.Popen[str]
    directory: Path
    message_file: Path
    _stdout: str = ""

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = 60.0) -> int:
        try:
            self._stdout, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self._stdout, _ = self.process.communicate()
            raise AssertionError(f"SIPp did not end in {timeout:.0f} s:\n{self._stdout[-3000:]}") from None
        return self.process.returncode

    @property
    def stdout(self) -> str:
        return self._stdout

    @property
    def responses(self) -> list[SipResponse]:
        """Every response SIPp received, in order (requests it received are left out)."""
        if not self.message_file.exists():
            return []
        found: list[SipResponse] = []
        for block in _SEPARATOR.split(self.message_file.read_bytes()):
            header = _RECEIVED.match(block)
            if header is None:
                continue
            message = parse_message(block[header.end() : header.end() + int(header[1])])
            if isinstance(message, SipResponse):
                found.append(message)
        return found

    def statuses(self) -> list[int]:
        return [response.status for response in self.responses]


def start_sipp(
    scenario: str,
    target: tuple[str, int],
    directory: Path,
    *args: str,
    transport: str = "u1",
) -> SippRun:
    """Start SIPp on `scenario` (a file name in tests/peers/sipp/) against `target`, logging every message;
    `args` are more SIPp options (`-m`, `-r`, `-au`...). Skips the test (fails it under CI=true) without SIPp."""
    sipp = require_binary("sipp", "sip-tester")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIOS / scenario, directory / scenario)
    message_file = directory / f"{Path(scenario).stem}.messages.log"
    command = [
        sipp,
        f"{target[0]}:{target[1]}",
        "-sf",
        scenario,
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(message_file),
        *args,
    ]
    process = subprocess.Popen(
        command, cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return SippRun(process, directory, message_file)


def run_sipp(scenario: str, target: tuple[str, int], directory: Path, *args: str, transport: str = "u1") -> SippRun:
    """`start_sipp`, then wait for SIPp to end (its exit status is in `process.returncode`)."""
    run = start_sipp(scenario, target, directory, *args, transport=transport)
    run.wait()
    return run
