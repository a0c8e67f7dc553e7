"""A real `packyard serve` restarted on the same data folder keeps everything: files, tokens, keys, the admin.

The first restart follows a SIGKILL, so what was committed must have been durable, not merely flushed at exit.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from packyard.core import fsck
from packyard.core.db import Database
from packyard.core.storage import LocalBlobStore
from tests.builders import build_conda
from tests.conftest import ADMIN_PASSWORD, LiveServer, free_port, start_server

CREATED = "Created the administrator"


class Api:
    """anaconda-client's calls, over real HTTP."""

    def __init__(self, server: LiveServer, token: str | None = None) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.api, timeout=30)
        self.token = token

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def login(self, user: str, password: str) -> httpx.Response:
        # A distinct note each time: logging in again with the same note replaces that token (as anaconda.org does).
        note = f"restart test {secrets.token_hex(4)}"
        response = self.http.post("/authentications", auth=(user, password), json={"note": note})
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def create_package(self, owner: str, name: str) -> None:
        response = self.http.post(
            f"/package/{owner}/{name}", headers=self.auth, json={"public": True, "public_attrs": {}}
        )
        assert response.status_code == 200, response.text

    def stage(self, owner: str, name: str, version: str, basename: str, data: bytes) -> dict[str, Any]:
        response = self.http.post(
            f"/stage/{owner}/{name}/{version}/{quote(basename)}",
            headers=self.auth,
            json={
                "distribution_type": "conda",
                "channels": ["main"],
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, staged: dict[str, Any], data: bytes, filename: str) -> httpx.Response:
        fields = {
            **staged["form_data"],
            "Content-Length": str(len(data)),
            "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
        }
        # No credentials: the signed form is the authorisation (as anaconda-client does it). The form may come
        # from before a restart, when the server listened on another port: only the path is the form's.
        url = self.server.url + urlsplit(staged["post_url"]).path
        return httpx.post(url, data=fields, files={"file": (filename, data)}, timeout=30)

    def commit(
        self, staged: dict[str, Any], owner: str, name: str, version: str, basename: str
    ) -> httpx.Response:
        return self.http.post(
            f"/commit/{owner}/{name}/{version}/{quote(basename)}",
            headers=self.auth,
            json={"dist_id": staged["dist_id"]},
        )


def stop(server: LiveServer, sig: int = signal.SIGTERM) -> str:
    server.process.send_signal(sig)
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)
    return server.log.read_text()


def journal_mode(data: Path) -> str:
    conn = sqlite3.connect(data / "packyard.db")
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def test_restart_keeps_files_tokens_keys_and_admin(tmp_path) -> None:
    v1 = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    v2 = build_conda(tmp_path, name="foo", version="2.0", subdir="noarch")
    server = start_server(tmp_path)
    try:
        with Api(server) as api:
            assert api.login("admin", ADMIN_PASSWORD).status_code == 200
            token = api.token
            api.create_package("admin", "foo")
            staged = api.stage("admin", "foo", "1.0", f"noarch/{v1.name}", v1.read_bytes())
            assert api.post(staged, v1.read_bytes(), v1.name).status_code == 201
            assert api.commit(staged, "admin", "foo", "1.0", f"noarch/{v1.name}").status_code == 200
            # Staged (signed) before the restart, sent after it: the signing key must survive.
            pending = api.stage("admin", "foo", "2.0", f"noarch/{v2.name}", v2.read_bytes())
        assert journal_mode(server.data) == "wal"
    finally:
        first_log = stop(server, signal.SIGKILL)  # a crash: nothing gets a chance to flush at exit
    assert CREATED not in first_log  # the password was given, so there was nothing to show
    assert journal_mode(server.data) == "wal"  # a property of the database file: it outlives the process

    # Restarted with another admin password in the environment: it must not replace the existing one.
    server = start_server(tmp_path, extra_env={"PACKYARD_ADMIN_PASSWORD": "not-the-first-password"})
    try:
        with Api(server, token) as api:
            assert api.http.get("/user", headers=api.auth).json()["login"] == "admin"
            package = api.http.get("/package/admin/foo").json()
            assert [f["basename"] for f in package["files"]] == [f"noarch/{v1.name}"]
            download = api.http.get(f"/download/admin/foo/1.0/noarch/{v1.name}")
            assert download.status_code == 200 and download.content == v1.read_bytes()
            assert api.post(pending, v2.read_bytes(), v2.name).status_code == 201
            assert api.commit(pending, "admin", "foo", "2.0", f"noarch/{v2.name}").status_code == 200
            assert api.http.get(f"/download/admin/foo/2.0/noarch/{v2.name}").content == v2.read_bytes()
        with Api(server) as other:
            assert other.login("admin", "not-the-first-password").status_code == 401
            assert other.login("admin", ADMIN_PASSWORD).status_code == 200
        assert journal_mode(server.data) == "wal"
    finally:
        second_log = stop(server)
    assert CREATED not in second_log

    db = Database(f"sqlite:///{server.data / 'packyard.db'}")
    try:
        report = fsck.check(db, LocalBlobStore(server.data / "blobs"), verify=True, grace_seconds=0)
    finally:
        db.dispose()
    assert (report.orphans, report.temp_files, report.missing, report.corrupt) == ([], [], [], [])


def start_without_admin_password(tmp: Path) -> LiveServer:
    """`packyard serve` as a first-time user runs it: no password configured, so one is generated and shown."""
    port = free_port()
    data = tmp / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKYARD_")}
    env |= {"PACKYARD_DATA": str(data), "PACKYARD_PORT": str(port), "PACKYARD_HOST": "127.0.0.1"}
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "packyard.cli.main", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url=url, data=data, env=env, process=process, log=log)
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.1)


def test_a_generated_admin_password_is_created_once(tmp_path) -> None:
    server = start_without_admin_password(tmp_path)
    try:
        log = server.log.read_text()
        assert CREATED in log, log
        password = re.search(r"with password\s+(\S+)", log)[1]
        with Api(server) as api:
            assert api.login("admin", password).status_code == 200
            token = api.token
    finally:
        stop(server)

    server = start_server(tmp_path)  # PACKYARD_ADMIN_PASSWORD is set now: it must not reset the admin
    try:
        with Api(server, token) as api:
            assert api.http.get("/user", headers=api.auth).json()["login"] == "admin"
        with Api(server) as api:
            assert api.login("admin", ADMIN_PASSWORD).status_code == 401
            assert api.login("admin", password).status_code == 200
    finally:
        log = stop(server)
    assert CREATED not in log
