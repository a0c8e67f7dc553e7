"""The snapshot history (core/snapshots.py): every kind of change is reflected, in the change's own transaction.

Each test makes changes through the services (the one write path), notes the serial between them, and asks
`files_at` what a snapshot at each serial lists: what was there then, not what is there now.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from packyard.core import fsck, migrate, snapshots
from packyard.core.auth import Identity, identity_for
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import Account, File, FileHistory
from packyard.core.services import labels as label_service
from packyard.core.services import packages as pkg_service
from packyard.core.services.accounts import create_user
from packyard.core.services.orgs import create_org
from packyard.core.services.packages import NewFile, add_file
from packyard.core.services.uploads import parse_received
from packyard.core.storage import LocalBlobStore
from tests.builders import build_conda, build_wheel


@pytest.fixture
def store(settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_root)


@pytest.fixture
def alice(db: Database) -> Identity:
    return Identity(account=create_user(db, "alice", "password-123"))


class World:
    def __init__(self, db: Database, store: LocalBlobStore, tmp: Path, who: Identity) -> None:
        self.db, self.store, self.tmp, self.who = db, store, tmp, who

    def wheel(self, version: str, *, name: str = "demo", labels: tuple[str, ...] = ("main",)) -> File:
        folder = self.tmp / f"{name}-{version}"
        folder.mkdir(exist_ok=True)
        path = build_wheel(folder, name=name, version=version)
        return self._add(path, path.name, "pypi", labels)

    def conda(self, version: str, *, labels: tuple[str, ...] = ("main",)) -> File:
        folder = self.tmp / f"c{version}"
        folder.mkdir(exist_ok=True)
        path = build_conda(folder, name="cdemo", version=version, subdir="noarch")
        return self._add(path, f"noarch/{path.name}", "conda", labels)

    def _add(self, path: Path, basename: str, dtype: str, labels: tuple[str, ...]) -> File:
        art = parse_received(path, basename, dtype)
        new = NewFile(artifact=art, blob=self.store.put_bytes(path.read_bytes()), labels=list(labels))
        assert self.who.account is not None
        return add_file(self.db, self.who, self.who.account, new)

    @property
    def serial(self) -> int:
        with self.db.read() as session:
            return snapshots.current_serial(session)

    def at(self, serial: int, label: str = "main", dtype: str = "pypi", owner: str = "alice") -> list[str]:
        with self.db.read() as session:
            owner_id = session.scalar(select(Account.id).where(Account.login_key == owner))
            assert owner_id is not None
            return sorted(f.basename for f in snapshots.files_at(session, owner_id, serial, label, dtype))

    def yank_state(self, serial: int) -> dict[str, tuple[bool, str | None]]:
        with self.db.read() as session:
            owner_id = session.scalar(select(Account.id).where(Account.login_key == "alice"))
            assert owner_id is not None
            files = snapshots.files_at(session, owner_id, serial, "main", "pypi")
            return {f.basename: (f.yanked, f.yanked_reason) for f in files}


@pytest.fixture
def world(db: Database, store: LocalBlobStore, tmp_path: Path, alice: Identity) -> World:
    return World(db, store, tmp_path, alice)


def test_added_and_removed_files(world: World) -> None:
    one = world.wheel("1.0")
    s1 = world.serial
    two = world.wheel("2.0")
    s2 = world.serial
    pkg_service.remove_file(world.db, world.who, one)
    s3 = world.serial
    assert world.at(s1) == [one.basename]
    assert world.at(s2) == [one.basename, two.basename]
    assert world.at(s3) == [two.basename]
    assert world.at(0) == []


def test_release_and_package_removal(world: World) -> None:
    one = world.wheel("1.0")
    two = world.wheel("2.0")
    before = world.serial
    with world.db.read() as session:
        release = session.get_one(File, one.id).release
    pkg_service.delete_release(world.db, world.who, release)
    after_release = world.serial
    pkg_service.delete_package(world.db, world.who, "alice", "demo")
    assert world.at(before) == [one.basename, two.basename]
    assert world.at(after_release) == [two.basename]
    assert world.at(world.serial) == []


def test_labels_added_removed_copied_renamed(world: World) -> None:
    f = world.wheel("1.0")
    owner = world.who.account
    assert owner is not None
    label_service.add_label(world.db, world.who, owner, "dev", "demo", "1.0", f.basename)
    s_dev = world.serial
    label_service.copy_label(world.db, world.who, owner, "dev", "qa")
    s_qa = world.serial
    label_service.rename_label(world.db, world.who, owner, "qa", "prod")
    s_prod = world.serial
    label_service.remove_label(world.db, world.who, owner, "dev", "demo", "1.0", f.basename)
    s_gone = world.serial
    assert world.at(s_dev, "dev") == [f.basename]
    assert world.at(s_dev - 1, "dev") == []
    assert world.at(s_qa, "qa") == [f.basename]
    assert world.at(s_prod, "qa") == []
    assert world.at(s_prod, "prod") == [f.basename]
    assert world.at(s_gone, "dev") == []
    assert world.at(s_gone, "prod") == [f.basename]
    assert world.at(s_gone, "main") == [f.basename]
    with world.db.read() as session:
        assert snapshots.label_existed(session, owner.id, "qa", s_qa)
        assert not snapshots.label_existed(session, owner.id, "qa", s_prod)
        assert snapshots.label_existed(session, owner.id, "main", 0)


def test_yank_flags_over_time(world: World) -> None:
    f = world.wheel("1.0")
    s0 = world.serial
    pkg_service.set_yanked(world.db, world.who, f, True, "broken")
    s1 = world.serial
    pkg_service.set_yanked(world.db, world.who, f, False)
    s2 = world.serial
    assert world.yank_state(s0) == {f.basename: (False, None)}
    assert world.yank_state(s1) == {f.basename: (True, "broken")}
    assert world.yank_state(s2) == {f.basename: (False, None)}


def test_access_change_and_transfer(world: World, db: Database) -> None:
    f = world.wheel("1.0")
    s0 = world.serial
    org = create_org(db, world.who, "acme")
    pkg_service.set_access(db, world.who, "alice", ["demo"], "private")
    with db.read() as session:
        rows = session.scalars(select(FileHistory)).all()
        assert [r.access for r in rows] == ["private"]
        (ref,) = snapshots.refs(
            session, snapshots.files_at(session, rows[0].owner_id, s0, "main", "pypi")
        ).values()
        assert ref.access == "private"  # the package's access now, for a snapshot of before the change
    pkg_service.transfer(db, identity_for(db, world.who.account), "alice", "demo", "acme")  # type: ignore[arg-type]
    s1 = world.serial
    assert world.at(s0) == [f.basename]
    assert world.at(s1) == []
    assert world.at(s1, owner="acme") == [f.basename]
    assert world.at(s0, owner="acme") == []
    with db.read() as session:
        old = snapshots.files_at(session, world.who.account.id, s0, "main", "pypi")  # type: ignore[union-attr]
        # the package now lives with another owner: alice's snapshot goes by the last access it knew there
        assert snapshots.refs(session, old)[old[0].package_id].access == "private"
        assert org.id != world.who.account.id  # type: ignore[union-attr]


def test_deleted_package_keeps_its_last_access(world: World, db: Database) -> None:
    world.wheel("1.0")
    pkg_service.set_access(db, world.who, "alice", ["demo"], "authenticated")
    s0 = world.serial
    pkg_service.delete_package(db, world.who, "alice", "demo")
    with db.read() as session:
        files = snapshots.files_at(session, world.who.account.id, s0, "main", "pypi")  # type: ignore[union-attr]
        assert [r.access for r in snapshots.refs(session, files).values()] == ["authenticated"]


def test_conda_files_and_formats_are_kept_apart(world: World) -> None:
    c = world.conda("1.0")
    w = world.wheel("1.0")
    s = world.serial
    assert world.at(s, dtype="conda") == [c.basename]
    assert world.at(s, dtype="pypi") == [w.basename]


def test_resolve_serials_and_times(world: World, db: Database) -> None:
    world.wheel("1.0")
    newest = world.serial
    with db.read() as session:
        assert snapshots.resolve(session, str(newest)) == snapshots.At(newest, by_serial=True)
        assert snapshots.resolve(session, "2000-01-01") == snapshots.At(0, by_serial=False)
        with pytest.raises(NotFound, match=f"the newest is {newest}"):
            snapshots.resolve(session, str(newest + 1))
        with pytest.raises(BadRequest, match="in the future"):
            snapshots.resolve(session, "2999-01-01T00:00:00Z")
        with pytest.raises(BadRequest, match="not a snapshot point"):
            snapshots.resolve(session, "yesterday")
        with pytest.raises(BadRequest, match="not a snapshot point"):
            snapshots.resolve(session, "2026-13-45")
        now = snapshots.serial_time(session, newest)
        assert now is not None
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert snapshots.resolve(session, stamp).serial == newest


def test_prune_forgets_removed_files_and_refuses_older_snapshots(world: World, db: Database, store) -> None:
    one = world.wheel("1.0")
    world.wheel("2.0")
    pkg_service.remove_file(db, world.who, one)
    removed_at = world.serial
    with db.read() as session:
        assert one.sha256 in fsck.referenced(db)
        assert one.sha256 in snapshots.referenced_blobs(session)
    assert snapshots.prune(db, removed_at) == 1
    assert one.sha256 not in fsck.referenced(db)
    with db.read() as session, pytest.raises(snapshots.Gone, match=f"at least {removed_at}"):
        snapshots.resolve(session, str(removed_at - 1))
    with db.read() as session:
        assert snapshots.resolve(session, str(removed_at)).serial == removed_at
    with pytest.raises(BadRequest):
        snapshots.prune(db, removed_at + 5)


def test_fsck_keeps_blobs_only_history_names(world: World, db: Database, store) -> None:
    one = world.wheel("1.0")
    pkg_service.remove_file(db, world.who, one)
    report = fsck.check(db, store, grace_seconds=0)
    assert one.sha256 not in report.orphans


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_backfills_todays_files(
    settings, tmp_path: Path, store: LocalBlobStore, dialect: str, request: pytest.FixtureRequest
) -> None:
    """Upgrade to 0012, add files, upgrade to 0013: the files are history from the current serial on, and older
    snapshots are refused (their past is not known). The backfill is SQL of its own: run on both databases."""
    settings.data.mkdir(parents=True, exist_ok=True)
    url = request.getfixturevalue("pg_url") if dialect == "postgresql" else settings.sqlalchemy_url
    migrate.upgrade(url, "0012_cluster")
    db = Database(url)
    try:
        who = Identity(account=create_user(db, "alice", "password-123"))
        w = World(db, store, tmp_path, who)
        # the services already write history: write the files with the tables missing by hand instead
        engine = db.engine
        f = _add_without_history(w)
        with engine.begin() as conn:
            serial = conn.execute(sa.text("SELECT max(serial) FROM events")).scalar()
        migrate.upgrade(url)
        with db.read() as session:
            rows = session.scalars(select(FileHistory)).all()
            assert [(r.basename, r.added_serial, r.removed_serial) for r in rows] == [(f, serial, None)]
            assert snapshots.horizon(session) == serial
        assert w.at(serial) == [f]
        assert w.at(serial, "dev") == [f]
    finally:
        db.dispose()


def _add_without_history(w: World) -> str:
    """Add a file (labels main and dev) while the history tables do not exist yet."""
    original = snapshots.record
    snapshots.record = lambda session, event: None  # type: ignore[assignment]
    try:
        return w.wheel("1.0", labels=("main", "dev")).basename
    finally:
        snapshots.record = original  # type: ignore[assignment]


def _cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env={**os.environ, "PACKYARD_DATA": str(settings.data), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prune_command_then_fsck_clean_deletes_the_blob(world: World, db: Database, store, settings) -> None:
    one = world.wheel("1.0")
    pkg_service.remove_file(db, world.who, one)
    removed_at = world.serial
    path = store.path_for(one.sha256)
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert _cli(settings, "fsck", "--clean").returncode == 0
    assert path.exists()  # a snapshot still lists it
    bad = _cli(settings, "snapshots", "prune", "--before", "soon")
    assert bad.returncode == 2 and "not a snapshot point" in bad.stderr
    pruned = _cli(settings, "snapshots", "prune", "--before", str(removed_at))
    assert pruned.returncode == 0, pruned.stderr
    assert "forgot 1 removed files" in pruned.stdout
    assert _cli(settings, "fsck", "--clean").returncode == 0
    assert not path.exists()
