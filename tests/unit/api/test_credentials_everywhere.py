"""A wrong credential is a 401 on every route (docs/security.md), found by walking the app's routes, not a list.

Each route gets plausible path values naming things that exist and are public, so a route that ignored the
credential would answer 200 (or 404 for a made-up id) and be caught.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from packyard.api.body import routes
from packyard.core.auth import new_token
from packyard.core.models import Token
from tests.builders import build_conda
from tests.unit.api.helpers import BASENAME, auth, fill, login, upload

NO_CREDENTIALS = {
    (
        "HEAD",
        "/api",
    ): "anaconda-client's check_server(): `anaconda login` sends the stored token, which may have "
    "expired, before it logs in again; a 401 here would make logging in again impossible",
    ("GET", "/api"): "the same server check as HEAD /api",
    ("HEAD", "/api/"): "the same server check as HEAD /api",
    ("GET", "/api/"): "the same server check as HEAD /api",
    ("GET", "/api/authentication-type"): "asked by `anaconda login` with the stored, possibly expired, token "
    "before it asks for the password",
    (
        "POST",
        "/api/upload/{stage_id}",
    ): "the signed upload form: anaconda-client posts it without credentials, "
    "its single-use HMAC signature is the authorisation",
    ("GET", "/health"): "liveness probe for load balancers; reads no credentials and tells nothing",
    ("GET", "/health/ready"): "readiness probe for load balancers; reads no credentials and tells only which "
    "dependency failed",
    ("GET", "/api/openapi.json"): "the API's static description",
    ("HEAD", "/api/openapi.json"): "the API's static description",
    ("GET", "/api/docs"): "the API's static documentation page",
    ("HEAD", "/api/docs"): "the API's static documentation page",
}
"""Routes that by design take no credentials, with the reason. Everything else must refuse a wrong one."""


@pytest.fixture
def bad_tokens(client, make_user, db, tmp_path) -> dict[str, str]:
    """A world with a public package, a label and an organization, and three credentials that must be refused."""
    make_user("alice")
    alice = login(client, "alice", "password-123", note="kept")
    conda = build_conda(tmp_path, name="demo", version="1.0", subdir="noarch")
    assert upload(client, alice, "alice", "demo", "1.0", conda, BASENAME, "conda").status_code == 200
    assert client.post("/api/orgs/acme", headers=auth(alice), json={"name": "Acme"}).status_code == 201

    expired = login(client, "alice", "password-123", note="expired")
    with db.write() as session:
        session.execute(
            update(Token).where(Token.name == "expired").values(expires_at=dt.datetime.now(dt.UTC))
        )
    removed = login(client, "alice", "password-123", note="removed")
    assert client.delete("/api/authentications", headers=auth(removed)).status_code == 201
    return {"garbage": new_token(), "expired": expired, "removed": removed}


def test_every_route_refuses_a_wrong_token(client, bad_tokens) -> None:
    checked, failures = 0, []
    for template, methods, _route in routes(client.app):
        for method in sorted(methods):
            if (method, template) in NO_CREDENTIALS:
                continue
            path = fill(template)
            for kind, token in bad_tokens.items():
                response = client.request(method, path, headers=auth(token), json={})
                checked += 1
                if response.status_code != 401:
                    failures.append(f"{method} {path} with a {kind} token: {response.status_code}")
                elif method != "HEAD" and "www-authenticate" not in response.headers:
                    failures.append(f"{method} {path} with a {kind} token: 401 without WWW-Authenticate")
    assert not failures, "\n".join(failures)
    assert checked > 250  # the walk reached the routers' routes, not just the app's own few


def test_the_exempt_routes_exist(client) -> None:
    """An exemption for a route that was renamed away would silently exempt nothing; keep the list true."""
    present = {(method, template) for template, methods, _route in routes(client.app) for method in methods}
    assert set(NO_CREDENTIALS) <= present
