"""`smartbook demo`'s own process: the backend started as a child (`smartbook_tui.demo.backend`), then the app in
the foreground as the demo's account on the fixtures book; when the app quits, for whatever reason, the backend is
stopped and every file the demo wrote is removed.

The app shows each SMS the backend's console gateway writes to its outbox as a notification (the outbox is named
to it in $SMARTBOOK_SMS_OUTBOX), and its Assistant uses the backend's account API.

The backend runs in a session of its own, so that the Ctrl-C typed in the app's terminal reaches the app alone; its
output goes to a log file, never to the terminal the app draws on. The app gets settings, data and cache
directories of its own in the demo's temporary directory: the user's settings, consent answers and data are never
read or written.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from smartbook_tui.assistant.outbox import OUTBOX_VARIABLE
from smartbook_tui.interrupts import interrupted_by_term_and_hangup

from .cast import load_cast

__all__ = ["DEFAULT_BOOK", "DEFAULT_CAST", "Backend", "DemoError", "DemoOptions", "backend_running", "run_demo"]

_CHECKOUT = Path(__file__).resolve().parents[2]  # the source tree the package runs from (make demo's editable one)
DEFAULT_CAST = _CHECKOUT / "fixtures" / "demo" / "cast.toml"
DEFAULT_BOOK = _CHECKOUT / "fixtures" / "contacts"
REGION = "FR"  # the fixtures book is a French one
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


class DemoError(Exception):
    """The demo cannot run; one line saying why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    cast: Path = DEFAULT_CAST
    book: Path = DEFAULT_BOOK
    period: float | None = None  # seconds between two statuses of a demo user (None: the backend's default)
    join_after: float | None = None  # seconds before the joining user gets their number (None: the default)
    call_after: float | None = None  # seconds before a demo user calls the demo's account (None: the default)
    backend_only: bool = False
    ready_file: Path | None = None  # backend only: where to copy what the backend's ready file says


@dataclass(frozen=True, slots=True)
class Backend:
    """The running backend, as its ready file describes it."""

    sip: str  # HOST:PORT, UDP and TCP
    domain: str
    account: str  # the SIP URI the app opens as
    password_file: Path
    account_api: str  # the account API's URL
    sms_outbox: Path  # where the console SMS gateway writes each SMS
    log_file: Path
    process: subprocess.Popen[bytes]
    ready: dict[str, object]  # the ready file as written


def run_demo(options: DemoOptions, app: Callable[[Sequence[str]], int]) -> int:
    """Run the demo; `app` is the `smartbook` command line's entry, given the app's arguments. The exit status of
    the app (or, with `backend_only`, 0 after Ctrl-C). Raises DemoError when the backend cannot start, CastError
    for a cast file it cannot use."""
    for path, what in ((options.cast, "cast"), (options.book, "book")):
        if not path.exists():
            raise DemoError(
                f"the demo's {what} {path} is missing: run the demo from a smartbook source tree (make demo), "
                f"or give --{what}"
            )
    load_cast(options.cast)  # a mistake in it is told here, in one line, rather than in the backend's log
    with interrupted_by_term_and_hangup(), tempfile.TemporaryDirectory(prefix="smartbook-demo-") as temporary:
        workdir = Path(temporary)
        with backend_running(workdir, options) as backend:
            if options.backend_only:
                return _serve(backend, options)
            with _private_directories(workdir), _environment(OUTBOX_VARIABLE, str(backend.sms_outbox)):
                status = app(app_arguments(backend, workdir, options.book))
            if backend.process.poll() is not None:
                print(f"smartbook demo: the demo's server stopped early, {_ended(backend)}", file=sys.stderr)
            return status


def app_arguments(backend: Backend, workdir: Path, book: Path) -> list[str]:
    settings = _xdg_home(workdir, "XDG_CONFIG_HOME") / "smartbook" / "config.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.touch()
    return [
        "--config",
        str(settings),
        "--sip-uri",
        backend.account,
        "--password-file",
        str(backend.password_file),
        "--proxy",
        backend.sip,
        "--transport",
        "tcp",
        "--vcard",
        str(book),
        "--region",
        REGION,
        "--share-book",
        "--null-audio",
        "--log-file",
        str(workdir / "smartbook.log"),
        "--account-api",
        backend.account_api,
    ]


@contextmanager
def backend_running(workdir: Path, options: DemoOptions) -> Iterator[Backend]:
    """The backend process, started in `workdir` and stopped (SIGTERM, then SIGKILL) when the block ends."""
    state = workdir / "backend"
    state.mkdir(mode=0o700)
    ready_file = workdir / "backend.json"
    log_file = workdir / "backend.log"
    command = [
        sys.executable,
        "-m",
        "smartbook_tui.demo.backend",
        "--cast",
        str(options.cast),
        "--dir",
        str(state),
        "--ready-file",
        str(ready_file),
    ]
    if options.period is not None:
        command += ["--period", str(options.period)]
    if options.join_after is not None:
        command += ["--join-after", str(options.join_after)]
    if options.call_after is not None:
        command += ["--call-after", str(options.call_after)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        yield _wait_ready(process, ready_file, log_file)
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], ready_file: Path, log_file: Path) -> Backend:
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready_file.exists():
        if process.poll() is not None:
            raise DemoError(f"the demo's server did not start: {_last_line(log_file)}")
        if time.monotonic() > deadline:
            raise DemoError(f"the demo's server did not start within {READY_TIMEOUT:g} s: {_last_line(log_file)}")
        time.sleep(0.05)
    ready = json.loads(ready_file.read_text(encoding="utf-8"))
    return Backend(
        sip=ready["sip"],
        domain=ready["domain"],
        account=ready["account"],
        password_file=Path(ready["password_file"]),
        account_api=ready["account_api"],
        sms_outbox=Path(ready["sms_outbox"]),
        log_file=log_file,
        process=process,
        ready=ready,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(backend: Backend, options: DemoOptions) -> int:
    """Say how to connect, then wait for Ctrl-C (or the backend's end)."""
    if options.ready_file is not None:
        options.ready_file.write_text(json.dumps(backend.ready | {"log_file": str(backend.log_file)}))
    account = [
        "--sip-uri",
        backend.account,
        "--proxy",
        backend.sip,
        "--password-file",
        str(backend.password_file),
        "--vcard",
        str(options.book),
        "--region",
        REGION,
    ]
    api = ["--account-api", backend.account_api]
    print(
        f"The demo's server listens on {backend.sip} for {backend.domain}; its log: {backend.log_file}\n"
        f"Its account API: {backend.account_api}; the SMS it sends are written to {backend.sms_outbox}\n"
        f"Watch the book's presence as {backend.account}:\n"
        f"  {shlex.join(['smartbook', 'watch', *account])}\n"
        f"or open the app:\n"
        f"  {shlex.join(['smartbook', *account, '--transport', 'tcp', '--share-book', '--null-audio', *api])}\n"
        "Ctrl-C stops the demo and removes its files.",
        flush=True,
    )
    try:
        backend.process.wait()
    except KeyboardInterrupt:
        return 0
    print(f"smartbook demo: the demo's server stopped, {_ended(backend)}", file=sys.stderr)
    return 1


@contextmanager
def _private_directories(workdir: Path) -> Iterator[None]:
    """Point the XDG directories (settings, consent answers, data, cache) into `workdir` while the app runs."""
    saved = {name: os.environ.get(name) for name in _XDG}
    try:
        for name in _XDG:
            os.environ[name] = str(_xdg_home(workdir, name))
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _xdg_home(workdir: Path, variable: str) -> Path:
    return workdir / variable.lower()


def _ended(backend: Backend) -> str:
    """How the backend ended, and the last line of its log."""
    status = backend.process.returncode
    how = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
    return f"{how}; its last words: {_last_line(backend.log_file)}"


def _last_line(log_file: Path) -> str:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "it wrote nothing"
