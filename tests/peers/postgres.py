"""A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory and `pg_ctl start` on a free
port of 127.0.0.1, its socket directory in the same temporary directory, once per test session; each test gets a
schema of its own (`new_schema`, a few milliseconds) or a database (`new_database`, ~0.2 s), dropped at its end.

The binaries are Debian's (`/usr/lib/postgresql/VERSION/bin`, the newest version there) or on PATH. As root,
`initdb` refuses to run: the cluster then runs as the `postgres` user, in directories it owns. Connections over
TCP need the password (`PASSWORD`), so that the tests can give a wrong one; the fixtures connect over the socket.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

from smartbook_tui.cluster_up.postgres import postgres_bin
from tests.peers import running_under_ci
from tests.peers.radicale import free_port

USER = "smartbook"
PASSWORD = "pg secret 7"
SCHEMAS = "schemas"  # the database of the tests' schemas
_SERVICE_USER = "postgres"  # Debian's package makes it


def require_postgres() -> Path:
    """The binaries' directory, or skip the test (fail it under CI=true) when PostgreSQL is missing."""
    found = postgres_bin()
    if found is not None:
        return found
    reason = "PostgreSQL is not installed (Debian package postgresql; `make test-deps` installs it as root)"
    if running_under_ci():
        pytest.fail(f"{reason}; CI=true requires every real peer")
    pytest.skip(reason)


@dataclass
class PostgresCluster:
    bin: Path
    directory: Path
    port: int
    run_as: str | None  # the user the server runs as, when the tests run as root
    _numbers = count(1)

    @property
    def socket_dir(self) -> Path:
        return self.directory / "socket"

    def _run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{command[0]} failed: {done.stdout}{done.stderr}"
        return done

    def start(self) -> None:
        data = self.directory / "data"
        password_file = self.directory / "password"
        password_file.write_text(PASSWORD + "\n")
        self.socket_dir.mkdir()
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            for path in (self.directory, self.socket_dir, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            [
                str(self.bin / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                USER,
                "--pwfile",
                str(password_file),
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--no-sync",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
            ]
        )
        self.run_server()
        self.admin(f"CREATE DATABASE {SCHEMAS}")

    def run_server(self) -> None:
        """Start the cluster's server (again, after `stop`), on the same port and socket directory."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "start",
                "--wait",
                "--pgdata",
                str(self.directory / "data"),
                "--log",
                str(self.directory / "log"),
                "--options",
                options,
            ]
        )

    def stop(self) -> None:
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "stop",
                "--wait",
                "--mode",
                "immediate",
                "--pgdata",
                str(self.directory / "data"),
            ]
        )

    def socket_url(self, database: str) -> str:
        """The URL of `database` over the socket (no password needed)."""
        return f"postgresql://{USER}@/{database}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, database: str, password: str = PASSWORD) -> str:
        """The URL of `database` over TCP on 127.0.0.1, with `password`."""
        return f"postgresql://{USER}:{password.replace(' ', '%20')}@127.0.0.1:{self.port}/{database}"

    def admin(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.socket_url(database), autocommit=True) as connection:
            connection.execute(statement)

    def new_database(self) -> str:
        """A new empty database's name."""
        name = f"test_{next(self._numbers)}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def new_schema(self) -> str:
        """A new empty schema's name, in the database `SCHEMAS` (quicker to make than a database)."""
        name = f"test_{next(self._numbers)}"
        self.admin(f"CREATE SCHEMA {name}", SCHEMAS)
        return name

    def schema_url(self, name: str) -> str:
        """The URL of the schema `name` over the socket: its tables are made and found there (search_path)."""
        return f"{self.socket_url(SCHEMAS)}&options=-csearch_path%3D{name}"

    def drop_schema(self, name: str) -> None:
        self.admin(f"DROP SCHEMA {name} CASCADE", SCHEMAS)


def start_cluster() -> PostgresCluster:
    """A started cluster (skips or fails the test when PostgreSQL is missing)."""
    binaries = require_postgres()
    run_as = _SERVICE_USER if os.geteuid() == 0 else None
    if run_as is not None:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            pytest.fail(f"running as root, PostgreSQL needs the user {run_as} to run as, which does not exist")
    cluster = PostgresCluster(binaries, Path(tempfile.mkdtemp(prefix="smartbook-pg-")), free_port(), run_as)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(cluster.directory, ignore_errors=True)
        raise
    return cluster


_shared: list[PostgresCluster] = []


def shared_cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    """The session's cluster, started on first use and stopped when the session ends."""
    if not _shared:
        cluster = start_cluster()
        _shared.append(cluster)

        def stop() -> None:
            cluster.stop()
            shutil.rmtree(cluster.directory, ignore_errors=True)
            _shared.clear()

        request.session.config.add_cleanup(stop)
    return _shared[0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer("postgresql"))])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's store lives, once for each backend: a SQLite file's path, or the URL of a new PostgreSQL
    schema (dropped at the end of the test)."""
    if request.param == "sqlite":
        yield str(tmp_path / "data" / "smartbook" / "server.sqlite3")
        return
    cluster = shared_cluster(request)
    name = cluster.new_schema()
    yield cluster.schema_url(name)
    cluster.drop_schema(name)
