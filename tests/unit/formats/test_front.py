"""formats.front: repeated anonymous index requests are answered without the routes, and never stale or leaked.

`routed` counts the requests that reached a route (every index route asks the index cache for its document), so
each test can tell an answer from the front from one the route built.
"""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.core import indexes
from packyard.core.auth import ANONYMOUS
from packyard.core.models import Account, Package
from packyard.formats import channels
from packyard.formats.front import Facts, Front, _Entry
from packyard.formats.pypi.models import PypiFile
from tests.builders import build_conda, build_r_source
from tests.unit.api.helpers import auth, login, upload
from tests.unit.formats.pypi_support import put_wheel

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


class Counting(indexes.IndexCache):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def get_or_build(self, key, build):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().get_or_build(key, build)


@pytest.fixture
def routed(client: TestClient) -> Counting:
    counting = Counting()
    client.app.state.index_cache = counting  # type: ignore[attr-defined]
    return counting


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def files(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(f["filename"] for f in response.json()["files"])


def test_anonymous_repeat_skips_the_route_and_keeps_every_header(client, alice, routed, tmp_path) -> None:
    put_wheel(client, alice, tmp_path, "alice", "demo", "1.0")
    first = client.get("/pypi/alice/simple/demo/", headers=JSON)
    assert routed.calls == 1
    again = client.get("/pypi/alice/simple/demo/", headers=JSON)
    assert routed.calls == 1
    assert again.content == first.content
    for name in ("content-type", "etag", "cache-control", "vary", "x-pypi-last-serial", "content-length"):
        assert again.headers[name] == first.headers[name]
    # Another Accept is another document: the route renders it once, then the front has it too.
    html = client.get("/pypi/alice/simple/demo/", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and routed.calls == 2
    assert client.get("/pypi/alice/simple/demo/", headers={"Accept": "text/html"}).content == html.content
    assert routed.calls == 2


def test_conditional_and_head_requests_from_the_front(client, alice, routed, tmp_path) -> None:
    put_wheel(client, alice, tmp_path, "alice", "demo", "1.0")
    first = client.get("/pypi/alice/simple/demo/", headers=JSON)
    etag = first.headers["etag"]
    cached = client.get("/pypi/alice/simple/demo/", headers={**JSON, "If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag and cached.headers["x-pypi-last-serial"]
    head = client.head("/pypi/alice/simple/demo/", headers=JSON)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))
    assert routed.calls == 1


def test_every_change_reaches_the_next_anonymous_request(client, alice, routed, tmp_path) -> None:
    put_wheel(client, alice, tmp_path, "alice", "demo", "1.0")
    before = client.get("/pypi/alice/simple/demo/", headers=JSON)
    assert files(before) == ["demo-1.0-py3-none-any.whl"]
    put_wheel(client, alice, tmp_path, "alice", "demo", "2.0")
    after = client.get("/pypi/alice/simple/demo/", headers=JSON)
    assert files(after) == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    assert int(after.headers["x-pypi-last-serial"]) > int(before.headers["x-pypi-last-serial"])
    # An event that changes no file still moves the project's serial, and the page says so.
    edited = client.patch("/api/package/alice/demo", headers=auth(alice), json={"summary": "new words"})
    assert edited.status_code == 200, edited.text
    serial = client.get("/pypi/alice/simple/demo/", headers=JSON).headers["x-pypi-last-serial"]
    assert int(serial) > int(after.headers["x-pypi-last-serial"])
    removed = client.delete("/api/release/alice/demo/1.0", headers=auth(alice))
    assert removed.status_code < 300, removed.text
    assert files(client.get("/pypi/alice/simple/demo/", headers=JSON)) == ["demo-2.0-py3-none-any.whl"]
    root = client.get("/pypi/alice/simple/", headers=JSON)
    assert [p["name"] for p in root.json()["projects"]] == ["demo"]
    put_wheel(client, alice, tmp_path, "alice", "other", "1.0")
    root = client.get("/pypi/alice/simple/", headers=JSON)
    assert sorted(p["name"] for p in root.json()["projects"]) == ["demo", "other"]


def test_private_content_is_never_published_to_anonymous_callers(client, alice, routed, tmp_path) -> None:
    put_wheel(client, alice, tmp_path, "alice", "demo", "1.0")
    assert client.get("/pypi/alice/simple/demo/", headers=JSON).status_code == 200
    edited = client.patch("/api/package/alice/demo", headers=auth(alice), json={"access": "private"})
    assert edited.status_code == 200, edited.text
    assert client.get("/pypi/alice/simple/demo/", headers=JSON).status_code == 401
    # The owner's requests (header, or token in the path) are routed and answered in full ...
    for path, headers in (
        ("/pypi/alice/simple/demo/", {**JSON, **auth(alice)}),
        (f"/pypi/t/{alice}/alice/simple/demo/", JSON),
    ):
        calls = routed.calls
        assert files(client.get(path, headers=headers)) == ["demo-1.0-py3-none-any.whl"]
        assert client.get(path, headers=headers).status_code == 200
        assert routed.calls == calls + 2
    # ... and what they saw is not what the same URL shows without credentials.
    assert client.get("/pypi/alice/simple/demo/", headers=JSON).status_code == 401
    assert client.get("/pypi/alice/simple/", headers=JSON).status_code == 401


def test_a_removed_owner_whose_name_is_taken_again(client, alice, make_user, routed, tmp_path) -> None:
    assert client.post("/api/orgs/acme", headers=auth(alice), json={}).status_code == 201
    put_wheel(client, alice, tmp_path, "acme", "demo", "1.0")
    assert files(client.get("/pypi/acme/simple/demo/", headers=JSON)) == ["demo-1.0-py3-none-any.whl"]
    assert client.delete("/api/orgs/acme", headers=auth(alice)).status_code < 300
    assert client.get("/pypi/acme/simple/demo/", headers=JSON).status_code == 404
    assert client.post("/api/orgs/acme", headers=auth(alice), json={}).status_code == 201
    assert client.get("/pypi/acme/simple/demo/", headers=JSON).status_code == 401  # missing: as if private


def test_conda_documents(client, alice, routed, tmp_path) -> None:
    def put(name: str, labels: list[str] | None = None) -> str:
        folder = tmp_path / name
        folder.mkdir()
        path = build_conda(folder, name=name, version="1.0", subdir="noarch", fmt="conda")
        basename = f"noarch/{path.name}"
        response = upload(client, alice, "alice", name, "1.0", path, basename, "conda", labels=labels)
        assert response.status_code == 200, response.text
        return path.name

    first = put("one")
    url = "/conda/alice/noarch/repodata.json"
    assert list(client.get(url).json()["packages.conda"]) == [first]
    calls = routed.calls
    zst = client.get(url + ".zst")
    assert client.get(url).status_code == 200 and client.get(url + ".zst").content == zst.content
    assert routed.calls == calls + 1
    second = put("two")
    assert sorted(client.get(url).json()["packages.conda"]) == sorted([first, second])
    put("three", labels=["dev"])
    dev = "/conda/alice/label/dev/noarch/repodata.json"
    assert list(client.get(dev).json()["packages.conda"]) == ["three-1.0-0.conda"]
    moved = client.post("/api/channels/alice/dev/rename/dev2", headers=auth(alice))
    assert moved.status_code < 300, moved.text
    assert client.get(dev).status_code == 404


def test_cran_packages(client, alice, routed, tmp_path) -> None:
    def put(version: str) -> None:
        folder = tmp_path / version
        folder.mkdir()
        path = build_r_source(folder, name="demoR", version=version)
        response = upload(client, alice, "alice", "demoR", version, path, path.name, "r")
        assert response.status_code == 200, response.text

    put("1.0")
    url = "/cran/alice/src/contrib/PACKAGES.gz"
    assert b"Version: 1.0" in gzip.decompress(client.get(url).content)
    calls = routed.calls
    assert b"Version: 1.0" in gzip.decompress(client.get(url).content)
    assert routed.calls == calls
    put("1.1")
    assert b"Version: 1.1" in gzip.decompress(client.get(url).content)


def test_entries_are_bounded_by_size_keys_included(db) -> None:
    """Callers choose the Accept header, so a flood of distinct ones must not grow memory past the bound."""
    bound = 64 * 1024
    front = Front(app=None, db=db, max_bytes=bound)  # type: ignore[arg-type]
    facts = Facts(select(1), {})
    for i in range(1000):
        key = ("/pypi/alice/simple/demo/", b"", f"text/html;q=0.{i}" + "x" * 4000)
        front.remember(key, _Entry(facts, (1,), [], b"<html/>", b'"e"'))
    assert front._bytes <= bound
    assert 0 < len(front._entries) <= bound // 4000
    assert "q=0.999" in next(reversed(front._entries))[2]  # the newest stays


def test_audience_of_a_public_namespace_is_everything_without_a_list(client, alice, db, tmp_path) -> None:
    """A namespace with only public packages needs no per-package decision; one non-public package brings it back."""
    put_wheel(client, alice, tmp_path, "alice", "open", "1.0")
    put_wheel(client, alice, tmp_path, "alice", "shut", "1.0")
    with db.read() as session:
        owner = session.scalar(select(Account.id).where(Account.login_key == "alice"))
        ids = dict(session.execute(select(Package.name, Package.id).where(Package.owner_id == owner)).all())
        aud = channels.audience(session, ANONYMOUS, owner, PypiFile, "pypi")
    assert aud.everything and aud.key == "all" and aud.sees(ids["shut"]) and aud.public_only
    edited = client.patch("/api/package/alice/shut", headers=auth(alice), json={"access": "private"})
    assert edited.status_code == 200, edited.text
    with db.read() as session:
        aud = channels.audience(session, ANONYMOUS, owner, PypiFile, "pypi")
    assert not aud.everything
    assert aud.sees(ids["open"]) and not aud.sees(ids["shut"]) and aud.hidden == {ids["shut"]}
    root = client.get("/pypi/alice/simple/", headers=JSON).json()
    assert [p["name"] for p in root["projects"]] == ["open"]
    mine = client.get("/pypi/alice/simple/", headers={**JSON, **auth(alice)}).json()
    assert sorted(p["name"] for p in mine["projects"]) == ["open", "shut"]
