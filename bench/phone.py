"""Figures for the phone engine (issue 10): against `smartbook server run` on loopback (TCP), in one process, each
round a new Phone: start() to registered (the endpoint's creation included) and to its first PUBLISH (online)
accepted, a status change to its acceptance, shutdown() of a registered phone with a published status
(un-PUBLISH, un-REGISTER, the library destroyed), and the CPU the registered phone takes while idle (the event
pump); and once, shutdown() of a phone registered over UDP to a server that is gone (no answer comes: the longest
wait). Prints figures; asserts nothing.

    python bench/phone.py [--rounds 5] [--idle 3]

Target: shutdown < 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartbook_tui.phone.engine import Phone, PhoneAccount, PhoneEvent
from smartbook_tui.phone.states import OwnPresence, OwnStatus, Registration, RegistrationState
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server


async def _until(seen: list[PhoneEvent], predicate: Callable[[PhoneEvent], bool]) -> float:
    start = time.perf_counter()
    while not any(predicate(event) for event in seen):
        if time.perf_counter() - start > 10:
            raise SystemExit(f"bench/phone.py: the phone never got there; it said {seen}")
        await asyncio.sleep(0.001)
    return time.perf_counter()


async def one_round(server: SmartbookServer, idle: float) -> dict[str, float]:
    seen: list[PhoneEvent] = []
    account = PhoneAccount(server.aor("alice"), "alice", PASSWORD, server.sip, "tcp")
    phone = Phone(account, on_event=seen.append, null_audio=True)
    began = time.perf_counter()
    await phone.start()
    started = time.perf_counter()
    registered = await _until(
        seen, lambda event: isinstance(event, Registration) and event.state is RegistrationState.REGISTERED
    )
    online = await _until(seen, lambda event: isinstance(event, OwnPresence) and event.published)
    asked = time.perf_counter()
    phone.set_presence(OwnStatus.AWAY, "Back soon")
    away = await _until(
        seen, lambda event: isinstance(event, OwnPresence) and event.status is OwnStatus.AWAY and event.published
    )
    figures = {
        "start() returns": started - began,
        "start() to registered": registered - began,
        "start() to online published": online - began,
        "set_presence() to accepted": away - asked,
    }
    if idle:
        await asyncio.sleep(2.0)  # settled: what a registered phone costs while nothing happens
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle)
        figures["idle CPU registered (% of a core)"] = 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
    closing = time.perf_counter()
    await phone.shutdown()
    figures["shutdown()"] = time.perf_counter() - closing
    return figures


async def shutdown_without_a_server(server: SmartbookServer) -> float:
    seen: list[PhoneEvent] = []
    account = PhoneAccount(server.aor("alice"), "alice", PASSWORD, server.sip, "udp")
    phone = Phone(account, on_event=seen.append, null_audio=True)
    await phone.start()
    await _until(seen, lambda event: isinstance(event, Registration) and event.state is RegistrationState.REGISTERED)
    await asyncio.to_thread(server.stop)
    closing = time.perf_counter()
    await phone.shutdown()
    return time.perf_counter() - closing


async def main(rounds: int, idle: float) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        run_smartbook_server(Path(directory), accounts=[("alice", None)]) as server,
    ):
        results = [await one_round(server, idle if index == 0 else 0.0) for index in range(rounds)]
        orphaned = await shutdown_without_a_server(server)
    print(f"phone engine, {rounds} rounds in one process, TCP on loopback to smartbook server run")
    for name in results[0]:
        values = [result[name] for result in results if name in result]
        if name.startswith("idle"):
            print(f"  {name:<36} {values[0]:6.1f}")
        else:
            print(f"  {name:<36} median {statistics.median(values) * 1000:6.1f} ms  best {min(values) * 1000:6.1f} ms")
    print(f"  {'shutdown(), UDP, server gone':<36} {orphaned * 1000:6.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle measured in the first round")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.idle))
