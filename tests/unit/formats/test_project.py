"""Projects: the pure archive parser, revisions, listings and downloads over HTTP (in-process)."""

from __future__ import annotations

import bz2
import gzip
import io
import random
import stat
import zipfile
from pathlib import Path

import pytest

from packyard.core import formats as registry
from packyard.core.artifacts import InvalidPackage
from packyard.formats.project import parse as project
from tests.builders import Member, tar_bytes, write_zip
from tests.unit.api.helpers import auth, upload
from tests.unit.formats.named_support import (
    Server,
    mutate,
    project_tar_gz,
    project_zip,
    repo_upload,
    server_fixture,
    stored,
)

assert server_fixture  # the module-scoped app the tests share, as the fixture `server`


def write(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the parser -------------------------------------------------------------------------------------------------


def test_parse_tar_gz(tmp_path: Path) -> None:
    artifact = project.parse(write(tmp_path, project_tar_gz(), "my-proj.tar.gz"), "my-proj.tar.gz")
    assert artifact.package_type == "project" and artifact.name == "my-proj" and artifact.version == "1"
    files = artifact.attrs["files"]
    assert [f["path"] for f in files] == ["proj/README.md", "proj/analysis.ipynb", "proj/data/values.csv"]
    assert files[0]["size"] == len(b"# A project\n") and artifact.attrs["num_files"] == 3
    assert artifact.attrs["archive"] == "tar.gz" and artifact.attrs["revision"] == "1"


def test_parse_tar_bz2_and_zip_with_uploader_names(tmp_path: Path) -> None:
    members = [("./app/main.py", b"print('hi')\n"), ("./app/", b"")]
    tbz = write(tmp_path, bz2.compress(tar_bytes([Member(".", kind="dir"), members[0]])), "x.tar.bz2")
    artifact = project.parse(tbz, "x.tar.bz2", name="app", version="7", summary="An app")
    assert (artifact.name, artifact.version, artifact.summary) == ("app", "7", "An app")
    assert artifact.attrs["files"] == [{"path": "app/main.py", "size": 12}]
    zipped = write(tmp_path, project_zip([("app/", b""), ("app/main.py", b"print('hi')\n")]), "app.zip")
    assert project.parse(zipped, "app.zip").attrs["files"] == [{"path": "app/main.py", "size": 12}]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("../evil.sh", b"x")], "'..'"),
        ([("proj/../../evil.sh", b"x")], "'..'"),
        ([("/etc/passwd", b"x")], "absolute member name"),
        ([Member("proj/link", kind="symlink", target="/etc/passwd")], "is a link"),
        ([("proj/a", b"x"), Member("proj/b", kind="hardlink", target="proj/a")], "is a link"),
        ([Member("proj/fifo", kind="fifo")], "device or special file"),
        ([("proj/a", b"x"), ("proj/a", b"y")], "more than once"),
        ([("proj/bad\nname", b"x")], "control character"),
        ([Member("proj", kind="dir")], "holds no files"),
    ],
)
def test_hostile_tar_members_are_refused(tmp_path: Path, members: list, message: str) -> None:
    path = write(tmp_path, gzip.compress(tar_bytes(members)), "p.tar.gz")
    with pytest.raises(InvalidPackage, match=message):
        project.parse(path, "p.tar.gz", name="p", version="1")


def test_devices_are_refused(tmp_path: Path) -> None:
    out = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("proj/null")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(info)
    path = write(tmp_path, gzip.compress(out.getvalue()), "d.tgz")
    with pytest.raises(InvalidPackage, match="character device"):
        project.parse(path, "d.tgz", name="d", version="1")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("../evil", b"x")], "'..'"),
        ([Member("proj/link", kind="symlink", target="/etc/passwd")], "symbolic link"),
        ([Member("/abs", b"x")], "absolute"),
    ],
)
def test_hostile_zip_members_are_refused(tmp_path: Path, members: list, message: str) -> None:
    path = write_zip(tmp_path / "p.zip", members)
    with pytest.raises(InvalidPackage, match=message):
        project.parse(path, "p.zip", name="p", version="1")


def test_zip_special_files_and_lying_sizes(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.zip"
    with zipfile.ZipFile(fifo, "w") as archive:
        info = zipfile.ZipInfo("proj/fifo")
        info.external_attr = (stat.S_IFIFO | 0o644) << 16
        archive.writestr(info, b"")
    with pytest.raises(InvalidPackage, match="device or special file"):
        project.parse(fifo, "fifo.zip", name="p", version="1")
    damaged = bytearray(project_zip([("proj/data.txt", b"hello world " * 100)]))
    damaged[damaged.index(b"PK\x01\x02") + 16] ^= 0xFF  # the CRC in the central directory
    with pytest.raises(InvalidPackage, match="not a valid project archive"):
        project.parse(write(tmp_path, bytes(damaged), "crc.zip"), "crc.zip", name="p", version="1")


def test_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project, "MAX_MEMBERS", 3)
    many = write(tmp_path, gzip.compress(tar_bytes([(f"p/{i}", b"x") for i in range(4)])), "many.tar.gz")
    with pytest.raises(InvalidPackage, match="more than 3 members"):
        project.parse(many, "many.tar.gz", name="p", version="1")
    monkeypatch.setattr(project, "MAX_FILE_BYTES", 10)
    big = write(tmp_path, project_zip([("p/big", b"x" * 11)]), "big.zip")
    with pytest.raises(InvalidPackage, match="expands past"):
        project.parse(big, "big.zip", name="p", version="1")
    big_tar = write(tmp_path, gzip.compress(tar_bytes([("p/big", b"x" * 11)])), "big.tgz")
    with pytest.raises(InvalidPackage, match="larger than 10 bytes"):
        project.parse(big_tar, "big.tgz", name="p", version="1")


def test_zip_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member inflating past the limit is refused after reading just past the limit, whatever its header says."""
    monkeypatch.setattr(project, "MAX_FILE_BYTES", 1 << 20)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("p/zeros", "w") as member:
        for _ in range(64):
            member.write(b"\0" * (1 << 20))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InvalidPackage, match="expands past"):
        project.parse(path, "bomb.zip", name="p", version="1")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"not an archive", "p.tar.gz", "not a valid project archive"),
        (b"PK\x03\x04broken", "p.zip", "not a valid project archive"),
        (b"whatever", "p.rar", "upload a project as"),
    ],
)
def test_not_archives(tmp_path: Path, data: bytes, name: str, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        project.parse(write(tmp_path, data, name), name, name="p", version="1")


def test_next_revision() -> None:
    assert project.next_revision([]) == "1"
    assert project.next_revision(["1", "2", "10", "beta", "3.1"]) == "11"


def test_registered_but_never_detected(tmp_path: Path) -> None:
    assert registry.parser_for("project") is project.parse
    path = write(tmp_path, project_tar_gz(), "p.tar.gz")
    assert registry.detect(path, path.name) == "file"


@pytest.mark.parametrize("kind", ["tar.gz", "tar.bz2", "zip"])
def test_mutated_archives_only_raise_invalid_package(tmp_path: Path, kind: str) -> None:
    rng = random.Random(f"20240701-{kind}")
    members = [("proj/a.txt", b"alpha\n" * 20), ("proj/sub/b.csv", b"1,2\n" * 30), ("proj/c", b"")]
    inner = tar_bytes(members)
    path = tmp_path / f"fuzz.{kind}"
    refused = 0
    for iteration in range(150):
        if kind == "zip":
            data = mutate(project_zip(members), rng)
        elif rng.random() < 0.5:  # mutate the tar itself, so the member checks are reached
            data = (gzip.compress if kind == "tar.gz" else bz2.compress)(mutate(inner, rng))
        else:
            data = mutate((gzip.compress if kind == "tar.gz" else bz2.compress)(inner), rng)
        path.write_bytes(data)
        try:
            artifact = project.parse(path, path.name, name="p", version="1")
        except InvalidPackage:
            refused += 1
            continue
        except Exception as exc:
            pytest.fail(f"iteration {iteration}: {type(exc).__name__}: {exc}")
        assert all(
            ".." not in f["path"].split("/") and not f["path"].startswith("/")
            for f in artifact.attrs["files"]
        )
    assert refused > 20


# --- over HTTP ----------------------------------------------------------------------------------------------------


def test_revisions_listing_and_download(server: Server) -> None:
    client, alice = server.client, server.alice
    first = project_tar_gz()
    second = project_tar_gz([("proj/README.md", b"# Revised\n")])
    for data in (first, second):
        response = repo_upload(client, alice, "alice", "project", "proj.tar.gz", data, name="proj")
        assert response.status_code == 200, response.text
    same = repo_upload(client, alice, "alice", "project", "proj.tar.gz", second, name="proj")
    assert same.status_code == 200 and "identical" in same.text
    info = client.get("/api/projects/alice/proj").json()
    assert info["latest_revision"] == "2" and [r["revision"] for r in info["revisions"]] == ["1", "2"]
    archive = info["revisions"][1]["files"][0]
    assert archive["basename"] == "proj.tar.gz" and archive["type"] == "project"
    assert archive["attrs"]["num_files"] == 1 and "files" not in archive["attrs"]
    assert client.get("/api/projects/alice/proj/1/files").json() == [
        {"path": "proj/README.md", "size": 12},
        {"path": "proj/analysis.ipynb", "size": len(tar_members(first)["proj/analysis.ipynb"])},
        {"path": "proj/data/values.csv", "size": 8},
    ]
    assert client.get("/api/projects/alice/proj/3/files").status_code == 404
    assert client.get("/api/download/alice/proj/1/proj.tar.gz").content == first
    assert client.get("/alice/proj/2/download/proj.tar.gz").content == second
    explicit = repo_upload(
        client, alice, "alice", "project", "proj.zip", project_zip([("a", b"1")]), name="proj", version="9"
    )
    assert explicit.status_code == 200
    assert client.get("/api/projects/alice/proj").json()["latest_revision"] == "9"


def tar_members(data: bytes) -> dict[str, bytes]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_stage_commit_flow(server: Server, tmp_path: Path) -> None:
    path = write(tmp_path, project_tar_gz(), "staged.tar.gz")
    committed = upload(
        server.client, server.alice, "alice", "staged-proj", "5", path, "staged.tar.gz", "project"
    )
    assert committed.status_code == 200, committed.text
    assert server.client.get("/api/projects/alice/staged-proj").json()["latest_revision"] == "5"


def test_hostile_archive_upload_stores_nothing(server: Server) -> None:
    before = stored(server.db)
    data = gzip.compress(tar_bytes([("proj/ok.txt", b"ok"), ("../../etc/cron.d/evil", b"x")]))
    response = repo_upload(server.client, server.alice, "alice", "project", "evil.tar.gz", data, name="evil")
    assert response.status_code == 400 and "'..'" in response.text
    assert stored(server.db) == before
    assert server.client.get("/api/projects/alice/evil").status_code == 404


def test_private_project_needs_credentials(server: Server) -> None:
    client, alice = server.client, server.alice
    data = project_tar_gz()
    assert repo_upload(client, alice, "alice", "project", "p.tar.gz", data, name="closed").status_code == 200
    assert (
        client.patch("/api/package/alice/closed", headers=auth(alice), json={"public": False}).status_code
        == 200
    )
    for path in (
        "/api/projects/alice/closed",
        "/api/projects/alice/closed/1/files",
        "/alice/closed/1/download/p.tar.gz",
    ):
        assert client.get(path).status_code == 404, path  # private: answered as a missing name
        assert client.get(path, headers=auth(alice)).status_code == 200, path
        assert client.get(path, headers=auth(server.bob)).status_code == 404, path
    assert client.get(f"/api/t/{alice}/projects/alice/closed").status_code == 200
    assert client.get("/alice/closed/1/download/p.tar.gz", auth=(alice, "x-auth-token")).content == data
