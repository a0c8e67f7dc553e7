"""A conda mirror's large-index machinery in process (formats/conda/mirror.py `ingest`, core/mirrors/documents.py):
mirror_records follow upstream's repodata by difference, rendered documents are reused until their inputs change,
and fsck and backups keep the blobs they name. The real clients through a live mirror: tests/clients/test_conda_mirror.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from packyard.config import Settings
from packyard.core import backup as backups
from packyard.core import fsck
from packyard.core.db import Database
from packyard.core.mirrors import documents
from packyard.core.mirrors.models import Mirror, MirrorDocument, MirrorIndex, MirrorRecord
from packyard.core.models import Account, AccountKind, utcnow
from packyard.core.storage import LocalBlobStore
from packyard.formats.conda import mirror as conda_mirror

URL = "http://up/c/linux-64/repodata.json"


@pytest.fixture
def store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_root)


@pytest.fixture
def mirror_id(db: Database) -> int:
    with db.write() as session:
        org = Account(login="big", login_key="big", kind=AccountKind.ORG)
        session.add(org)
        session.flush()
        row = Mirror(
            account_id=org.id, format="conda", upstream="http://up/c/", include=[], exclude=[], ttl=60
        )
        session.add(row)
        session.flush()
        return row.id


def _record(i: int, version: str = "1.0") -> dict:
    return {"name": f"p{i}", "version": version, "sha256": f"{i:064x}", "md5": f"{i:032x}", "depends": []}


def _write(path: Path, records: dict[str, dict], **info) -> Path:
    path.write_text(json.dumps({"info": {"subdir": "linux-64", **info}, "packages.conda": records}))
    return path


def _rows(db: Database, mirror_id: int) -> dict[str, tuple]:
    with db.read() as session:
        return {
            r.filename: (r.name, r.sha256, r.md5, r.url)
            for r in session.scalars(select(MirrorRecord).where(MirrorRecord.mirror_id == mirror_id))
        }


def test_ingest_writes_what_changed_and_drops_what_upstream_no_longer_lists(
    db: Database, mirror_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = conda_mirror.ingest(db, mirror_id, "main/linux-64")
    first = {f"p{i}-1.0-0.conda": _record(i) for i in range(12)}
    run(_write(tmp_path / "a.json", first), URL)
    rows = _rows(db, mirror_id)
    assert len(rows) == 12 and rows["p3-1.0-0.conda"] == ("p3", f"{3:064x}", f"{3:032x}", None)

    written: list[list[str]] = []
    upsert = conda_mirror._upsert
    monkeypatch.setattr(
        conda_mirror,
        "_upsert",
        lambda d, m, k, b: (written.append([r["filename"] for r in b]), upsert(d, m, k, b)),
    )
    second = dict(first)
    del second["p0-1.0-0.conda"]  # gone upstream
    second["p1-1.0-0.conda"] = {**_record(1), "sha256": "f" * 64}  # rebuilt: new digest
    second["p1-1.0-0.conda"]["depends"] = ["x"]
    second["new-2.0-0.conda"] = {**_record(99), "name": "new"}
    run(_write(tmp_path / "b.json", second), URL)
    assert sorted(f for batch in written for f in batch) == ["new-2.0-0.conda", "p1-1.0-0.conda"]
    rows = _rows(db, mirror_id)
    assert "p0-1.0-0.conda" not in rows and len(rows) == 12
    assert rows["p1-1.0-0.conda"][1] == "f" * 64

    written.clear()
    run(_write(tmp_path / "c.json", second), URL)  # the same records again: nothing written
    assert written == [[]]  # one call, with nothing in it


def test_ingest_keeps_a_url_only_where_files_are_not_beside_the_repodata(
    db: Database, mirror_id: int, tmp_path: Path
) -> None:
    run = conda_mirror.ingest(db, mirror_id, "main/linux-64")
    run(_write(tmp_path / "a.json", {"p1-1.0-0.conda": _record(1)}, base_url="https://files.example/x/"), URL)
    assert _rows(db, mirror_id)["p1-1.0-0.conda"][3] == "https://files.example/x/p1-1.0-0.conda"
    run(_write(tmp_path / "b.json", {"p1-1.0-0.conda": _record(1)}), URL)  # upstream moved them back
    assert _rows(db, mirror_id)["p1-1.0-0.conda"][3] is None


def test_ingest_refuses_what_is_not_repodata(db: Database, mirror_id: int, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"packages.conda": {"p-1-0.conda": {"name": ')
    with pytest.raises(ValueError, match="does not parse"):
        conda_mirror.ingest(db, mirror_id, "main/linux-64")(tmp_path / "bad.json", URL)
    assert _rows(db, mirror_id) == {}


def test_fsck_and_backups_keep_a_mirrors_blobs_and_old_renderings_become_orphans(
    settings: Settings, db: Database, store: LocalBlobStore, mirror_id: int, tmp_path: Path
) -> None:
    upstream_blob = store.put_bytes(b'{"packages": {}}').sha256
    with db.write() as session:
        session.add(
            MirrorIndex(
                mirror_id=mirror_id,
                project="main/linux-64",
                fetched_at=utcnow(),
                entries=[],
                blob=upstream_blob,
            )
        )
    old = documents.render(
        db, store, mirror_id, "main/linux-64/repodata.json", "all", "s1", lambda w: w(b"old")
    )
    new = documents.render(
        db, store, mirror_id, "main/linux-64/repodata.json", "all", "s2", lambda w: w(b"new")
    )
    zst = documents.variant(db, store, new, "zst")
    report = fsck.check(db, store, grace_seconds=0)
    assert report.orphans == [old.sha256] and report.ok
    assert {upstream_blob, new.sha256, zst.sha256} <= fsck.referenced(db)

    done = backups.backup(settings.sqlalchemy_url, store, tmp_path / "backup")
    assert {upstream_blob, new.sha256, zst.sha256} <= {e.sha256 for e in done.manifest.blobs}
    assert old.sha256 not in {e.sha256 for e in done.manifest.blobs}
    with db.read() as session:
        assert session.scalar(select(MirrorDocument.sha256)) == new.sha256
