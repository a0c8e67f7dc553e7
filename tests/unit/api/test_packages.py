"""Packages, releases, files, uploads and their bad inputs through the REST API (in-process)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from packyard.core.models import File, Package
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth, ensure_package, login, post_form, stage, upload


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def count_files(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(File))


def blobs(settings) -> list[Path]:
    return [p for p in settings.blob_root.rglob("*") if p.is_file() and p.parent.name != "tmp"]


def test_full_upload_and_download(client, alice, tmp_path, settings) -> None:
    path = build_conda(tmp_path, name="foo", version="1.0", build="0", subdir="linux-64", fmt="tar.bz2")
    committed = upload(client, alice, "alice", "foo", "1.0", path, f"linux-64/{path.name}", "conda")
    assert committed.status_code == 200, committed.text
    body = committed.json()
    assert body["url"].endswith("/alice/foo")
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert body["attrs"]["subdir"] == "linux-64" and body["labels"] == ["main"]

    pkg = client.get("/api/package/alice/foo").json()
    assert (
        pkg["conda_platforms"] == ["linux-64"] and pkg["latest_version"] == "1.0" and pkg["builds"] == ["0"]
    )
    dist = client.get(f"/api/dist/alice/foo/1.0/linux-64/{path.name}")
    assert dist.status_code == 200 and dist.json()["full_name"] == f"alice/foo/1.0/linux-64/{path.name}"
    download = client.get(f"/api/download/alice/foo/1.0/linux-64/{path.name}")
    assert download.status_code == 200 and download.content == path.read_bytes()
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert (
        client.get(f"/api/download/alice/foo/1.0/linux-64/{path.name}", headers={"ETag": md5}).status_code
        == 304
    )
    assert client.get(f"/alice/foo/1.0/download/linux-64/{path.name}").content == path.read_bytes()
    client.app.state.services.downloads.flush()  # counts are written in batches
    assert client.get(f"/api/dist/alice/foo/1.0/linux-64/{path.name}").json()["ndownloads"] == 2


@pytest.mark.parametrize(
    "path",
    [
        "/api/package/nobody/foo",
        "/api/package/alice/nothing",
        "/api/release/alice/foo/9.9",
        "/api/dist/alice/foo/1.0/linux-64/none-1.0-0.tar.bz2",
        "/api/download/alice/foo/1.0/nope.tar.bz2",
        "/api/user/nobody",
        "/api/packages/nobody",
        "/api/channels/nobody",
    ],
)
def test_unknown_things_are_404_with_an_error(client, alice, tmp_path, path) -> None:
    conda = build_conda(tmp_path, name="foo", version="1.0", subdir="linux-64")
    upload(client, alice, "alice", "foo", "1.0", conda, f"linux-64/{conda.name}", "conda")
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]


def test_existing_basename_is_409_at_stage(client, alice, tmp_path) -> None:
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    assert (
        upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda").status_code == 200
    )
    again = stage(client, alice, "alice", "foo", "1.0", f"noarch/{path.name}", "conda")
    assert again.status_code == 409 and "already exists" in again.json()["error"]


def _assert_nothing_stored(client, db, settings, before_files: int) -> None:
    assert count_files(db) == before_files
    assert client.head("/api").status_code == 200


def test_conda_index_disagreeing_with_filename_is_400(client, alice, tmp_path, db, settings) -> None:
    path = build_conda(
        tmp_path, name="foo", version="1.0", subdir="noarch", index_overrides={"version": "2.0"}
    )
    before = len(blobs(settings))
    committed = upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda")
    assert committed.status_code == 400
    assert "version" in committed.json()["error"]
    _assert_nothing_stored(client, db, settings, 0)
    assert len(blobs(settings)) == before


def test_wheel_metadata_disagreeing_with_filename_is_400(client, alice, tmp_path, db, settings) -> None:
    path = build_wheel(tmp_path, name="demo-pkg", version="1.0", metadata_overrides={"Version": "1.1"})
    committed = upload(client, alice, "alice", "demo-pkg", "1.0", path, path.name, "pypi")
    assert committed.status_code == 400 and "1.1" in committed.json()["error"]
    _assert_nothing_stored(client, db, settings, 0)


def _tar_bz2(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, data: bytes = b"x", **kw) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in kw.items():
        setattr(info, key, value)
    return info, (data if info.isfile() else None)


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([_member("../x"), _member("info/index.json", b"{}")], ".."),
        ([_member("info/index.json", type=tarfile.SYMTYPE, linkname="/etc/passwd", size=0)], "link"),
    ],
)
def test_hostile_tar_members_are_400(client, alice, tmp_path, db, settings, members, words) -> None:
    path = tmp_path / "foo-1.0-0.tar.bz2"
    path.write_bytes(_tar_bz2(members))
    committed = upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda")
    assert committed.status_code == 400
    assert words in committed.json()["error"]
    _assert_nothing_stored(client, db, settings, 0)


def test_truncated_and_non_archive_files_are_400(client, alice, tmp_path, db, settings) -> None:
    good = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    truncated = tmp_path / "t" / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (truncated,):
        committed = upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda")
        assert committed.status_code == 400, committed.text
    junk = tmp_path / "foo-1.0-0.conda"
    junk.write_bytes(b"this is not a zip file at all")
    committed = upload(client, alice, "alice", "foo", "1.0", junk, f"noarch/{junk.name}", "conda")
    assert committed.status_code == 400
    _assert_nothing_stored(client, db, settings, 0)


@pytest.mark.parametrize(
    "basename",
    ["noarch/../../etc/passwd", "a\x00b.tar.bz2", "/abs.tar.bz2", "a/b/c.tar.bz2", "..", "noarch/."],
)
def test_bad_basenames_are_400_at_stage(client, alice, basename) -> None:
    ensure_package(client, alice, "alice", "foo")
    # Every character escaped, so neither the HTTP client nor the router normalises the path for us.
    encoded = "".join(f"%{byte:02X}" for byte in basename.encode())
    response = client.post(
        f"/api/stage/alice/foo/1.0/{encoded}", headers=auth(alice), json={"distribution_type": "conda"}
    )
    assert response.status_code == 400, response.text
    assert "file name" in response.json()["error"]


def test_digest_mismatch_is_s3_xml_and_stores_nothing(client, alice, tmp_path, db, settings) -> None:
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", f"noarch/{path.name}", "conda").json()
    response = post_form(client, staged, path.read_bytes(), path.name, md5=b"0" * 16)
    assert response.status_code == 400
    assert "<Code>InvalidDigest</Code>" in response.text
    assert not blobs(settings)
    assert not list((settings.blob_root / "tmp").iterdir())


def test_upload_form_is_single_use_and_signed(client, alice, tmp_path) -> None:
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", f"noarch/{path.name}", "conda").json()
    forged = {**staged, "form_data": {**staged["form_data"], "upload_token": "0" * 64}}
    assert "<Code>AccessDenied</Code>" in post_form(client, forged, path.read_bytes(), path.name).text
    assert post_form(client, staged, path.read_bytes(), path.name).status_code == 201
    reused = post_form(client, staged, path.read_bytes(), path.name)
    assert reused.status_code in (403, 404) and "<Error>" in reused.text


def test_commit_needs_the_uploader(client, alice, make_user, tmp_path) -> None:
    make_user("mallory")
    mallory = login(client, "mallory", "password-123")
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", f"noarch/{path.name}", "conda").json()
    post_form(client, staged, path.read_bytes(), path.name)
    response = client.post(
        f"/api/commit/alice/foo/1.0/noarch/{path.name}",
        headers=auth(mallory),
        json={"dist_id": staged["dist_id"]},
    )
    assert response.status_code == 403


def test_others_cannot_write(client, alice, make_user, tmp_path) -> None:
    make_user("bob")
    bob = login(client, "bob", "password-123")
    assert client.post("/api/package/alice/x", headers=auth(bob), json={}).status_code == 403
    ensure_package(client, alice, "alice", "foo")
    assert stage(client, bob, "alice", "foo", "1.0", "noarch/foo-1.0-0.tar.bz2", "conda").status_code == 403
    assert client.delete("/api/package/alice/foo", headers=auth(bob)).status_code == 403
    assert client.delete("/api/package/alice/foo").status_code == 401


def test_package_and_release_crud_status_codes(client, alice) -> None:
    create = client.post(
        "/api/package/alice/thing",
        headers=auth(alice),
        json={
            "public": True,
            "public_attrs": {"summary": "s", "license": {"name": "MIT"}, "package_types": []},
        },
    )
    assert create.status_code == 200 and create.json()["license"] == "MIT"
    dup = client.post("/api/package/alice/thing", headers=auth(alice), json={})
    assert dup.status_code == 409
    patch = client.patch(
        "/api/package/alice/thing", headers=auth(alice), json={"public_attrs": {"summary": "changed"}}
    )
    assert patch.status_code == 200 and patch.json()["summary"] == "changed"
    rel = client.post(
        "/api/release/alice/thing/1.0",
        headers=auth(alice),
        json={"requirements": [], "announce": None, "description": "first"},
    )
    assert rel.status_code == 200 and rel.json()["public_attrs"]["description"] == "first"
    assert (
        client.patch(
            "/api/release/alice/thing/1.0", headers=auth(alice), json={"public_attrs": {"description": "new"}}
        ).json()["description"]
        == "new"
    )
    assert client.delete("/api/release/alice/thing/1.0", headers=auth(alice)).status_code == 201
    assert client.delete("/api/package/alice/thing", headers=auth(alice)).status_code == 201
    assert client.get("/api/package/alice/thing").status_code == 404


def test_private_packages_hidden_from_listings_and_search(client, alice, make_user, db) -> None:
    make_user("bob")
    bob = login(client, "bob", "password-123")
    client.post(
        "/api/package/alice/secret-sauce",
        headers=auth(alice),
        json={"public": False, "public_attrs": {"summary": "hidden"}},
    )
    client.post(
        "/api/package/alice/open-sauce",
        headers=auth(alice),
        json={"public": True, "public_attrs": {"summary": "visible"}},
    )
    for headers in ({}, auth(bob)):
        names = [p["name"] for p in client.get("/api/packages/alice", headers=headers).json()]
        assert names == ["open-sauce"]
        found = [
            p["name"] for p in client.get("/api/search", params={"name": "sauce"}, headers=headers).json()
        ]
        assert found == ["open-sauce"]
    assert (
        client.get("/api/package/alice/secret-sauce").status_code == 404
    )  # private: answered as a missing name (docs/security.md)
    assert client.get("/api/package/alice/secret-sauce", headers=auth(bob)).status_code == 404
    mine = [p["name"] for p in client.get("/api/packages", headers=auth(alice)).json()]
    assert mine == ["open-sauce", "secret-sauce"]
    assert [
        p["name"]
        for p in client.get("/api/packages/alice", params={"access": "private"}, headers=auth(alice)).json()
    ] == ["secret-sauce"]


def test_package_filters(client, alice, tmp_path) -> None:
    a = build_conda(tmp_path, name="foo", version="1.0", subdir="linux-64")
    upload(client, alice, "alice", "foo", "1.0", a, f"linux-64/{a.name}", "conda")
    w = build_wheel(tmp_path, name="bar", version="1.0")
    upload(client, alice, "alice", "bar", "1.0", w, w.name, "pypi")
    names = lambda **q: [p["name"] for p in client.get("/api/packages/alice", params=q).json()]  # noqa: E731
    assert names(platform="linux-64") == ["foo"]
    assert names(package_type="pypi") == ["bar"]
    assert names(package_type="conda", platform="osx-64") == []
    listing = client.request("GET", "/api/package_listing", data={"modified_after": "2000-01-01"}).json()
    assert {p["full_name"] for p in listing} == {"alice/foo", "alice/bar"}
    assert client.request("GET", "/api/package_listing", data={"modified_after": "3000-01-01"}).json() == []


def test_locked_label_refuses_changes(client, alice, tmp_path) -> None:
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda", labels=["stable"])
    assert client.post("/api/channels/alice/stable/lock", headers=auth(alice)).status_code == 201
    assert client.get("/api/channels/alice").json()["stable"]["is_locked"] is True
    assert (
        client.request("DELETE", "/api/channels/alice/stable", headers=auth(alice), json={}).status_code
        == 409
    )
    assert (
        client.delete(f"/api/dist/alice/foo/1.0/noarch/{path.name}", headers=auth(alice)).status_code == 409
    )
    other = build_conda(tmp_path, name="foo", version="2.0", subdir="noarch")
    assert (
        upload(
            client, alice, "alice", "foo", "2.0", other, f"noarch/{other.name}", "conda", labels=["stable"]
        ).status_code
        == 409
    )
    assert client.delete("/api/channels/alice/stable/lock", headers=auth(alice)).status_code == 201
    assert (
        client.delete(f"/api/dist/alice/foo/1.0/noarch/{path.name}", headers=auth(alice)).status_code == 200
    )


def test_events_are_logged_with_monotonic_serials(client, alice, tmp_path, db) -> None:
    from packyard.core.models import Event

    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    upload(client, alice, "alice", "foo", "1.0", path, f"noarch/{path.name}", "conda")
    client.post("/api/channels/alice/dev", headers=auth(alice), json={"package": "foo"})
    client.patch("/api/package/alice/foo", headers=auth(alice), json={"public": False})
    client.delete(f"/api/dist/alice/foo/1.0/noarch/{path.name}", headers=auth(alice))
    with db.read() as session:
        events = session.scalars(select(Event).order_by(Event.serial)).all()
    kinds = [e.kind for e in events if not e.kind.startswith("token.")]  # the `alice` fixture's login
    assert kinds == [
        "package.created",
        "release.created",
        "file.added",
        "label.added",
        "access.changed",
        "package.updated",
        "file.removed",
    ]
    serials = [e.serial for e in events]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
    with db.read() as session:
        assert session.get(Package, 1).access == "private"


@pytest.mark.parametrize("kind", ["conda", "wheel"])
def test_decompression_bombs_are_400_and_store_nothing(client, alice, tmp_path, db, settings, kind) -> None:
    from tests.builders import build_conda_bomb, build_wheel_bomb

    if kind == "conda":
        path = build_conda_bomb(tmp_path)  # info/index.json inflates to 2 GiB
        committed = upload(client, alice, "alice", "bomb", "1.0", path, f"noarch/{path.name}", "conda")
    else:
        path = build_wheel_bomb(tmp_path)  # METADATA inflates to 2 GiB
        name, version = path.name.split("-")[:2]
        committed = upload(client, alice, "alice", name, version, path, path.name, "pypi")
    assert committed.status_code == 400
    assert "larger than" in committed.json()["error"]
    _assert_nothing_stored(client, db, settings, 0)
    assert not blobs(settings)
