"""Launch figures (issue 10): the installed `smartbook` on a pseudo-terminal (120 x 40), as a user's terminal runs it,
from the launch to its first frame on the terminal and to the book painted ("N contacts" in the toolbar), and the
wall time of `smartbook --help` and `smartbook watch --help`.

    .venv/bin/python bench/launch.py [--contacts 10000] [--repeat 10]

The book is a generated one (`bench/make_book.py`), read from the book cache (a first launch, held until the book is
painted and saved, makes it) and, in a second series, with an empty cache. The account is on a closed port of
127.0.0.1: the session starts after the first frame, and nothing answers it. A temporary home keeps the app's consent
answer, log and cache out of the user's.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_book import REGION, make_book

SMARTBOOK = Path(sys.executable).with_name("smartbook")
FIRST_FRAME = b"Contacts"  # the table's title: in the first frame the app writes
TIMEOUT = 30.0  # seconds a launch may take to paint the book


def launch(arguments: list[str], environment: dict[str, str], *, book_shown: bytes, hold: float) -> tuple[float, float]:
    """Seconds from the launch to the first frame and to `book_shown` on the terminal; then `q` quits the app."""
    start = time.monotonic()
    pid, terminal = pty.fork()
    if pid == 0:
        os.execve(arguments[0], arguments, environment)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    written = b""
    first = painted = None
    while painted is None and time.monotonic() - start < TIMEOUT:
        if select.select([terminal], [], [], 0.05)[0]:
            written += os.read(terminal, 1 << 16)
            now = time.monotonic() - start
            if first is None and FIRST_FRAME in written:
                first = now
            if book_shown in written:
                painted = now
    time.sleep(hold)
    os.write(terminal, b"q")
    deadline = time.monotonic() + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        if select.select([terminal], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):  # the app has closed the terminal
                os.read(terminal, 1 << 16)
    os.close(terminal)
    if first is None or painted is None:
        raise RuntimeError("the app painted neither its first frame nor the book in time")
    return first, painted


def help_time(arguments: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([str(SMARTBOOK), *arguments], stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


def summary(name: str, runs: list[float]) -> None:
    print(f"  {name:<36} median {statistics.median(runs) * 1e3:7.0f} ms   best {min(runs) * 1e3:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description="Launch figures of the installed smartbook.")
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartbook-bench-launch-") as directory:
        home = Path(directory)
        cache = home / "cache"
        environment = {**os.environ, "TERM": "xterm-256color"}
        environment |= {f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("CONFIG", "STATE", "DATA", "CACHE")}
        book = home / "book.vcf"
        book.write_text(make_book(args.contacts, seed=1))
        arguments = [str(SMARTBOOK), "--vcard", str(book), "--region", REGION, "--sip-uri", "sip:bench@127.0.0.1"]
        arguments += ["--proxy", "127.0.0.1:9", "--share-book", "--null-audio", "--log-file", str(home / "app.log")]
        shown = f"{args.contacts:,} contacts".encode()
        time.sleep(2.5)  # a file written a moment before it is read is not cached (book_cache.RECENT_NS)
        launch(arguments, environment, book_shown=shown, hold=3.0)  # makes the book cache
        print(f"{args.contacts:,} contacts, {args.repeat} launches each:")
        for name, cached in (("book cached", True), ("book not cached", False)):
            firsts, paints = [], []
            for _ in range(args.repeat):
                if not cached:
                    shutil.rmtree(cache / "smartbook" / "book", ignore_errors=True)
                first, painted = launch(arguments, environment, book_shown=shown, hold=0.3)
                firsts.append(first)
                paints.append(painted)
            summary(f"{name}: first frame", firsts)
            summary(f"{name}: book painted", paints)
        for command in (["--help"], ["watch", "--help"]):
            summary(f"smartbook {' '.join(command)}", [help_time(command) for _ in range(args.repeat)])


if __name__ == "__main__":
    main()
