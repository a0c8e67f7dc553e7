"""The real clients against a live server whose blobs are in S3 (a real SeaweedFS, tests/seaweed.py).

Twice: with the bytes streamed through the server, and with `PACKYARD_BLOB_REDIRECT=1`, where every download is
a 302 to a presigned URL of the bucket. anaconda-client uploads and downloads (its download accepts only a 200 or
a 302), twine uploads, pip and uv install, py-rattler installs a conda environment, R's install.packages
installs from the CRAN repository; and a private package is installed with its credentials, never without.
The helpers are the ones the other client tests use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.builders import build_r_source, build_wheel
from tests.clients.anaconda import Anaconda, clients_bin
from tests.clients.test_conda_rattler import build, solve_and_install
from tests.clients.test_cran_r import curl_upload, install_and_call
from tests.clients.test_pypi_clients import run, twine
from tests.conftest import LiveServer, start_server
from tests.seaweed import SeaweedS3

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("s3-clients")]
PASSWORD = "secret-pass-1"


@dataclass
class S3Server:
    live: LiveServer
    bucket: str
    redirect: bool
    seaweed: SeaweedS3

    def stored(self) -> set[str]:
        listed = self.seaweed.client().list_objects_v2(Bucket=self.bucket, Prefix="blobs/")
        return {item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", [])}

    def user(self) -> tuple[str, str]:
        login = f"s3{uuid.uuid4().hex[:6]}"
        self.live.create_user(login, PASSWORD)
        response = httpx.post(
            f"{self.live.api}/authentications", auth=(login, PASSWORD), json={"note": "s3"}, timeout=30
        )
        assert response.status_code == 200, response.text
        return login, response.json()["token"]


@pytest.fixture(scope="module", params=["streamed", "redirect"])
def server(
    request: pytest.FixtureRequest, seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    bucket = seaweed.new_bucket()
    env = {**seaweed.env(), "PACKYARD_BLOB_URL": f"s3://{bucket}/blobs/"}
    if request.param == "redirect":
        env.update(PACKYARD_BLOB_REDIRECT="1", PACKYARD_BLOB_REDIRECT_MINUTES="2")
    live = start_server(tmp_path_factory.mktemp(f"s3-{request.param}"), extra_env=env)
    try:
        yield S3Server(live, bucket, request.param == "redirect", seaweed)
    finally:
        live.stop()


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def expect_download(server: S3Server, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A GET as a client sends it: a 302 into the bucket when redirecting, else the bytes from the server."""
    first = httpx.get(url, headers=headers, timeout=30)
    if server.redirect:
        assert first.status_code == 302, (url, first.status_code, first.text)
        assert first.headers["location"].startswith(server.seaweed.endpoint)
        return httpx.get(first.headers["location"], timeout=30)
    assert first.status_code == 200, (url, first.status_code)
    return first


def assert_sent_by(server: S3Server, basename: str) -> None:
    """When redirecting, the server's access log shows the file's GETs answered 302 (the bytes came from S3)."""
    lines = [
        line
        for line in server.live.log.read_text().splitlines()
        if f"{basename} " in line and '"GET ' in line  # not its .metadata, which the server always sends
    ]
    assert lines, basename
    assert all((" 302" in line) == server.redirect for line in lines if " 200" in line or " 302" in line), (
        lines
    )


def test_anaconda_client_uploads_and_downloads(server: S3Server, tmp_path: Path) -> None:
    login, token = server.user()
    client = Anaconda(tmp_path / "home", server.live.api).configure().login(login, PASSWORD)
    conda = build(tmp_path, "s3pkg", "1.0", "noarch", "conda")
    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n1,2\n")
    client.run("upload", str(conda))
    client.run("upload", "-t", "file", "-p", "s3-table", "-v", "1", "-s", "A table", str(csv))
    assert {sha256(conda), sha256(csv)} <= server.stored()  # in the bucket, under their sha256

    out = tmp_path / "dl"
    out.mkdir()
    client.run("download", f"{login}/s3pkg", cwd=out)
    client.run("download", f"{login}/s3-table", cwd=out)
    assert (out / "noarch" / conda.name).read_bytes() == conda.read_bytes()
    assert (out / csv.name).read_bytes() == csv.read_bytes()
    url = f"{server.live.api}/download/{login}/s3pkg/1.0/noarch/{conda.name}"
    assert expect_download(server, url).content == conda.read_bytes()

    # private: downloaded with the owner's credentials only (the redirect is issued after the check)
    response = httpx.post(
        f"{server.live.api}/packages/{login}/access",
        auth=(login, PASSWORD),
        json={"packages": ["s3pkg"], "access": "private"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    anonymous = httpx.get(url, timeout=30)
    assert anonymous.status_code == 404 and "location" not in anonymous.headers
    private = tmp_path / "private"
    private.mkdir()
    client.run("download", f"{login}/s3pkg", cwd=private)
    assert (private / "noarch" / conda.name).read_bytes() == conda.read_bytes()
    got = expect_download(server, url, headers={"Authorization": f"token {token}"})
    assert got.content == conda.read_bytes()


def test_rattler_installs_from_the_bucket(server: S3Server, tmp_path: Path) -> None:
    login, token = server.user()
    client = Anaconda(tmp_path / "home", server.live.api).configure().login(login, PASSWORD)
    base = build(tmp_path, "s3base", "2.0", "noarch", "conda")
    app = build(tmp_path, "s3app", "1.0", "linux-64", "tar.bz2", depends=["s3base >=2"])
    for path in (base, app):
        client.run("upload", str(path))
    prefix = tmp_path / "env"
    channel = f"{server.live.url}/conda/{login}"
    installed = solve_and_install(channel, ["s3app"], prefix, tmp_path / "cache")
    assert installed == ["s3app=1.0", "s3base=2.0"]
    assert (prefix / "share/s3app/1.0.txt").read_text() == "s3app 1.0 linux-64\n"
    assert_sent_by(server, app.name)
    # a private channel, through /t/TOKEN/
    response = httpx.post(
        f"{server.live.api}/packages/{login}/access",
        auth=(login, PASSWORD),
        json={"packages": ["s3app", "s3base"], "access": "private"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    private = f"{server.live.url}/t/{token}/conda/{login}"
    installed = solve_and_install(private, ["s3app"], tmp_path / "env2", tmp_path / "cache2")
    assert installed == ["s3app=1.0", "s3base=2.0"]


def test_twine_pip_and_uv(server: S3Server, tmp_path: Path) -> None:
    login, token = server.user()
    lib = build_wheel(tmp_path, name="s3-lib", version="1.0", modules={"s3_lib/__init__.py": b"V = 1\n"})
    twine(tmp_path, f"{server.live.url}/pypi/{login}/", token, "x-auth-token", lib)
    assert sha256(lib) in server.stored()
    index = f"{server.live.url}/pypi/{login}/simple"
    run(tmp_path, "pip", "install", "--index-url", index, "--target", str(tmp_path / "pip"), "s3-lib")
    assert (tmp_path / "pip/s3_lib/__init__.py").read_text() == "V = 1\n"
    uv = ["uv", "pip", "install", "--python", str(clients_bin() / "python")]
    run(tmp_path, *uv, "--index-url", index, "--target", str(tmp_path / "uv"), "s3-lib")
    assert (tmp_path / "uv/s3_lib/__init__.py").read_text() == "V = 1\n"
    assert_sent_by(server, lib.name)

    response = httpx.post(
        f"{server.live.api}/packages/{login}/access",
        auth=(login, PASSWORD),
        json={"packages": ["s3-lib"], "access": "private"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    refused = run(
        tmp_path, "pip", "install", "--no-input", "--index-url", index, "--target", str(tmp_path / "x"), "s3-lib",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    private = f"{server.live.url}/pypi/t/{token}/{login}/simple"
    run(tmp_path, "pip", "install", "--index-url", private, "--target", str(tmp_path / "p"), "s3-lib")
    assert (tmp_path / "p/s3_lib/__init__.py").exists()
    run(tmp_path, *uv, "--index-url", private, "--target", str(tmp_path / "u"), "s3-lib")
    assert (tmp_path / "u/s3_lib/__init__.py").exists()


def test_r_installs_from_the_bucket(server: S3Server, tmp_path: Path) -> None:
    login, token = server.user()
    dep = build_r_source(tmp_path, name="depR", version="1.0")
    app = build_r_source(tmp_path, name="appR", version="0.1", imports=["depR (>= 1.0)"])
    for path in (dep, app):
        assert path.name in curl_upload(f"{server.live.url}/api/repo/{login}", token, path)
    out = install_and_call(f"{server.live.url}/cran/{login}", tmp_path / "lib", tmp_path)
    assert "hello from the demo R package" in out and "installed: appR depR" in out
    assert_sent_by(server, app.name)
    tarball = f"{server.live.url}/cran/{login}/src/contrib/{app.name}"
    assert expect_download(server, tarball).content == app.read_bytes()
