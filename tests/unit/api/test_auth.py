from __future__ import annotations

import base64
import hashlib

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import auth as auth_module
from packyard.core.auth import PasswordCache
from packyard.core.models import LoginFailure, Token
from packyard.core.services.accounts import set_disabled, set_password
from tests.unit.api.helpers import auth, login


def test_head_api_is_200_without_redirect(client) -> None:
    response = client.head("/api", follow_redirects=False)
    assert response.status_code == 200


def test_openapi_docs(client) -> None:
    assert client.get("/api/docs").status_code == 200
    assert "/api/stage/{owner}/{name}/{version}/{basename}" in client.get("/api/openapi.json").json()["paths"]


def test_openapi_operation_ids_are_unique(client) -> None:
    """Code generators key operations by operationId; a route answering GET and HEAD under one id broke that."""
    paths = client.get("/api/openapi.json").json()["paths"]
    ids = [op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_wrong_password_is_401_and_creates_no_token(client, make_user, db) -> None:
    make_user("alice")
    response = client.post("/api/authentications", auth=("alice", "nope-nope"), json={"note": "x"})
    assert response.status_code == 401
    assert response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Basic")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Token)) == 0


def test_every_credential_form_resolves_the_same_user(client, make_user) -> None:
    make_user("alice")
    token = login(client, "alice", "password-123")
    forms = [
        {"headers": {"Authorization": f"token {token}"}},
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"X-Auth": token}},
        {"auth": (token, "x-auth-token")},
        {"auth": ("__token__", token)},
        {"auth": ("alice", "password-123")},
    ]
    for form in forms:
        response = client.get("/api/user", **form)
        assert response.status_code == 200, form
        assert response.json()["login"] == "alice"
    assert client.get(f"/t/{token}/api/user").json()["login"] == "alice"
    assert client.get("/api/user").status_code == 401


def test_tokens_are_stored_hashed_and_only_hyphen_alnum(client, make_user, db) -> None:
    make_user("alice")
    token = login(client, "alice", "password-123")
    assert token.replace("-", "").isalnum()
    with db.read() as session:
        stored = session.scalars(select(Token)).one()
        assert token not in (stored.token_hash, stored.public_id, stored.name)


def test_expired_and_removed_tokens_are_401(client, make_user, db) -> None:
    import datetime as dt

    from sqlalchemy import update

    make_user("alice")
    short = login(client, "alice", "password-123", note="short", **{"max-age": 3600})
    kept = login(client, "alice", "password-123", note="kept")
    assert client.get("/api/user", headers=auth(short)).status_code == 200
    listed = client.get("/api/authentications", headers=auth(kept)).json()
    expires = dt.datetime.fromisoformat(next(t["expires"] for t in listed if t["application"] == "short"))
    assert 3500 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 3600
    with db.write() as session:  # let an hour pass for this token without waiting for it
        session.execute(update(Token).where(Token.name == "short").values(expires_at=dt.datetime.now(dt.UTC)))
    expired = client.get("/api/user", headers=auth(short))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]

    assert client.delete("/api/authentications/name/kept", headers=auth(kept)).status_code == 201
    assert client.get("/api/user", headers=auth(kept)).status_code == 401


def test_bad_token_is_401_even_on_public_endpoints(client) -> None:
    response = client.get("/api/packages/nobody", headers=auth("py-not-a-real-token-at-all"))
    assert response.status_code == 401


def test_token_list_current_and_logout(client, make_user) -> None:
    make_user("alice")
    token = login(client, "alice", "password-123", note="laptop", scopes=["api:read", "conda:download"])
    listed = client.get(
        "/api/authentications",
        headers={"Authorization": f"token {login(client, 'alice', 'password-123', note='admin')}"},
    )
    assert {t["application"] for t in listed.json()} == {"laptop", "admin"}
    current = client.get("/api/authentication", headers=auth(token)).json()
    assert current["application"] == "laptop" and current["scopes"] == ["api:read", "conda:download"]
    assert client.delete("/api/authentications", headers=auth(token)).status_code == 201
    assert client.get("/api/user", headers=auth(token)).status_code == 401


def test_fail_if_exists_and_unknown_scopes_are_400(client, make_user) -> None:
    make_user("alice")
    login(client, "alice", "password-123", note="dup")
    again = client.post(
        "/api/authentications", auth=("alice", "password-123"), json={"note": "dup", "fail-if-exists": True}
    )
    assert again.status_code == 400
    bad = client.post(
        "/api/authentications", auth=("alice", "password-123"), json={"note": "x", "scopes": ["everything"]}
    )
    assert bad.status_code == 400 and "everything" in bad.json()["error"]


def test_scopes_listing_needs_no_auth(client) -> None:
    scopes = client.get("/api/scopes").json()
    assert {
        "all",
        "api",
        "api:read",
        "api:write",
        "conda",
        "conda:download",
        "pypi",
        "pypi:download",
        "pypi:upload",
        "cran",
        "repos",
    } <= set(scopes)


def test_failed_logins_throttle_the_address_not_the_login(client, make_user, settings, db) -> None:
    make_user("alice")
    for _ in range(settings.login_failures_allowed):
        assert client.get("/api/user", auth=("alice", "wrong-password")).status_code == 401
    limited = client.get("/api/user", auth=("alice", "password-123"))
    assert limited.status_code == 429
    assert "too many failed sign-ins from your address; try again in" in limited.json()["error"]
    assert 1 <= int(limited.headers["Retry-After"]) <= settings.login_delay_seconds
    # X-Forwarded-For from an untrusted peer changes nothing
    spoofed = client.get("/api/user", auth=("alice", "password-123"), headers={"X-Forwarded-For": "1.2.3.4"})
    assert spoofed.status_code == 429
    # the real user, elsewhere, signs in
    with TestClient(client.app, client=("192.0.2.7", 40000)) as elsewhere:
        assert elsewhere.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert failures(db, "alice") == settings.login_failures_allowed  # the other address's success keeps them


def test_a_trusted_proxy_names_the_client(settings, db, make_user) -> None:
    make_user("alice")
    trusting = Settings(data=settings.data, base_url="http://testserver", trusted_proxies="10.0.0.0/8")
    with TestClient(create_app(trusting, db=db), client=("10.0.0.1", 40000)) as proxy:
        for _ in range(settings.login_failures_allowed):
            wrong = proxy.get(
                "/api/user", auth=("alice", "wrong"), headers={"X-Forwarded-For": "198.51.100.1"}
            )
            assert wrong.status_code == 401
        same = proxy.get(
            "/api/user", auth=("alice", "password-123"), headers={"X-Forwarded-For": "198.51.100.1"}
        )
        assert same.status_code == 429
        other = {"X-Forwarded-For": "198.51.100.1, 198.51.100.2"}  # the right-most untrusted entry counts
        assert proxy.get("/api/user", auth=("alice", "password-123"), headers=other).status_code == 200
    with db.read() as session:
        assert set(session.scalars(select(LoginFailure.remote_addr))) == {"198.51.100.1"}


def test_malformed_basic_header_is_401(client) -> None:
    response = client.get("/api/user", headers={"Authorization": "Basic !!!notbase64"})
    assert response.status_code == 401
    response = client.get(
        "/api/user", headers={"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}
    )
    assert response.status_code == 401


def test_user_endpoints(client, make_user) -> None:
    make_user("alice")
    assert client.get("/api/user/alice").json()["user_type"] == "user"
    assert client.get("/api/user/ALICE").json()["login"] == "alice"
    missing = client.get("/api/user/nobody")
    assert missing.status_code == 404 and missing.json()["error"]
    assert client.get("/api/license").json() == []
    assert client.get("/api/authentication-type").json() == {"authentication_type": "password"}


class CountingHasher(PasswordHasher):
    """Cheap argon2 that counts verifications: the cost a password request pays is one verify call."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher()
    monkeypatch.setattr(auth_module, "_hasher", hasher)
    return hasher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failures(db, login: str) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.login_key == login)
        )


def test_repeated_password_requests_run_argon2_once(client, make_user, argon2) -> None:
    make_user("alice")
    for _ in range(5):
        response = client.get("/api/user", auth=("alice", "password-123"))
        assert response.status_code == 200 and response.json()["login"] == "alice"
    assert argon2.verified == 1
    # What is remembered is a keyed digest: neither the password nor an unkeyed hash of it.
    cache = client.app.state.services.password_cache
    (digest,) = cache._entries
    assert b"password-123" not in digest
    assert digest not in {
        hashlib.sha256(b"password-123").digest(),
        hashlib.sha256(b"alice:password-123").digest(),
    }


def test_a_password_change_elsewhere_refuses_the_remembered_password_at_once(
    settings, db, make_user, argon2
) -> None:
    make_user("alice")
    with TestClient(create_app(settings, db=db)) as node_a, TestClient(create_app(settings, db=db)) as node_b:
        for node in (node_a, node_b, node_a, node_b):
            assert node.get("/api/user", auth=("alice", "password-123")).status_code == 200
        assert argon2.verified == 2  # once per node (process): each has its own cache and key
        set_password(db, "alice", "password-456")  # as `packyard user passwd` does, outside either app
        for node in (node_a, node_b):
            old = node.get("/api/user", auth=("alice", "password-123"))
            assert old.status_code == 401 and "invalid" in old.json()["error"]
        assert argon2.verified == 4  # the old password was checked afresh against the new hash
        assert failures(db, "alice") == 2
        for node in (node_a, node_a, node_b):
            assert node.get("/api/user", auth=("alice", "password-456")).status_code == 200
        assert argon2.verified == 6


def test_disabling_refuses_the_remembered_password_at_once(client, db, make_user, argon2) -> None:
    make_user("alice")
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 1
    set_disabled(db, "alice", True)
    refused = client.get("/api/user", auth=("alice", "password-123"))
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]
    set_disabled(db, "alice", False)
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200


def test_a_wrong_password_after_a_success_pays_argon2_and_counts(
    client, db, make_user, argon2, settings
) -> None:
    make_user("alice")
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 1
    for attempt in range(1, settings.login_failures_allowed + 1):
        assert client.get("/api/user", auth=("alice", "password-12")).status_code == 401
        assert argon2.verified == 1 + attempt
        assert failures(db, "alice") == attempt
    limited = client.get("/api/user", auth=("alice", "password-123"))  # remembered, but the limit comes first
    assert limited.status_code == 429


def test_a_remembered_password_expires_after_the_ttl(client, make_user, argon2) -> None:
    clock = Clock()
    client.app.state.services.password_cache = PasswordCache(10, 60, clock=clock)
    make_user("alice")
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    clock.now += 59
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 1  # a hit does not extend the entry: it lives 60 s from its verification
    clock.now += 1
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 2
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 2


def test_the_password_cache_is_bounded(client, make_user, argon2) -> None:
    client.app.state.services.password_cache = cache = PasswordCache(2, 60)
    for user in ("alice", "bob", "carol"):
        make_user(user)
    for user in ("alice", "bob", "alice", "carol"):  # carol evicts bob, the least recently used
        assert client.get("/api/user", auth=(user, "password-123")).status_code == 200
    assert argon2.verified == 3 and len(cache) == 2
    assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert client.get("/api/user", auth=("carol", "password-123")).status_code == 200
    assert argon2.verified == 3
    assert client.get("/api/user", auth=("bob", "password-123")).status_code == 200
    assert argon2.verified == 4 and len(cache) == 2


def test_the_password_cache_can_be_turned_off(settings, db, make_user, argon2) -> None:
    settings.password_cache_ttl_seconds = 0
    make_user("alice")
    with TestClient(create_app(settings, db=db)) as client:
        for _ in range(3):
            assert client.get("/api/user", auth=("alice", "password-123")).status_code == 200
    assert argon2.verified == 3
