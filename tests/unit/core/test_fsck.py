"""Crash safety of the upload path, and `packyard fsck`, which reports and cleans what a crash leaves.

The upload path: the body streams into blobs/tmp/*.part (1), is hashed and parsed (2), moved into the blob store
(3), recorded on its stage (4), and named by a File row at commit (5). Each test stops it at one point, shows
nothing became visible, and shows fsck reports the leftovers and `--clean` removes them, but only once they are
older than the grace period (a young leftover may belong to an upload still in flight).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, update

from packyard.core import fsck, snapshots
from packyard.core.models import Event, File, Stage
from packyard.core.services import uploads
from packyard.core.storage import LocalBlobStore
from packyard.core.storage import local as local_module
from packyard.core.storage.local import LocalIncoming, temp_files
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth, ensure_package, login, post_form, stage, upload

HOUR = 3600


@pytest.fixture
def store(settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_root)


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


@pytest.fixture
def conda(tmp_path) -> Path:
    return build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")


def make_old(*paths: Path, seconds: int = 2 * HOUR) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def blob_paths(store: LocalBlobStore) -> list[Path]:
    return [store.path_for(sha) for sha in store.iter_blobs()]


def count_files(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(File))


def event_kinds(db) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Event.kind).order_by(Event.serial)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def commit(client, token: str, basename: str, dist_id: str, version: str = "1.0"):
    return client.post(
        f"/api/commit/alice/foo/{version}/{quote(basename)}", headers=auth(token), json={"dist_id": dist_id}
    )


def assert_clean(db, store) -> None:
    report = fsck.check(db, store, clean=False, verify=True, grace_seconds=0)
    assert (report.orphans, report.temp_files, report.expired_stages, report.missing, report.corrupt) == (
        [],
        [],
        [],
        [],
        [],
    )


# --- (1) the upload dies mid-stream -----------------------------------------------------------------------------


def test_a_body_cut_off_mid_file_stores_nothing(client, alice, conda, db, store) -> None:
    """The client disconnects halfway: the request fails, the temp file goes, and the form can be used again."""
    basename = f"noarch/{conda.name}"
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", basename, "conda", sha(conda)).json()
    boundary = "cut-off-boundary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in staged["form_data"].items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{conda.name}"\r\n\r\n'
    data = conda.read_bytes()
    response = client.post(
        staged["post_url"].replace("http://testserver", ""),
        content=head.encode() + data[: len(data) // 2],  # no closing boundary: the stream just ends
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400 and "<Error>" in response.text
    assert list(store.iter_temp()) == [] and list(store.iter_blobs()) == []
    assert commit(client, alice, basename, staged["dist_id"]).status_code == 400  # not uploaded
    assert count_files(db) == 0
    # The stage was not used up, so the client can simply retry.
    assert post_form(client, staged, data, conda.name).status_code == 201
    assert commit(client, alice, basename, staged["dist_id"]).status_code == 200


def test_a_process_killed_mid_stream_leaves_a_temp_file(db, store) -> None:
    """A killed server runs no cleanup: its half-written .part stays, invisible, until fsck --clean."""
    partial = store.tmp / "0123456789abcdef0123456789abcdef.part"
    partial.write_bytes(b"the first half of a package")
    hashed = LocalIncoming(store)  # killed after hashing and parsing, before the rename into place
    hashed.write(b"a whole package, never committed")
    hashed.digest()
    assert sorted(t.name for t in store.iter_temp()) == sorted([str(partial), str(hashed.path)])
    assert list(store.iter_blobs()) == [] and count_files(db) == 0

    report = fsck.check(db, store, clean=True)  # young: may be an upload in progress
    assert report.temp_files == [] and report.cleaned == 0 and partial.exists()

    make_old(partial, hashed.path)
    report = fsck.check(db, store)
    assert sorted(report.temp_files) == sorted([str(partial), str(hashed.path)]) and report.ok
    assert partial.exists()  # reporting changes nothing
    report = fsck.check(db, store, clean=True)
    assert report.cleaned == 2
    assert list(store.iter_temp()) == []
    assert_clean(db, store)


# --- (3) crash after the blob was stored, before anything names it ----------------------------------------------


def test_crash_between_blob_and_stage_record(client, alice, tmp_path, db, store, monkeypatch) -> None:
    wheel = build_wheel(tmp_path, name="foo", version="1.0")
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", wheel.name, "pypi", sha(wheel)).json()

    def crash(*_args, **_kw) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(uploads, "finish_stage", crash)
    assert post_form(client, staged, wheel.read_bytes(), wheel.name).status_code == 500
    monkeypatch.undo()
    blobs = blob_paths(store)
    assert len(blobs) == 2  # the wheel and its PEP 658 metadata
    assert commit(client, alice, wheel.name, staged["dist_id"]).status_code == 400
    assert count_files(db) == 0 and client.get(f"/api/dist/alice/foo/1.0/{wheel.name}").status_code == 404

    assert fsck.check(db, store).orphans == []  # young: the grace period protects them
    assert len(fsck.check(db, store, grace_seconds=0).orphans) == 2
    make_old(*blobs)
    report = fsck.check(db, store, clean=True)
    assert sorted(report.orphans) == sorted(p.name for p in blobs) and report.ok and report.cleaned == 2
    assert blob_paths(store) == []


def test_crash_between_blob_and_file_row(client, alice, conda, db, store, monkeypatch) -> None:
    """The commit dies before its transaction: no row, no event, and the blob is an orphan for fsck."""
    basename = f"noarch/{conda.name}"

    def crash(*_args, **_kw) -> None:
        raise RuntimeError("killed")

    # uploads.commit calls the add_file it imported from services.packages, so that is the name to replace.
    ensure_package(client, alice, "alice", "foo")
    before = event_kinds(db)
    monkeypatch.setattr(uploads, "add_file", crash)
    assert upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code == 500
    monkeypatch.undo()
    assert count_files(db) == 0 and event_kinds(db) == before
    assert client.get(f"/api/dist/alice/foo/1.0/{basename}").status_code == 404
    assert client.get("/api/package/alice/foo").json()["files"] == []
    (blob,) = blob_paths(store)
    assert blob.name == sha(conda)

    assert fsck.check(db, store).orphans == []
    make_old(blob)
    report = fsck.check(db, store)
    assert report.orphans == [blob.name] and report.ok
    assert fsck.check(db, store, clean=True).cleaned == 1 and not blob.exists()
    # The same file can be uploaded again, and then all is well.
    assert upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code == 200
    assert_clean(db, store)


# --- (4) the client never commits: the stage expires ------------------------------------------------------------


def test_an_expired_stage_and_its_blob(client, alice, conda, db, store) -> None:
    basename = f"noarch/{conda.name}"
    ensure_package(client, alice, "alice", "foo")
    staged = stage(client, alice, "alice", "foo", "1.0", basename, "conda", sha(conda)).json()
    assert post_form(client, staged, conda.read_bytes(), conda.name).status_code == 201
    (blob,) = blob_paths(store)
    make_old(blob)
    # While its stage lives, the blob is named by it: not an orphan even with no grace at all.
    report = fsck.check(db, store, clean=True, grace_seconds=0)
    assert report.orphans == [] and report.expired_stages == [] and blob.exists()
    assert count_files(db) == 0

    with db.write() as session:  # time passes
        session.execute(update(Stage).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    report = fsck.check(db, store)
    assert report.expired_stages == [staged["dist_id"]] and report.orphans == [blob.name] and report.ok
    report = fsck.check(db, store, clean=True)
    assert report.cleaned == 2 and not blob.exists()
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Stage)) == 0
    assert commit(client, alice, basename, staged["dist_id"]).status_code == 404
    assert_clean(db, store)


# --- problems fsck cannot clean: rows whose blob is gone or damaged ---------------------------------------------


def test_a_missing_blob_is_reported(client, alice, conda, tmp_path, db, store) -> None:
    basename = f"noarch/{conda.name}"
    wheel = build_wheel(tmp_path, name="bar", version="1.0")
    assert upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code == 200
    assert upload(client, alice, "alice", "bar", "1.0", wheel, wheel.name, "pypi").status_code == 200
    assert_clean(db, store)
    store.delete(sha(conda))
    report = fsck.check(db, store, clean=True, grace_seconds=0)
    assert report.missing == [f"{sha(conda)} ({basename})"] and not report.ok
    assert report.cleaned == 0  # nothing to clean: fsck never touches rows

    with db.read() as session:
        metadata = session.scalar(select(File).where(File.basename == wheel.name)).extra["metadata"]
    store.delete(metadata)  # a side document (the wheel's PEP 658 metadata) is as needed as the file
    report = fsck.check(db, store)
    assert len(report.missing) == 2 and any(m.startswith(metadata) for m in report.missing)


def test_verify_finds_a_corrupt_blob(client, alice, conda, db, store) -> None:
    assert (
        upload(client, alice, "alice", "foo", "1.0", conda, f"noarch/{conda.name}", "conda").status_code
        == 200
    )
    path = store.path_for(sha(conda))
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte: same size, same name
    path.write_bytes(bytes(damaged))
    report = fsck.check(db, store)
    assert report.corrupt == [] and report.ok  # only --verify re-hashes
    report = fsck.check(db, store, verify=True, clean=True)
    assert report.corrupt == [sha(conda)] and not report.ok
    assert path.exists()  # evidence is kept, never "cleaned"


# --- fsck running while uploads are in flight -------------------------------------------------------------------


def test_the_grace_period_protects_young_leftovers(db, store) -> None:
    young = store.put_bytes(b"committed a moment ago; its row is being written")
    old = store.put_bytes(b"left behind long ago")
    make_old(store.path_for(old.sha256))
    report = fsck.check(db, store, clean=True)
    assert report.orphans == [old.sha256] and report.cleaned == 1
    assert store.exists(young.sha256) and not store.exists(old.sha256)
    report = fsck.check(db, store, grace_seconds=10)
    assert report.orphans == []
    make_old(store.path_for(young.sha256), seconds=11)
    assert fsck.check(db, store, grace_seconds=10).orphans == [young.sha256]


def test_leftovers_vanishing_during_the_scan(db, store, monkeypatch) -> None:
    """An upload finishing (its temp file renamed away) while fsck scans is normal, not an error."""
    real_iter_temp, real_iter_blobs = store.iter_temp, store.iter_blobs
    gone_temp = store.tmp / "ffffffffffffffffffffffffffffffff.part"
    gone_blob = hashlib.sha256(b"deleted by another fsck").hexdigest()
    monkeypatch.setattr(store, "iter_temp", lambda: iter([*real_iter_temp(), *temp_files(gone_temp.parent)]))
    gone_temp.write_bytes(b"")  # listed, then gone by the time fsck asks its age
    real_modified = local_module.mtime

    def vanishing(path):
        path.unlink(missing_ok=True)
        return real_modified(path)

    monkeypatch.setattr(local_module, "mtime", vanishing)
    monkeypatch.setattr(store, "iter_blobs", lambda: iter([*real_iter_blobs(), gone_blob]))
    report = fsck.check(db, store, clean=True, grace_seconds=0)
    assert report.temp_files == [] and report.orphans == [] and report.ok


def test_a_blob_named_again_during_the_scan_is_not_deleted(client, alice, conda, tmp_path, db, store) -> None:
    """A removed file is uploaded again while `fsck --verify --clean` hashes everything: its blob must survive."""
    basename = f"noarch/{conda.name}"
    assert upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code == 200
    assert client.delete(f"/api/dist/alice/foo/1.0/{basename}", headers=auth(alice)).status_code == 200
    with db.read() as session:  # snapshots no longer list it: the blob is an orphan
        snapshots.prune(db, snapshots.current_serial(session))
    other = build_wheel(tmp_path, name="bar", version="1.0")  # something for --verify to spend its time on
    assert upload(client, alice, "alice", "bar", "1.0", other, other.name, "pypi").status_code == 200
    make_old(store.path_for(sha(conda)))
    real_open = store.open
    uploaded = []

    def open_and_meanwhile_reupload(key: str):
        if not uploaded:
            uploaded.append(
                upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code
            )
        return real_open(key)

    store.open = open_and_meanwhile_reupload  # type: ignore[method-assign]
    report = fsck.check(db, store, clean=True, verify=True)
    assert uploaded == [200]
    assert report.orphans == [sha(conda)]  # it was one when the scan saw it...
    assert store.exists(sha(conda))  # ...but is named again by the time fsck would delete it
    assert client.get(f"/api/download/alice/foo/1.0/{basename}").content == conda.read_bytes()
    store.open = real_open  # type: ignore[method-assign]
    assert_clean(db, store)


# --- the real command -------------------------------------------------------------------------------------------


def run_fsck(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", "fsck", *args],
        env={**os.environ, "PACKYARD_DATA": str(settings.data), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def counts(output: str) -> dict[str, int]:
    found = re.findall(
        r"(orphan blobs|temp files|expired uploads|missing blobs|corrupt blobs)\W+(\d+)", output
    )
    return {name: int(n) for name, n in found}


def test_the_fsck_command(client, alice, conda, tmp_path, db, store, settings) -> None:
    basename = f"noarch/{conda.name}"
    assert upload(client, alice, "alice", "foo", "1.0", conda, basename, "conda").status_code == 200
    orphan = store.put_bytes(b"an orphan")
    temp = store.tmp / "00000000000000000000000000000000.part"
    temp.write_bytes(b"half an upload")
    make_old(store.path_for(orphan.sha256), temp)
    ensure_package(client, alice, "alice", "foo")
    assert stage(client, alice, "alice", "foo", "2.0", "noarch/foo-2.0-0.tar.bz2", "conda").status_code == 200
    with db.write() as session:
        session.execute(update(Stage).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))

    done = run_fsck(settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert counts(done.stdout) == {
        "orphan blobs": 1,
        "temp files": 1,
        "expired uploads": 1,
        "missing blobs": 0,
        "corrupt blobs": 0,
    }
    assert orphan.sha256 in done.stdout and temp.exists()

    done = run_fsck(settings, "--clean")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cleaned 3 leftovers" in done.stdout
    assert not temp.exists() and not store.exists(orphan.sha256) and store.exists(sha(conda))
    done = run_fsck(settings, "--verify")
    assert done.returncode == 0 and set(counts(done.stdout).values()) == {0}

    store.delete(sha(conda))
    done = run_fsck(settings)
    assert done.returncode == 1
    assert counts(done.stdout)["missing blobs"] == 1 and sha(conda) in done.stdout
