"""CRAN-like repositories driven by the real R (Rscript) and curl, as seed 004 describes."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_r_binary, build_r_source
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("cran")]
PASSWORD = "secret-pass-1"


def rscript(code: str, tmp: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.fail("Rscript is not installed: `apt-get install r-base-core` (.ci/run does it)")
    result = subprocess.run(
        [rscript, "--vanilla", "-e", code],
        text=True,
        capture_output=True,
        timeout=300,
        cwd=tmp,
        env={"HOME": str(tmp), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"Rscript failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def curl_upload(url: str, token: str, path: Path, filetype: str = "cran_source_package") -> str:
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            "-F",
            f"filetype={filetype}",
            "-F",
            f"content=@{path}",
            url,
            "-H",
            f"X-Auth: {token}",
        ],
        text=True,
        capture_output=True,
        timeout=60,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    assert status == "200", body
    return body


def token_for(server: LiveServer, login: str) -> str:
    response = httpx.post(
        f"{server.api}/authentications",
        auth=(login, PASSWORD),
        json={"note": f"r-{uuid.uuid4().hex[:6]}"},
        timeout=30,
    )
    return response.json()["token"]


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> str:
    login = f"r{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    return login


def install_and_call(repos: str, lib: Path, tmp: Path, package: str = "appR") -> str:
    lib.mkdir(parents=True, exist_ok=True)
    result = rscript(
        f'install.packages("{package}", repos="{repos}", lib="{lib}", type="source", quiet=TRUE); '
        f'library({package}, lib.loc="{lib}"); cat(hello(), "\\n"); '
        f'cat("installed:", sort(rownames(installed.packages(lib.loc="{lib}"))), "\\n")',
        tmp,
    )
    return result.stdout


def test_install_with_dependency_from_public_repo(
    live_server: LiveServer, owner: str, tmp_path: Path
) -> None:
    token = token_for(live_server, owner)
    dep = build_r_source(tmp_path, name="depR", version="1.0")
    app = build_r_source(tmp_path, name="appR", version="0.1", imports=["depR (>= 1.0)"])
    for path in (dep, app):
        assert path.name in curl_upload(f"{live_server.url}/api/repo/{owner}", token, path)
    packages = httpx.get(f"{live_server.url}/cran/{owner}/src/contrib/PACKAGES", timeout=30).text
    assert "Package: appR\nVersion: 0.1\nImports: depR (>= 1.0)" in packages
    assert "MD5sum:" in packages
    gz = httpx.get(f"{live_server.url}/cran/{owner}/src/contrib/PACKAGES.gz", timeout=30).content
    assert gzip.decompress(gz).decode() == packages
    assert (
        httpx.get(f"{live_server.url}/cran/{owner}/src/contrib/PACKAGES.rds", timeout=30).status_code == 404
    )

    out = install_and_call(f"{live_server.url}/cran/{owner}", tmp_path / "lib", tmp_path)
    assert "hello from the demo R package" in out
    assert "installed: appR depR" in out

    # a new version appears in available.packages() right after its upload; the old one goes to Archive/
    (tmp_path / "v2").mkdir()
    curl_upload(
        f"{live_server.url}/api/repo/{owner}",
        token,
        build_r_source(tmp_path / "v2", name="depR", version="1.1"),
    )
    seen = rscript(
        f'ap <- available.packages(repos="{live_server.url}/cran/{owner}", type="source", '
        f'ignore_repo_cache=TRUE); cat(ap["depR", "Version"])',
        tmp_path,
    ).stdout
    assert seen.strip() == "1.1"
    archived = httpx.get(
        f"{live_server.url}/cran/{owner}/src/contrib/Archive/depR/depR_1.0.tar.gz", timeout=30
    )
    assert archived.content == dep.read_bytes()


def test_private_repo_through_api_repo_token_url(live_server: LiveServer, tmp_path: Path) -> None:
    login = f"rp{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    token = token_for(live_server, login)
    for name, imports in (("secretDep", ()), ("secretApp", ("secretDep",))):
        path = build_r_source(tmp_path, name=name, version="2.0", imports=imports)
        curl_upload(f"{live_server.url}/api/repo/{login}", token, path)
    response = httpx.post(
        f"{live_server.api}/packages/{login}/access",
        auth=(login, PASSWORD),
        json={"packages": ["secretDep", "secretApp"], "access": "private"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    anonymous = httpx.get(f"{live_server.url}/api/repo/{login}/cran/src/contrib/PACKAGES", timeout=30)
    assert anonymous.status_code == 401
    assert "secret" not in anonymous.text
    failed = rscript(
        f'ap <- available.packages(repos="{live_server.url}/cran/{login}", type="source"); cat(nrow(ap))',
        tmp_path,
        check=False,
    )
    assert failed.stdout.strip() in ("", "0")
    out = install_and_call(
        f"{live_server.url}/api/repo/t/{token}/{login}/cran", tmp_path / "lib", tmp_path, package="secretApp"
    )
    assert "installed: secretApp secretDep" in out
    # seed 004's own example puts the token after /api
    assert (
        httpx.get(
            f"{live_server.url}/api/t/{token}/repo/{login}/cran/src/contrib/PACKAGES", timeout=30
        ).status_code
        == 200
    )


def test_binary_repositories(live_server: LiveServer, owner: str, tmp_path: Path) -> None:
    token = token_for(live_server, owner)
    win = build_r_binary(tmp_path, name="binR", version="1.0", r_version="4.4", platform="windows")
    mac = build_r_binary(tmp_path, name="binR", version="1.0", r_version="4.4", platform="macos")
    curl_upload(f"{live_server.url}/api/repo/{owner}", token, win, "cran_binary_package")
    curl_upload(f"{live_server.url}/api/repo/{owner}", token, mac, "cran_binary_package")
    base = f"{live_server.url}/cran/{owner}/bin"
    windows = httpx.get(f"{base}/windows/contrib/4.4/PACKAGES", timeout=30).text
    assert "Package: binR" in windows
    assert "NeedsCompilation" not in windows
    assert httpx.get(f"{base}/windows/contrib/4.4/binR_1.0.zip", timeout=30).content == win.read_bytes()
    assert "Package: binR" in httpx.get(f"{base}/macosx/big-sur-arm64/contrib/4.4/PACKAGES", timeout=30).text
    assert httpx.get(f"{base}/macosx/contrib/4.4/binR_1.0.tgz", timeout=30).content == mac.read_bytes()
    assert "binR" not in httpx.get(f"{base}/windows/contrib/4.3/PACKAGES", timeout=30).text
    assert "binR" not in httpx.get(f"{live_server.url}/cran/{owner}/src/contrib/PACKAGES", timeout=30).text
