"""Copying files between owners and labels (`anaconda copy`): one copy request is one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from packyard.core.models import Account, Event, File, Package
from tests.builders import build_conda
from tests.unit.api.helpers import auth, login, upload

SUBDIRS = ("linux-64", "osx-64", "win-64")


def _files_of(db, owner: str) -> list[str]:
    with db.read() as session:
        return sorted(
            session.scalars(
                select(File.basename)
                .join(Package, File.package_id == Package.id)
                .join(Account, Package.owner_id == Account.id)
                .where(Account.login == owner)
            )
        )


def _events_of(db, owner: str) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Event.kind).where(Event.owner == owner).order_by(Event.serial)))


def test_a_copy_that_fails_midway_copies_nothing(client, make_user, db, tmp_path) -> None:
    make_user("alice")
    token = login(client, "alice", "password-123")
    assert client.post("/api/orgs/acme", headers=auth(token), json={}).status_code == 201
    paths = {}
    for subdir in SUBDIRS:
        (tmp_path / subdir).mkdir()
        path = build_conda(tmp_path / subdir, name="foo", version="1.0", build="0", subdir=subdir)
        committed = upload(client, token, "alice", "foo", "1.0", path, f"{subdir}/{path.name}", "conda")
        assert committed.status_code == 200, committed.text
        paths[subdir] = path
    # The destination already has the second file: a plain copy (POST) conflicts on it, after the first.
    second = paths[SUBDIRS[1]]
    committed = upload(client, token, "acme", "foo", "1.0", second, f"{SUBDIRS[1]}/{second.name}", "conda")
    assert committed.status_code == 200, committed.text
    before_files, before_events = _files_of(db, "acme"), _events_of(db, "acme")

    response = client.post("/api/copy/package/alice/foo/1.0/", headers=auth(token), json={"to_owner": "acme"})

    assert response.status_code == 409, response.text
    assert "already exists" in response.json()["error"]
    assert _files_of(db, "acme") == before_files == [f"{SUBDIRS[1]}/{second.name}"]
    assert _events_of(db, "acme") == before_events

    # PUT replaces what exists: all three arrive, in one request.
    response = client.put("/api/copy/package/alice/foo/1.0/", headers=auth(token), json={"to_owner": "acme"})
    assert response.status_code == 200, response.text
    assert sorted(f["basename"] for f in response.json()) == _files_of(db, "acme")
    assert len(_files_of(db, "acme")) == len(SUBDIRS)


def test_a_copy_within_one_owner_labels_every_file(client, make_user, db, tmp_path) -> None:
    make_user("alice")
    token = login(client, "alice", "password-123")
    for subdir in SUBDIRS:
        (tmp_path / subdir).mkdir()
        path = build_conda(tmp_path / subdir, name="foo", version="1.0", build="0", subdir=subdir)
        committed = upload(client, token, "alice", "foo", "1.0", path, f"{subdir}/{path.name}", "conda")
        assert committed.status_code == 200, committed.text
    response = client.post(
        "/api/copy/package/alice/foo/1.0/", headers=auth(token), json={"to_channel": "stable"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()) == len(SUBDIRS)
    assert [e for e in _events_of(db, "alice") if e == "label.added"] == ["label.added"] * len(SUBDIRS)


def test_a_copy_that_fails_inside_its_transaction_leaves_nothing(
    client, make_user, db, tmp_path, monkeypatch
) -> None:
    """A failure after the first file was added (here: recording the second one's event) undoes the first."""
    from packyard.core.auth import identity_for
    from packyard.core.services import packages as pkg_service
    from packyard.core.services.copy import copy_files

    make_user("alice")
    token = login(client, "alice", "password-123")
    assert client.post("/api/orgs/acme", headers=auth(token), json={}).status_code == 201
    for subdir in SUBDIRS:
        (tmp_path / subdir).mkdir()
        path = build_conda(tmp_path / subdir, name="foo", version="1.0", build="0", subdir=subdir)
        committed = upload(client, token, "alice", "foo", "1.0", path, f"{subdir}/{path.name}", "conda")
        assert committed.status_code == 200, committed.text
    real_emit = pkg_service.emit
    added = []

    def failing_emit(session, kind, *args, **kw) -> None:
        if kind == "file.added":
            added.append(args)
            if len(added) == 2:
                raise RuntimeError("the disk is full")
        real_emit(session, kind, *args, **kw)

    before_events = _events_of(db, "acme")
    monkeypatch.setattr(pkg_service, "emit", failing_emit)
    with db.read() as session:
        alice = session.scalar(select(Account).where(Account.login == "alice"))
        session.expunge(alice)
    with pytest.raises(RuntimeError, match="disk is full"):
        copy_files(
            db, identity_for(db, alice), "alice", "foo", "1.0", None,
            to_owner="acme", from_label="main", to_label="main",
        )  # fmt: skip
    assert len(added) == 2
    assert _files_of(db, "acme") == []
    assert _events_of(db, "acme") == before_events
