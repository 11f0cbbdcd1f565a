"""Figures for the account API (`smartbook server run --http`, issue 12): the API requests a second the server
serves alone and while it carries the presence load of `bench/server.py` part (b), what that API traffic costs the
presence load (PUBLISH -> NOTIFY latency), and the time from an account's activation to its badge in a watcher's
book. Reuses bench/server.py's population, server process, SIP client and fan-out (imported, not copied). Prints
figures; asserts nothing.

    .venv/bin/python bench/assistant.py [--rate 100] [--seconds 5] [--clients 8] [--badges 20]

* API load: `--clients` closed-loop HTTP/1.1 clients (keep-alive, httpx) in a process of their own, each sending its
  next request when the last is answered, for `--seconds`: `read` = GET info-by-phone of numbers of the population,
  `write` = POST accounts/public for new numbers (an account row, its code, the SMS to the console outbox; the
  database is synchronous=FULL). Requests a second, latency p50/p99, and the server's CPU.
* Presence load: bench/server.py (b)'s publishers and watchers (fan-out 50, `--notify-interval 0`) at a fixed
  `--rate` PUBLISH/s: PUBLISH -> NOTIFY p50/p99 alone, then with each API load running at the same time.
* Badge: a watcher (bench/server.py's SIP client) holds a list of numbers without accounts; for each, an account is
  created through the API and activated with the code from the outbox; the time from the activation request
  written to the NOTIFY that carries the account's address received. Target: the NOTIFY interval + 100 ms (the
  server here runs with --notify-interval 0, so 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from isal import isal_zlib

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import (
    DOMAIN,
    NO_SOURCE_LIMITS,
    Conn,
    FanOut,
    Population,
    ServerProcess,
    Step,
    build_population,
    connect,
    pct,
    print_step,
    setup_fanout,
    subscribe_list,
)

perf = time.perf_counter


# ============================================================================================ the API load process


async def api_load(url: str, kind: str, seconds: float, clients: int, numbers: list[str]) -> dict[str, object]:
    """Closed-loop clients for `seconds`; counts by status and the latencies (ms)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    rng = random.Random()  # new numbers each run: a number gets 3 SMS a day
    stop_at = perf() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while perf() < stop_at:
                started = perf()
                if kind == "read":
                    response = await http.get(f"/accounts/{rng.choice(numbers).replace('+', '%2B')}/info-by-phone")
                else:
                    number = f"+3375{rng.randrange(10**7):07d}"
                    response = await http.post("/accounts/public", json={"phone": number})
                latencies.append((perf() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = perf()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"seconds": perf() - started, "latencies": latencies, "statuses": statuses}


def run_api_load_process(argv: list[str]) -> None:
    url, kind, seconds, clients, numbers_file = argv
    numbers = json.loads(Path(numbers_file).read_text())
    result = asyncio.run(api_load(url, kind, float(seconds), int(clients), numbers))
    print(json.dumps(result))


async def api_load_in_process(
    url: str, kind: str, seconds: float, clients: int, numbers_file: Path
) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--api-load",
        url,
        kind,
        str(seconds),
        str(clients),
        str(numbers_file),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    return json.loads(out)


def api_row(label: str, result: dict[str, object], server_cpu: float | None) -> str:
    """Requests a second, latencies, and (when the API ran alone) the server's CPU and its share a request."""
    latencies: list[float] = result["latencies"]  # type: ignore[assignment]
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    statuses = ", ".join(f"{count} x {status}" for status, count in sorted(result["statuses"].items()))  # type: ignore[union-attr]
    cpu = ""
    if server_cpu is not None and latencies:
        cpu = f"  server CPU {server_cpu / seconds:4.0%}, {server_cpu / len(latencies) * 1000:.2f} ms a request"
    return (
        f"  {label:<22} {len(latencies) / seconds:6.0f}/s  p50 {pct(latencies, 0.5):6.1f} ms  "
        f"p99 {pct(latencies, 0.99):6.1f} ms{cpu}  ({statuses})"
    )


# ============================================================================================ the badge


async def badge_latency(server: ServerProcess, api_url: str, watcher: str, count: int, outbox: Path) -> list[float]:
    """For each of `count` numbers in the watcher's list, activation request written -> NOTIFY with the account."""
    numbers = [f"+3376{n:07d}" for n in random.Random(watcher).sample(range(10**7), count)]
    uris = [f"sip:{number}@{DOMAIN};user=phone" for number in numbers]
    arrived: dict[bytes, float] = {}
    waiting: set[bytes] = set()

    def on_notify(_conn: Conn, _head: bytes, body: bytes, when: float) -> None:
        try:
            plain = isal_zlib.decompress(body)
        except isal_zlib.error:
            plain = body
        for address in list(waiting):
            if address in plain:
                arrived[address] = when
                waiting.discard(address)

    conn = await connect(server.address)
    failure = await subscribe_list(conn, watcher, uris, "badge", on_notify)
    if failure:
        print(f"  the watcher's subscription failed: {failure}")
        return []
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for index, number in enumerate(numbers):
            user = f"badge-{watcher}-{index}"
            created = await http.post("/accounts/public", json={"phone": number, "username": user})
            if created.status_code != 201:
                print(f"  {number}: {created.status_code} {created.text}")
                continue
            code = _last_code(outbox, number)
            address = f"sip:{user}@{DOMAIN}".encode()
            waiting.add(address)
            sent = perf()
            activated = await http.post(f"/accounts/{user}@{DOMAIN}/activate/phone", json={"code": code})
            if activated.status_code != 200:
                print(f"  {number}: {activated.status_code} {activated.text}")
                continue
            deadline = perf() + 10
            while address not in arrived and perf() < deadline:
                await asyncio.sleep(0.001)
            if address in arrived:
                latencies.append((arrived[address] - sent) * 1000)
    conn.close()
    return latencies


def _last_code(outbox: Path, number: str) -> str:
    for line in reversed(outbox.read_text().splitlines()):
        message = json.loads(line)
        if message["to"] == number:
            match = re.search(r"\b(\d{4})\b", message["text"])
            if match:
                return match.group(1)
    raise RuntimeError(f"no SMS to {number} in the outbox")


# ============================================================================================ the run


def population_args(args: argparse.Namespace) -> argparse.Namespace:
    """bench/server.py's settings for part (b) alone: its publishers and watchers, no part (a) or (c) accounts."""
    return argparse.Namespace(
        seed=7,
        pool=1000,
        zipf=0.6,
        account_share=0.2,
        public_share=0.2,
        publishing_share=0.3,
        subscriptions=0,
        warmup=0,
        repeat=0,
        publishers=2000,
        fanout=50,
        entries=200,
        private_publishers=False,
        publish_connections=4,
        step_seconds=args.seconds,
        drain=15.0,
        sweeps=1,
        tracemalloc=False,
        cprofile=None,
        py_spy=None,
    )


async def measure(args: argparse.Namespace, population: Population, workdir: Path, template: Path) -> None:
    settings = population_args(args)
    outbox = workdir / "outbox.jsonl"
    extra = [
        *NO_SOURCE_LIMITS,
        "--notify-interval",
        "0",
        "--http",
        f"{DOMAIN}:0",
    ]
    extra += ["--api-rate", "0", "--api-global-rate", "0", "--sms-outbox", str(outbox)]
    server = ServerProcess(workdir, template, "api", extra, settings).start()
    api_url = f"http://{json.loads(server.ready.read_text())['http']}/api"
    numbers_file = workdir / "numbers.json"
    numbers_file.write_text(json.dumps(population.pool))  # a fifth of them have an account
    fan = FanOut(settings)
    try:
        print(f"API alone: {args.clients} closed-loop clients, {args.seconds:g} s each")
        for kind in ("read", "write"):
            await server.settle()
            cpu = server.cpu()
            result = await api_load_in_process(api_url, kind, args.seconds, args.clients, numbers_file)
            print(api_row(kind, result, server.cpu() - cpu))

        print("\nbadge: activation request written -> NOTIFY with the account (server --notify-interval 0), idle")
        idle = await badge_latency(server, api_url, population.watchers_c[0], args.badges, outbox)
        print(f"  {_summary(idle)}")

        pub_conns, watcher_conns = await setup_fanout(settings, population, server, fan)
        await server.settle()
        print(f"\npresence load of bench/server.py (b) at {args.rate:g} PUBLISH/s, fan-out {settings.fanout}")
        print(
            f"  {'offered':>8} {'sent/s':>7} {'NOTIFY/s':>9} {'p50':>8} {'p99':>8} {'max':>8} {'got':>6} "
            f"{'200 p99':>8} {'server':>7} {'us/NOTIFY':>9} {'client':>7}   API beside it"
        )
        for kind in (None, "read", "write", None):
            await server.settle(quiet=0.3, limit=10)
            load = (
                asyncio.create_task(api_load_in_process(api_url, kind, args.seconds, args.clients, numbers_file))
                if kind
                else None
            )
            step: Step = await fan.run_step(args.rate, server)
            print_step(step, settings.fanout)
            if load is not None:
                result = await load
                print(api_row(f"    ^ with API {kind}", result, None))
            else:
                print("    ^ no API traffic")

        print(f"\nbadge under the presence load ({args.rate:g} PUBLISH/s running)")
        run = asyncio.create_task(_keep_publishing(fan, args.rate, server, args.badges))
        loaded = await badge_latency(server, api_url, population.watchers_c[1], args.badges, outbox)
        run.cancel()
        print(f"  {_summary(loaded)}")
        for conn in pub_conns + watcher_conns:
            conn.close()
    finally:
        server.stop()


async def _keep_publishing(fan: FanOut, rate: float, server: ServerProcess, steps: int) -> None:
    for _ in range(steps):
        await fan.run_step(rate, server)


def _summary(latencies: list[float]) -> str:
    if not latencies:
        return "no badge arrived"
    median, p90 = statistics.median(latencies), pct(latencies, 0.9)
    return f"{len(latencies)} activations: median {median:.1f} ms, p90 {p90:.1f} ms, max {max(latencies):.1f} ms"


def main() -> None:
    if sys.argv[1:2] == ["--api-load"]:
        run_api_load_process(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="PUBLISH/s of the presence load")
    parser.add_argument("--seconds", type=float, default=5, help="seconds of each measurement")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop API clients")
    parser.add_argument("--badges", type=int, default=20, help="activations timed to the badge, idle and loaded")
    args = parser.parse_args()
    started = perf()
    with tempfile.TemporaryDirectory(prefix="smartbook-bench-assistant-") as directory:
        workdir = Path(directory)
        template = workdir / "template.sqlite3"
        population = build_population(population_args(args), template)
        print(f"presence server with the account API on 127.0.0.1; {sys.version.split()[0]}")
        asyncio.run(measure(args, population, workdir, template))
    print(f"total {perf() - started:.0f} s")


if __name__ == "__main__":
    main()
