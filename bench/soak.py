"""A bounded soak of the smartbook presence server: half its sustained rate for `--minutes`, then whether its memory
and its counts come back to where they were.

    python bench/soak.py [--minutes 10] [--rate PUBLISH/s] [--every 10]

The load is vs_kamailio.py's single-presentity fan-out over UDP (N publishers x M watchers, every PUBLISH a new
state checked to reach every watcher) at `--rate`, or at half the sustained rate measured first on the same server
(the highest rung of the ladder where the p99 stays <= 100 ms and nothing is lost). Beside it, churn over TCP: every
second a new connection subscribes to a publisher, gets its NOTIFY, unsubscribes and closes, so dialogs,
connections and transactions keep being made and ended.

Sampled every `--every` seconds: the server's RSS (/proc/PID/status), its open file descriptors (/proc/PID/fd), its
established TCP connections (/proc/net/tcp, on its port), its subscription dialogs (begun minus ended, from its own
INFO log lines; the server exposes no status), and the step's p99 and lost final states. At the end the load stops,
the server settles, and each is compared with its baseline: RSS with the sample after the warm-up (the first fifth
of the soak, at most a minute; target: growth <= 5 %), the counts with theirs before the load. Transactions in
progress cannot be read while the server runs; the count its graceful stop logs (call transactions) is printed.
Exits 1 with one line when a run breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peer_load import (
    SMARTBOOK_FLAGS,
    Accounts,
    SmartbookServer,
    WatchedFanOut,
    aor,
    connect_tcp,
    dialog_count,
    fanout_watches,
    hold_subscriptions,
    make_publishers,
    patient,
    retried,
    subscribe_headers,
)
from bench.server import authed, first_line, pct
from bench.vs_kamailio import LADDER, search_rate

perf = time.perf_counter
TO_TAG = re.compile(rb"\r\n(?:to|t)[ \t]*:[^\r\n]*;tag=([^;,\s]+)", re.IGNORECASE)
STOP_TRANSACTIONS = re.compile(r"stopping: (\d+) call transactions in progress")
STOP_SUBSCRIBERS = re.compile(r"stopping: telling (\d+) subscribers")
RSS_GROWTH_TARGET = 0.05


class Probe:
    """What /proc and the server's log say of the server now."""

    def __init__(self, server: SmartbookServer) -> None:
        self.server = server
        assert server.process.process is not None
        self.pid = server.process.process.pid
        self.port = server.tcp[1]

    def rss_mb(self) -> float:
        return self.server.rss_kb() / 1024

    def fds(self) -> int:
        return len(list(Path(f"/proc/{self.pid}/fd").iterdir()))

    def connections(self) -> int:
        """Established TCP connections whose local port is the server's (state 01 in /proc/net/tcp)."""
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rpartition(":")[2], 16) == self.port:
                count += 1
        return count

    def dialogs(self) -> int:
        return dialog_count(self.server.process.log.read_text(errors="replace"))


async def churn_once(server: SmartbookServer, user: str, target: str, index: int) -> None:
    """A TCP connection subscribes to `target`, waits for its NOTIFY, unsubscribes and closes."""
    conn = await connect_tcp(server.tcp)
    notified = asyncio.Event()
    conn.on_notify = lambda _conn, _head, _body, _when: notified.set()
    try:
        status, head, dialog = await patient(
            conn,
            "SUBSCRIBE",
            target,
            user=user,
            headers_of=lambda dialog: subscribe_headers(user, target, dialog, conn, as_list=False),
            call_id=f"churn-{index}",
        )
        tag = TO_TAG.search(head)
        if status != 200 or tag is None:
            raise RuntimeError(f"a churn SUBSCRIBE was answered {first_line(head)!r}")
        headers = subscribe_headers(user, target, dialog, conn, as_list=False)
        await asyncio.wait_for(notified.wait(), 10)
        to = f"To: <{target}>"
        ending = tag.group(1).decode()

        def unsubscribe(cseq: int) -> str:
            return headers(cseq + 10).replace(to, f"{to};tag={ending}").replace("Expires: 3600", "Expires: 0")

        status, head, _, _ = await asyncio.wait_for(
            authed(conn, "SUBSCRIBE", target, user=user, headers=unsubscribe, body=b""), 10
        )
        if status != 200:
            raise RuntimeError(f"a churn unSUBSCRIBE was answered {first_line(head)!r}")
    except TimeoutError:
        raise RuntimeError("a churn subscription got no answer or no NOTIFY within 10 s") from None
    finally:
        conn.close()


async def churn(server: SmartbookServer, users: list[str], targets: list[str], stop: asyncio.Event) -> int:
    """One churn subscription a second until `stop`; how many were made."""
    tasks: list[asyncio.Task[None]] = []
    index = 0
    while not stop.is_set():
        user = users[index % len(users)]
        tasks.append(asyncio.create_task(churn_once(server, user, targets[index % len(targets)], index)))
        index += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        for task in [task for task in tasks if task.done()]:
            task.result()  # a broken churn breaks the run
            tasks.remove(task)
    await asyncio.gather(*tasks)
    return index


async def soak(args: argparse.Namespace, server: SmartbookServer, plan: dict[str, list[str]]) -> int:
    ns = argparse.Namespace(step_seconds=args.every, drain=3.0, fanout=args.watchers, p99_ms=100.0, final_wait=1.0)
    fan = WatchedFanOut(ns)
    pub_conns = await make_publishers(server, fan, plan["publishers"], "udp", 4)
    watches = fanout_watches(plan["publishers"], plan["watchers"], args.watchers, min(50, len(plan["watchers"])))
    conns = await hold_subscriptions(server, fan, watches, "udp", as_list=False)
    await server.settle()
    rate = args.rate
    if rate is None:
        measure = argparse.Namespace(**{**vars(ns), "step_seconds": 2.0})
        fan.args = measure
        sustained, _ = await search_rate(server, fan, measure, LADDER, "measuring: fan-out UDP")
        if not sustained:
            raise RuntimeError("no rate held while measuring the sustained rate")
        rate = sustained / 2
        fan.args = ns
        print(f"  sustained {sustained:g} PUBLISH/s: the soak runs at {rate:g}/s", flush=True)
        await server.settle()
    probe = Probe(server)
    before = {"rss": probe.rss_mb(), "fds": probe.fds(), "connections": probe.connections(), "dialogs": probe.dialogs()}
    print(
        f"  before the load: RSS {before['rss']:.1f} MB, {before['fds']} fds, {before['connections']} TCP connections, "
        f"{before['dialogs']} dialogs"
    )
    print(
        f"  {'t':>5} {'RSS MB':>8} {'fds':>5} {'TCP':>4} {'dialogs':>7} {'PUBLISH':>7} {'p99 ms':>7} "
        f"{'missing':>7} {'not 200':>7}"
    )
    stop = asyncio.Event()
    churner = asyncio.create_task(churn(server, plan["churners"], [aor(user) for user in plan["publishers"]], stop))
    started = perf()
    warmup = min(60.0, args.minutes * 60 / 5)
    baseline_rss = 0.0
    worst_p99 = 0.0
    while perf() - started < args.minutes * 60:
        fan.refused.clear()
        step = await fan.run_step(rate, server)
        p99 = pct(step.latency_ms, 0.99) if step.latency_ms else float("nan")
        worst_p99 = max(worst_p99, p99)
        if step.answered < step.sent:
            fan.reset_busy()
        rss = probe.rss_mb()
        if not baseline_rss and perf() - started >= warmup:
            baseline_rss = rss
        print(
            f"  {perf() - started:5.0f} {rss:8.1f} {probe.fds():5d} {probe.connections():4d} {probe.dialogs():7d} "
            f"{step.sent:7d} {p99:7.1f} {fan.lost_finals():7d} {sum(fan.refused.values()):7d}",
            flush=True,
        )
    stop.set()
    churned = await churner
    await asyncio.sleep(2.0)
    await server.settle(quiet=1.0)
    after = {"rss": probe.rss_mb(), "fds": probe.fds(), "connections": probe.connections(), "dialogs": probe.dialogs()}
    for conn in pub_conns + conns:
        conn.close()
    growth = (after["rss"] - baseline_rss) / baseline_rss if baseline_rss else float("nan")
    print(
        f"  {args.minutes:g} min at {rate:g} PUBLISH/s to {args.watchers} watchers each, {churned} churn subscriptions "
        f"over TCP; worst step p99 {worst_p99:.1f} ms; final states missing at the end: {fan.lost_finals()}"
    )
    print(
        f"  RSS: {before['rss']:.1f} MB before the load, {baseline_rss:.1f} MB after the {warmup:.0f} s warm-up, "
        f"{after['rss']:.1f} MB at the end: growth {growth:+.1%} "
        f"({'within' if growth <= RSS_GROWTH_TARGET else 'OVER'} the {RSS_GROWTH_TARGET:.0%} target)"
    )
    for key, label in (("dialogs", "dialogs"), ("connections", "TCP connections"), ("fds", "file descriptors")):
        back = after[key] == before[key]
        print(f"  {label}: {before[key]} before, {after[key]} at the end: {'back' if back else 'NOT back'}")
    return 0 if growth <= RSS_GROWTH_TARGET else 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, help="PUBLISH/s (default: half the sustained rate, measured first)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--publishers", type=int, default=100)
    parser.add_argument(
        "--watchers", type=int, default=50, help="watchers of every publisher (accounts of 25 subscriptions each)"
    )
    args = parser.parse_args()
    accounts = Accounts()
    plan = {
        "publishers": accounts.add([f"p{i}" for i in range(args.publishers)]),
        "watchers": accounts.add([f"w{i}" for i in range(args.publishers * args.watchers // 25)]),
        "churners": accounts.add([f"c{i}" for i in range(20)]),
    }
    started = perf()
    try:
        with tempfile.TemporaryDirectory(prefix="smartbook-soak-") as directory:
            workdir = Path(directory)
            template = workdir / "template.sqlite3"
            accounts.write_smartbook_store(template)
            flags = [*SMARTBOOK_FLAGS, "--log-level", "INFO"]
            print(f"smartbook server run {' '.join(flags)}; {args.publishers} publishers x {args.watchers} watchers")
            server = SmartbookServer(workdir, template, "soak", flags).start()
            try:
                code = asyncio.run(soak(args, server, plan))
                if retried[0]:
                    print(
                        f"  {retried[0]} SUBSCRIBEs answered 503 (overloaded) were sent again after their Retry-After"
                    )
            finally:
                server.stop()
            log = server.process.log.read_text(errors="replace")
            transactions, subscribers = STOP_TRANSACTIONS.search(log), STOP_SUBSCRIBERS.search(log)
            if transactions and subscribers:
                print(
                    f"  at its graceful stop: {transactions.group(1)} call transactions in progress, "
                    f"{subscribers.group(1)} subscribers told"
                )
    except (RuntimeError, OSError) as error:
        print(f"soak: a run broke: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"  total {perf() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
