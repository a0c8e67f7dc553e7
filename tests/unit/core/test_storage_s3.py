"""The S3 store's own behaviour, on a real SeaweedFS (tests/seaweed.py): configuration, layout, leftovers of
uploads that never finished, fsck in the bucket, and `packyard blobs migrate`.

The BlobStore contract itself (receive, commit, open, ranges, ages...) is test_storage.py's conformance suite,
which runs on S3 too.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings, build_store
from packyard.core import fsck, migrate
from packyard.core.db import Database
from packyard.core.services.accounts import create_user
from packyard.core.storage import LocalBlobStore, S3Location, StoreUnavailable, parse_blob_url
from packyard.core.storage.s3 import PART, CorruptBlob, S3BlobStore
from tests.conftest import ADMIN_PASSWORD
from tests.seaweed import SeaweedS3
from tests.unit.api.helpers import login
from tests.unit.core.test_concurrent_downloads import PASSWORD, _repo_upload


@pytest.fixture
def store(seaweed: SeaweedS3, tmp_path: Path) -> S3BlobStore:
    return S3BlobStore(seaweed.new_bucket(), "pfx/blobs", tmp_path / "tmp", client=seaweed.client())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- configuration -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", S3Location("bucket", "")),
        ("s3://my.bucket-1/", S3Location("my.bucket-1", "")),
        ("s3://bucket/a/b/", S3Location("bucket", "a/b/")),
        ("file:///srv/blobs", Path("/srv/blobs")),
        ("file://relative/blobs", Path("relative/blobs")),
    ],
)
def test_blob_urls(url: str, expected: object) -> None:
    assert parse_blob_url(url) == expected


@pytest.mark.parametrize(
    "url", ["", "/srv/blobs", "s3:/bucket", "s3://", "s3://Bucket", "s3://b", "s3://bucket/a//b", "s3://x/../y", "gs://b", "file://"]
)  # fmt: skip
def test_bad_blob_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"expected file://PATH .* or s3://BUCKET/PREFIX"):
        parse_blob_url(url)


def test_a_bad_blob_url_stops_the_commands_in_one_line(tmp_path: Path) -> None:
    for command in (["serve"], ["fsck"], ["blobs", "migrate", "--to", "s3://bucket/x"]):
        done = subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", *command],
            env={**os.environ, "PACKYARD_DATA": str(tmp_path), "PACKYARD_BLOB_URL": "s3:/oops"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert "PACKYARD_BLOB_URL" in done.stderr and "s3://BUCKET/PREFIX" in done.stderr


def test_serve_stops_when_the_bucket_does_not_answer(tmp_path: Path, seaweed: SeaweedS3) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", "serve"],
        env={
            **os.environ,
            **seaweed.env(),
            "PACKYARD_DATA": str(tmp_path),
            "PACKYARD_BLOB_URL": "s3://no-such-bucket-here/p",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: the blob store cannot be used (s3://no-such-bucket-here")
    assert len(done.stderr.strip().splitlines()) == 1 and "PACKYARD_BLOB_URL" in done.stderr


def test_fsck_stops_in_one_line_when_the_bucket_does_not_answer(s3_settings: Settings) -> None:
    app_with(s3_settings)[1].dispose()  # a database for fsck to open
    done = run_cli(s3_settings.model_copy(update={"blob_url": "s3://no-such-bucket-here/p"}), "fsck")
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "the blob store cannot be used" in done.stderr and "PACKYARD_BLOB_URL" in done.stderr


def test_settings_build_the_store(tmp_path: Path, s3_env: dict[str, str], seaweed: SeaweedS3) -> None:
    local = build_store(Settings(data=tmp_path / "d"))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "d" / "blobs"
    elsewhere = build_store(Settings(data=tmp_path / "d", blob_url=f"file://{tmp_path / 'elsewhere'}"))
    assert isinstance(elsewhere, LocalBlobStore) and elsewhere.root == tmp_path / "elsewhere"
    bucket = seaweed.new_bucket()
    remote = build_store(Settings(data=tmp_path / "d", blob_url=f"s3://{bucket}/p"))
    assert isinstance(remote, S3BlobStore) and (remote.bucket, remote.prefix) == (bucket, "p/")
    assert remote.tmp == tmp_path / "d" / "blobs" / "tmp"
    ref = remote.put_bytes(b"through the AWS_* variables")  # boto3 found the endpoint and keys itself
    assert remote.exists(ref.sha256)


# --- layout and leftovers ----------------------------------------------------------------------------------------


def test_layout_and_strays(store: S3BlobStore, seaweed: SeaweedS3) -> None:
    ref = store.put_bytes(b"layout")
    key = f"pfx/blobs/{ref.sha256[:2]}/{ref.sha256[2:4]}/{ref.sha256}"
    assert store.key(ref.sha256) == key
    client = seaweed.client()
    assert client.get_object(Bucket=store.bucket, Key=key)["Body"].read() == b"layout"
    for stray in (
        "pfx/blobs/README",
        f"pfx/blobs/{ref.sha256[:2]}/{ref.sha256[2:4]}/{ref.sha256[:-1]}X",
        f"pfx/blobs/00/00/{ref.sha256}",  # in the wrong folder
        f"elsewhere/{ref.sha256[:2]}/{ref.sha256[2:4]}/{sha(b'x')}",  # outside the prefix
    ):
        client.put_object(Bucket=store.bucket, Key=stray, Body=b"not a blob")
    assert list(store.iter_blobs()) == [ref.sha256]


def test_an_incomplete_multipart_upload_is_a_leftover(store: S3BlobStore, seaweed: SeaweedS3) -> None:
    """What a node killed in the middle of a large upload leaves: invisible, listed by iter_temp, removable."""
    client = seaweed.client()
    key = store.key(sha(b"never finished"))
    upload = client.create_multipart_upload(Bucket=store.bucket, Key=key)
    client.upload_part(
        Bucket=store.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * (5 << 20)
    )
    outside = client.create_multipart_upload(Bucket=store.bucket, Key="other/thing")
    assert list(store.iter_blobs()) == [] and not store.exists(sha(b"never finished"))
    (leftover,) = store.iter_temp()
    assert upload["UploadId"] in leftover.name and key in leftover.name
    age = leftover.age()
    assert age is not None and -5 < age < 120
    leftover.remove()
    leftover.remove()  # already gone: nothing happens
    assert list(store.iter_temp()) == []
    client.abort_multipart_upload(Bucket=store.bucket, Key="other/thing", UploadId=outside["UploadId"])


def test_a_commit_failing_mid_multipart_upload_leaves_nothing(tmp_path: Path, seaweed: SeaweedS3) -> None:
    """The connection to the store drops while the second part goes up: the upload fails as StoreUnavailable (a
    503 for the client), boto3 aborts its multipart upload, the temp file goes, and no object ever appears."""
    from botocore.exceptions import EndpointConnectionError

    client = seaweed.new_client()
    store = S3BlobStore(seaweed.new_bucket(), "blobs", tmp_path / "tmp", client=client)
    parts: list[int] = []

    def drop_the_second(params: dict, **_kw: object) -> None:
        parts.append(params["PartNumber"])
        if params["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url=seaweed.endpoint)

    client.meta.events.register("before-parameter-build.s3.UploadPart", drop_the_second)
    data = os.urandom(2 * PART + 10)
    with pytest.raises(StoreUnavailable), store.receive() as incoming:  # noqa: PT012
        incoming.write(data)
        incoming.commit()
    assert 2 in parts
    assert not store.exists(sha(data)) and list(store.iter_blobs()) == []
    assert list(store.iter_temp()) == []  # nothing left for fsck either
    client.meta.events.unregister("before-parameter-build.s3.UploadPart", drop_the_second)
    assert store.put_bytes(data).sha256 == sha(data)  # and the same upload succeeds next time


def test_wrong_credentials(tmp_path: Path, seaweed: SeaweedS3) -> None:
    """Every call fails as StoreUnavailable (the app's 503, the CLI's one line), never a boto3 exception."""
    import boto3

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=seaweed.region,
    )
    store = S3BlobStore(seaweed.new_bucket(), "p", tmp_path / "tmp", client=client)
    with pytest.raises(StoreUnavailable):
        store.check()
    with pytest.raises(StoreUnavailable):
        store.put_bytes(b"nowhere to go")
    with pytest.raises(StoreUnavailable):
        store.put_bytes(os.urandom(PART + 1))  # the multipart path
    with pytest.raises(StoreUnavailable):
        list(store.iter_blobs())
    with pytest.raises(StoreUnavailable):
        list(store.iter_temp())
    with pytest.raises(StoreUnavailable):
        store.open(sha(b"x"))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_refused_upload(tmp_path: Path, seaweed: SeaweedS3) -> None:
    """The store refuses the PUT itself (a policy, a full disk): boto3's S3UploadFailedError is StoreUnavailable."""
    from botocore.exceptions import ClientError

    client = seaweed.new_client()
    store = S3BlobStore(seaweed.new_bucket(), "p", tmp_path / "tmp", client=client)

    def refuse(**_kw: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        store.put_bytes(b"refused")
    assert list(store.iter_blobs()) == [] and list(store.iter_temp()) == []


def test_a_damaged_source_never_becomes_an_object(store: S3BlobStore) -> None:
    """copy_in (blobs migrate) hashes while it uploads: wrong bytes abort the upload, small or multipart."""
    for size in (1000, PART + 1000):
        good = os.urandom(size)
        bad = bytearray(good)
        bad[size // 2] ^= 1
        with pytest.raises(CorruptBlob):
            store.copy_in(sha(good), io.BytesIO(bytes(bad)), size)
        with pytest.raises(CorruptBlob):
            store.copy_in(sha(good), io.BytesIO(good[:-1]), size)  # truncated
        assert list(store.iter_blobs()) == [] and list(store.iter_temp()) == []
        assert store.copy_in(sha(good), io.BytesIO(good), size) is True
        assert store.copy_in(sha(good), io.BytesIO(good), size) is False  # already there: skipped
        with store.open(sha(good)) as fh:
            assert fh.read() == good
        store.delete(sha(good))


# --- fsck in the bucket --------------------------------------------------------------------------------------------


@pytest.fixture
def s3_settings(tmp_path: Path, seaweed: SeaweedS3, s3_env: dict[str, str]) -> Settings:
    return Settings(
        data=tmp_path / "data",
        admin_password=ADMIN_PASSWORD,
        base_url="http://testserver",
        blob_url=f"s3://{seaweed.new_bucket()}/blobs",
    )


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACKYARD_DATA": str(settings.data), "COLUMNS": "250"}
    if settings.blob_url:
        env["PACKYARD_BLOB_URL"] = settings.blob_url
    return subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def app_with(settings: Settings) -> tuple[TestClient, Database]:
    settings.data.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    return TestClient(create_app(settings, db=db), raise_server_exceptions=False), db


def test_fsck_in_the_bucket(s3_settings: Settings, seaweed: SeaweedS3) -> None:
    client, db = app_with(s3_settings)
    with client:
        create_user(db, "owner", PASSWORD)
        token = login(client, "owner", PASSWORD)
        _repo_upload(client, token, "owner", "file", "kept.csv", b"k\n1\n", name="kept", version="1")
        _repo_upload(client, token, "owner", "file", "lost.csv", b"l\n2\n", name="lost", version="1")
    store = build_store(s3_settings)
    assert isinstance(store, S3BlobStore)
    orphan = store.put_bytes(b"an object no row names")
    s3 = seaweed.client()
    key = store.key(sha(b"half of a large upload"))
    s3.create_multipart_upload(Bucket=store.bucket, Key=key)
    (store.tmp / f"{'0' * 32}.part").write_bytes(b"half an upload received")

    report = fsck.check(db, store)  # everything is young: an upload may be finishing
    assert (report.orphans, report.temp_files, report.ok) == ([], [], True)
    report = fsck.check(db, store, grace_seconds=0)
    assert report.orphans == [orphan.sha256] and report.ok
    assert sorted(n.split(" ")[0] for n in report.temp_files) == sorted(
        [str(store.tmp / f"{'0' * 32}.part"), f"s3://{store.bucket}/{key}"]
    )

    store.delete(sha(b"l\n2\n"))  # an object lost from the bucket
    time.sleep(1.1)  # LastModified is in whole seconds
    done = run_cli(s3_settings, "fsck", "--clean", "--grace", "1")
    assert done.returncode == 1, done.stdout + done.stderr  # a missing blob is a real problem
    assert "cleaned 3 leftovers" in done.stdout
    assert sha(b"l\n2\n") in done.stdout and "lost.csv" in done.stdout
    assert not store.exists(orphan.sha256) and store.exists(sha(b"k\n1\n"))
    assert list(store.iter_temp()) == []
    assert s3.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []

    store.put_bytes(b"l\n2\n")  # put back: clean, and --verify re-hashes the objects
    done = run_cli(s3_settings, "fsck", "--verify")
    assert done.returncode == 0, done.stdout + done.stderr
    s3.put_object(Bucket=store.bucket, Key=store.key(sha(b"k\n1\n")), Body=b"K\n1\n")  # damaged in place
    done = run_cli(s3_settings, "fsck", "--verify")
    assert done.returncode == 1 and sha(b"k\n1\n") in done.stdout
    db.dispose()


# --- packyard blobs migrate ----------------------------------------------------------------------------------------


def test_blobs_migrate(tmp_path: Path, seaweed: SeaweedS3, s3_env: dict[str, str]) -> None:
    local = Settings(data=tmp_path / "data", admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    client, db = app_with(local)
    files = {f"f{i}.csv": f"n\n{i}\n".encode() * (i + 1) for i in range(4)}
    with client:
        create_user(db, "owner", PASSWORD)
        token = login(client, "owner", PASSWORD)
        for name, data in files.items():
            _repo_upload(
                client, token, "owner", "file", name, data, name=name.removesuffix(".csv"), version="1"
            )
    source = LocalBlobStore(local.blob_root)
    bucket = seaweed.new_bucket()
    url = f"s3://{bucket}/moved"
    dest = S3BlobStore(bucket, "moved", tmp_path / "tmp", client=seaweed.client())
    first = sha(files["f0.csv"])
    with source.open(first) as fh:  # an earlier run that was interrupted after one blob
        dest.copy_in(first, fh, source.size(first))

    done = run_cli(local, "blobs", "migrate", "--to", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 blobs copied" in done.stdout and "1 already in the bucket" in done.stdout
    assert f"PACKYARD_BLOB_URL={url}/" in done.stdout
    assert sorted(dest.iter_blobs()) == sorted(source.iter_blobs())
    again = run_cli(local, "blobs", "migrate", "--to", url)
    assert "0 blobs copied" in again.stdout and "4 already in the bucket" in again.stdout

    # the operator switches PACKYARD_BLOB_URL: the same server now serves from the bucket
    with TestClient(create_app(local.model_copy(update={"blob_url": url}), db=db)) as s3:
        for name, data in files.items():
            got = s3.get(f"/api/download/owner/{name.removesuffix('.csv')}/1/{name}")
            assert got.status_code == 200 and got.content == data

    # a damaged local blob is reported, never copied under its name
    second = sha(files["f1.csv"])
    dest.delete(second)
    source.path_for(second).write_bytes(b"rotten")
    bad = run_cli(local, "blobs", "migrate", "--to", url)
    assert bad.returncode == 1 and second in bad.stderr and "Traceback" not in bad.stderr
    assert not dest.exists(second)
    wrong = run_cli(local, "blobs", "migrate", "--to", "file:///tmp/x")
    assert wrong.returncode == 2 and "--to must be an S3 URL" in wrong.stderr
    db.dispose()
