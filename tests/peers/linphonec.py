"""Run Debian's `linphonec` (liblinphone 5.1) headless against a test SIP server, with a vCard book over HTTP.

linphonec downloads the book at start-up, REGISTERs, PUBLISHes its own presence (PIDF, Expires 600) and about
1 s after start sends one list SUBSCRIBE to sip:rls@127.0.0.1 (RFC 5367, deflated resource-lists body) holding
the book's numbers as sip:+33...@127.0.0.1;user=phone and its IMPP sip: addresses. A whole run takes
`seconds` + ~0.4 s (quit un-SUBSCRIBEs, un-PUBLISHes, un-REGISTERs).
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers import require_binary

# Once `until()` holds, let in-flight transactions finish: quitting before a SUBSCRIBE's 200 OK is handled
# skips the un-SUBSCRIBE.
SETTLE_SECONDS = 0.3
# After `quit`, linphonec un-subscribes, un-publishes and un-registers (~0.4 s); beyond this it is killed.
QUIT_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class LinphonecRun:
    stdout: str  # stdout and stderr, interleaved
    log: str  # the `-d 6 -l FILE` log: full SIP trace
    returncode: int | None  # None when it had to be killed after `quit`


class _VCardHandler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/contacts.vcf":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/vcard; charset=utf-8")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_vcards(vcards: str) -> Iterator[str]:
    """Serve a vCard text at http://127.0.0.1:PORT/contacts.vcf while the block runs; yields that URL."""
    handler = type("Handler", (_VCardHandler,), {"payload": vcards.encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/contacts.vcf"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def linphonerc_text(
    *,
    sip_port: int,
    transport: str,
    vcards_url: str,
    identity: str,
    password: str,
    extra: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A fresh linphonerc: one account at 127.0.0.1:sip_port, publishing, with a vCard book and an RLS URI."""
    if transport not in ("udp", "tcp"):
        raise ValueError(f"transport must be udp or tcp, not {transport!r}")
    user = re.search(r"sips?:([^@;>]+)@", identity)
    if user is None:
        raise ValueError(f"identity needs a user part: {identity!r}")
    username = user.group(1)
    sections: dict[str, dict[str, str]] = {
        "sip": {
            # -1: a random free port of its own; 0: that transport off.
            "sip_port": "-1" if transport == "udp" else "0",
            "sip_tcp_port": "-1" if transport == "tcp" else "0",
            "default_proxy": "0",
            "rls_uri": "sip:rls@127.0.0.1",
            # With the default (1) the list SUBSCRIBE is only sent on the registration edge, and is never sent
            # when the vCard download finishes after it: over UDP it always does. With 0 liblinphone sends it
            # from a timer ~1 s after start, once the book is loaded (tested up to 5,000 cards).
            "subscribe_presence_only_when_registered": "0",
        },
        "proxy_0": {
            "reg_proxy": f"<sip:127.0.0.1:{sip_port};transport={transport}>",
            "reg_identity": identity,
            "reg_expires": "3600",
            "reg_sendregister": "1",
            "publish": "1",
            "publish_expires": "600",
            "dial_prefix": "33",  # national numbers (06 12 ...) become +33 6 12 ...
        },
        "auth_info_0": {"username": username, "passwd": password, "realm": "127.0.0.1", "domain": "127.0.0.1"},
        "misc": {"contacts-vcard-list": vcards_url},
    }
    for section, keys in (extra or {}).items():
        sections.setdefault(section, {}).update(keys)
    lines: list[str] = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key}={value}" for key, value in keys.items()]
        lines.append("")
    return "\n".join(lines)


@contextmanager
def _started(
    workdir: Path,
    *,
    sip_port: int,
    transport: str,
    vcards: str,
    identity: str,
    password: str,
    extra_rc: Mapping[str, Mapping[str, str]] | None,
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """linphonec started with a fresh rc, HOME `workdir` and the book served over HTTP while the block runs;
    yields the process, its stdout file and its log file. The caller ends the process."""
    binary = require_binary("linphonec", "linphone-cli")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
    rc_path, log_path, stdout_path = workdir / "linphonerc", workdir / "linphone.log", workdir / "stdout.txt"
    log_path.unlink(missing_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    env["HOME"] = str(workdir)
    with serve_vcards(vcards) as url:
        # linphonec rewrites its rc file on exit: write a fresh one every run.
        rc_path.write_text(
            linphonerc_text(
                sip_port=sip_port,
                transport=transport,
                vcards_url=url,
                identity=identity,
                password=password,
                extra=extra_rc,
            )
        )
        with stdout_path.open("wb") as stdout:
            process = subprocess.Popen(
                [binary, "-c", str(rc_path), "-d", "6", "-l", str(log_path)],
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
            )
            yield process, stdout_path, log_path


def run_linphonec(
    workdir: Path,
    *,
    sip_port: int,
    transport: str = "tcp",
    vcards: str,
    identity: str = "sip:alice@127.0.0.1",
    password: str = "secret",
    seconds: float = 6.0,
    extra_rc: Mapping[str, Mapping[str, str]] | None = None,
    until: Callable[[], bool] | None = None,
) -> LinphonecRun:
    """Run linphonec for `seconds` (or until `until()` is true), then `quit`; HOME is `workdir`.

    Its account is at the SIP server 127.0.0.1:sip_port. `extra_rc` adds or overrides linphonerc keys
    ({"sip": {"bodyless_lists": "..."}}); `until` is polled every 50 ms, e.g.
    `until=lambda: bool(recorder.requests("SUBSCRIBE"))`.
    """
    launch = {"transport": transport, "vcards": vcards, "identity": identity, "password": password}
    with _started(workdir, sip_port=sip_port, extra_rc=extra_rc, **launch) as (process, stdout_path, log_path):
        returncode = _quit_after(process, seconds, until)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return LinphonecRun(stdout_path.read_text(errors="replace"), log, returncode)


def _quit_after(process: subprocess.Popen[bytes], seconds: float, until: Callable[[], bool] | None) -> int | None:
    """Let it run, send `quit`, and kill it by pid if it does not exit in time. None means it was killed."""
    assert process.stdin is not None
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            if until is not None and until():
                time.sleep(SETTLE_SECONDS)
                break
            time.sleep(0.05)
        if process.poll() is None:
            process.stdin.write(b"quit\n")
            process.stdin.flush()
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        return process.wait(timeout=QUIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    finally:
        if process.poll() is None:  # an exception on the way: never leave it running
            process.kill()
            process.wait()


class LinphonecSession:
    """A running linphonec (see `linphonec_session`): type commands at its prompt and read what it printed."""

    def __init__(self, process: subprocess.Popen[bytes], stdout_path: Path, log_path: Path) -> None:
        self.process = process
        self._stdout_path = stdout_path
        self._log_path = log_path

    @property
    def stdout(self) -> str:
        """Its stdout and stderr so far, interleaved."""
        return self._stdout_path.read_text(errors="replace") if self._stdout_path.exists() else ""

    @property
    def log(self) -> str:
        """Its `-d 6` log so far: the full SIP trace."""
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def command(self, line: str) -> None:
        """Type one command at its prompt (e.g. `friend list`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str = "the condition") -> None:
        """Poll `predicate` every 50 ms until it holds; AssertionError (with the end of its output) after
        `timeout` seconds or when linphonec exits first."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"linphonec exited ({self.process.returncode}) before {what}:\n{self.stdout[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s; linphonec printed:\n{self.stdout[-3000:]}")
            time.sleep(0.05)

    def command_output(self, line: str, timeout: float = 10.0) -> str:
        """Type `line` and return what it printed in answer: everything up to the next prompt."""
        start = len(self.stdout)
        marker = f"__end_of_{time.monotonic_ns()}__"
        self.command(line)
        # An unknown command prints an error naming it, then a prompt: a marker that ends the answer to `line`.
        self.command(marker)
        self.wait_until(lambda: marker in self.stdout[start:], timeout, f"answer to {line!r}")
        return self.stdout[start:].split(marker, 1)[0]


@contextmanager
def linphonec_session(
    workdir: Path,
    *,
    sip_port: int,
    transport: str = "tcp",
    vcards: str,
    identity: str = "sip:alice@127.0.0.1",
    password: str = "secret",
    extra_rc: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[LinphonecSession]:
    """linphonec running while the block runs (as `run_linphonec` starts it, same rc, same HOME), for tests that
    type commands at its prompt; at the end `quit`, and a kill after QUIT_GRACE_SECONDS."""
    launch = {"transport": transport, "vcards": vcards, "identity": identity, "password": password}
    with _started(workdir, sip_port=sip_port, extra_rc=extra_rc, **launch) as (process, stdout_path, log_path):
        try:
            yield LinphonecSession(process, stdout_path, log_path)
        finally:
            _quit_after(process, 0.0, None)


# ---------------------------------------------------------------------------------------------- reading its log

# Each log record starts with a timestamp: "2026-11-27 03:58:33:078 belle-sip-message-...".
_LOG_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}):(\d{3}) ", re.MULTILINE)
_START_LINE = re.compile(r"^(?:SIP/2\.0 \d{3}(?: .*)?|[A-Z]+ \S+ SIP/2\.0)$")


@dataclass(frozen=True)
class LoggedMessage:
    """A SIP message in linphonec's `-d 6` log, as it was sent or received. `body` is the body as logged: for a
    deflated one (`Content-Encoding: deflate`), the inflated text belle-sip logs next to it; a binary body that
    was not inflated is cut ("x... (first N bytes shown)")."""

    at: datetime.datetime
    sent: bool  # True: linphonec sent it; False: it received it
    head: str  # the start line and the headers, "\n"-separated
    body: str
    record: int = 0  # the index of its record in `log_records(log)`

    @property
    def start_line(self) -> str:
        return self.head.split("\n", 1)[0]

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        """The request's method, or for a response the method its CSeq names."""
        if self.is_request:
            return self.start_line.split(" ", 1)[0]
        return (self.header("CSeq") or " ").split()[-1]

    @property
    def status(self) -> int | None:
        return None if self.is_request else int(self.start_line.split()[1])

    def headers(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in order."""
        values = []
        for line in self.head.split("\n")[1:]:
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                values.append(value.strip())
        return values

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None


def log_records(log: str) -> list[tuple[datetime.datetime, str]]:
    """The log's records: (timestamp, text), the text running to the next timestamped line."""
    matches = list(_LOG_STAMP.finditer(log))
    records = []
    for number, match in enumerate(matches):
        end = matches[number + 1].start() if number + 1 < len(matches) else len(log)
        at = datetime.datetime.strptime(f"{match[1]}.{match[2]}", "%Y-%m-%d %H:%M:%S.%f")
        records.append((at, log[match.end() : end]))
    return records


def sip_trace(log: str) -> list[LoggedMessage]:
    """Every SIP message linphonec logged sending or receiving (`-d 6`), in order, with deflated bodies inflated."""
    messages: list[LoggedMessage] = []
    # The text of the body belle-sip last deflated: it logs it when it first sends a message, and sends the same
    # deflated bytes again when it retries the request with credentials.
    compressed: str | None = None
    to_inflate: list[int] = []  # received deflated messages whose inflated body comes in a later record
    for record, (at, text) in enumerate(log_records(log)):
        first, _, payload = text.partition("\n")
        if "Body has been compressed:" in first:
            compressed = payload.strip("\n")
        elif "Body has been uncompressed:" in first:
            if to_inflate:
                index = to_inflate.pop(0)
                messages[index] = dataclasses.replace(messages[index], body=payload.strip("\n"))
        elif "message sent to [" in first or ("received [" in first and "new bytes from [" in first):
            sent = "message sent to [" in first
            for head, body in _split_messages(payload):
                message = LoggedMessage(at, sent, head, body, record)
                if message.header("Content-Encoding") and message.header("Content-Length") not in (None, "0"):
                    if sent and compressed is not None:
                        message = dataclasses.replace(message, body=compressed)
                    elif not sent:
                        to_inflate.append(len(messages))
                messages.append(message)
    return messages


def _split_messages(payload: str) -> list[tuple[str, str]]:
    """The SIP messages of one sent or received record: (head, body) pairs."""
    lines = payload.split("\n")
    starts = [number for number, line in enumerate(lines) if _START_LINE.match(line)]
    found = []
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        chunk = "\n".join(lines[start:end]).strip("\n")
        head, _, body = chunk.partition("\n\n")
        found.append((head, body.strip("\n")))
    return found
