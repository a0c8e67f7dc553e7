"""PyPI's JSON API (`/pypi/OWNER[/label/LABEL]/PROJECT[/VERSION]/json`): shapes, versions, labels, access."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.api.helpers import auth, login
from tests.unit.formats.pypi_support import app_client, fast_passwords, make_private, put_wheel

INFO_KEYS = {
    "name", "version", "summary", "description", "description_content_type", "keywords", "license",
    "license_expression", "license_files", "classifiers", "author", "author_email", "maintainer",
    "maintainer_email", "requires_python", "platform", "downloads", "package_url", "project_url", "project_urls",
    "release_url", "requires_dist", "provides_extra", "docs_url", "bugtrack_url", "home_page", "download_url",
    "yanked", "yanked_reason", "dynamic",
}  # fmt: skip
FILE_KEYS = {
    "filename", "packagetype", "python_version", "has_sig", "comment_text", "md5_digest", "digests",
    "core-metadata", "size", "downloads", "upload_time", "upload_time_iso_8601", "url", "requires_python",
    "yanked", "yanked_reason",
}  # fmt: skip


@pytest.fixture
def client(settings, db, monkeypatch):
    fast_passwords(monkeypatch)
    yield from app_client(settings, db)


@dataclass
class World:
    alice: str
    dave: str
    carol: str
    wheel: Path
    sdist: Path


@pytest.fixture
def world(client, make_user, tmp_path) -> World:
    for user in ("alice", "bob", "carol", "dave"):
        make_user(user)
    alice, carol = login(client, "alice", "password-123"), login(client, "carol", "password-123")
    meta = {
        "Author": "Ada Lovelace",
        "Classifier": ["Framework :: Demo"],
        "Project-URL": ["Source, https://git.example.org/demo", "Docs, https://docs.example.org"],
        "Provides-Extra": "cli",
        "Metadata-Version": "2.4",
        "License-Expression": "MIT",
        "License": None,
    }
    wheel = put_wheel(
        client, alice, tmp_path, "alice", "Demo_Pkg", "1.0", requires_python=">=3.9",
        requires_dist=["requests>=2", "click; extra == 'cli'"], metadata_overrides=meta,
    )  # fmt: skip
    sdist = put_wheel(client, alice, tmp_path, "alice", "Demo_Pkg", "1.0", sdist=True)
    put_wheel(client, alice, tmp_path, "alice", "Demo_Pkg", "2.0")
    put_wheel(client, alice, tmp_path, "alice", "Demo_Pkg", "3.0rc1")
    put_wheel(client, alice, tmp_path, "alice", "Demo_Pkg", "4.0", labels=["dev"])
    make_private(client, alice, "alice", "secret-pkg")
    put_wheel(client, alice, tmp_path, "alice", "secret-pkg", "1.0")
    assert (
        client.put("/api/packages/alice/Demo_Pkg/collaborators/bob", headers=auth(alice)).status_code == 201
    )
    assert client.post("/api/orgs/acme", headers=auth(carol), json={}).status_code == 201
    put_wheel(client, carol, tmp_path, "acme", "tool", "0.1")
    return World(alice, login(client, "dave", "password-123"), carol, wheel, sdist)


def get(client, path: str, token: str | None = None, **headers: str):
    return client.get(path, headers={**(auth(token) if token else {}), **headers}, follow_redirects=False)


def test_project_document(client, world) -> None:
    response = get(client, "/pypi/alice/demo-pkg/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert set(doc) == {"info", "urls", "releases", "vulnerabilities", "last_serial", "ownership"}
    assert response.headers["x-pypi-last-serial"] == str(doc["last_serial"])
    assert doc["last_serial"] > 0
    assert response.headers["cache-control"].startswith("public, max-age=")
    info = doc["info"]
    assert set(info) >= INFO_KEYS
    # "latest" is the newest final release: 2.0, not 3.0rc1; 4.0 is only under the dev label.
    assert (info["name"], info["version"]) == ("Demo_Pkg", "2.0")
    assert list(doc["releases"]) == ["1.0", "2.0", "3.0rc1"]
    assert [f["filename"] for f in doc["urls"]] == ["demo_pkg-2.0-py3-none-any.whl"]
    assert info["downloads"] == {"last_day": -1, "last_week": -1, "last_month": -1}
    assert info["release_url"] == "http://testserver/pypi/alice/demo-pkg/2.0/json"
    assert info["bugtrack_url"] is None
    assert doc["vulnerabilities"] == []
    assert doc["ownership"] == {
        "roles": [{"role": "Owner", "user": "alice"}, {"role": "Maintainer", "user": "bob"}],
        "organization": None,
    }


def test_release_document(client, world) -> None:
    doc = get(client, "/pypi/alice/demo-pkg/1.0/json").json()
    assert "releases" not in doc
    info = doc["info"]
    assert (info["name"], info["version"]) == ("Demo_Pkg", "1.0")
    assert info["author"] == "Ada Lovelace"
    assert info["classifiers"] == ["Framework :: Demo"]
    assert info["project_urls"] == {
        "Source": "https://git.example.org/demo",
        "Docs": "https://docs.example.org",
    }
    assert info["requires_dist"] == ["requests>=2", "click; extra == 'cli'"]
    assert info["provides_extra"] == ["cli"]
    assert info["requires_python"] == ">=3.9"
    assert info["license_expression"] == "MIT"
    assert info["license"] is None
    assert (info["yanked"], info["yanked_reason"]) == (False, None)
    assert "built by tests/builders.py" in info["description"]
    wheel, sdist = doc["urls"]
    assert set(wheel) == FILE_KEYS
    data = world.wheel.read_bytes()
    assert wheel["filename"] == world.wheel.name
    assert wheel["url"] == f"http://testserver/pypi/alice/files/demo-pkg/{world.wheel.name}"
    assert wheel["digests"] == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert wheel["md5_digest"] == hashlib.md5(data).hexdigest()
    assert wheel["size"] == len(data)
    assert (wheel["packagetype"], wheel["python_version"]) == ("bdist_wheel", "py3")
    assert (wheel["has_sig"], wheel["downloads"], wheel["comment_text"]) == (False, -1, "")
    assert wheel["requires_python"] == ">=3.9"
    assert len(wheel["upload_time"]) == 19 and wheel["upload_time_iso_8601"].endswith("Z")
    assert wheel["upload_time_iso_8601"].startswith(wheel["upload_time"])
    assert wheel["core-metadata"]["sha256"]
    assert (sdist["packagetype"], sdist["python_version"]) == ("sdist", "source")
    assert client.get(wheel["url"].removeprefix("http://testserver")).content == data
    metadata = client.get(wheel["url"].removeprefix("http://testserver") + ".metadata").content
    assert hashlib.sha256(metadata).hexdigest() == wheel["core-metadata"]["sha256"]


def test_versions_match_canonically(client, world) -> None:
    assert get(client, "/pypi/alice/demo-pkg/1.0.0/json").json()["info"]["version"] == "1.0"
    assert get(client, "/pypi/alice/demo-pkg/3.0.0rc1/json").json()["info"]["version"] == "3.0rc1"
    assert get(client, "/pypi/alice/demo-pkg/9.9/json").status_code == 404
    assert get(client, "/pypi/alice/demo-pkg/4.0/json").status_code == 404  # dev label only


def test_latest_skips_yanked_releases(client, world) -> None:
    response = client.post(
        "/api/yank/alice/Demo_Pkg/2.0/demo_pkg-2.0-py3-none-any.whl",
        headers=auth(world.alice),
        json={"reason": "bad"},
    )
    assert response.status_code == 200, response.text
    doc = get(client, "/pypi/alice/demo-pkg/json").json()
    assert doc["info"]["version"] == "1.0"
    assert doc["releases"]["2.0"][0]["yanked"] is True
    assert doc["releases"]["2.0"][0]["yanked_reason"] == "bad"
    yanked = get(client, "/pypi/alice/demo-pkg/2.0/json").json()["info"]
    assert (yanked["yanked"], yanked["yanked_reason"]) == (True, "bad")


def test_non_normalised_names_redirect(client, world) -> None:
    response = get(client, "/pypi/alice/Demo_Pkg/json")
    assert response.status_code == 301
    assert response.headers["location"] == "http://testserver/pypi/alice/demo-pkg/json"
    response = get(client, "/pypi/alice/Demo.Pkg/1.0/json?x=1")
    assert response.headers["location"] == "http://testserver/pypi/alice/demo-pkg/1.0/json?x=1"
    response = get(client, f"/t/{world.alice}/pypi/alice/label/dev/DEMO_PKG/json")
    assert (
        response.headers["location"]
        == f"http://testserver/t/{world.alice}/pypi/alice/label/dev/demo-pkg/json"
    )
    assert client.get("/pypi/alice/Demo_Pkg/json").json()["info"]["name"] == "Demo_Pkg"


def test_labels(client, world) -> None:
    doc = get(client, "/pypi/alice/label/dev/demo-pkg/json").json()
    assert doc["info"]["version"] == "4.0"
    assert list(doc["releases"]) == ["4.0"]
    assert (
        doc["urls"][0]["url"]
        == "http://testserver/pypi/alice/label/dev/files/demo-pkg/demo_pkg-4.0-py3-none-any.whl"
    )
    assert get(client, "/pypi/alice/label/dev/demo-pkg/4.0/json").json()["info"]["version"] == "4.0"
    assert get(client, "/pypi/alice/label/dev/demo-pkg/1.0/json").status_code == 404
    assert get(client, "/pypi/alice/label/main/demo-pkg/json").json()["info"]["version"] == "2.0"
    assert get(client, "/pypi/alice/label/nope/demo-pkg/json").status_code == 404
    assert get(client, "/pypi/alice/label/dev/tool/json").status_code == 401  # anonymous: as if private


def test_private_project(client, world) -> None:
    anonymous = get(client, "/pypi/alice/secret-pkg/json")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert get(client, "/pypi/alice/secret-pkg/1.0/json").status_code == 401
    assert get(client, "/pypi/alice/secret-pkg/json", world.dave).status_code == 404
    assert get(client, "/pypi/alice/secret-pkg/json", "py-wrong-token-000000").status_code == 401
    mine = get(client, "/pypi/alice/secret-pkg/json", world.alice)
    assert mine.status_code == 200
    assert mine.headers["cache-control"] == "private, max-age=0, must-revalidate"
    assert "access-control-allow-origin" not in mine.headers
    basic = client.get("/pypi/alice/secret-pkg/json", auth=("alice", "password-123"))
    assert basic.status_code == 200
    # Through a /t/TOKEN/ prefix, the file URLs keep it and work.
    doc = get(client, f"/t/{world.alice}/pypi/alice/secret-pkg/json").json()
    url = doc["urls"][0]["url"]
    assert url.startswith(f"http://testserver/t/{world.alice}/pypi/alice/files/secret-pkg/")
    assert client.get(url.removeprefix("http://testserver")).status_code == 200


def test_not_found(client, world) -> None:
    for path in (
        "/pypi/alice/nope/json",
        "/pypi/nobody/demo-pkg/json",
        "/pypi/acme/demo-pkg/json",
        "/pypi/alice/nope/1.0/json",
    ):
        assert get(client, path).status_code in (401, 404), path  # 401 once the owner exists: as if private


def test_organization_ownership(client, world) -> None:
    doc = get(client, "/pypi/acme/tool/json").json()
    assert doc["ownership"] == {"roles": [{"role": "Owner", "user": "carol"}], "organization": "acme"}


def test_etag_and_serial_move_with_changes(client, world, tmp_path) -> None:
    first = get(client, "/pypi/alice/demo-pkg/json")
    etag = first.headers["etag"]
    assert get(client, "/pypi/alice/demo-pkg/json", **{"If-None-Match": etag}).status_code == 304
    put_wheel(client, world.alice, tmp_path, "alice", "Demo_Pkg", "2.1")
    second = get(client, "/pypi/alice/demo-pkg/json", **{"If-None-Match": etag})
    assert second.status_code == 200
    assert second.json()["info"]["version"] == "2.1"
    assert int(second.headers["x-pypi-last-serial"]) > int(first.headers["x-pypi-last-serial"])


def test_access_change_applies_at_once(client, world) -> None:
    response = client.post(
        "/api/packages/alice/access",
        headers=auth(world.alice),
        json={"packages": ["Demo_Pkg"], "access": "private"},
    )
    assert response.status_code == 200, response.text
    assert get(client, "/pypi/alice/demo-pkg/json").status_code == 401
    assert get(client, "/pypi/alice/demo-pkg/json", world.alice).status_code == 200
