"""Backup -> restore round trip through live servers, on SQLite and on PostgreSQL, each with a local blob folder.

A live `packyard serve` holds packages of several formats (conda in two labels, a wheel, an R source package, a
notebook, an environment, a plain file, a private package). `packyard backup` runs while another user keeps
uploading; `packyard restore` fills a fresh data folder (and a fresh database); a second server starts on it, and
every REST listing, index document and download must be the same bytes as the original's once the base URL (the
only thing that differs: another port) is normalised. The uploads during the backup must not break it: the
restored server's `fsck --verify` is clean, whatever subset of them the snapshot caught.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import msgpack
import pytest
import zstandard

from packyard.core.backup import Manifest, dump_file_blobs, verify
from tests.builders import build_conda, build_r_source, build_wheel
from tests.conftest import ADMIN_PASSWORD, LiveServer, start_server
from tests.unit.api.helpers import login, upload
from tests.unit.formats.named_support import env_yaml, notebook_bytes

OWNER = "admin"
BUSY = "busy"
PASSWORD = "password-123"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("postgresql+s3", marks=pytest.mark.postgres),
    ]
)
def databases(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Extra environment of the original server and of the restored one: the data folder's SQLite and blobs;
    two empty PostgreSQL databases; or those and two buckets of the suite's SeaweedFS (restored into an empty
    bucket, the production layout)."""
    if request.param == "sqlite":
        yield {}, {}
        return
    from tests import postgres

    first_blobs: dict[str, str] = {}
    second_blobs: dict[str, str] = {}
    if request.param.endswith("+s3"):
        seaweed = request.getfixturevalue("seaweed")
        first_blobs = {**seaweed.env(), "PACKYARD_BLOB_URL": f"s3://{seaweed.new_bucket()}/blobs"}
        second_blobs = {**seaweed.env(), "PACKYARD_BLOB_URL": f"s3://{seaweed.new_bucket()}/blobs"}
    server = request.getfixturevalue("postgres_url")
    with postgres.database(server) as first, postgres.database(server) as second:
        yield (
            {"PACKYARD_DATABASE_URL": first, **first_blobs},
            {"PACKYARD_DATABASE_URL": second, **second_blobs},
        )


@contextlib.contextmanager
def _serving(tmp: Path, env: dict[str, str]) -> Iterator[LiveServer]:
    tmp.mkdir(parents=True, exist_ok=True)
    server = start_server(tmp, extra_env=env)
    try:
        yield server
    finally:
        server.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env={**env, "COLUMNS": "200"},
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def _repo(
    http: httpx.Client, token: str, owner: str, filetype: str, filename: str, data: bytes, **fields: str
) -> None:
    response = http.post(
        f"/api/repo/{owner}",
        headers={"Authorization": f"token {token}"},
        data={"filetype": filetype, **fields},
        files={"content": (filename, data)},
    )
    assert response.status_code == 200, response.text


def _publish(http: httpx.Client, token: str, tmp: Path) -> list[str]:
    """Packages of every kind; returns the index documents to compare (beside the REST listings)."""
    conda = build_conda(tmp, "rtconda", "1.0", "0", "noarch")
    labelled = upload(
        http, token, OWNER, "rtconda", "1.0", conda, f"noarch/{conda.name}", "conda", ["main", "dev"]
    )
    assert labelled.status_code == 200, labelled.text
    conda2 = build_conda(tmp, "rtconda", "2.0", "0", "noarch")
    assert (
        upload(http, token, OWNER, "rtconda", "2.0", conda2, f"noarch/{conda2.name}", "conda").status_code
        == 200
    )
    wheel = build_wheel(tmp, "rt-wheel", "1.0")
    _repo(http, token, OWNER, "bdist_wheel", wheel.name, wheel.read_bytes())
    r_source = build_r_source(tmp, "rtR", "1.0")
    _repo(http, token, OWNER, "cran_source_package", r_source.name, r_source.read_bytes())
    _repo(http, token, OWNER, "ipynb", "nb.ipynb", notebook_bytes(), name="rtnb", version="1")
    _repo(http, token, OWNER, "env", "environment.yml", env_yaml("rtenv"), name="rtenv", version="1")
    _repo(http, token, OWNER, "file", "data.csv", b"a,b\n1,2\n", name="rtfile", version="1")
    created = http.post(
        f"/api/package/{OWNER}/rtsecret",
        headers={"Authorization": f"token {token}"},
        json={"public": False, "publish": False, "public_attrs": {"summary": "private"}},
    )
    assert created.status_code == 200, created.text
    secret = build_wheel(tmp, "rtsecret", "1.0")
    _repo(http, token, OWNER, "bdist_wheel", secret.name, secret.read_bytes())
    return [
        f"/conda/{OWNER}/noarch/repodata.json",
        f"/conda/{OWNER}/label/dev/noarch/repodata.json",
        f"/conda/{OWNER}/channeldata.json",
        f"/conda/{OWNER}/noarch/repodata_shards.msgpack.zst",
        f"/pypi/{OWNER}/simple/",
        f"/pypi/{OWNER}/simple/rt-wheel/",
        f"/pypi/{OWNER}/simple/rtsecret/",
        f"/cran/{OWNER}/src/contrib/PACKAGES",
        f"/notebooks/{OWNER}/rtnb",
        f"/envs/{OWNER}/rtenv",
    ]


class Uploads:
    """BUSY uploads a file after another until stopped: a backup must not trip over them."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.done = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60) as http:
                while not self.stop.is_set():
                    data = f"n,{self.done}\n".encode() * 2000
                    _repo(
                        http,
                        self.token,
                        BUSY,
                        "file",
                        f"d{self.done}.csv",
                        data,
                        name="busy",
                        version=str(self.done),
                    )
                    self.done += 1
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Uploads:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def _normalised(server: LiveServer, path: str, body: bytes) -> bytes:
    """The body with the server's host:port replaced (inside the zstd frame of a conda shard index)."""
    host = server.url.split("://", 1)[1]
    if path.endswith(".msgpack.zst"):  # msgpack prefixes strings with their length: compare the values
        doc = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(body))
        body = repr(doc).encode()  # created_at included: it is the time of the data, restored with it
    return body.replace(host.encode(), b"HOST")


def _fetch(
    server: LiveServer, token: str, paths: list[str], *, accept: str | None = None
) -> dict[str, tuple]:
    headers = {"Authorization": f"token {token}", **({"Accept": accept} if accept else {})}
    got = {}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path in paths:
            response = http.get(path, headers=headers)
            got[path] = (
                response.status_code,
                response.headers.get("content-type"),
                _normalised(server, path, response.content),
            )
    return got


def _listings(server: LiveServer, token: str) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        packages = http.get(f"/api/packages/{OWNER}", headers={"Authorization": f"token {token}"}).json()
        paths = [f"/api/packages/{OWNER}"]
        for package in packages:
            paths.append(f"/api/package/{OWNER}/{package['name']}")
            paths.extend(f"/api/release/{OWNER}/{package['name']}/{v}" for v in package["versions"])
    return paths


def _downloads(server: LiveServer, token: str, documents: dict[str, tuple]) -> list[str]:
    """Every file through the REST download, and through each format's own URL (read from its index)."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        packages = http.get(f"/api/packages/{OWNER}", headers={"Authorization": f"token {token}"}).json()
    paths = []
    for package in packages:
        for f in package["files"]:
            paths.append(f"/api/download/{f['full_name']}")
            if f["type"] == "conda":
                paths.append(f"/conda/{OWNER}/{f['basename']}")
    for simple in (f"/pypi/{OWNER}/simple/rt-wheel/", f"/pypi/{OWNER}/simple/rtsecret/"):
        for href in re.findall(rb'href="([^"#]+)', documents[simple][2]):
            url = urljoin(simple, href.decode().replace("http://HOST", ""))
            paths += [url, f"{url}.metadata"]
    paths += [f"/cran/{OWNER}/src/contrib/rtR_1.0.tar.gz", f"/notebooks/{OWNER}/rtnb?download"]
    return paths


def test_backup_while_serving_then_restore_gives_the_same_server_byte_for_byte(
    databases: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    first_env, second_env = databases
    dest = tmp_path / "backup"
    with _serving(tmp_path / "a", first_env) as original:
        original.create_user(BUSY, PASSWORD)
        with httpx.Client(base_url=original.url, timeout=60) as http:
            token = login(http, OWNER, ADMIN_PASSWORD)
            documents = _publish(http, token, tmp_path)
            busy_token = login(http, BUSY, PASSWORD)
        with Uploads(original.url, busy_token) as uploads:
            while uploads.done < 2 and uploads.error is None and uploads.thread.is_alive():
                threading.Event().wait(0.05)
            done = _cli(original.env, "backup", str(dest))
            during = uploads.done
        assert uploads.error is None, uploads.error
        assert done.returncode == 0, done.stderr
        assert during >= 2
        assert verify(
            dest
        ).ok  # the CLI's --verify is tests/unit/core/test_backup.py's; restore --verify runs below

        # verify read the file rows from the dump itself (pg_restore's COPY text on PostgreSQL): all of them
        manifest = Manifest.read(dest)
        named = dump_file_blobs(dest / manifest.dump, manifest.database)
        with httpx.Client(base_url=original.url, timeout=60) as http:
            listed = http.get(f"/api/packages/{OWNER}", headers={"Authorization": f"token {token}"}).json()
        shas = {f["sha256"] for package in listed for f in package["files"]}
        assert len(shas) == 8 and shas <= set(named) <= {e.sha256 for e in manifest.blobs}

        paths = _listings(original, token)
        before = _fetch(original, token, paths + documents)
        before_json = _fetch(original, token, documents[4:7], accept="application/vnd.pypi.simple.v1+json")

        restored_data = tmp_path / "b" / "data"
        restore_env = {**os.environ, "PACKYARD_DATA": str(restored_data), **second_env}
        done = _cli(restore_env, "restore", "--verify", str(dest))
        assert done.returncode == 0, done.stdout + done.stderr
        with _serving(tmp_path / "b", second_env) as restored:
            after = _fetch(restored, token, paths + documents)
            after_json = _fetch(restored, token, documents[4:7], accept="application/vnd.pypi.simple.v1+json")
            assert [p for p in before if before[p][0] != 200] == []
            for path, answer in before.items():  # one URL at a time, so a failure names it
                assert after[path] == answer, path
            assert after_json == before_json
            files = _downloads(original, token, before)
            assert len(files) >= 15
            originals = _fetch(original, token, files)
            assert [p for p in originals if originals[p][0] != 200] == []
            assert _fetch(restored, token, files) == originals

            with httpx.Client(
                base_url=restored.url, timeout=60
            ) as http:  # it takes uploads (PostgreSQL: sequences)
                _repo(http, token, OWNER, "file", "new.csv", b"new\n", name="rtfile", version="2")
                assert http.get(f"/api/download/{OWNER}/rtfile/2/new.csv").content == b"new\n"
            checked = restored.cli("fsck", "--verify", check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
