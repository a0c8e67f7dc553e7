"""Organizations, groups, collaborators, transfer, access changes and sign-up through the REST API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from packyard.core.models import Event
from tests.builders import build_conda
from tests.unit.api.helpers import auth, ensure_package, login, upload


@pytest.fixture
def people(client, make_user) -> dict[str, str]:
    tokens = {}
    for name in ("owner", "dev", "viewer", "outsider"):
        make_user(name)
        tokens[name] = login(client, name, "password-123")
    return tokens


@pytest.fixture
def acme(client, people) -> str:
    response = client.post("/api/orgs/acme", headers=auth(people["owner"]), json={"name": "Acme Inc."})
    assert response.status_code == 201, response.text
    assert response.json()["user_type"] == "org"
    return "acme"


def test_org_namespace_is_shared_with_users(client, people, acme) -> None:
    assert client.post("/api/orgs/dev", headers=auth(people["owner"]), json={}).status_code == 409
    assert client.post("/api/orgs/ACME", headers=auth(people["dev"]), json={}).status_code == 409
    assert client.post("/api/orgs/neworg", json={}).status_code == 401
    assert [o["login"] for o in client.get("/api/user/orgs", headers=auth(people["owner"])).json()] == [
        "acme"
    ]
    assert [
        o["login"] for o in client.get("/api/users/owner/orgs", headers=auth(people["owner"])).json()
    ] == ["acme"]


def test_memberships_are_visible_to_the_member_fellow_members_and_admins_only(
    client, people, acme, make_user
) -> None:
    """anaconda.org lists only public memberships; Packyard has none, so strangers see an empty list."""
    owner = auth(people["owner"])
    assert client.post("/api/group/acme/devs", headers=owner, json={"perms": "read"}).status_code == 204
    assert client.put("/api/group/acme/devs/members/dev", headers=owner).status_code == 204
    make_user("root", is_admin=True)
    upload_only = client.post(
        "/api/authentications", headers=owner, json={"note": "up", "scopes": ["pypi:upload"]}
    ).json()["token"]

    def seen(login: str, headers: dict[str, str]) -> list[str]:
        response = client.get(f"/api/users/{login}/orgs", headers=headers)
        assert response.status_code == 200, response.text
        return [o["login"] for o in response.json()]

    assert seen("dev", auth(people["dev"])) == ["acme"]  # their own
    assert seen("dev", owner) == ["acme"]  # a fellow member
    assert seen("dev", auth(login(client, "root", "password-123"))) == ["acme"]  # a site administrator
    assert seen("dev", {}) == []  # anonymous: `anaconda show dev` still works, without the memberships
    assert seen("dev", auth(people["outsider"])) == []
    assert seen("dev", auth(people["viewer"])) == []
    assert seen("dev", auth(upload_only)) == []  # the owner's token that may not read through the REST API
    assert seen("owner", auth(upload_only)) == [
        "acme"
    ]  # ... still sees its own account's, like /api/user/orgs
    assert client.get("/api/users/dev/orgs", headers=auth("py-0-garbage")).status_code == 401


def test_groups_flow_and_status_codes(client, people, acme) -> None:
    owner = auth(people["owner"])
    assert client.post("/api/group/acme/devs", headers=owner, json={"perms": "write"}).status_code == 204
    assert client.post("/api/group/acme/devs", headers=owner, json={"perms": "write"}).status_code == 409
    assert client.post("/api/group/acme/bad", headers=owner, json={"perms": "root"}).status_code == 400
    assert client.post("/api/group/acme/x", headers=auth(people["dev"]), json={}).status_code == 403
    assert client.put("/api/group/acme/devs/members/dev", headers=owner).status_code == 204
    assert client.get("/api/group/acme/devs/members/dev", headers=owner).status_code == 204
    assert client.get("/api/group/acme/devs/members/viewer", headers=owner).status_code == 404
    assert client.get("/api/group/acme/devs/members", headers=owner).json() == [
        {"login": "dev", "name": "", "user_type": "user"}
    ]
    groups = {g["name"]: g for g in client.get("/api/groups/acme", headers=auth(people["dev"])).json()}
    assert groups["owners"]["perms"] == "admin"
    assert groups["devs"]["members"] == 1
    assert client.get("/api/groups/acme", headers=auth(people["outsider"])).status_code == 403
    assert client.get("/api/groups/acme").status_code == 401
    assert {g["name"] for g in client.get("/api/groups", headers=auth(people["dev"])).json()} == {"devs"}
    ensure_package(client, people["owner"], "acme", "tool")
    assert client.put("/api/group/acme/devs/packages/tool", headers=owner).status_code == 204
    assert client.put("/api/group/acme/devs/packages/nope", headers=owner).status_code == 404
    assert [p["full_name"] for p in client.get("/api/group/acme/devs/packages", headers=owner).json()] == [
        "acme/tool"
    ]
    assert client.delete("/api/group/acme/devs/packages/tool", headers=owner).status_code == 204
    assert client.delete("/api/group/acme/devs/members/dev", headers=owner).status_code == 204
    # the last owner cannot leave
    assert client.delete("/api/group/acme/owners/members/owner", headers=owner).status_code == 409


def test_write_group_member_creates_and_uploads_in_org(client, people, acme, tmp_path) -> None:
    owner = auth(people["owner"])
    client.post("/api/group/acme/devs", headers=owner, json={"perms": "write"})
    client.put("/api/group/acme/devs/members/dev", headers=owner)
    client.post("/api/group/acme/viewers", headers=owner, json={"perms": "read"})
    client.put("/api/group/acme/viewers/members/viewer", headers=owner)
    path = build_conda(tmp_path, name="widget", version="1.0", subdir="noarch")
    committed = upload(client, people["dev"], "acme", "widget", "1.0", path, f"noarch/{path.name}", "conda")
    assert committed.status_code == 200, committed.text
    # the new package joined the creator's write group
    assert [p["name"] for p in client.get("/api/group/acme/devs/packages", headers=owner).json()] == [
        "widget"
    ]
    viewer_try = client.post("/api/package/acme/other", headers=auth(people["viewer"]), json={})
    assert viewer_try.status_code == 403
    assert (
        client.post("/api/package/acme/other", headers=auth(people["outsider"]), json={}).status_code == 403
    )


def test_private_org_package_visible_through_groups(client, people, acme, tmp_path) -> None:
    owner = auth(people["owner"])
    client.post(
        "/api/package/acme/secret", headers=owner, json={"public": False, "public_attrs": {"summary": "s"}}
    )
    client.post("/api/group/acme/viewers", headers=owner, json={"perms": "read"})
    client.put("/api/group/acme/viewers/members/viewer", headers=owner)
    assert client.get("/api/package/acme/secret", headers=auth(people["viewer"])).status_code == 404
    client.put("/api/group/acme/viewers/packages/secret", headers=owner)
    viewer = login(client, "viewer", "password-123", note="again")  # grants are read per credential use
    assert client.get("/api/package/acme/secret", headers=auth(viewer)).status_code == 200
    assert [p["name"] for p in client.get("/api/packages/acme", headers=auth(viewer)).json()] == ["secret"]
    assert client.get("/api/packages/acme", headers=auth(people["outsider"])).json() == []


def test_collaborators(client, people, tmp_path) -> None:
    owner = auth(people["owner"])
    client.post(
        "/api/package/owner/lib", headers=owner, json={"public": False, "public_attrs": {"summary": "s"}}
    )
    assert client.put("/api/packages/owner/lib/collaborators/dev", headers=owner).status_code == 201
    assert (
        client.put("/api/packages/owner/lib/collaborators/viewer", headers=auth(people["dev"])).status_code
        == 403
    )
    assert client.get("/api/packages/owner/lib/collaborators", headers=owner).json() == [
        {"login": "dev", "name": "", "permission": "write"}
    ]
    # a read-only collaborator (pkgset): sees the private package, may not write to it
    reader = "/api/packages/owner/lib/collaborators/viewer"
    assert client.put(reader, headers=owner, params={"permission": "admin"}).status_code == 400
    assert client.put(reader, headers=owner, params={"permission": "read"}).status_code == 201
    assert client.get("/api/package/owner/lib", headers=auth(people["viewer"])).status_code == 200
    assert (
        client.patch(
            "/api/package/owner/lib", headers=auth(people["viewer"]), json={"public_attrs": {"summary": "x"}}
        ).status_code
        == 403
    )
    assert {c["login"]: c["permission"] for c in client.get(
        "/api/packages/owner/lib/collaborators", headers=owner).json()} == {"dev": "write", "viewer": "read"}  # fmt: skip
    assert client.delete(reader, headers=owner).status_code == 201
    path = build_conda(tmp_path, name="lib", version="1.0", subdir="noarch")
    assert (
        upload(
            client, people["dev"], "owner", "lib", "1.0", path, f"noarch/{path.name}", "conda", create=False
        ).status_code
        == 200
    )
    assert client.delete("/api/packages/owner/lib/collaborators/dev", headers=owner).status_code == 201
    assert client.get("/api/package/owner/lib", headers=auth(people["dev"])).status_code == 404


def test_transfer_to_an_org_keeps_labels(client, people, acme, tmp_path, db) -> None:
    owner = people["owner"]
    path = build_conda(tmp_path, name="moving", version="1.0", subdir="noarch")
    upload(client, owner, "owner", "moving", "1.0", path, f"noarch/{path.name}", "conda", labels=["dev"])
    refused = client.post(
        "/api/package/owner/moving/transfer", headers=auth(people["dev"]), json={"to_owner": "dev"}
    )
    assert refused.status_code == 403
    into_foreign = client.post(
        "/api/package/owner/moving/transfer", headers=auth(owner), json={"to_owner": "dev"}
    )
    assert into_foreign.status_code == 403
    moved = client.post("/api/package/owner/moving/transfer", headers=auth(owner), json={"to_owner": "acme"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner"]["login"] == "acme"
    assert client.get(f"/api/dist/acme/moving/1.0/noarch/{path.name}").json()["labels"] == ["dev"]
    assert client.get("/api/package/owner/moving").status_code == 404
    with db.read() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.serial))]
    assert kinds[-3:] == ["file.removed", "file.added", "package.transferred"]


def test_bulk_access_is_all_or_nothing(client, people) -> None:
    owner = auth(people["owner"])
    for name in ("a", "b"):
        client.post(f"/api/package/owner/{name}", headers=owner, json={"public_attrs": {"summary": name}})
    changed = client.post(
        "/api/packages/owner/access", headers=owner, json={"packages": ["a", "b"], "access": "private"}
    )
    assert changed.status_code == 200
    assert [p["access"] for p in changed.json()] == ["private", "private"]
    assert client.get("/api/packages/owner").json() == []
    bad = client.post(
        "/api/packages/owner/access", headers=owner, json={"packages": ["a"], "access": "secret"}
    )
    assert bad.status_code == 400
    missing = client.post(
        "/api/packages/owner/access", headers=owner, json={"packages": ["a", "zzz"], "access": "public"}
    )
    assert missing.status_code == 404
    assert client.get("/api/package/owner/a", headers=owner).json()["access"] == "private"


def test_delete_org_removes_everything(client, people, acme, tmp_path) -> None:
    path = build_conda(tmp_path, name="gone", version="1.0", subdir="noarch")
    upload(client, people["owner"], "acme", "gone", "1.0", path, f"noarch/{path.name}", "conda")
    assert client.delete("/api/orgs/acme", headers=auth(people["dev"])).status_code == 403
    assert client.delete("/api/orgs/acme", headers=auth(people["owner"])).status_code == 201
    assert client.get("/api/user/acme").status_code == 404
    assert client.get("/api/package/acme/gone").status_code == 404
    assert client.post("/api/orgs/acme", headers=auth(people["owner"]), json={}).status_code == 201


def test_org_tokens_act_only_inside_their_org(client, people, acme) -> None:
    owner = auth(people["owner"])
    client.post("/api/package/owner/personal", headers=owner, json={"public": False, "public_attrs": {}})
    client.post("/api/package/acme/work", headers=owner, json={"public": False, "public_attrs": {}})
    created = client.post(
        "/api/authentications", auth=("owner", "password-123"), json={"note": "ci", "user": "acme"}
    )
    assert created.status_code == 200
    org_token = created.json()["token"]
    assert client.get("/api/package/acme/work", headers=auth(org_token)).status_code == 200
    assert client.get("/api/package/owner/personal", headers=auth(org_token)).status_code == 404
    refused = client.post(
        "/api/authentications", auth=("dev", "password-123"), json={"note": "x", "user": "acme"}
    )
    assert refused.status_code == 403


def test_signup_is_off_by_default(client, make_user, settings) -> None:
    assert client.post("/api/users", json={"login": "eve", "password": "long-password"}).status_code == 403
    make_user("root", is_admin=True)
    admin = login(client, "root", "password-123")
    created = client.post(
        "/api/users", headers=auth(admin), json={"login": "eve", "password": "long-password"}
    )
    assert created.status_code == 201
    settings.allow_signup = True
    assert client.post("/api/users", json={"login": "zed", "password": "long-password"}).status_code == 201
    assert client.post("/api/users", json={"login": "zed2", "password": "short"}).status_code == 400


def test_disabled_user_is_locked_out(client, people, db) -> None:
    from packyard.core.services.accounts import set_disabled

    set_disabled(db, "dev", True)
    assert client.get("/api/user", headers=auth(people["dev"])).status_code == 401
    assert client.get("/api/user", auth=("dev", "password-123")).status_code == 401


def test_an_org_token_outside_its_org_says_it_is_limited_to_the_org(client, people, acme) -> None:
    """Not "owner may not write to owner": the account may, the organization token may not (issue #14)."""
    owner = auth(people["owner"])
    client.post("/api/package/owner/personal", headers=owner, json={"public": True, "public_attrs": {}})
    created = client.post(
        "/api/authentications", auth=("owner", "password-123"), json={"note": "ci", "user": "acme"}
    )
    org_token = created.json()["token"]
    expected = "this token is restricted to the organization acme, so it may not"
    for response in (
        client.post("/api/package/owner/other", headers=auth(org_token), json={"public_attrs": {}}),
        client.patch("/api/package/owner/personal", headers=auth(org_token), json={"summary": "x"}),
        client.post(
            "/api/stage/owner/personal/1.0/notes.txt",
            headers=auth(org_token),
            json={"distribution_type": "file"},
        ),
    ):
        assert response.status_code == 403, response.text
        message = response.json()["error"]
        assert expected in message and "owner may not" not in message, message
    # Inside its organization the same token writes.
    assert (
        client.post("/api/package/acme/fine", headers=auth(org_token), json={"public_attrs": {}}).status_code
        == 200
    )
