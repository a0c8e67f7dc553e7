"""core/backup.py on SQLite and a local folder, in process: the layout, --verify against tampering, resuming, the
refusals, and the CLI's one-line errors. The round trip through live servers is tests/reliability/test_backup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from packyard.config import Settings
from packyard.core import backup as backups
from packyard.core.backup import BackupError, Manifest
from packyard.core.db import Database
from packyard.core.storage import LocalBlobStore
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import login, upload
from tests.unit.formats.named_support import notebook_bytes

PASSWORD = "password-123"


@pytest.fixture
def published(client: TestClient, make_user, tmp_path: Path) -> list[str]:
    """A conda package, a wheel (with its PEP 658 side document) and a notebook (with its rendered page)."""
    make_user("ann", PASSWORD)
    token = login(client, "ann", PASSWORD)
    conda = build_conda(tmp_path, "bk", "1.0", "0", "noarch")
    assert (
        upload(client, token, "ann", "bk", "1.0", conda, f"noarch/{conda.name}", "conda").status_code == 200
    )
    wheel = build_wheel(tmp_path, "bk-wheel", "1.0")
    for filetype, name, data, fields in (
        ("bdist_wheel", wheel.name, wheel.read_bytes(), {}),
        ("ipynb", "nb.ipynb", notebook_bytes(), {"name": "bknb", "version": "1"}),
    ):
        response = client.post(
            "/api/repo/ann",
            headers={"Authorization": f"token {token}"},
            data={"filetype": filetype, **fields},
            files={"content": (name, data)},
        )
        assert response.status_code == 200, response.text
    return [conda.name, wheel.name]


def _store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_root)


def test_a_backup_holds_the_snapshot_every_named_blob_and_a_manifest(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    done = backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    manifest = Manifest.read(dest)
    named = backups.dump_file_blobs(dest / "packyard.db", "sqlite")
    assert {e.sha256 for e in manifest.blobs} == set(named)
    assert len(named) == 5  # 3 files, the wheel's .metadata, the notebook's rendered page
    assert (
        manifest.database == "sqlite" and manifest.blobs_mode == "copy" and manifest.format == backups.FORMAT
    )
    assert manifest.revision is not None and manifest.counts["files"] == 3 and manifest.counts["blobs"] == 5
    for entry in manifest.blobs:
        copy = dest / "blobs" / entry.sha256[:2] / entry.sha256[2:4] / entry.sha256
        assert copy.read_bytes() == _store(settings).path_for(entry.sha256).read_bytes()
    assert done.copied.copied == 5
    assert sorted(p.name for p in dest.iterdir()) == ["blobs", "manifest.json", "packyard.db"]
    assert backups.verify(dest).ok

    again = backups.backup(settings.sqlalchemy_url, _store(settings), dest)  # resumes: copies nothing twice
    assert (again.copied.copied, again.copied.skipped) == (0, 5)


def test_a_half_copied_blob_is_copied_again(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    entry = max(Manifest.read(dest).blobs, key=lambda e: e.size)
    copy = backups.blob_path(dest, entry.sha256)
    copy.write_bytes(copy.read_bytes()[: entry.size // 2])  # an interrupted copy
    again = backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    assert (again.copied.copied, again.copied.skipped) == (1, 4)
    assert backups.verify(dest).ok


def test_verify_names_a_flipped_byte_a_missing_blob_and_an_unlisted_one(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    flipped, gone, unlisted = sorted(Manifest.read(dest).blobs, key=lambda e: e.sha256)[:3]
    path = backups.blob_path(dest, flipped.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    backups.blob_path(dest, gone.sha256).unlink()
    raw = json.loads((dest / "manifest.json").read_text())
    raw["blobs"] = [b for b in raw["blobs"] if b["sha256"] != unlisted.sha256]
    (dest / "manifest.json").write_text(json.dumps(raw))

    report = backups.verify(dest)
    assert not report.ok
    assert len(report.problems) == 3, report.problems
    assert f"blob {flipped.sha256}: its content does not match its sha256 (corrupt)" in report.problems
    assert f"blob {gone.sha256}: missing from the backup" in report.problems
    assert any(
        p.startswith(f"blob {unlisted.sha256} (") and "not in the backup" in p for p in report.problems
    )


def test_a_corrupt_blob_in_the_store_stops_the_backup(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    store = _store(settings)
    sha = sorted(store.iter_blobs())[0]
    store.path_for(sha).write_bytes(b"not what it was")
    with pytest.raises(BackupError, match=f"blob {sha} in the blob store does not match its sha256"):
        backups.backup(settings.sqlalchemy_url, store, tmp_path / "backup")
    assert not (tmp_path / "backup" / "manifest.json").exists()


def test_manifest_only_lists_the_blobs_and_verifies_them_in_the_store(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    store = _store(settings)
    backups.backup(settings.sqlalchemy_url, store, dest, blobs="manifest-only")
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "packyard.db"]
    manifest = Manifest.read(dest)
    assert manifest.blobs_mode == "manifest-only" and len(manifest.blobs) == 5
    assert backups.verify(dest, store).ok
    with pytest.raises(BackupError, match="verify it with the blob store"):
        backups.verify(dest)
    victim = manifest.blobs[0].sha256
    store.delete(victim)
    assert backups.verify(dest, store).problems == [f"blob {victim}: missing from the blob store"]


def test_restore_into_an_empty_folder_then_refuses_a_non_empty_one(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    target = Settings(data=tmp_path / "restored")
    restored = backups.restore(dest, target.sqlalchemy_url, _store(target))
    assert restored.copied.copied == 5 and restored.revision == Manifest.read(dest).revision
    assert sorted(_store(target).iter_blobs()) == sorted(_store(settings).iter_blobs())
    assert backups.dump_file_blobs(target.data / "packyard.db", "sqlite") == backups.dump_file_blobs(
        dest / "packyard.db", "sqlite"
    )
    with pytest.raises(BackupError, match=r"is not empty: restore into an empty one, or pass --force"):
        backups.restore(dest, target.sqlalchemy_url, _store(target))
    again = backups.restore(dest, target.sqlalchemy_url, _store(target), force=True)
    assert (again.copied.copied, again.copied.skipped) == (0, 5)


def test_restore_checks_each_blob_before_it_enters_the_store(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    victim = Manifest.read(dest).blobs[0]
    path = backups.blob_path(dest, victim.sha256)
    path.write_bytes(b"x" * victim.size)
    target = Settings(data=tmp_path / "restored")
    with pytest.raises(BackupError, match=f"blob {victim.sha256} in the backup does not match its sha256"):
        backups.restore(dest, target.sqlalchemy_url, _store(target))
    assert victim.sha256 not in set(_store(target).iter_blobs())
    assert not (target.data / "packyard.db").exists()  # blobs first, the database last


def test_restore_migrates_an_older_backup(settings: Settings, tmp_path: Path) -> None:
    from packyard.core import migrate

    settings.data.mkdir(parents=True)
    migrate.upgrade(settings.sqlalchemy_url, "0008")
    dest = tmp_path / "backup"
    assert backups.backup(settings.sqlalchemy_url, _store(settings), dest).manifest.revision == "0008"
    target = Settings(data=tmp_path / "restored")
    restored = backups.restore(dest, target.sqlalchemy_url, _store(target))
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config(target.sqlalchemy_url)).get_current_head()
    assert restored.revision == head != "0008"


def test_refusals(settings: Settings, db: Database, tmp_path: Path) -> None:
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(BackupError, match=r"is not empty and is not a Packyard backup \(it holds cat.jpg\)"):
        backups.backup(settings.sqlalchemy_url, _store(settings), stranger)
    with pytest.raises(BackupError, match=r"holds no manifest\.json"):
        backups.restore(stranger, settings.sqlalchemy_url, _store(settings))
    dest = tmp_path / "backup"
    backups.backup(settings.sqlalchemy_url, _store(settings), dest)
    raw = json.loads((dest / "manifest.json").read_text())
    (dest / "manifest.json").write_text(json.dumps({**raw, "revision": "9999_from_the_future"}))
    target = Settings(data=tmp_path / "restored")
    with pytest.raises(BackupError, match="revision 9999_from_the_future is unknown to this Packyard"):
        backups.restore(dest, target.sqlalchemy_url, _store(target))
    with pytest.raises(BackupError, match="holds a sqlite database and the server's is postgresql"):
        backups.restore(dest, "postgresql+psycopg://nobody@127.0.0.1:1/none", _store(target))


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *args],
        env={**os.environ, "PACKYARD_DATA": str(data), "COLUMNS": "200"},
        text=True,
        capture_output=True,
        timeout=60,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_cli_round_trip_and_one_line_errors(
    settings: Settings, db: Database, published: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    done = _cli(settings.data, "backup", str(dest))
    assert done.returncode == 0, done.stderr
    assert "and 5 blobs (5 copied, 0 already there)" in done.stdout
    assert _cli(settings.data, "backup", "--verify", str(dest)).returncode == 0
    restored = tmp_path / "restored"
    done = _cli(restored, "restore", "--verify", str(dest))
    assert done.returncode == 0, done.stderr
    assert "start the server with `packyard serve`" in done.stdout
    _one_line_error(_cli(restored, "restore", str(dest)), "is not empty")
    assert _cli(restored, "restore", "--force", str(dest)).returncode == 0

    flipped = backups.blob_path(dest, Manifest.read(dest).blobs[0].sha256)
    flipped.write_bytes(flipped.read_bytes()[::-1])
    for command in (["backup", "--verify", str(dest)], ["restore", "--verify", "--force", str(dest)]):
        done = _cli(restored, *command)
        assert done.returncode == 1
        assert f"error: blob {flipped.name}: its content does not match its sha256 (corrupt)" in done.stderr
        assert "Traceback" not in done.stderr

    _one_line_error(_cli(tmp_path / "nowhere", "backup", str(tmp_path / "b2")), "no Packyard database at")
    _one_line_error(_cli(settings.data, "backup", str(settings.data / "packyard.db")), "is a file")
    _one_line_error(_cli(settings.data, "restore", str(tmp_path / "missing")), "is not a folder")
    _one_line_error(_cli(settings.data, "backup", "--verify", str(tmp_path)), "holds no manifest.json")


@pytest.mark.postgres
def test_postgres_dump_verify_restore_and_force(postgres_url: str, tmp_path: Path) -> None:
    """pg_dump's snapshot and blob list, --verify reading the dump's file rows through pg_restore, the refusal of a
    database with tables, and --force."""
    from packyard.app import create_app
    from packyard.core import migrate
    from packyard.core.services.accounts import create_user
    from tests import postgres

    with postgres.database(postgres_url) as first, postgres.database(postgres_url) as second:
        settings = Settings(data=tmp_path / "a", database_url=first, base_url="http://testserver")
        settings.data.mkdir()
        migrate.upgrade(first)
        db = Database(first)
        try:
            create_user(db, "ann", PASSWORD)
            with TestClient(create_app(settings, db=db)) as client:
                token = login(client, "ann", PASSWORD)
                wheel = build_wheel(tmp_path, "pg-wheel", "1.0")
                response = client.post(
                    "/api/repo/ann",
                    headers={"Authorization": f"token {token}"},
                    data={"filetype": "bdist_wheel"},
                    files={"content": (wheel.name, wheel.read_bytes())},
                )
                assert response.status_code == 200, response.text
        finally:
            db.dispose()
        dest = tmp_path / "backup"
        manifest = backups.backup(first, _store(settings), dest).manifest
        assert manifest.database == "postgresql" and (dest / "database.pgdump").is_file()
        assert manifest.counts["files"] == 1 and len(manifest.blobs) == 2  # the wheel and its .metadata
        named = backups.dump_file_blobs(dest / "database.pgdump", "postgresql")
        assert set(named) == {e.sha256 for e in manifest.blobs}
        assert sorted(named.values()) == [wheel.name, f"{wheel.name}: metadata"]
        assert backups.verify(dest).ok

        target = Settings(data=tmp_path / "b", database_url=second)
        assert backups.restore(dest, second, _store(target)).revision == manifest.revision
        with pytest.raises(BackupError, match=r"target database \(postgresql\+psycopg://.*\) is not empty"):
            backups.restore(dest, second, _store(target))
        assert backups.restore(dest, second, _store(target), force=True).copied.skipped == 2
        assert backups.dump_file_blobs(dest / "database.pgdump", "postgresql") == named

        raw = json.loads((dest / "manifest.json").read_text())
        gone = raw["blobs"].pop()["sha256"]
        (dest / "manifest.json").write_text(json.dumps(raw))
        assert backups.verify(dest).problems == [
            f"blob {gone} ({named[gone]}): named by a file row of the dump but not in the backup"
        ]


def test_a_missing_postgres_tool_is_one_line_naming_the_package() -> None:
    with pytest.raises(BackupError) as missing:
        backups.pg_tool("pg_nothing", 15)
    assert missing.value.message == (
        "pg_nothing for PostgreSQL 15 or newer not found (found: none): install postgresql-client-15 or put its "
        "pg_nothing on PATH"
    )
    with pytest.raises(BackupError, match=r"pg_dump for PostgreSQL 99 or newer not found \(found: \d+"):
        backups.pg_tool("pg_dump", 99)


def test_copy_text_fields_are_unescaped() -> None:
    assert backups._copy_value("\\N") is None
    assert backups._copy_value("a\\tb\\\\c\\nd") == "a\tb\\c\nd"
    assert backups._copy_value('{"metadata": "ab\\\\u00e9"}') == '{"metadata": "ab\\u00e9"}'
    assert backups._copy_value("\\x41\\101") == "AA"


def test_a_removed_file_that_snapshots_still_list_is_backed_up(
    settings: Settings, client: TestClient, db: Database, published: list[str], tmp_path: Path
) -> None:
    token = login(client, "ann", PASSWORD)
    conda_name = published[0]
    sha = client.get("/api/package/ann/bk", headers={"Authorization": f"token {token}"}).json()["files"][0][
        "sha256"
    ]
    removed = client.delete(
        f"/api/dist/ann/bk/1.0/noarch/{conda_name}", headers={"Authorization": f"token {token}"}
    )
    assert removed.status_code == 200, removed.text
    assert _store(settings).exists(sha)  # kept: a snapshot before the removal still serves it
    done = backups.backup(settings.sqlalchemy_url, _store(settings), tmp_path / "backup")
    assert sha in {e.sha256 for e in done.manifest.blobs}
    assert backups.verify(tmp_path / "backup").ok
