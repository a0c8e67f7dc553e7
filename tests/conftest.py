"""Shared fixtures: an in-process app for API tests, and a live server on a random port for the real clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.services.accounts import create_user
from tests.seaweed import SeaweedS3

ADMIN_PASSWORD = "admin-password-123"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data=tmp_path / "data", admin_password=ADMIN_PASSWORD, base_url="http://testserver")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.data.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.sqlalchemy_url)
    database = Database(settings.sqlalchemy_url)
    yield database
    database.dispose()


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_user(db: Database):
    def make(login: str, password: str = "password-123", **kw):
        return create_user(db, login, password, **kw)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    data: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the `packyard` admin command against this server's data folder."""
        return subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", *args],
            env=self.env,
            text=True,
            capture_output=True,
            check=check,
            timeout=60,
        )

    def create_user(self, login: str, password: str = "password-123") -> None:
        self.cli("user", "create", login, "--password", password)

    def stop(self) -> None:
        """SIGTERM (the server's clean shutdown), then SIGKILL if it is not gone in 10 s; stopping twice is fine."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    data = tmp / "data"
    env = {
        **os.environ,
        "PACKYARD_DATA": str(data),
        "PACKYARD_PORT": str(port),
        "PACKYARD_HOST": "127.0.0.1",
        "PACKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    log = tmp / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "packyard.cli.main", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return LiveServer(url=url, data=data, env=env, process=process, log=log)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The maintenance URL of a PostgreSQL server: $PACKYARD_TEST_POSTGRES_URL, or a throwaway cluster."""
    import contextlib

    from tests import postgres

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres.server_url())
        except postgres.PostgresUnavailable as exc:
            problem = str(exc)
        else:
            problem = None
        if problem is not None:
            pytest.fail(problem, pytrace=False)  # never a skip: these tests must run everywhere
        yield url


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    from tests import postgres

    with postgres.database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """A SeaweedFS S3 server for the session (tests/seaweed.py): `env()` gives the AWS_* variables, `new_bucket()`
    a bucket of one's own."""
    from tests import seaweed as sw

    try:
        server = sw.SeaweedS3.start()
    except sw.SeaweedUnavailable as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # never a skip: these tests must run everywhere
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS_* variables of the test S3 server, set in this process for the test (boto3 reads them)."""
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    return seaweed.env()
