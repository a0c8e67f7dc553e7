"""`POST /api/files/OWNER/NAME` (core.services.filesets): one action on several files, all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from packyard.core.models import Event
from tests.builders import build_conda
from tests.unit.api.helpers import auth, login, upload


@pytest.fixture
def world(client, make_user, tmp_path):
    make_user("alice")
    make_user("bob")
    token = login(client, "alice", "password-123")
    names = []
    for version in ("1.0", "2.0", "3.0"):
        folder = tmp_path / version
        folder.mkdir()
        path = build_conda(folder, name="foo", version=version)
        committed = upload(client, token, "alice", "foo", version, path, f"noarch/{path.name}", "conda")
        assert committed.status_code == 200, committed.text
        names.append((version, f"noarch/{path.name}"))
    return token, names


def _labels(client, token: str) -> dict[str, list[str]]:
    files = client.get("/api/package/alice/foo", headers=auth(token)).json()["files"]
    return {f["version"]: sorted(f["labels"]) for f in files}


def _batch(client, token: str, action: str, files, label: str | None = None):
    body = {"action": action, "files": [{"version": v, "basename": b} for v, b in files], "label": label}
    return client.post("/api/files/alice/foo", headers=auth(token), json=body)


def test_move_copy_add_and_remove_labels(client, world, db) -> None:
    token, names = world
    moved = _batch(client, token, "move", names[:2], "dev")
    assert moved.status_code == 200 and moved.json() == {"action": "move", "files": 2, "label": "dev"}
    assert _labels(client, token) == {"1.0": ["dev"], "2.0": ["dev"], "3.0": ["main"]}
    assert _batch(client, token, "copy", names[1:], "test").json()["files"] == 2
    assert _batch(client, token, "add_label", names, "test").json()["files"] == 1  # two had it already
    assert _batch(client, token, "remove_label", names[:1], "test").json()["files"] == 1
    assert _labels(client, token) == {"1.0": ["dev"], "2.0": ["dev", "test"], "3.0": ["main", "test"]}
    nothing = _batch(client, token, "remove_label", names[:1], "test")
    assert nothing.status_code == 400 and "none of the chosen files" in nothing.json()["error"]
    with db.read() as session:
        kinds = set(session.scalars(select(Event.kind).where(Event.owner == "alice")))
    assert {"label.added", "label.removed"} <= kinds


def test_a_batch_is_all_or_nothing(client, world) -> None:
    token, names = world
    assert client.post("/api/channels/alice/frozen", headers=auth(token), json={"package": "foo", "version": "3.0"}).status_code == 201  # fmt: skip
    assert client.post("/api/channels/alice/frozen/lock", headers=auth(token)).status_code == 201
    before = _labels(client, token)
    for action, label in (("delete", None), ("move", "dev"), ("remove_label", "frozen")):
        refused = _batch(client, token, action, names, label)
        assert refused.status_code == 409 and "'frozen' is locked" in refused.json()["error"], action
    missing = _batch(client, token, "delete", [*names[:2], ("9.9", "noarch/foo-9.9-0.tar.bz2")])
    assert missing.status_code == 404
    assert _labels(client, token) == before
    deleted = _batch(client, token, "delete", names[:2])
    assert deleted.status_code == 200 and deleted.json()["files"] == 2
    assert set(_labels(client, token)) == {"3.0"}


def test_only_writers_may_and_the_body_is_checked(client, world) -> None:
    token, names = world
    bob = login(client, "bob", "password-123")
    assert _batch(client, bob, "delete", names).status_code == 403
    assert client.post("/api/files/alice/foo", json={"action": "delete", "files": []}).status_code == 401
    assert _batch(client, token, "explode", names).status_code == 400
    assert _batch(client, token, "move", names, None).status_code == 400  # a label is needed
    assert _batch(client, token, "move", names, "bad label").status_code == 400
    assert _batch(client, token, "delete", []).status_code == 400
    assert len(_labels(client, token)) == 3
