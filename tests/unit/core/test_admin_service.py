"""core/services/admin.py without a browser: who may call it, searching users, lock-outs, the event log's filters
and paging, storage totals with shared blobs."""

from __future__ import annotations

import datetime as dt

import pytest

from packyard.core import auth
from packyard.core.db import Database
from packyard.core.errors import BadRequest, Forbidden, NotFound
from packyard.core.models import LoginFailure
from packyard.core.services import admin, tokens
from tests.builders import build_wheel

WINDOW = {"allowed_failures": 3, "window_seconds": 300}


@pytest.fixture
def people(db: Database, make_user):
    root = make_user("root", is_admin=True)
    alice = make_user("alice", email="alice@example.org", name="Alice Liddell")
    return auth.identity_for(db, root), auth.identity_for(db, alice)


def test_only_a_site_administrators_own_credential_or_the_operator(db: Database, people) -> None:
    root, alice = people
    with pytest.raises(Forbidden, match="site administrators"):
        admin.list_users(db, alice, **WINDOW)
    with pytest.raises(Forbidden, match="site administrators"):
        admin.set_disabled(db, alice, "root", True)
    _, secret = tokens.create_token(db, root, name="narrow", scopes=["conda:download"], max_age=3600)
    narrow = auth.authenticate_token(db, secret)
    with pytest.raises(Forbidden):
        admin.storage(db, narrow)
    assert admin.list_users(db, admin.OPERATOR, **WINDOW).total == 2


def test_search_status_and_lockouts(db: Database, people) -> None:
    root, _ = people
    assert [u.login for u in admin.list_users(db, root, query="liddell", **WINDOW).users] == ["alice"]
    assert [u.login for u in admin.list_users(db, root, query="EXAMPLE.org", **WINDOW).users] == ["alice"]
    assert [u.login for u in admin.list_users(db, root, status="admin", **WINDOW).users] == ["root"]
    with pytest.raises(BadRequest, match="unknown status"):
        admin.list_users(db, root, status="weird", **WINDOW)
    with db.write() as session:
        session.add_all([LoginFailure(login_key="alice", remote_addr="x") for _ in range(3)])
    locked = admin.list_users(db, root, status="locked", **WINDOW).users
    assert [(u.login, u.locked, u.failures) for u in locked] == [("alice", True, 3)]
    assert admin.unlock(db, root, "alice") == 3
    assert admin.list_users(db, root, status="locked", **WINDOW).users == []
    with pytest.raises(NotFound):
        admin.unlock(db, root, "nobody")


def test_disable_and_password_reset_write_events_and_refuse_yourself(db: Database, people) -> None:
    root, _ = people
    with pytest.raises(BadRequest, match="your own account"):
        admin.set_disabled(db, root, "root", True)
    admin.set_disabled(db, root, "alice", True)
    admin.set_disabled(db, root, "alice", False)
    with pytest.raises(BadRequest, match="at least 8"):
        admin.reset_password(db, root, "alice", "short")
    admin.reset_password(db, root, "alice", "a-new-password")
    found = admin.events(db, root, admin.EventFilter(kind="user.", owner="alice"))
    assert [e.kind for e in found.events] == ["user.password_reset", "user.enabled", "user.disabled"]
    assert set(found.actors.values()) == {"root"}


def test_event_filters_and_paging(db: Database, people) -> None:
    root, _ = people
    for login in ("u1", "u2", "u3", "u4", "u5"):
        admin.create_user(db, root, login, "password-123")
    first = admin.events(db, root, admin.EventFilter(kind="user.created", actor="root"), limit=2)
    assert [e.owner for e in first.events] == ["u5", "u4"]
    second = admin.events(
        db, root, admin.EventFilter(kind="user.created", actor="root"), before=first.older, limit=2
    )
    third = admin.events(
        db, root, admin.EventFilter(kind="user.created", actor="root"), before=second.older, limit=2
    )
    assert [e.owner for e in second.events + third.events] == ["u3", "u2", "u1"]
    assert third.older is None
    assert admin.events(db, root, admin.EventFilter(actor="nobody")).events == []
    today = dt.datetime.now(dt.UTC).date()
    assert (
        len(admin.events(db, root, admin.EventFilter(kind="user.created", since=today, until=today)).events)
        == 5
    )
    assert admin.events(db, root, admin.EventFilter(until=today - dt.timedelta(days=1))).events == []
    assert "user.created" in admin.event_kinds(db, root)


def test_storage_counts_a_shared_blob_once(db: Database, people, client, tmp_path) -> None:
    root, _ = people
    empty = admin.storage(db, root)
    assert (empty.files, empty.blob_bytes, empty.owners) == (0, 0, [])
    wheel = build_wheel(tmp_path, name="shared", version="1.0")
    for owner in ("root", "alice"):  # the administrator may upload anywhere
        sent = client.post(
            f"/api/repo/{owner}",
            auth=("root", "password-123"),
            data={"filetype": "bdist_wheel"},
            files={"content": (wheel.name, wheel.read_bytes())},
        )
        assert sent.status_code == 200, sent.text
    used = admin.storage(db, root)
    size = wheel.stat().st_size
    assert (used.files, used.file_bytes) == (2, 2 * size)
    assert (used.blobs, used.blob_bytes) == (1, size)  # one content-addressed blob for both files
    assert sorted((u.owner, u.packages, u.files, u.bytes) for u in used.owners) == [
        ("alice", 1, 1, size),
        ("root", 1, 1, size),
    ]
