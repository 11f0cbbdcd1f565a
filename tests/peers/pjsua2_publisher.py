"""A headless pjsua2 user agent that registers and PUBLISHes a sequence of presence states, then leaves.

Run it in a subprocess (pjsua2's threads and aborts stay out of pytest):

    python -m tests.peers.pjsua2_publisher --port N --transport tcp \\
        --steps "online,away:Gone fishing,busy,on-the-phone,offline"

Each step is `name[:note]`. pjsua2 has no callback for PUBLISH results, so the agent follows pjsip's
message log (through a LogWriter) to know when each PUBLISH got its final response.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.peers.pjsua2_kit import account_config, pump_until, silence_pjsip_start_up, start_endpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Step:
    name: str
    online: bool
    activity: str  # a PJRPID_ACTIVITY_* name
    note: str


# name -> (online, RPID activity, default note). pjsip knows only the away and busy activities.
STEP_KINDS: dict[str, tuple[bool, str, str]] = {
    "online": (True, "PJRPID_ACTIVITY_UNKNOWN", ""),
    "away": (True, "PJRPID_ACTIVITY_AWAY", "Away"),
    "busy": (True, "PJRPID_ACTIVITY_BUSY", "Busy"),
    "on-the-phone": (True, "PJRPID_ACTIVITY_BUSY", "On the phone"),
    "offline": (False, "PJRPID_ACTIVITY_UNKNOWN", ""),
}


def parse_step(text: str) -> Step:
    name, _, note = text.strip().partition(":")
    if name not in STEP_KINDS:
        raise ValueError(f"unknown step {name!r}; known: {', '.join(STEP_KINDS)}")
    online, activity, default_note = STEP_KINDS[name]
    return Step(name, online, activity, note or default_note)


def run_pjsua2_publisher(
    sip_port: int,
    steps: Sequence[str],
    transport: str = "tcp",
    timeout: float = 20.0,
    *,
    user: str = "bob",
) -> subprocess.CompletedProcess[str]:
    """Run the publisher in a subprocess of this venv's Python; raises subprocess.TimeoutExpired on timeout."""
    for step in steps:
        parse_step(step)  # fail here, not in the child
    command = [sys.executable, "-m", "tests.peers.pjsua2_publisher", "--port", str(sip_port)]
    command += ["--transport", transport, "--user", user, "--steps", ",".join(steps)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


# -- the child process ----------------------------------------------------------------------------------------

_RX_RESPONSE = re.compile(r"RX \d+ bytes Response msg (\d{3})/([A-Z]+)/cseq=\d+")


def _serve(port: int, transport: str, user: str, steps: list[Step]) -> int:
    silence_pjsip_start_up()
    import pjsua2 as pj  # after the ctypes call above, so nothing is printed

    final_responses: Counter[str] = Counter()  # method -> final responses received
    register_codes: list[int] = []
    errors: list[str] = []

    class Writer(pj.LogWriter):  # type: ignore[misc, name-defined]
        def write(self, entry: pj.LogEntry) -> None:  # type: ignore[name-defined]
            try:
                match = _RX_RESPONSE.search(entry.msg)
                if match and int(match.group(1)) >= 200:
                    final_responses[match.group(2)] += 1
            except Exception as exc:  # an exception must not cross into pjsip
                errors.append(repr(exc))

    class Agent(pj.Account):  # type: ignore[misc, name-defined]
        def onRegState(self, prm: pj.OnRegStateParam) -> None:  # type: ignore[name-defined]
            register_codes.append(prm.code)

    writer = Writer()  # referenced until _serve returns, after libDestroy
    # pjsua logs each SIP message at level 4, and only with msgLogging on.
    endpoint = start_endpoint(
        pj,
        user_agent="smartbook-tests-pjsua2-publisher",
        writer=writer,
        log_level=4,
        transport=transport,
        msg_logging=True,
    )
    config = account_config(pj, user=user, password="secret", port=port, transport=transport)
    config.presConfig.publishEnabled = True
    agent = Agent()
    try:
        agent.create(config)
        pump_until(endpoint, lambda: any(code >= 200 for code in register_codes), "the REGISTER response")
        if register_codes[-1] != 200:
            raise RuntimeError(f"REGISTER answered {register_codes[-1]}")
        # No PUBLISH is sent before the first setOnlineStatus: each step makes exactly one.
        for step in steps:
            before = final_responses["PUBLISH"]
            status = pj.PresenceStatus()
            status.status = pj.PJSUA_BUDDY_STATUS_ONLINE if step.online else pj.PJSUA_BUDDY_STATUS_OFFLINE
            status.activity = getattr(pj, step.activity)
            status.note = step.note
            agent.setOnlineStatus(status)
            pump_until(endpoint, lambda before=before: final_responses["PUBLISH"] > before, f"the {step.name} PUBLISH")
            print(f"published {step.name}", flush=True)
        # Graceful part by hand: shutdown() un-PUBLISHes and un-REGISTERs; wait for both answers.
        published, registered = final_responses["PUBLISH"], final_responses["REGISTER"]
        agent.shutdown()
        pump_until(
            endpoint,
            lambda: final_responses["PUBLISH"] > published and final_responses["REGISTER"] > registered,
            "the un-PUBLISH and un-REGISTER responses",
        )
    finally:
        del agent  # no pjsua2 object may outlive libDestroy
        endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    if errors:
        raise RuntimeError(f"log writer errors: {errors}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True, help="the SIP server's port on 127.0.0.1")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.add_argument("--user", default="bob", help="registers sip:USER@127.0.0.1")
    parser.add_argument("--steps", default="online", help="comma-separated name[:note] steps")
    args = parser.parse_args(argv)
    try:
        steps = [parse_step(text) for text in args.steps.split(",") if text.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return _serve(args.port, args.transport, args.user, steps)
    except Exception as exc:  # pjsua2.Error, TimeoutError, RuntimeError: one line, exit status 1
        print(f"pjsua2_publisher: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
