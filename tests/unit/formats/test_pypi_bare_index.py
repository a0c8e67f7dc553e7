"""The PyPI index URL as seeds 001/002 write it, without `/simple`: `/pypi/OWNER`, `/pypi/t/TOKEN/OWNER` and
`pypi.DOMAIN/OWNER`. pip and uv append `PROJECT/` to the index URL; each such page redirects to the project's
simple page, keeping the token and the host's own path form (tests/clients/test_pypi_clients.py runs pip and uv)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from tests.unit.api.helpers import auth, login
from tests.unit.formats.pypi_support import fast_passwords, put_wheel


@pytest.fixture
def world(settings, db, make_user, monkeypatch, tmp_path: Path):
    fast_passwords(monkeypatch)
    settings = Settings(data=settings.data, base_url="http://example.org", domain="example.org")
    with TestClient(create_app(settings, db=db), follow_redirects=False) as client:
        make_user("alice")
        token = login(client, "alice", "password-123")
        put_wheel(client, token, tmp_path, "alice", "Bare_Pkg", "1.0")
        yield client, token


def test_the_bare_index_url_leads_to_the_simple_pages(world) -> None:
    client, _ = world
    assert client.get("/pypi/alice").headers["location"] == "/pypi/alice/simple/"
    assert client.get("/pypi/alice/").headers["location"] == "/pypi/alice/simple/"
    moved = client.get("/pypi/alice/Bare_Pkg/")
    assert moved.status_code == 301 and moved.headers["location"] == "/pypi/alice/simple/bare-pkg/"
    assert client.get("/pypi/alice/bare-pkg").headers["location"] == "/pypi/alice/simple/bare-pkg/"
    page = client.get("/pypi/alice/simple/bare-pkg/")
    assert page.status_code == 200 and "bare_pkg-1.0" in page.text
    labelled = client.get("/pypi/alice/label/main/bare-pkg/")
    assert labelled.headers["location"] == "/pypi/alice/label/main/simple/bare-pkg/"
    assert client.get("/pypi/alice/bare-pkg/json", follow_redirects=True).json()["info"]["version"] == "1.0"


def test_the_token_and_the_pypi_host_keep_their_form(world) -> None:
    client, token = world
    made = client.patch("/api/package/alice/Bare_Pkg", headers=auth(token), json={"public": False})
    assert made.status_code == 200, made.text
    # The redirect is the same for any name (it tells nothing); the page it leads to asks for credentials.
    assert client.get("/pypi/alice/bare-pkg/").headers["location"] == "/pypi/alice/simple/bare-pkg/"
    assert client.get("/pypi/alice/simple/bare-pkg/").status_code == 401
    with_token = client.get(f"/pypi/t/{token}/alice/bare-pkg/")
    assert with_token.headers["location"] == f"/pypi/t/{token}/alice/simple/bare-pkg/"
    assert client.get(with_token.headers["location"]).status_code == 200
    host = {"Host": "pypi.example.org"}
    via_host = client.get("/alice/bare-pkg/", headers={**host, "Authorization": f"token {token}"})
    assert via_host.headers["location"] == "/alice/simple/bare-pkg/"
    assert client.get(f"/t/{token}/alice", headers=host).headers["location"] == f"/t/{token}/alice/simple/"
    assert client.get(f"/t/{token}/alice/simple/bare-pkg/", headers=host).status_code == 200
