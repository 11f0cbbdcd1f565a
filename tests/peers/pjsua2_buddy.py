"""A headless pjsua2 user agent that registers, adds one Buddy (a single-presentity SUBSCRIBE, RFC 3856: no
eventlist, no body) and prints every change of the buddy as a JSON line, until SIGTERM or SIGINT.

Run it in a subprocess (pjsua2's threads and aborts stay out of pytest), e.g. `pjsua2_buddy_command(...)`:

    python -m tests.peers.pjsua2_buddy --port N --user alice --password-file F --buddy sip:bob@127.0.0.1

Lines: `{"event": "registered", "code": 200}`, then one `{"event": "buddy", ...}` per change seen by onBuddyState
or onBuddyEvSubState: `status` ("online", "offline" or "unknown", pjsua's PJSUA_BUDDY_STATUS_*),
`text` (pjsua's status text), `note` (the RPID/PIDF note pjsip read), `activity` (a PJRPID_ACTIVITY_* name),
`sub_state` (the subscription's state name, e.g. ACTIVE, TERMINATED), `term_code`, `term_reason`. On a stop
signal it unsubscribes, unregisters, prints `{"event": "stopped"}` and exits 0; errors are one line on stderr
and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.peers.pjsua2_kit import account_config, pump_for, pump_until, silence_pjsip_start_up, start_endpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_LIFETIME = 120.0  # seconds: a forgotten process ends on its own


def pjsua2_buddy_command(
    sip_port: int, *, user: str, password_file: Path, buddy: str, transport: str = "tcp"
) -> list[str]:
    """The command that runs the agent with this venv's Python (run it with `cwd=REPO_ROOT`); read its stdout
    line by line, and send SIGTERM to stop it."""
    command = [sys.executable, "-m", "tests.peers.pjsua2_buddy", "--port", str(sip_port), "--transport", transport]
    return [*command, "--user", user, "--password-file", str(password_file), "--buddy", buddy]


# -- the child process ----------------------------------------------------------------------------------------


def _emit(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


def _serve(port: int, transport: str, user: str, password: str, buddy_uri: str) -> int:
    silence_pjsip_start_up()
    import pjsua2 as pj  # after the ctypes call above, so nothing is printed

    statuses = {
        pj.PJSUA_BUDDY_STATUS_ONLINE: "online",
        pj.PJSUA_BUDDY_STATUS_OFFLINE: "offline",
        pj.PJSUA_BUDDY_STATUS_UNKNOWN: "unknown",
    }
    activities = {getattr(pj, name): name for name in dir(pj) if name.startswith("PJRPID_ACTIVITY_")}
    register_codes: list[int] = []
    errors: list[str] = []
    stopping: list[int] = []
    last: dict[str, object] = {}

    class Writer(pj.LogWriter):  # type: ignore[misc, name-defined]
        def write(self, entry: pj.LogEntry) -> None:  # type: ignore[name-defined]
            pass  # pjsip's log stays out of stdout, which carries the JSON lines

    class Agent(pj.Account):  # type: ignore[misc, name-defined]
        def onRegState(self, prm: pj.OnRegStateParam) -> None:  # type: ignore[name-defined]
            register_codes.append(prm.code)

    class Watched(pj.Buddy):  # type: ignore[misc, name-defined]
        def report(self) -> None:
            try:  # an exception must not cross into pjsip
                info = self.getInfo()
                status = info.presStatus
                line = {
                    "event": "buddy",
                    "uri": info.uri,
                    "status": statuses.get(status.status, str(status.status)),
                    "text": status.statusText,
                    "note": status.note,
                    "activity": activities.get(status.activity, str(status.activity)),
                    "sub_state": info.subStateName,
                    "term_code": info.subTermCode,
                    "term_reason": info.subTermReason,
                }
                if line != last:  # onBuddyState and onBuddyEvSubState often tell the same state twice
                    last.clear()
                    last.update(line)
                    _emit(line)
            except Exception as exc:
                errors.append(repr(exc))

        def onBuddyState(self) -> None:
            self.report()

        def onBuddyEvSubState(self, prm: pj.OnBuddyEvSubStateParam) -> None:  # type: ignore[name-defined]
            self.report()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stopping.append(number))

    writer = Writer()  # referenced until _serve returns, after libDestroy
    endpoint = start_endpoint(
        pj, user_agent="smartbook-tests-pjsua2-buddy", writer=writer, log_level=1, transport=transport
    )
    agent = Agent()
    buddy = Watched()
    try:
        agent.create(account_config(pj, user=user, password=password, port=port, transport=transport))
        pump_until(endpoint, lambda: any(code >= 200 for code in register_codes), "the REGISTER response")
        _emit({"event": "registered", "code": register_codes[-1]})
        if register_codes[-1] != 200:
            raise RuntimeError(f"REGISTER answered {register_codes[-1]}")
        buddy_config = pj.BuddyConfig()
        buddy_config.uri = buddy_uri
        buddy_config.subscribe = True
        buddy.create(agent, buddy_config)
        deadline = time.monotonic() + MAX_LIFETIME
        while not stopping and time.monotonic() < deadline and not errors:
            endpoint.libHandleEvents(10)
        # Graceful part by hand (wire-notes §4): unsubscribe, unregister, then destroy without network.
        buddy.subscribePresence(False)
        pump_for(endpoint, 0.3)
        agent.shutdown()
        pump_for(endpoint, 0.3)
        _emit({"event": "stopped"})
    finally:
        del buddy, agent  # no pjsua2 object may outlive libDestroy
        endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    if errors:
        raise RuntimeError(f"callback errors: {errors}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True, help="the SIP server's port on 127.0.0.1")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.add_argument("--user", required=True, help="registers sip:USER@127.0.0.1")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--buddy", required=True, help="the SIP URI to subscribe to")
    args = parser.parse_args(argv)
    password = args.password_file.read_text().strip()
    try:
        return _serve(args.port, args.transport, args.user, password, args.buddy)
    except Exception as exc:  # pjsua2.Error, TimeoutError, RuntimeError: one line, exit status 1
        print(f"pjsua2_buddy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
