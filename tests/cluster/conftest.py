"""Two real `packyard serve` processes on one PostgreSQL and one blob store, behind a real nginx.

Every test runs twice, once per shared blob store (`BLOB_STORES`): one `PACKYARD_DATA` folder, and one bucket of
the suite's SeaweedFS. The nodes share `PACKYARD_SECRET_KEY`, trust nginx (`PACKYARD_TRUSTED_PROXIES=127.0.0.1`) and build
their URLs from nginx's (`PACKYARD_BASE_URL`), as docs/operations.md ("Production layout: several nodes") says.
The schema is migrated once (`packyard migrate`), then both nodes start at the same moment.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, free_port
from tests.nginx import Nginx

BLOB_STORES = ("local", "s3")
"""The blob stores the nodes share, each a run of every test here: `local`, one data folder (a shared mount);
`s3`, one bucket of the suite's SeaweedFS (the production layout of docs/operations.md)."""
JOBS_INTERVAL = 1.0
"""PACKYARD_JOBS_INTERVAL_SECONDS of the nodes: short, so the cluster-once test sees several intervals."""


def blob_env(kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that points every node at one blob store of `kind`."""
    if kind == "local":
        return {}  # the shared PACKYARD_DATA holds blobs/
    if kind == "s3":
        seaweed = request.getfixturevalue("seaweed")
        return {**seaweed.env(), "PACKYARD_BLOB_URL": f"s3://{seaweed.new_bucket()}/cluster"}
    raise RuntimeError(f"no such blob store in tests/cluster: {kind!r} (one of {', '.join(BLOB_STORES)})")


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def launch(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "packyard.cli.main", "serve"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"node {self.name} did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Cluster:
    a: Node
    b: Node
    nginx: Nginx
    env: dict[str, str]
    data: Path
    database_url: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def api(self) -> str:
        return f"{self.nginx.url}/api"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The `packyard` command with the nodes' settings (any host of the cluster could run it)."""
        return subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", *args],
            env=self.env,
            text=True,
            capture_output=True,
            check=check,
            timeout=120,
        )

    @cached_property
    def admin_token(self) -> str:
        return self.token()

    def create_user(self, login: str, password: str, node: Node | None = None) -> None:
        """Through the admin REST API (a `packyard user create` subprocess costs seconds of imports)."""
        created = httpx.post(
            f"{(node or self.a).api}/admin/users",
            headers={"Authorization": f"token {self.admin_token}"},
            json={"login": login, "password": password},
            timeout=30,
        )
        assert created.status_code == 201, created.text

    def token(self, login: str = "admin", password: str = ADMIN_PASSWORD, node: Node | None = None) -> str:
        response = httpx.post(
            f"{(node or self.a).api}/authentications",
            auth=(login, password),
            json={"note": f"cluster-{secrets.token_hex(4)}", "scopes": ["all"]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


@pytest.fixture(scope="module", params=BLOB_STORES)
def cluster(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    from tests import postgres

    root = tmp_path_factory.mktemp(f"cluster-{request.param}")
    data = root / "data"
    ports = [free_port(), free_port()]
    with postgres.database(postgres_url) as database_url:
        nginx = Nginx.start([f"127.0.0.1:{p}" for p in ports], root / "nginx")
        env = {
            **os.environ,
            "PACKYARD_DATA": str(data),
            "PACKYARD_DATABASE_URL": database_url,
            "PACKYARD_SECRET_KEY": secrets.token_hex(32),
            "PACKYARD_BASE_URL": nginx.url,
            "PACKYARD_TRUSTED_PROXIES": "127.0.0.1",
            "PACKYARD_HOST": "127.0.0.1",
            "PACKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PACKYARD_JOBS_INTERVAL_SECONDS": str(JOBS_INTERVAL),
            "PACKYARD_DB_POOL_SIZE": "12",
            "PACKYARD_LOGIN_FAILURES_ALLOWED": "3",
            **blob_env(request.param, request),
        }
        nodes = [
            Node(name, port, {**env, "PACKYARD_PORT": str(port)}, root / f"node-{name}.log")
            for name, port in zip("ab", ports, strict=True)
        ]
        cluster = Cluster(nodes[0], nodes[1], nginx, env, data, database_url, nodes)
        try:
            data.mkdir()
            migrated = cluster.cli("migrate", check=False)
            assert migrated.returncode == 0, migrated.stdout + migrated.stderr
            for node in nodes:  # both at once, as after a reboot
                node.launch()
            for node in nodes:
                node.wait_ready()
            yield cluster
        finally:
            for node in nodes:
                node.stop()
            nginx.stop()
