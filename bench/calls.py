"""Figures for call routing (issue 11): calls through `smartbook server run` on loopback (UDP). Prints figures;
asserts nothing.

    python bench/calls.py [--calls 200] [--sipp-calls 2000] [--sipp-rates 100 200 400]

(a) call setup: two small phones of the test suite (tests/peers/sip_phone.py), the caller an account of the domain
    and the callee another, registered; for each call the caller's INVITE is challenged (407, not timed), then the
    time from the INVITE with credentials sent to its 200 received (the callee rings and answers at once), then ACK
    and BYE through the Record-Route. p50 and p99 over `--calls` calls, and the server's CPU time per call.
(b) calls a second (if `sipp` is installed): SIPp uac calling SIPp uas through the server (INVITE, 180, 200, ACK,
    BYE, 200; the caller of another domain, as SIPp answers no SHA-256 challenge), `--sipp-calls` calls at each
    offered rate: the rate achieved, the failed calls, the server's CPU time per call. The server runs with
    `--rate-limit 0 --udp-rate 0 --stream-rate 0`: one SIPp socket makes every call, and the per-source limits are
    not what is measured.

Targets on the 2-core machine: (a) p50 <= 30 ms; (b) >= 200 calls/s with no failed call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import NO_SOURCE_LIMITS
from smartbook_tui.sip.message import SipRequest
from tests.peers.sip_phone import SipPhone
from tests.peers.smartbook_server import DOMAIN, PASSWORD, SmartbookServer, run_smartbook_server

SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "peers" / "sipp"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answer_calls(callee: SipPhone, stop: threading.Event) -> None:
    """Ring and answer every INVITE at once, answer every BYE."""
    while not stop.is_set():
        try:
            message = callee.receive(0.2)
        except TimeoutError:
            continue
        if isinstance(message, SipRequest) and message.method == "INVITE":
            callee.reply(message, 180, "Ringing")
            callee.reply(message, 200, "OK", body=b"v=0\r\n")
        elif isinstance(message, SipRequest) and message.method == "BYE":
            callee.reply(message, 200, "OK")


def call_setup(server: SmartbookServer, calls: int) -> None:
    assert server.process is not None
    with (
        SipPhone(server.sip, "alice", PASSWORD, DOMAIN) as caller,
        SipPhone(server.sip, "bob", PASSWORD, DOMAIN) as callee,
    ):
        caller.register()
        callee.register()
        stop = threading.Event()
        answering = threading.Thread(target=answer_calls, args=(callee, stop), daemon=True)
        answering.start()
        times: list[float] = []
        cpu_before = cpu_seconds(server.process.pid)
        for _ in range(calls):
            invite = caller.request("INVITE", callee.aor)
            invite.body = b"v=0\r\n"
            caller.send(invite)
            challenge = caller.final_to(invite)
            caller.send(caller.ack(invite, challenge))
            signed = caller.with_credentials(invite, challenge)
            start = time.perf_counter()
            caller.send(signed)
            ok = caller.final_to(signed)
            times.append(time.perf_counter() - start)
            if ok.status != 200:
                print(f"  a call failed: {ok.status} {ok.reason}")
                continue
            caller.send(caller.caller_request("ACK", ok, cseq=ok.cseq[0]))
            bye = caller.caller_request("BYE", ok)
            caller.send(bye)
            caller.final_to(bye)
        cpu = cpu_seconds(server.process.pid) - cpu_before
        stop.set()
        answering.join()
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(
        f"(a) call setup over {len(times)} calls (INVITE with credentials sent -> 200 received): "
        f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; "
        f"server CPU {cpu / calls * 1000:.2f} ms a call (407 round, INVITE, ACK, BYE)"
    )


def sipp_rates(server: SmartbookServer, calls: int, rates: list[int], workdir: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        print("(b) skipped: sipp is not installed (Debian package sip-tester)")
        return
    assert server.process is not None
    target = f"{server.sip[0]}:{server.sip[1]}"
    common = ["-i", "127.0.0.1", "-t", "u1", "-nostdin", "-m", str(calls), "-l", "5000"]
    registrar = SipPhone(server.sip, "bob", PASSWORD, DOMAIN)
    registrar.register()  # from the port each rate's SIPp uas then listens on: one device, whatever the rates
    port = registrar.address[1]
    registrar.sock.close()
    for rate in rates:
        directory = workdir / f"sipp-{rate}"
        directory.mkdir()
        uas = subprocess.Popen(
            [sipp, target, "-sf", str(SCENARIOS / "uas_answer.xml"), "-p", str(port), *common],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        cpu_before = cpu_seconds(server.process.pid)
        start = time.perf_counter()
        uac = subprocess.run(
            [
                sipp,
                target,
                "-sf",
                str(SCENARIOS / "uac_call.xml"),
                "-s",
                "bob",
                "-r",
                str(rate),
                *common,
                "-trace_stat",
                "-stf",
                "stat.csv",
                "-trace_err",
            ],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(server.process.pid) - cpu_before
        try:
            uas.wait(15)
        except subprocess.TimeoutExpired:
            uas.kill()
            uas.wait()
        failed = _failed_calls(directory / "stat.csv")
        print(
            f"(b) SIPp at {rate} calls/s offered: {calls / elapsed:.0f} calls/s achieved ({calls} calls in "
            f"{elapsed:.1f} s, SIPp exit {uac.returncode}, {failed} failed); server CPU "
            f"{cpu / calls * 1000:.2f} ms a call, {cpu / elapsed * 100:.0f} % of a core"
        )


def _failed_calls(stat: Path) -> str:
    if not stat.exists():
        return "?"
    lines = stat.read_text().splitlines()
    header, last = lines[0].split(";"), lines[-1].split(";")
    return last[header.index("FailedCall(C)")] if "FailedCall(C)" in header else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--sipp-calls", type=int, default=2000)
    parser.add_argument("--sipp-rates", type=int, nargs="*", default=[100, 200, 400])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartbook-calls-") as temporary:
        workdir = Path(os.environ.get("CALLS_WORKDIR") or temporary)
        accounts = [("alice", None), ("bob", None)]
        with run_smartbook_server(
            workdir / "server",
            "--log-level",
            "WARNING",
            *NO_SOURCE_LIMITS,
            accounts=accounts,
        ) as server:
            call_setup(server, args.calls)
            sipp_rates(server, args.sipp_calls, args.sipp_rates, workdir)


if __name__ == "__main__":
    main()
