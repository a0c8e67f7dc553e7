"""The database guarantees, on PostgreSQL as on SQLite: migrations, the core REST flows, atomic writes.

Tests taking `backend` run twice (sqlite, postgresql); the PostgreSQL server is started by the `postgres_url`
fixture (tests/postgres.py) when $PACKYARD_TEST_POSTGRES_URL does not name one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from packyard.core import migrate
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.models import Account, Base, Event, File, Label, Package, Release
from packyard.core.services import packages as pkg_service
from packyard.core.services.accounts import create_user
from packyard.core.services.packages import NewFile, PackageInfo, add_file
from packyard.core.services.uploads import parse_received
from packyard.core.storage import LocalBlobStore
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth, login, upload
from tests.unit.core.conftest import Backend


def _head() -> str:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


@pytest.mark.postgres
def test_migrations_apply_on_postgres(pg_url) -> None:
    migrate.upgrade(pg_url)
    migrate.upgrade(pg_url)  # at head already: a no-op, as on every `packyard serve`
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert tables == {*Base.metadata.tables, "alembic_version"}
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == _head()
            serial = conn.execute(
                sa.text(
                    "SELECT data_type, column_default FROM information_schema.columns "
                    "WHERE table_name = 'events' AND column_name = 'serial'"
                )
            ).one()
            assert serial.data_type == "bigint" and serial.column_default.startswith("nextval(")
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    """A model change without its migration (or a migration that differs per backend) shows up here."""
    with backend.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


@pytest.fixture
def alice(backend_client, backend: Backend) -> str:
    create_user(backend.db, "alice", "password-123")
    return login(backend_client, "alice", "password-123")


def test_upload_list_and_download(backend_client, backend: Backend, alice, tmp_path) -> None:
    client = backend_client
    conda = build_conda(tmp_path, name="foo", version="1.0", build="0", subdir="linux-64")
    wheel = build_wheel(tmp_path, name="bar", version="2.0")
    committed = upload(client, alice, "alice", "foo", "1.0", conda, f"linux-64/{conda.name}", "conda")
    assert committed.status_code == 200, committed.text
    assert committed.json()["sha256"] == hashlib.sha256(conda.read_bytes()).hexdigest()
    committed = upload(client, alice, "alice", "bar", "2.0", wheel, wheel.name, "pypi")
    assert committed.status_code == 200, committed.text

    listing = client.get("/api/packages/alice").json()
    assert sorted(p["name"] for p in listing) == ["bar", "foo"]
    names = lambda **q: [p["name"] for p in client.get("/api/packages/alice", params=q).json()]  # noqa: E731
    assert names(package_type="pypi") == ["bar"]
    assert names(platform="linux-64") == ["foo"]
    # Names and logins are case-insensitive (their lower-cased keys are what the unique constraints hold).
    assert client.get("/api/package/ALICE/Foo").json()["latest_version"] == "1.0"
    # Timestamps compare correctly on both backends (timezone-aware, UTC).
    since = client.request("GET", "/api/package_listing", data={"modified_after": "2000-01-01"}).json()
    assert {p["full_name"] for p in since} == {"alice/foo", "alice/bar"}
    assert client.request("GET", "/api/package_listing", data={"modified_after": "3000-01-01"}).json() == []

    download = client.get(f"/api/download/alice/foo/1.0/linux-64/{conda.name}")
    assert download.status_code == 200 and download.content == conda.read_bytes()
    assert client.get(f"/api/download/alice/bar/2.0/{wheel.name}").content == wheel.read_bytes()
    client.app.state.services.downloads.flush()  # counts are written in batches
    assert client.get(f"/api/dist/alice/foo/1.0/linux-64/{conda.name}").json()["ndownloads"] == 1
    with backend.db.read() as session:
        for f in session.scalars(select(File)):
            assert f.uploaded_at.tzinfo is not None
            assert f.uploaded_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def test_index_documents_follow_changes(backend_client, backend: Backend, alice, tmp_path) -> None:
    """Repeated anonymous index reads are answered by formats.front after one statement, on either backend."""
    client = backend_client
    pages = {"Accept": "application/vnd.pypi.simple.v1+json"}

    def versions() -> list[str]:
        response = client.get("/pypi/alice/simple/bar/", headers=pages)
        assert response.status_code == 200, response.text
        return response.json()["versions"]

    def conda_files() -> list[str]:
        doc = client.get("/conda/alice/linux-64/repodata.json").json()
        return sorted([*doc["packages"], *doc["packages.conda"]])

    for version in ("1.0", "2.0"):
        folder = tmp_path / version
        folder.mkdir()
        wheel = build_wheel(folder, name="bar", version=version)
        assert upload(client, alice, "alice", "bar", version, wheel, wheel.name, "pypi").status_code == 200
        conda = build_conda(folder, name="foo", version=version, build="0", subdir="linux-64")
        basename = f"linux-64/{conda.name}"
        assert upload(client, alice, "alice", "foo", version, conda, basename, "conda").status_code == 200
        for _ in range(3):
            assert versions()[-1] == version
            assert conda_files()[-1] == conda.name
    client.patch("/api/package/alice/bar", headers=auth(alice), json={"access": "private"})
    assert client.get("/pypi/alice/simple/bar/", headers=pages).status_code == 401


def test_labels_removal_and_monotonic_events(backend_client, backend: Backend, alice, tmp_path) -> None:
    client = backend_client
    path = build_conda(tmp_path, name="foo", version="1.0", subdir="noarch")
    basename = f"noarch/{path.name}"
    assert upload(client, alice, "alice", "foo", "1.0", path, basename, "conda").status_code == 200
    assert (
        client.post("/api/channels/alice/dev", headers=auth(alice), json={"package": "foo"}).status_code
        == 201
    )
    assert client.post("/api/channels/alice/dev/copy/stable", headers=auth(alice)).status_code == 201
    channels = client.get("/api/channels/alice", headers=auth(alice)).json()
    assert {name: c["num_files"] for name, c in channels.items()} == {"main": 1, "dev": 1, "stable": 1}
    assert client.get(f"/api/dist/alice/foo/1.0/{basename}").json()["labels"] == ["dev", "main", "stable"]

    assert client.post("/api/channels/alice/stable/lock", headers=auth(alice)).status_code == 201
    assert client.delete(f"/api/dist/alice/foo/1.0/{basename}", headers=auth(alice)).status_code == 409
    assert client.delete("/api/channels/alice/stable/lock", headers=auth(alice)).status_code == 201
    assert client.delete(f"/api/dist/alice/foo/1.0/{basename}", headers=auth(alice)).status_code == 200
    assert client.get(f"/api/dist/alice/foo/1.0/{basename}").status_code == 404
    assert client.delete("/api/package/alice/foo", headers=auth(alice)).status_code == 201
    assert client.get("/api/package/alice/foo").status_code == 404

    with backend.db.read() as session:
        events = session.scalars(select(Event).order_by(Event.serial)).all()
    # (`token.created`: every sign-in makes a token, and says so on the user's dashboard)
    assert [e.kind for e in events if not e.kind.startswith("token.")] == [
        "package.created",
        "release.created",
        "file.added",
        "label.added",
        "label.added",
        "label.locked",
        "label.unlocked",
        "file.removed",
        "package.removed",
    ]
    serials = [e.serial for e in events]
    assert serials == sorted(set(serials))
    assert all(e.at.tzinfo is not None for e in events)
    # A blob is never deleted inline: the removed file's bytes stay until fsck finds nobody names them.
    assert LocalBlobStore(backend.settings.blob_root).exists(hashlib.sha256(path.read_bytes()).hexdigest())


def _artifacts(tmp_path: Path, store: LocalBlobStore, subdirs: list[str]) -> list[NewFile]:
    out = []
    for subdir in subdirs:
        folder = tmp_path / subdir
        folder.mkdir()
        path = build_conda(folder, name="foo", version="1.0", subdir=subdir)
        artifact = parse_received(path, f"{subdir}/{path.name}", "conda")
        out.append(NewFile(artifact=artifact, blob=store.put_bytes(path.read_bytes()), labels=["dev"]))
    return out


def _count(db: Database, model: type[Base]) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_failed_write_leaves_nothing(backend: Backend, tmp_path, monkeypatch) -> None:
    """A service call is one transaction with its events: if anything in it fails, none of it happened."""
    db = backend.db
    account = create_user(db, "alice", "password-123")
    ident = Identity(account=account)
    (new,) = _artifacts(tmp_path, LocalBlobStore(backend.settings.blob_root), ["linux-64"])
    real_emit = pkg_service.emit

    def failing_emit(session, kind, *args, **kw) -> None:
        if kind == "file.added":
            raise RuntimeError("the disk is full")
        real_emit(session, kind, *args, **kw)

    monkeypatch.setattr(pkg_service, "emit", failing_emit)
    before = {model: _count(db, model) for model in (Package, Release, File, Label, Event)}
    with pytest.raises(RuntimeError, match="disk is full"):
        add_file(db, ident, account, new)
    # The package, release and label were created (and flushed) in that transaction: all rolled back.
    assert {model: _count(db, model) for model in before} == before

    monkeypatch.setattr(pkg_service, "emit", real_emit)
    add_file(db, ident, account, new)
    with db.read() as session:
        assert session.scalars(select(Event.kind).order_by(Event.serial)).all() == [
            "package.created",
            "release.created",
            "file.added",
        ]


def test_concurrent_uploads_of_one_new_version(backend: Backend, tmp_path) -> None:
    """A build matrix uploading one version for several platforms at once: every upload must land.

    Each add_file checks whether the package, the release and the label exist and creates them if not; writers
    must be serialized for that to be safe (SQLite's BEGIN IMMEDIATE; an advisory lock on PostgreSQL).
    """
    db = backend.db
    account = create_user(db, "alice", "password-123")
    ident = Identity(account=account)
    subdirs = ["linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64", "noarch"]
    files = _artifacts(tmp_path, LocalBlobStore(backend.settings.blob_root), subdirs)
    pkg_service.create_package(db, ident, account, "foo", PackageInfo())
    barrier = threading.Barrier(len(files))
    errors: list[BaseException] = []

    def one(new: NewFile) -> None:
        barrier.wait()
        try:
            add_file(db, ident, account, new)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(new,)) for new in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(File)) == len(subdirs)
        assert session.scalars(select(Release.version)).all() == ["1.0"]
        assert sorted(session.scalars(select(Label.name))) == ["dev"]
        assert session.scalars(select(Account.login)).all() == ["alice"]
        added = session.scalars(select(Event.serial).where(Event.kind == "file.added")).all()
    assert len(added) == len(subdirs)


def test_no_postgresql_is_a_clear_failure_not_a_skip(monkeypatch) -> None:
    from tests import postgres

    monkeypatch.delenv(postgres.ENV_URL, raising=False)
    monkeypatch.setattr(postgres, "find_bin_dir", lambda: None)
    with pytest.raises(postgres.PostgresUnavailable, match="install Debian's `postgresql` package"):
        postgres.Cluster.start()
