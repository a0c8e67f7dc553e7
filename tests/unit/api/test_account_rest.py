"""Channel-limited tokens and account self-service over REST (issue #13, items 6 and 7).

A token limited to one channel acts only on that owner's packages and namespace, whatever its account may do
elsewhere: `core.permissions` confines it the way it confines an organization token. The profile, password and
account-deletion endpoints call the same services as the `/settings` pages.
"""

from __future__ import annotations

from sqlalchemy import func, select

from packyard.core.models import Account, Event, Package, Token
from packyard.core.services.sessions import WebSession
from tests.unit.api.helpers import auth, ensure_package, login

PW = "password-123"


def _private(client, token: str, owner: str, name: str) -> None:
    response = client.post(
        f"/api/package/{owner}/{name}",
        headers=auth(token),
        json={"public": False, "publish": False, "public_attrs": {"summary": "private"}},
    )
    assert response.status_code == 200, response.text


def _world(client, make_user) -> dict[str, str]:
    """ann owns ann/mine (private); ben owns ben/theirs (private) with ann as a collaborator."""
    make_user("ann")
    make_user("ben")
    ann, ben = login(client, "ann", PW), login(client, "ben", PW)
    _private(client, ann, "ann", "mine")
    _private(client, ben, "ben", "theirs")
    added = client.put("/api/packages/ben/theirs/collaborators/ann", headers=auth(ben))
    assert added.status_code == 201, added.text
    return {"ann": ann, "ben": ben}


def test_a_channel_limited_token_reads_only_its_channel(client, make_user) -> None:
    tokens = _world(client, make_user)
    assert client.get("/api/package/ben/theirs", headers=auth(tokens["ann"])).status_code == 200
    made = client.post(
        "/api/authentications",
        headers=auth(tokens["ann"]),
        json={"note": "only-ann", "scopes": ["conda:download", "api:read"], "channel": "ann"},
    )
    assert made.status_code == 200, made.text
    assert made.json()["channel"] == "ann"
    limited = made.json()["token"]
    assert client.get("/api/package/ann/mine", headers=auth(limited)).status_code == 200
    assert client.get("/api/package/ben/theirs", headers=auth(limited)).status_code in (403, 404)
    listed = client.get("/api/packages/ben", headers=auth(limited)).json()
    assert [p["name"] for p in listed] == []
    # Through the conda channel as well: ann's private channel answers, ben's shows nothing private.
    assert client.get(f"/t/{limited}/ann/noarch/repodata.json").status_code != 401


def test_a_channel_limited_token_may_not_manage_tokens_nor_mint_wider_ones(client, make_user) -> None:
    tokens = _world(client, make_user)
    limited = client.post(
        "/api/authentications", headers=auth(tokens["ann"]), json={"note": "lim", "channel": "ann"}
    ).json()["token"]
    assert client.get("/api/authentications", headers=auth(limited)).status_code == 403
    wider = client.post("/api/authentications", headers=auth(limited), json={"note": "wider"})
    assert wider.status_code == 403
    assert "limited to the channel ann" in wider.json()["error"]
    elsewhere = client.post(
        "/api/authentications", headers=auth(limited), json={"note": "else", "channel": "ben"}
    )
    assert elsewhere.status_code == 403


def test_an_unknown_channel_is_refused(client, make_user) -> None:
    tokens = _world(client, make_user)
    made = client.post(
        "/api/authentications", headers=auth(tokens["ann"]), json={"note": "x", "channel": "nobody-here"}
    )
    assert made.status_code == 404


def test_token_events_never_carry_the_secret(client, make_user, db) -> None:
    tokens = _world(client, make_user)
    made = client.post("/api/authentications", headers=auth(tokens["ann"]), json={"note": "evt"}).json()
    assert client.delete("/api/authentications/name/evt", headers=auth(tokens["ann"])).status_code == 201
    with db.read() as session:
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.owner == "ann"))]
        assert "token.created" in kinds and "token.removed" in kinds
        texts = [str(e.data) for e in session.scalars(select(Event))]
        stored = [t.token_hash for t in session.scalars(select(Token))]
    assert not any(made["token"] in t for t in texts)
    assert all(len(h) == 64 and made["token"] not in h for h in stored)


def test_patch_user_edits_the_profile(client, make_user) -> None:
    make_user("ann")
    token = login(client, "ann", PW)
    response = client.patch(
        "/api/user",
        headers=auth(token),
        json={
            "name": "Ann Lee",
            "company": "Lab",
            "url": "https://example.org/ann",
            "email": "ann@example.org",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ann Lee" and response.json()["email"] == "ann@example.org"
    shown = client.get("/api/user/ann").json()
    assert shown["company"] == "Lab" and shown["url"] == "https://example.org/ann"
    bad = client.patch("/api/user", headers=auth(token), json={"url": "javascript:alert(1)"})
    assert bad.status_code == 400 and "url" in bad.json()["error"]
    assert client.patch("/api/user", json={"name": "x"}).status_code == 401


def test_patch_user_refuses_a_narrow_token(client, make_user) -> None:
    make_user("ann")
    narrow = login(client, "ann", PW, scopes=["api:read"])
    assert client.patch("/api/user", headers=auth(narrow), json={"name": "x"}).status_code == 403


def test_change_password_needs_the_current_one_and_can_revoke_tokens(client, make_user, db) -> None:
    make_user("ann")
    token = login(client, "ann", PW)
    wrong = client.post(
        "/api/user/password",
        headers=auth(token),
        json={"current_password": "not-it-at-all", "new_password": "brand-new-pass"},
    )
    assert wrong.status_code == 400
    assert client.post("/api/authentications", auth=("ann", PW), json={"note": "still"}).status_code == 200
    done = client.post(
        "/api/user/password",
        headers=auth(token),
        json={"current_password": PW, "new_password": "brand-new-pass", "revoke_tokens": True},
    )
    assert done.status_code == 200, done.text
    assert done.json()["tokens_revoked"] >= 2
    assert client.get("/api/user", headers=auth(token)).status_code == 401
    assert client.post("/api/authentications", auth=("ann", PW), json={"note": "old"}).status_code == 401
    assert (
        client.post("/api/authentications", auth=("ann", "brand-new-pass"), json={"note": "new"}).status_code
        == 200
    )
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
        assert session.scalar(select(Event.kind).where(Event.kind == "user.password_changed"))


def test_delete_user_needs_the_password_and_the_login(client, make_user, db) -> None:
    make_user("ann")
    token = login(client, "ann", PW)
    ensure_package(client, token, "ann", "pkg")
    assert client.delete("/api/user?confirm=ann", headers=auth(token)).status_code == 403
    assert client.delete("/api/user", auth=("ann", PW)).status_code == 400
    response = client.delete("/api/user?confirm=ann", auth=("ann", PW))
    assert response.status_code == 200, response.text
    assert response.json()["packages_removed"] == 1
    with db.read() as session:
        assert session.scalar(select(Account).where(Account.login_key == "ann")) is None
        assert session.scalar(select(func.count()).select_from(Package)) == 0


def test_the_last_owner_of_an_organization_may_not_delete_the_account(client, make_user, db) -> None:
    make_user("ann")
    token = login(client, "ann", PW)
    assert client.post("/api/orgs/annlab", headers=auth(token), json={"name": "Ann's lab"}).status_code == 201
    refused = client.delete("/api/user?confirm=ann", auth=("ann", PW))
    assert refused.status_code == 409
    assert "only owner of the organization annlab" in refused.json()["error"]
    with db.read() as session:
        assert session.scalar(select(Account).where(Account.login_key == "ann")) is not None


def test_the_new_endpoints_are_in_the_openapi_schema(client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "patch" in paths["/api/user"] and "delete" in paths["/api/user"]
    assert "post" in paths["/api/user/password"]
