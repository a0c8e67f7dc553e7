"""Snapshot routes in-process: PyPI, conda and CRAN as at a serial or a UTC time, access, labels, bad points."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import build_conda, build_r_source, build_wheel
from tests.unit.api.helpers import auth, login, upload

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def serial(client: TestClient) -> int:
    body = client.get("/api/serial").json()
    return int(body["serial"])


def folder(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    return out


def wheel(client, token, tmp_path, version, name="demo", labels=None) -> Path:
    path = build_wheel(folder(tmp_path, f"{name}-{version}"), name=name, version=version)
    assert (
        upload(client, token, "alice", name, version, path, path.name, "pypi", labels=labels).status_code
        == 200
    )
    return path


def conda(client, token, tmp_path, version, labels=None) -> Path:
    path = build_conda(folder(tmp_path, f"c-{version}"), name="cdemo", version=version, subdir="noarch")
    basename = f"noarch/{path.name}"
    assert (
        upload(client, token, "alice", "cdemo", version, path, basename, "conda", labels=labels).status_code
        == 200
    )
    return path


def test_api_serial(client, alice, tmp_path) -> None:
    before = client.get("/api/serial")
    assert before.status_code == 200
    wheel(client, alice, tmp_path, "1.0")
    after = client.get("/api/serial").json()
    assert after["serial"] > before.json()["serial"]
    assert after["at"].endswith("Z")
    live = client.get("/pypi/alice/simple/demo/")
    assert int(live.headers["x-pypi-last-serial"]) <= after["serial"]


def test_pypi_snapshot_keeps_the_old_view(client, alice, tmp_path) -> None:
    old = wheel(client, alice, tmp_path, "1.0")
    pinned = serial(client)
    new = wheel(client, alice, tmp_path, "2.0")
    live = client.get("/pypi/alice/simple/demo/", headers={"Accept": JSON}).json()
    assert [f["filename"] for f in live["files"]] == [old.name, new.name]
    snap = client.get(f"/pypi/alice/snapshot/{pinned}/simple/demo/", headers={"Accept": JSON})
    assert snap.status_code == 200, snap.text
    assert [f["filename"] for f in snap.json()["files"]] == [old.name]
    assert snap.json()["versions"] == ["1.0"]
    assert snap.headers["x-pypi-last-serial"] == str(pinned)
    assert "immutable" in snap.headers["cache-control"] and "public" in snap.headers["cache-control"]
    html = client.get(f"/pypi/alice/snapshot/{pinned}/simple/demo/")
    assert old.name in html.text and new.name not in html.text
    assert (
        client.get(
            f"/pypi/alice/snapshot/{pinned}/simple/demo/", headers={"If-None-Match": html.headers["etag"]}
        ).status_code
        == 304
    )
    root = client.get(f"/pypi/alice/snapshot/{pinned}/simple/", headers={"Accept": JSON}).json()
    assert [p["name"] for p in root["projects"]] == ["demo"]
    # redirects keep the snapshot prefix
    moved = client.get(f"/pypi/alice/snapshot/{pinned}/simple/Demo", follow_redirects=False)
    assert (
        moved.status_code == 301
        and moved.headers["location"] == f"/pypi/alice/snapshot/{pinned}/simple/demo/"
    )
    # the file link resolves to a download
    link = snap.json()["files"][0]["url"]
    target = f"/pypi/alice/snapshot/{pinned}/simple/demo/{link}"
    got = client.get(target)
    assert got.status_code == 200 and got.content == old.read_bytes()
    meta = client.get(target + ".metadata")
    assert meta.status_code == 200 and b"Name: demo" in meta.content


def test_removed_file_stays_downloadable_through_a_snapshot(client, alice, tmp_path) -> None:
    old = wheel(client, alice, tmp_path, "1.0")
    pinned = serial(client)
    assert client.delete(f"/api/dist/alice/demo/1.0/{old.name}", headers=auth(alice)).status_code == 200
    assert client.get(f"/pypi/alice/files/demo/{old.name}").status_code in (401, 404)
    got = client.get(f"/pypi/alice/snapshot/{pinned}/files/demo/{old.name}")
    assert got.status_code == 200 and got.content == old.read_bytes()
    later = serial(client)
    assert client.get(f"/pypi/alice/snapshot/{later}/files/demo/{old.name}").status_code == 401


def test_points_as_times(client, alice, tmp_path) -> None:
    old = wheel(client, alice, tmp_path, "1.0")
    assert client.get("/pypi/alice/snapshot/2000-01-01/simple/demo/").status_code == 401  # nothing then
    now = client.get("/pypi/alice/snapshot/2099-01-01T00:00:00Z/simple/demo/")
    assert now.status_code == 400 and "future" in now.text
    at = client.get("/api/serial").json()["at"]
    snap = client.get(f"/pypi/alice/snapshot/{at}/simple/demo/")
    assert snap.status_code == 200 and old.name in snap.text
    assert "immutable" not in snap.headers["cache-control"]


@pytest.mark.parametrize(
    ("point", "status", "words"),
    [
        ("yesterday", 400, "not a snapshot point"),
        ("99999", 404, "does not exist yet"),
        ("2026-02-30", 400, "not a"),
    ],
)
def test_bad_points_say_what_to_fix(client, alice, tmp_path, point, status, words) -> None:
    wheel(client, alice, tmp_path, "1.0")
    for url in (
        f"/pypi/alice/snapshot/{point}/simple/",
        f"/conda/alice/snapshot/{point}/noarch/repodata.json",
        f"/cran/alice/snapshot/{point}/src/contrib/PACKAGES",
    ):
        response = client.get(url)
        assert response.status_code == status, (url, response.text)
        assert words in response.text
        assert "/api/serial" in response.text


def test_private_packages_are_invisible_to_anonymous_callers(client, alice, make_user, tmp_path) -> None:
    old = wheel(client, alice, tmp_path, "1.0", name="secret")
    client.patch("/api/package/alice/secret", headers=auth(alice), json={"access": "private"})
    pinned = serial(client)
    anon = client.get(f"/pypi/alice/snapshot/{pinned}/simple/secret/")
    missing = client.get(f"/pypi/alice/snapshot/{pinned}/simple/nothing-here/")
    assert anon.status_code == missing.status_code == 401
    assert anon.text.replace("secret", "X") == missing.text.replace("nothing-here", "X")  # no enumeration
    assert client.get(f"/pypi/alice/snapshot/{pinned}/files/secret/{old.name}").status_code == 401
    mine = client.get(f"/pypi/alice/snapshot/{pinned}/simple/secret/", headers=auth(alice))
    assert mine.status_code == 200 and old.name in mine.text
    assert "private" in mine.headers["cache-control"]
    make_user("bob")
    bob = login(client, "bob", "password-123")
    assert client.get(f"/pypi/alice/snapshot/{pinned}/simple/secret/", headers=auth(bob)).status_code == 404
    # a package made private after the snapshot is private in it too (its access now decides)
    wheel(client, alice, tmp_path, "1.0", name="open")
    pinned = serial(client)
    assert client.get(f"/pypi/alice/snapshot/{pinned}/simple/open/").status_code == 200
    client.patch("/api/package/alice/open", headers=auth(alice), json={"access": "private"})
    assert client.get(f"/pypi/alice/snapshot/{pinned}/simple/open/").status_code == 401


def test_conda_snapshot_and_label_channel(client, alice, tmp_path) -> None:
    one = conda(client, alice, tmp_path, "1.0", labels=["main", "dev"])
    pinned = serial(client)
    two = conda(client, alice, tmp_path, "2.0", labels=["main", "dev"])
    live = client.get("/conda/alice/noarch/repodata.json").json()
    assert sorted(live["packages"]) == sorted([one.name, two.name])
    for prefix in (f"/conda/alice/snapshot/{pinned}", f"/conda/alice/label/dev/snapshot/{pinned}"):
        snap = client.get(f"{prefix}/noarch/repodata.json")
        assert snap.status_code == 200, snap.text
        assert list(snap.json()["packages"]) == [one.name]
        assert snap.json()["packages"][one.name] == live["packages"][one.name]  # the very record
        assert client.get(f"{prefix}/noarch/repodata.json.zst").status_code == 200
        assert client.get(f"{prefix}/noarch/current_repodata.json").json() == snap.json()
        assert client.get(f"{prefix}/noarch/{one.name}").content == one.read_bytes()
        assert client.get(f"{prefix}/noarch/{two.name}").status_code == 401
        assert client.get(f"{prefix}/noarch/repodata_shards.msgpack.zst").status_code == 404
        data = client.get(f"{prefix}/channeldata.json").json()
        assert data["packages"]["cdemo"]["version"] == "1.0"
    assert client.get(f"/conda/alice/label/nope/snapshot/{pinned}/noarch/repodata.json").status_code == 404
    tokened = client.get(f"/conda/t/{alice}/alice/snapshot/{pinned}/noarch/repodata.json")
    assert tokened.status_code == 200 and list(tokened.json()["packages"]) == [one.name]


def test_cran_snapshot(client, alice, tmp_path) -> None:
    first = build_r_source(folder(tmp_path, "r1"), name="demoR", version="1.0")
    assert upload(client, alice, "alice", "demoR", "1.0", first, first.name, "r").status_code == 200
    pinned = serial(client)
    second = build_r_source(folder(tmp_path, "r2"), name="demoR", version="2.0")
    assert upload(client, alice, "alice", "demoR", "2.0", second, second.name, "r").status_code == 200
    assert "Version: 2.0" in client.get("/cran/alice/src/contrib/PACKAGES").text
    snap = client.get(f"/cran/alice/snapshot/{pinned}/src/contrib/PACKAGES")
    assert snap.status_code == 200 and "Version: 1.0" in snap.text and "2.0" not in snap.text
    packed = client.get(f"/cran/alice/snapshot/{pinned}/src/contrib/PACKAGES.gz")
    assert gzip.decompress(packed.content).decode() == snap.text
    got = client.get(f"/cran/alice/snapshot/{pinned}/src/contrib/{first.name}")
    assert got.status_code == 200 and got.content == first.read_bytes()
    assert client.get(f"/cran/alice/snapshot/{pinned}/src/contrib/{second.name}").status_code == 401
