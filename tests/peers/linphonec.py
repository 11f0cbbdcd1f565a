"""Run Debian's `linphonec` (liblinphone 5.1) headless against a test SIP server, with a vCard book over HTTP.

linphonec downloads the book at start-up, REGISTERs, PUBLISHes its own presence (PIDF, Expires 600) and about
1 s after start sends one list SUBSCRIBE to sip:rls@127.0.0.1 (RFC 5367, deflated resource-lists body) holding
the book's numbers as sip:+33...@127.0.0.1;user=phone and its IMPP sip: addresses. A whole run takes
`seconds` + ~0.4 s (quit un-SUBSCRIBEs, un-PUBLISHes, un-REGISTERs).
"""

from __future__ import annotations

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
