"""Figures for the list subscriber (issue 4): one full-state list NOTIFY of N resources, deflated, over TCP on
loopback, from a resource list server in another process to the real `Subscriber` (smartbook_tui.subscriber.runner
on a flow from `open_flow`); the time from the NOTIFY's last byte received to the 200 OK written back and to the
`Updates` event delivered with all N updates, and the peak RSS of the watcher process. Each run is a fresh watcher
process (its own peak RSS; the first full state after a start, as `smartbook watch` sees it). Prints figures;
asserts nothing.

    python bench/subscriber.py [--resources 1000 10000] [--repeat R] [--max-body BYTES]

Targets on the 2-core machine: <= 50 ms for 1,000 resources, <= 500 ms for 10,000; peak RSS of the watcher holding
10,000 resources <= 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import secrets
import statistics
import string
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOMAIN = "sip.example.org"
RLS_URI = f"sip:rls@{DOMAIN}"
AOR = f"sip:bench@{DOMAIN}"
WATCHER_TIMEOUT = 60.0  # seconds a watcher waits for its updates before giving up (and saying so)


def resource_uris(count: int, seed: int = 11) -> list[str]:
    """The book: `count` distinct French mobile numbers as phone-alias resource URIs (the watcher and the server
    make the same list from the same seed)."""
    numbers = random.Random(seed).sample(range(10**8), count)
    return [f"sip:+336{number:08d}@{DOMAIN};user=phone" for number in numbers]


# --------------------------------------------------------------------------------------------- the server side


def flexisip_full_state(count: int) -> object:
    """What Flexisip's resource list server sends first: RLMI version 0, full state, every resource with one active
    instance and a PIDF part (a phone alias of an account: basic open, the account's address as <contact>, a
    timestamp; an rpid activity on some)."""
    from smartbook_tui.presence import (
        Activity,
        BasicStatus,
        Instance,
        InstanceState,
        ListState,
        Person,
        Presence,
        PresenceTuple,
        ResourceState,
    )

    rng = random.Random(5)
    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    activities = ((), (Activity.AWAY,), (), (Activity.BUSY,), (), (Activity.ON_THE_PHONE,))

    def token(length: int) -> str:
        return "".join(rng.choices(string.ascii_lowercase + string.digits, k=length))

    resources = []
    for index, uri in enumerate(resource_uris(count)):
        doing = activities[index % len(activities)]
        presence = Presence(
            uri,
            tuples=(
                PresenceTuple(
                    token(6),
                    BasicStatus.OPEN,
                    f"sip:user{index}@{DOMAIN}",
                    timestamp=start + timedelta(seconds=rng.randrange(86400)),
                ),
            ),
            persons=(Person(token(4), doing),) if doing else (),
        )
        instance = Instance(token(6), InstanceState.ACTIVE, cid=f"{token(8)}@{DOMAIN}")
        resources.append(ResourceState(uri, instances=(instance,), presence=presence))
    return ListState(RLS_URI, 0, True, resources=tuple(resources))


class ListServer(asyncio.Protocol):
    """One watcher's connection: 200 OK (To-tag, Require: eventlist) to its SUBSCRIBE, then the full-state NOTIFY at
    once; 200 OK to its unsubscription, then the connection is closed. When the connection ends, one JSON line on
    stdout says what the watcher answered and how long the server waited for it."""

    def __init__(self, content_type: str, body: bytes) -> None:
        from smartbook_tui.sip.message import StreamParser

        self.content_type = content_type
        self.body = body
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.tag = secrets.token_hex(4)
        self.report: dict[str, object] = {}
        self.notified_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.contact = f"<sip:rls@{sockname[0]}:{sockname[1]};transport=tcp>"
        self.via = f"SIP/2.0/TCP {sockname[0]}:{sockname[1]}"

    def data_received(self, data: bytes) -> None:
        from smartbook_tui.sip.message import SipRequest

        for message in self.parser.feed(data):
            if isinstance(message, SipRequest):
                self.on_request(message)
            elif message.cseq[1] == "NOTIFY":
                self.report["server_roundtrip_ms"] = (time.perf_counter() - self.notified_at) * 1000
                self.report["answer"] = f"{message.status} {message.reason}"

    def on_request(self, request: object) -> None:
        from smartbook_tui.sip.message import Headers, SipRequest, SipResponse
        from smartbook_tui.sip.uri import parse_name_addr

        assert isinstance(request, SipRequest)
        assert self.transport is not None
        headers = Headers([("Via", via) for via in request.headers.get_all("Via")])
        to = request.headers.get("To") or ""
        for name, value in (
            ("From", request.headers.get("From") or ""),
            ("To", to if request.to_tag else f"{to};tag={self.tag}"),
            ("Call-ID", request.call_id or ""),
            ("CSeq", request.headers.get("CSeq") or ""),
        ):
            headers.add(name, value)
        if request.method != "SUBSCRIBE":
            self.transport.write(SipResponse(405, "Method Not Allowed", headers).to_bytes())
            return
        expires = request.expires if request.expires is not None else 3600
        for name, value in (("Contact", self.contact), ("Require", "eventlist"), ("Expires", expires)):
            headers.add(name, value)
        self.transport.write(SipResponse(200, "OK", headers).to_bytes())
        if expires == 0:  # the watcher unsubscribes: the run is over
            self.transport.close()
            return
        if request.to_tag:
            return  # a refresh (none happens in a run)
        self.report["subscribe_bytes"] = len(request.body)
        notify = SipRequest(
            "NOTIFY",
            str(parse_name_addr(request.headers.get("Contact") or "").uri),
            Headers(
                [
                    ("Via", f"{self.via};branch=z9hG4bK{secrets.token_hex(8)}"),
                    ("Max-Forwards", 70),
                    ("From", f"{to};tag={self.tag}"),
                    ("To", request.headers.get("From") or ""),
                    ("Call-ID", request.call_id or ""),
                    ("CSeq", "1 NOTIFY"),
                    ("Contact", self.contact),
                    ("Event", "presence"),
                    ("Subscription-State", f"active;expires={expires}"),
                    ("Require", "eventlist"),
                    ("Content-Type", self.content_type),
                    ("Content-Encoding", "deflate"),
                ]
            ),
            self.body,
        ).to_bytes()
        self.report["notify_bytes"] = len(notify)
        self.notified_at = time.perf_counter()
        self.transport.write(notify)

    def connection_lost(self, exc: Exception | None) -> None:
        print(json.dumps(self.report), flush=True)


async def serve(count: int) -> None:
    from smartbook_tui.presence import build_list_notify, deflate

    content_type, plain = build_list_notify(
        flexisip_full_state(count),  # type: ignore[arg-type]
        root_cid=f"rlmiRoot@{DOMAIN}",
        boundary="Flx42",
        legacy=True,  # the form Flexisip writes
    )
    body = deflate(plain)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ListServer(content_type, body), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "plain": len(plain), "deflated": len(body)}), flush=True)
    async with server:
        await server.serve_forever()


# -------------------------------------------------------------------------------------------- the watcher side


class Observed(asyncio.Protocol):
    """Stands between the TCP transport and the flow's own protocol: notes when each chunk of bytes comes in."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self.chunk_at = 0.0

    def data_received(self, data: bytes) -> None:
        self.chunk_at = time.perf_counter()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watcher:
    """The real Subscriber, connected the way `smartbook watch` connects it, with clocks on the way: when the chunk
    that completes the NOTIFY comes in, when the flow hands the NOTIFY over, when the machine's decoding call starts
    and ends, when the answer is written and when the `Updates` event arrives."""

    def __init__(self, port: int, count: int, max_body: int) -> None:
        from smartbook_tui.subscriber.machine import SubscriptionConfig
        from smartbook_tui.subscriber.runner import Subscriber

        self.port = port
        self.count = count
        self.config = SubscriptionConfig(AOR, RLS_URI, tuple(resource_uris(count)))
        if max_body:  # 0: the subscription's default cap
            self.config = replace(self.config, max_body=max_body)
        self.subscriber = Subscriber(self.config, self.connect, transport="tcp")
        self.marks: dict[str, float] = {}
        self.figures: dict[str, object] = {"updates": 0, "phases": [], "max_body": self.config.max_body}
        self.held: list[object] = []  # what a consumer (the TUI) keeps: the updates themselves
        self.observed: Observed | None = None

    async def connect(self, on_message, on_lost):  # type: ignore[no-untyped-def]
        from smartbook_tui.sip.aio import open_flow
        from smartbook_tui.sip.message import SipRequest

        def deliver(message: object, _source: object) -> None:
            if isinstance(message, SipRequest) and message.method == "NOTIFY" and self.observed is not None:
                self.marks["last_byte"] = self.observed.chunk_at  # the chunk whose parsing completed the NOTIFY
                self.marks["framed"] = time.perf_counter()
            on_message(message)

        flow = await open_flow(
            "tcp", ("127.0.0.1", self.port), on_message=deliver, on_lost=on_lost, max_body=self.config.max_body
        )
        self.figures["connected"] = True
        stream = flow._transport  # type: ignore[attr-defined]
        self.observed = Observed(stream.get_protocol())
        stream.set_protocol(self.observed)
        send_bytes = flow.send_bytes

        def send_and_note(data: bytes) -> None:
            send_bytes(data)
            if data.startswith(b"SIP/2.0 ") and b" NOTIFY\r\n" in data:  # the answer to the NOTIFY
                self.marks["answered"] = time.perf_counter()
                self.note_answer(data)

        flow.send_bytes = send_and_note  # type: ignore[method-assign]
        return flow

    def note_answer(self, data: bytes) -> None:
        lines = data.decode("utf-8", "replace").split("\r\n")
        self.figures["answer"] = lines[0].removeprefix("SIP/2.0 ")
        warning = next((line for line in lines if line.lower().startswith("warning:")), None)
        if warning:
            self.figures["warning"] = warning.partition(":")[2].strip()
        if not data.startswith(b"SIP/2.0 200"):
            self.subscriber.stop()  # no updates will come

    def decoder(self, decode_notify_body):  # type: ignore[no-untyped-def]
        """The machine's decode_notify_body, timed, called with the same arguments."""

        def decode(*args: object, **kwargs: object) -> object:
            self.marks["decode_start"] = time.perf_counter()
            try:
                return decode_notify_body(*args, **kwargs)
            finally:
                self.marks["decode_end"] = time.perf_counter()

        return decode

    def on_event(self, event: object) -> None:
        from smartbook_tui.subscriber.machine import Status, Updates

        if isinstance(event, Updates):
            self.marks["delivered"] = time.perf_counter()
            self.held.append(event)
            self.figures["updates"] = len(event.updates)
            if len(event.updates) >= self.count:
                self.subscriber.stop()
        elif isinstance(event, Status):
            self.figures["phases"].append(event.phase.value)  # type: ignore[attr-defined]

    async def run(self) -> dict[str, object]:
        from smartbook_tui.subscriber import machine

        machine.decode_notify_body = self.decoder(machine.decode_notify_body)
        self.figures["rss_before_mb"] = rss_mb()
        try:
            await asyncio.wait_for(self.subscriber.run(self.on_event), WATCHER_TIMEOUT)
        except TimeoutError:
            self.figures["timed_out"] = True
        start = self.marks.get("last_byte")
        for name in ("framed", "decode_start", "decode_end", "answered", "delivered"):
            if start is not None and name in self.marks:
                self.figures[f"{name}_ms"] = (self.marks[name] - start) * 1000
        self.figures["rss_after_mb"] = rss_mb()
        return self.figures


# ------------------------------------------------------------------------------------------------ the driver


def run_watcher(port: int, count: int, max_body: int) -> dict[str, object]:
    command = [sys.executable, __file__, "--watcher", str(port), str(count), str(max_body)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def median_best(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ms {min(values):8.1f} ms"


def report(count: int, sizes: dict[str, int], runs: list[dict]) -> None:
    complete = [run for run in runs if run.get("updates") == count and "delivered_ms" in run]
    print(
        f"{count:,} resources: plain {sizes['plain']:,} bytes, deflated {sizes['deflated']:,} "
        f"(1/{sizes['plain'] / sizes['deflated']:.1f}); the NOTIFY is {runs[0].get('notify_bytes', 0):,} bytes on "
        f"the wire, the SUBSCRIBE's list {runs[0].get('subscribe_bytes', 0):,} bytes deflated"
    )
    print(
        f"  {len(runs)} runs, each a fresh watcher process; {len(complete)} delivered all {count:,} updates "
        f"(NOTIFY body cap: SubscriptionConfig.max_body = {runs[0].get('max_body', 0):,} bytes)"
    )
    for run in runs:
        if run not in complete:
            answer, warning = run.get("answer", "no answer"), run.get("warning", "")
            print(
                f"  a run that did not: the watcher answered the NOTIFY {answer!r}"
                + (f", Warning {warning}" if warning else "")
                + f"; {run.get('updates', 0)} updates; phases {run.get('phases')}"
            )
    if not complete:
        return
    print(f"  {'from the last byte of the NOTIFY received':<44} {'median':>8}    {'best':>8}")
    rows = (
        ("to the 200 OK written back", [run["answered_ms"] for run in complete]),
        ("to the Updates event delivered", [run["delivered_ms"] for run in complete]),
        ("  of which: framing (to on_message)", [run["framed_ms"] for run in complete]),
        ("  queue hop (to the decoding call)", [run["decode_start_ms"] - run["framed_ms"] for run in complete]),
        ("  inflate + parse (decode_notify_body)", [run["decode_end_ms"] - run["decode_start_ms"] for run in complete]),
        ("  track + answer + deliver", [run["delivered_ms"] - run["decode_end_ms"] for run in complete]),
    )
    for label, values in rows:
        print(f"  {label:<44} {median_best(values)}")
    trips = [run["server_roundtrip_ms"] for run in complete if "server_roundtrip_ms" in run]
    if trips:
        print(f"  {'seen by the server: NOTIFY written -> 200 read':<44} {median_best(trips)}")
    peaks = [run["peak_rss_mb"] for run in complete]
    before = statistics.median(run["rss_before_mb"] for run in complete)
    print(
        f"  {'peak RSS of the watcher process':<44} {statistics.median(peaks):8.1f} MB (max {max(peaks):.1f}; "
        f"{before:.1f} MB before subscribing)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeat", type=int, help="runs per size (default: 5 up to 1,000 resources, 3 above)")
    parser.add_argument(
        "--max-body", type=int, default=0, help="the subscription's NOTIFY body cap (default: SubscriptionConfig's)"
    )
    parser.add_argument("--sender", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--watcher", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        asyncio.run(serve(args.sender))
        return
    if args.watcher:
        port, count, max_body = args.watcher
        figures = asyncio.run(Watcher(port, count, max_body).run())
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    print("full-state list NOTIFY, deflated, over TCP on 127.0.0.1: a resource list server in its own process,")
    print("the real Subscriber in a fresh watcher process per run")
    for count in args.resources:
        repeat = args.repeat or (5 if count <= 1000 else 3)
        sender = subprocess.Popen([sys.executable, __file__, "--sender", str(count)], stdout=subprocess.PIPE, text=True)
        try:
            assert sender.stdout is not None
            sizes = json.loads(sender.stdout.readline())
            runs = []
            for _ in range(repeat):
                run = run_watcher(sizes["port"], count, args.max_body)
                if run.get("connected"):  # the server's line for that connection
                    run.update(json.loads(sender.stdout.readline()))
                runs.append(run)
        finally:
            sender.terminate()
            sender.wait()
        report(count, sizes, runs)
    print("targets: <= 50 ms for 1,000 resources, <= 500 ms for 10,000; peak RSS <= 100 MB for 10,000")


if __name__ == "__main__":
    main()
