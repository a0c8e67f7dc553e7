"""The Files tab's reads (ui/files.py) on SQLite and PostgreSQL, and its download URLs in-process: every file's URL
names that file, whatever its version and name hold, and answers like every byte route (HEAD, Range, 304, cache
policy, one counted download per GET)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.core.auth import ANONYMOUS
from packyard.core.models import File
from packyard.core.services.accounts import create_user
from packyard.ui.files import Filters, file_url, files_view, platform_of
from packyard.ui.package_reads import visible_package
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth, login, upload
from tests.unit.core.conftest import Backend

PASSWORD = "password-123"
ODD_NAME = "a b#c?d%e.txt"
"""A file name full of what a URL treats specially."""


def _fill(client: TestClient, token: str, tmp_path: Path) -> None:
    def put(version: str, basename: str, data: bytes, label: str = "main") -> None:
        response = client.post(
            "/api/repo/alice",
            headers=auth(token),
            data={"filetype": "file", "name": "odd", "version": version, "label": label},
            files={"content": (basename, data)},
        )
        assert response.status_code == 200, response.text

    put("1.0+local", ODD_NAME, b"odd bytes\n")
    put("2.0", "data.csv", b"a,b\n1,2\n", "main,dev")
    put("10.0", "notes.txt", b"newest\n")
    conda = build_conda(tmp_path, name="odd", version="1.5", subdir="linux-64")
    assert (
        upload(client, token, "alice", "odd", "1.5", conda, f"linux-64/{conda.name}", "conda").status_code
        == 200
    )
    wheel = build_wheel(tmp_path, name="odd", version="1.5")
    assert upload(client, token, "alice", "odd", "1.5", wheel, wheel.name, "pypi").status_code == 200


def test_the_view_lists_filters_and_orders_files(
    backend: Backend, backend_client: TestClient, tmp_path
) -> None:
    create_user(backend.db, "alice", PASSWORD)
    _fill(backend_client, login(backend_client, "alice", PASSWORD), tmp_path)
    with backend.db.read() as session:
        pkg = visible_package(session, ANONYMOUS, "alice", "odd")
        everything = files_view(session, pkg, Filters(), 1)
        dev = files_view(session, pkg, Filters(label="dev"), 1)
        conda = files_view(session, pkg, Filters(kind="conda"), 1)
        none = files_view(session, pkg, Filters(label="dev", version="10.0"), 1)
    assert [(r.version, r.basename) for r in everything.rows] == [
        ("10.0", "notes.txt"),  # 10.0 after 2.0: versions compare as versions, not as text
        ("2.0", "data.csv"),
        ("1.5", "linux-64/odd-1.5-0.tar.bz2"),
        ("1.5", "odd-1.5-py3-none-any.whl"),
        ("1.0+local", ODD_NAME),
    ]
    assert everything.total == everything.nfiles == 5 and everything.pages == 1
    assert everything.labels == ["main", "dev"]
    assert everything.versions == ["10.0", "2.0", "1.5", "1.0+local"]
    assert everything.types == ["conda", "file", "pypi"]
    shown = {r.basename: r for r in everything.rows}
    assert shown["linux-64/odd-1.5-0.tar.bz2"].platform == "linux-64"
    assert shown["odd-1.5-py3-none-any.whl"].platform == "any"
    assert shown[ODD_NAME].platform == ""
    assert shown["data.csv"].labels == ["dev", "main"]
    assert all(r.uploader == "alice" for r in everything.rows)
    assert [r.basename for r in dev.rows] == ["data.csv"] and dev.total == 1 and dev.nfiles == 5
    assert [r.platform for r in conda.rows] == ["linux-64"]
    assert none.rows == [] and none.total == 0


def test_platforms_as_users_name_them() -> None:
    assert platform_of("conda", {"subdir": "osx-arm64"}) == "osx-arm64"
    assert platform_of("pypi", {"platform": "manylinux_2_17_x86_64"}) == "manylinux_2_17_x86_64"
    assert platform_of("pypi", {"packagetype": "sdist"}) == "source"
    assert platform_of("r", {"type": "source"}) == "source"
    assert platform_of("file", {}) == ""


def test_urls_keep_a_conda_subdir_and_quote_everything_else() -> None:
    assert (
        file_url("alice", "odd", "1.0+local", ODD_NAME)
        == "/alice/odd/files/1.0%2Blocal/a%20b%23c%3Fd%25e.txt"
    )
    assert file_url("alice", "odd", "1.5", "linux-64/x.conda") == "/alice/odd/files/1.5/linux-64/x.conda"


@pytest.fixture
def odd(client: TestClient, make_user: Any, tmp_path: Path) -> TestClient:
    make_user("alice", PASSWORD)
    _fill(client, login(client, "alice", PASSWORD), tmp_path)
    return client


def _view(client: TestClient) -> list[Any]:
    db = client.app.state.services.db
    with db.read() as session:
        return files_view(session, visible_package(session, ANONYMOUS, "alice", "odd"), Filters(), 1).rows


def test_every_file_downloads_through_its_url(odd: TestClient) -> None:
    for row in _view(odd):
        response = odd.get(row.url)
        assert response.status_code == 200, row.url
        assert hashlib.sha256(response.content).hexdigest() == row.sha256
        assert response.headers["content-disposition"].startswith("attachment")
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert "cookie" not in response.headers.get("vary", "").lower()


def test_the_download_route_answers_like_every_byte_route(odd: TestClient) -> None:
    row = next(r for r in _view(odd) if r.basename == ODD_NAME)
    head = odd.head(row.url)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "10"
    first = odd.get(row.url)
    assert first.content == b"odd bytes\n"
    assert odd.get(row.url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    part = odd.get(row.url, headers={"Range": "bytes=4-"})
    assert part.status_code == 206 and part.content == b"bytes\n"
    odd.app.state.services.downloads.flush()
    with odd.app.state.services.db.read() as session:
        counted = session.scalar(select(File.ndownloads).where(File.basename == ODD_NAME))
    assert counted == 1  # the GET; not the HEAD, the 304 or the resumed range
    assert (
        odd.get(row.url.replace("1.0%2Blocal", "2.0")).status_code == 404
    )  # another release has no such file


def test_a_private_files_url_takes_a_token_in_the_path_like_every_download_url(odd: TestClient) -> None:
    row = next(r for r in _view(odd) if r.basename == "data.csv")
    token = login(odd, "alice", PASSWORD)
    made_private = odd.patch("/api/package/alice/odd", headers=auth(token), json={"public": False})
    assert made_private.status_code == 200, made_private.text
    assert odd.get(row.url).status_code == 404
    shared = odd.get(f"/t/{token}{row.url}")
    assert shared.status_code == 200 and shared.content == b"a,b\n1,2\n"
    assert shared.headers["cache-control"].startswith("private")
    assert odd.get(f"/t/not-a-token{row.url}").status_code == 401
