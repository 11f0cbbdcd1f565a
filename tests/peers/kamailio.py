"""Run a real Kamailio 5.6 (Debian `kamailio` + `kamailio-presence-modules`) on 127.0.0.1 for the tests.

It is a registrar, a presence server and a resource list server (RLS, RFC 4662) with digest authentication,
configured from `kamailio.cfg.template` next to this file (routing described at the top of the template):

    with run_kamailio(tmp_path, users={"alice": "pw-a", "bob": "pw-b"},
                      lists={"alice": {"buddies": ["sip:bob@127.0.0.1", "sip:erin@127.0.0.1"]}}) as kamailio:
        kamailio.port, kamailio.domain       # 127.0.0.1, UDP and TCP on the same port
        kamailio.list_uri("alice", "buddies")  # "sip:buddies@127.0.0.1"

Facts that shaped it (wire-notes section 3):
* Its database is db_text (a directory of text tables, made fresh per run; Kamailio writes them back on exit):
  the rls module segfaults with db_sqlite.
* A server-stored list is an `rls-services` document (doc_type 8) in the `xcap` table under the *watcher's*
  user and domain; Kamailio reads only the first such row, so every list of a watcher is one `<service>` of a
  single document. It matches the SUBSCRIBE's Request-URI to a `<service uri>` on user and host only (the port
  and parameters of both are ignored), and names the list `sip:user@host` in its RLMI documents.
* A wrong password gets a fresh challenge (401/407 again), like Kamailio's stock configuration; no 403.
* `tuned=True` (for the benches) runs it as an operator would for load: 4 UDP and 4 TCP children, 2 GB of shared
  memory (`-m 2048`), a 4 MB UDP receive buffer, and db_text rows of up to 1 MB (a 1,000-entry list's document);
  the tests keep the defaults (2 children, Kamailio's own memory, buffer and row size).
* It starts in ~0.12 s (config check included); SIGTERM to the main pid stops it and its children in ~10 ms.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from smartbook_tui.cluster_up.kamailio import answers_options
from tests.peers import require_binary, running_under_ci

DOMAIN = "127.0.0.1"
TEMPLATE = Path(__file__).with_name("kamailio.cfg.template")
DBTEXT_TEMPLATES = Path("/usr/share/kamailio/dbtext/kamailio")
# The tables the configuration touches: auth_db (subscriber), presence (presentity, active_watchers, watchers),
# presence_xml and rls (xcap), pua (pua), rls (rls_presentity, rls_watchers), and db_text's `version` of them.
TABLES = (
    "version",
    "subscriber",
    "presentity",
    "active_watchers",
    "watchers",
    "xcap",
    "pua",
    "rls_presentity",
    "rls_watchers",
)
XCAP_DOC_TYPE_RLS_SERVICES = 8
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
NS_RLS_SERVICES = "urn:ietf:params:xml:ns:rls-services"
NS_RESOURCE_LISTS = "urn:ietf:params:xml:ns:resource-lists"
DEFAULT_CHILDREN = 2
DEFAULT_UDP_BUFFER = 256 * 1024  # Kamailio's own `maxbuffer`
TUNED_CHILDREN = 4
TUNED_UDP_BUFFER = 4 * 1024 * 1024
TUNED_SHARED_MEMORY_MB = 2048
DEFAULT_DBTEXT_BUFFER = 4096  # db_text's own file_buffer_size: the longest row it reads
TUNED_DBTEXT_BUFFER = 1024 * 1024


def require_presence_modules() -> None:
    """Skip the test (fail it under CI=true) when the rls/presence modules (kamailio-presence-modules) are missing."""
    if any(Path("/usr/lib").glob("*/kamailio/modules/rls.so")) or Path("/usr/lib/kamailio/modules/rls.so").exists():
        return
    reason = "Kamailio's presence modules are not installed (Debian package kamailio-presence-modules)"
    if running_under_ci():
        pytest.fail(f"{reason}; CI=true requires every real peer")
    pytest.skip(reason)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (Kamailio listens with both on one port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((DOMAIN, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((DOMAIN, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def dbtext_escape(value: str) -> str:
    """A db_text field: `:` separates fields, so it and backslash, newline, CR, tab and NUL are escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(":", "\\:")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\0", "\\0")
    )


def dbtext_row(*fields: str | int) -> str:
    return ":".join(dbtext_escape(str(value)) for value in fields) + "\n"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _service_user(service: str) -> str:
    """The user part of a list's service URI, or the bare name itself ("buddies" or "sip:buddies@host:port")."""
    if ":" not in service and "@" not in service:
        return service
    rest = service.split(":", 1)[1] if service.lower().startswith(("sip:", "sips:")) else service
    return rest.split("@", 1)[0]


def rls_services_document(lists: Mapping[str, list[str]], domain: str = DOMAIN) -> str:
    """One RFC 4826 rls-services document holding every list of one watcher (list name -> entry URIs)."""
    services = []
    for service, entries in lists.items():
        uri = f"sip:{_service_user(service)}@{domain}"
        items = "".join(f"<rl:entry uri={quoteattr(entry)}/>" for entry in entries)
        services.append(
            f"<service uri={quoteattr(uri)}><list>{items}</list><packages><package>presence</package></packages>"
            "</service>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<rls-services xmlns="{NS_RLS_SERVICES}" xmlns:rl="{NS_RESOURCE_LISTS}">{"".join(services)}</rls-services>'
    )


@dataclass
class Kamailio:
    """One Kamailio process with its rendered configuration and its own db_text directory under `workdir`."""

    workdir: Path
    users: Mapping[str, str]
    lists: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)
    log_level: int = 2  # Kamailio's `debug`: 2 info, 3 debug (very verbose)
    domain: str = DOMAIN
    port: int = field(default_factory=free_port)
    tuned: bool = False  # 4 children each for UDP and TCP, `-m 2048`, a 4 MB UDP receive buffer, 1 MB db_text rows
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.db_dir = self.workdir / "db"
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"

    # ------------------------------------------------------------------------------------------- addresses

    @property
    def proxy(self) -> str:
        """Where clients send their requests: sip:127.0.0.1:PORT."""
        return f"sip:{self.domain}:{self.port}"

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    def list_uri(self, watcher: str, name: str, *, with_port: bool = False) -> str:
        """The service URI of a watcher's stored list: sip:name@127.0.0.1, the form Kamailio's RLMI `uri` uses.

        Kamailio ignores the port when it matches a Request-URI to the list, so `with_port=True` gives the same
        list as a URI a client can send to directly (sip:name@127.0.0.1:PORT).
        """
        names = {_service_user(service) for service in self.lists.get(watcher, {})}
        if name not in names:
            raise KeyError(f"{watcher} has no list {name!r} (lists: {sorted(names)})")
        port = f":{self.port}" if with_port else ""
        return f"sip:{name}@{self.domain}{port}"

    # -------------------------------------------------------------------------------- configuration, data

    def render_config(self) -> str:
        values = {
            "DOMAIN": self.domain,
            "PORT": str(self.port),
            "DB_URL": f"text://{self.db_dir}",
            "LOG_LEVEL": str(self.log_level),
            "AUTH_SECRET": secrets.token_hex(16),
            "CHILDREN": str(TUNED_CHILDREN if self.tuned else DEFAULT_CHILDREN),
            "UDP_BUFFER": str(TUNED_UDP_BUFFER if self.tuned else DEFAULT_UDP_BUFFER),
            "DBTEXT_BUFFER": str(TUNED_DBTEXT_BUFFER if self.tuned else DEFAULT_DBTEXT_BUFFER),
        }
        text = TEMPLATE.read_text()
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        if left := re.findall(r"\{\{[A-Z_]+\}\}", text):
            raise ValueError(f"unrendered placeholders {left} in {TEMPLATE.name}")
        return text

    def write_database(self) -> None:
        """A fresh db_text directory: the table templates, the subscribers and one rls-services doc per watcher."""
        if self.db_dir.exists():
            shutil.rmtree(self.db_dir)
        self.db_dir.mkdir(parents=True)
        for table in TABLES:
            shutil.copyfile(DBTEXT_TEMPLATES / table, self.db_dir / table)
        # subscriber: id username domain password ha1 ha1b. calculate_ha1=yes reads `password`; ha1 and ha1b
        # are NOT NULL in db_text, so they hold the real digests anyway.
        with (self.db_dir / "subscriber").open("a") as table:
            for number, (user, password) in enumerate(self.users.items(), start=1):
                ha1 = _md5(f"{user}:{self.domain}:{password}")
                ha1b = _md5(f"{user}@{self.domain}:{self.domain}:{password}")
                table.write(dbtext_row(number, user, self.domain, password, ha1, ha1b))
        # xcap: id username domain doc doc_type etag source doc_uri port
        with (self.db_dir / "xcap").open("a") as table:
            for number, (watcher, lists) in enumerate(self.lists.items(), start=1):
                document = rls_services_document(lists, self.domain)
                doc_uri = f"/xcap-root/rls-services/users/{self.aor(watcher)}/index"
                etag = _md5(document)[:16]
                table.write(
                    dbtext_row(number, watcher, self.domain, document, XCAP_DOC_TYPE_RLS_SERVICES, etag, 0, doc_uri, 0)
                )

    # ---------------------------------------------------------------------------------------------- process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log(self) -> str:
        """Everything Kamailio wrote (stderr and stdout, `-E`)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        """Render the config, check it (`kamailio -c`), make a fresh database, start it and wait until it answers."""
        if self.running:
            return
        binary = require_binary("kamailio", "kamailio")
        require_presence_modules()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(self.render_config())
        self.write_database()
        check = subprocess.run(
            [binary, "-c", "-f", str(self.cfg_path)], capture_output=True, text=True, cwd=self.workdir, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio -c rejected {self.cfg_path}:\n{check.stdout}{check.stderr}")
        memory = ["-m", str(TUNED_SHARED_MEMORY_MB)] if self.tuned else []
        command = [binary, "-f", str(self.cfg_path), *memory]
        self._process = spawn(command, self.workdir, self.log_path, (self.domain, self.port))

    def stop(self) -> None:
        """SIGTERM to the main pid (it stops its children and writes the tables back); SIGKILL the group if needed."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def spawn(command: list[str], workdir: Path, log_path: Path, address: tuple[str, int]) -> subprocess.Popen[bytes]:
    """Kamailio run as `command` in the foreground, logging to `log_path`, once it answers an OPTIONS at `address`;
    RuntimeError with the end of its log when it exits or stays silent for START_TIMEOUT (it is stopped then)."""
    with log_path.open("ab") as log:
        # Its own session: if the main process ever dies without taking its children along, the group can still
        # be killed (it holds only processes started here).
        process = subprocess.Popen(
            [*command, "-DD", "-E"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            written = log_path.read_text(errors="replace")
            raise RuntimeError(f"kamailio exited with {process.returncode} at start-up:\n{written[-4000:]}")
        if answers_options(address, wait=0.05):
            return process
        time.sleep(0.01)  # (a refused port answers at once)
    stop_process(process)
    raise RuntimeError(f"kamailio did not answer OPTIONS on {address[0]}:{address[1]} within {START_TIMEOUT} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to Kamailio's main pid (it stops its children and writes its tables back); SIGKILL to its group if
    it does not stop, or died on its own (a crash: its children may have outlived it, in the group started for
    it)."""
    if process.poll() is not None:
        _kill_group(process.pid)
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@contextmanager
def run_kamailio(
    workdir: Path,
    *,
    users: Mapping[str, str],
    lists: Mapping[str, Mapping[str, list[str]]] | None = None,
    log_level: int = 2,
) -> Iterator[Kamailio]:
    """A started Kamailio (registrar + presence + RLS, digest auth) for the block; stopped by pid afterwards.

    `users` maps user names to passwords (all in domain 127.0.0.1). `lists` maps a watcher to its server-stored
    lists: {"alice": {"buddies": ["sip:bob@127.0.0.1", ...]}}; a list's key is its name or its service URI
    (sip:buddies@127.0.0.1[:PORT], only the user part counts). `kamailio.list_uri("alice", "buddies")` is the URI
    to SUBSCRIBE to (with `Supported: eventlist`), as alice.
    """
    kamailio = Kamailio(Path(workdir), users, lists or {}, log_level=log_level)
    try:
        kamailio.start()
        yield kamailio
    finally:
        kamailio.stop()
