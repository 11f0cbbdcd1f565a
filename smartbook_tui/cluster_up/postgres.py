"""PostgreSQL (Debian `postgresql`), the nodes' accounts: a fresh cluster made with `initdb` and run in the
foreground, reached over its Unix socket only (no TCP port: nobody else on the machine can reach it), with one
database `smartbook` whose owner signs in without a password on that socket.

Its data and socket live in a short temporary directory of their own, removed when it stops: a socket's path has
at most 107 bytes, and when `smartbook cluster up` runs as root, PostgreSQL runs as the `postgres` user (it refuses
to run as root), who must own the directory and may not be able to reach the cluster's own one. Its log goes
to the cluster's directory all the same (written through the process's standard error).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .parts import ClusterError, Part, find_binary, run_step, start, wait_until

NAME = "PostgreSQL"
USER = "smartbook"  # the superuser initdb makes, who owns the database
DATABASE = "smartbook"
PORT = 5432  # names the socket only: nothing listens on TCP
SERVICE_USER = "postgres"  # Debian's package makes it
_DEBIAN_ROOT = Path("/usr/lib/postgresql")


@dataclass
class Postgres:
    part: Part
    home: Path  # its data and socket directory

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@/{DATABASE}?host={self.home}&port={PORT}"

    def stop(self) -> None:
        self.part.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def postgres_bin() -> Path | None:
    """The directory of initdb and postgres: the newest of Debian's versions, else where PATH has initdb."""
    versions = sorted(
        (path for path in _DEBIAN_ROOT.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)],
    )
    if versions:
        return versions[-1]
    initdb = find_binary("initdb")
    return Path(initdb).parent if initdb else None


def start_postgres(binaries: Path, log_file: Path) -> Postgres:
    """A fresh cluster started, answering, with its empty database; stopped and removed by `Postgres.stop`."""
    run_as = _service_user()
    home = Path(tempfile.mkdtemp(prefix="smartbook-pg-"))
    try:
        if run_as is not None:
            os.chown(home, run_as.pw_uid, run_as.pw_gid)
        user = run_as.pw_name if run_as is not None else None
        data = home / "data"
        initdb = [str(binaries / "initdb"), "--pgdata", str(data), "--username", USER, "--auth-local", "trust"]
        initdb += ["--auth-host", "reject", "--no-sync", "--encoding", "UTF8", "--locale", "C"]
        run_step(NAME, initdb, log_file, user=user)
        server = [str(binaries / "postgres"), "-D", str(data), "-c", "listen_addresses=", "-c", f"port={PORT}"]
        server += ["-c", f"unix_socket_directories={home}", "-c", "fsync=off", "-c", "synchronous_commit=off"]
        # SIGINT: the fast shutdown (SIGTERM would wait for every client to leave).
        postgres = Postgres(start(NAME, server, log_file, user=user, stop_signal=signal.SIGINT), home)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    try:
        wait_until(postgres.part, lambda: _accepts_connections(binaries, home))
        run_step(
            NAME,
            [str(binaries / "createdb"), "--host", str(home), "--port", str(PORT), "--username", USER, DATABASE],
            log_file,
        )
    except BaseException:
        postgres.stop()
        raise
    return postgres


def _service_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when this process is root (None: this process's own user)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise ClusterError(
            f"{NAME} cannot run as root and the user {SERVICE_USER} it would run as does not exist "
            "(the Debian package postgresql makes it)"
        ) from None


def _accepts_connections(binaries: Path, home: Path) -> bool:
    command = [str(binaries / "pg_isready"), "--quiet", "--host", str(home), "--port", str(PORT)]
    return subprocess.run(command, check=False, timeout=10).returncode == 0  # noqa: S603 (fixed arguments)
