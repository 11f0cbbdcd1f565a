"""CPU microseconds the server spends per single-presentity NOTIFY: `smartbook server run` as a process on 127.0.0.1
(UDP, `--notify-interval 0 --rate-limit 0 --udp-rate 0`), 30 publishers each watched by 50 watchers (each watcher
subscribed to every publisher), the publishers PUBLISHing at a steady rate the server keeps up with. The figure is
the server process's CPU time (user + system, /proc) over the publishing phase divided by the NOTIFYs the watchers
received in it: each NOTIFY's share of the PUBLISH that caused it and of reading the watcher's 200 included, as the
issue's figure (Kamailio ~105 us on this machine) counts it.

    python bench/notify_cost.py [--rate 40] [--seconds 10] [--repeat 3] [--source DIR] [--cprofile FILE]

`--source DIR` runs the server from another tree (e.g. an older commit, `git archive COMMIT | tar -x -C DIR`) to
compare before and after; `--cprofile FILE` runs it under cProfile (written when it stops). The load is the lean
UDP client of the overload test (tests/interop/overload_load.py). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.overload_load import DOMAIN, Endpoint, Publisher, Watcher  # noqa: E402

PASSWORD = "bench-password"
PUBLISHERS = 30
WATCHERS = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, workdir: Path, source: Path, cprofile: Path | None) -> None:
        self.db = workdir / "server.sqlite3"
        self.ready = workdir / "ready.json"
        self.log = workdir / "server.log"
        env = {**os.environ, "PYTHONPATH": str(source)}
        users = [f"p{n}" for n in range(PUBLISHERS)] + [f"w{n}" for n in range(WATCHERS)]
        # The accounts are written by the tree that serves: its store's schema may be older than this one's.
        write = (
            "from smartbook_tui.server.store import Store\n"
            f"store = Store.open({str(self.db)!r})\n"
            f"for user in {users!r}:\n"
            f"    store.add_account(user, {DOMAIN!r}, {PASSWORD!r}, None, public_presence=True)\n"
            "store.close()\n"
        )
        subprocess.run([sys.executable, "-c", write], env=env, cwd=source, check=True)
        profile = ["-m", "cProfile", "-o", str(cprofile)] if cprofile else []
        command = [sys.executable, *profile, "-m", "smartbook_tui.cli", "server", "run", "--sip", "127.0.0.1:0"]
        command += ["--db", str(self.db), "--domain", DOMAIN, "--ready-file", str(self.ready), "--log-level", "WARNING"]
        command += ["--notify-interval", "0", "--rate-limit", "0", "--udp-rate", "0"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=source)
        deadline = time.monotonic() + 20
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        host, _, port = json.loads(self.ready.read_text())["udp"].rpartition(":")
        self.address = (host, int(port))

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


async def measure(server: Server, rate: float, seconds: float) -> tuple[float, int, int]:
    """(server CPU seconds, NOTIFYs received, PUBLISHes answered 200) over a publishing phase of `seconds`."""
    publishers = [Publisher(await Endpoint.open(f"p{n}", PASSWORD, server.address)) for n in range(PUBLISHERS)]
    watchers = [Watcher(await Endpoint.open(f"w{n}", PASSWORD, server.address)) for n in range(WATCHERS)]
    for publisher in publishers:
        await publisher.publish_until_accepted(10.0)
    for watcher in watchers:
        await asyncio.gather(*(watcher.subscribe(p.endpoint.user, 10.0) for p in publishers))
    await asyncio.sleep(1.0)
    notified = sum(watcher.notifies for watcher in watchers)
    cpu, started = server.cpu(), time.monotonic()
    per_publisher = rate / PUBLISHERS

    async def keep_publishing(publisher: Publisher, offset: float) -> None:
        await asyncio.sleep(offset)
        next_at = time.monotonic()
        while next_at < started + seconds:
            await publisher.publish(10.0)
            next_at += 1 / per_publisher
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(keep_publishing(p, i / rate) for i, p in enumerate(publishers)))
    await asyncio.sleep(1.0)  # the last NOTIFYs and their answers
    used = server.cpu() - cpu
    notifies = sum(watcher.notifies for watcher in watchers) - notified
    accepted = sum(publisher.answers.get(200, 0) for publisher in publishers) - PUBLISHERS
    for endpoint in [*(p.endpoint for p in publishers), *(w.endpoint for w in watchers)]:
        endpoint.close()
    return used, notifies, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="PUBLISHes a second, all publishers together")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the publishing phase")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree to run the server from")
    parser.add_argument("--cprofile", type=Path, help="run the server under cProfile, writing its stats here")
    args = parser.parse_args()
    figures = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="notify-cost-") as directory:
            server = Server(Path(directory), args.source.resolve(), args.cprofile)
            try:
                used, notifies, accepted = asyncio.run(measure(server, args.rate, args.seconds))
            finally:
                server.stop()
        if not notifies:
            raise SystemExit("no NOTIFY arrived: the run broke (see the server's log)")
        figures.append(used / notifies * 1e6)
        print(
            f"run {run + 1}: {accepted} PUBLISHes, {notifies} NOTIFYs ({notifies / max(accepted, 1):.1f} each), "
            f"server CPU {used:.2f} s: {figures[-1]:.0f} us per NOTIFY"
        )
    print(
        f"CPU per single-presentity NOTIFY ({args.source}): median {statistics.median(figures):.0f} us, "
        f"best {min(figures):.0f} us over {len(figures)} runs"
    )


if __name__ == "__main__":
    main()
