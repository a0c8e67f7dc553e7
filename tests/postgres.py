"""A real PostgreSQL for tests, with no manual setup.

`PACKYARD_TEST_POSTGRES_URL` (any SQLAlchemy URL of a server whose database we may create databases from) is used
when set. Otherwise `Cluster.start()` makes a throwaway cluster from Debian's `postgresql` package: initdb into
a folder under /tmp, a free port on 127.0.0.1, the unix socket in that folder, trust authentication, durability
off (it is thrown away). PostgreSQL refuses to run as root, so as root its programs run as the `postgres` user.
Each test then gets a database of its own (`create_database`), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    import psycopg

ENV_URL = "PACKYARD_TEST_POSTGRES_URL"
INSTALL_HINT = (
    "PostgreSQL is needed for the tests marked `postgres` and none was found: install Debian's `postgresql` "
    "package (apt-get install postgresql; .ci/run does it), or point PACKYARD_TEST_POSTGRES_URL at a server, "
    "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/VERSION/bin holding initdb, pg_ctl and postgres."""
    candidates = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            version = bin_dir.parent.name
            candidates.append((int(version) if version.isdigit() else 0, bin_dir))
    return max(candidates)[1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster; `url` is its maintenance database `postgres`."""

    bin_dir: Path
    root: Path
    port: int
    as_user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        return subprocess.run(
            [*prefix, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )

    @classmethod
    def start(cls) -> Cluster:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(INSTALL_HINT)
        as_user = None
        owner = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, PostgreSQL must run as another user, and there is no `postgres` user; "
                    + INSTALL_HINT
                ) from None
            as_user = "postgres"
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        root = Path(tempfile.mkdtemp(prefix="packyard-pg-", dir="/tmp"))
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = cls(bin_dir=bin_dir, root=root, port=0, as_user=as_user)
        try:
            cluster._initdb()
            cluster._start_server()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _initdb(self) -> None:
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _start_server(self) -> None:
        last = ""
        for _attempt in range(5):  # another process may take the free port before the server binds it
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={self.root}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            done = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                return
            last = f"{done.stdout}\n{done.stderr}\n{self.log.read_text() if self.log.exists() else ''}"
            time.sleep(0.2)
        raise PostgresUnavailable(f"PostgreSQL did not start:\n{last}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """The maintenance URL of the server tests use: $PACKYARD_TEST_POSTGRES_URL, or a throwaway cluster."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield configured
        return
    cluster = Cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _connect(url: URL) -> psycopg.Connection:
    import psycopg  # only the postgres tests need it

    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,  # CREATE/DROP DATABASE cannot run in a transaction
    )


@contextlib.contextmanager
def database(server: str) -> Iterator[str]:
    """A fresh, empty database on `server` for one test; its URL uses the psycopg driver."""
    url = make_url(server)
    name = f"packyard_test_{secrets.token_hex(6)}"
    with _connect(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with _connect(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
