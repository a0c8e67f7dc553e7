"""formats.front's file fast path: an anonymous GET/HEAD of a public PyPI file is sent without the route, with
exactly the route's answer; everything else (private, not in the label, credentials, Range) reaches the route.

`routed` counts the requests that reached the PyPI route; `route_only` turns the fast path off, so each test can
compare the front's answer with the one the route gives today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from packyard.formats.conda import routes as conda_routes
from packyard.formats.front import Front
from packyard.formats.pypi import routes
from tests.builders import build_conda
from tests.unit.api.helpers import auth, login, upload
from tests.unit.formats.pypi_support import put_wheel


class Routed:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Routed:
    counter = Routed()
    serve = routes.serve

    def counting(*args: Any, **kw: Any) -> Any:
        counter.calls += 1
        return serve(*args, **kw)

    monkeypatch.setattr(routes, "serve", counting)
    answer = conda_routes._answer

    def counting_conda(*args: Any, **kw: Any) -> Any:
        counter.calls += 1
        return answer(*args, **kw)

    monkeypatch.setattr(conda_routes, "_answer", counting_conda)
    return counter


@pytest.fixture
def route_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """A context in which Front never answers a file itself: what the route alone answers."""

    @contextmanager
    def off() -> Iterator[None]:
        async def never(*args: Any) -> bool:
            return False

        with monkeypatch.context() as patch:
            patch.setattr(Front, "_file", never)
            yield

    return off


@pytest.fixture
def alice(client: TestClient, make_user: Any) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def _wheel(client: TestClient, alice: str, tmp_path: Path, **kw: Any) -> str:
    return put_wheel(client, alice, tmp_path, "alice", "demo", "1.0", **kw).name


def _same(front: Any, route: Any) -> None:
    assert front.status_code == route.status_code
    assert dict(front.headers) == dict(route.headers)
    assert front.content == route.content


def test_a_public_file_is_sent_by_the_front_with_the_routes_answer(
    client: TestClient, alice: str, routed: Routed, route_only: Any, tmp_path: Path
) -> None:
    wheel = put_wheel(client, alice, tmp_path, "alice", "demo", "1.0")
    name = wheel.name
    for url in (f"/pypi/alice/files/demo/{name}", f"/pypi/alice/files/Demo/{name}.metadata"):
        etag_of = client.get(url).headers["etag"]
        variants: list[dict[str, str]] = [{}, {"If-None-Match": etag_of}, {"ETag": etag_of.strip('"')}]
        for method in ("GET", "HEAD"):
            for headers in variants:
                routed.calls = 0
                front = client.request(method, url, headers=headers)
                assert routed.calls == 0, (method, url, headers)
                with route_only():
                    route = client.request(method, url, headers=headers)
                assert routed.calls == 1
                _same(front, route)
                assert front.status_code == (200 if headers == {} else 304)
    got = client.get(f"/pypi/alice/files/demo/{name}")
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert got.content == wheel.read_bytes()


def test_a_labelled_file_only_under_its_label(
    client: TestClient, alice: str, routed: Routed, route_only: Any, tmp_path: Path
) -> None:
    name = _wheel(client, alice, tmp_path, labels=["dev"])
    routed.calls = 0
    assert client.get(f"/pypi/alice/label/dev/files/demo/{name}").status_code == 200
    assert routed.calls == 0
    for url in (f"/pypi/alice/files/demo/{name}", f"/pypi/alice/label/nope/files/demo/{name}"):
        front = client.get(url)
        with route_only():
            route = client.get(url)
        assert routed.calls == 2 and front.status_code in (401, 404)  # as if private; an unknown label 404s
        _same(front, route)
        routed.calls = 0


@pytest.mark.parametrize("access", ["private", "authenticated"])
def test_a_package_not_public_goes_to_the_route(
    client: TestClient, alice: str, routed: Routed, route_only: Any, tmp_path: Path, access: str
) -> None:
    name = _wheel(client, alice, tmp_path)
    edited = client.patch("/api/package/alice/demo", headers=auth(alice), json={"access": access})
    assert edited.status_code == 200, edited.text
    url = f"/pypi/alice/files/demo/{name}"
    for method in ("GET", "HEAD"):
        routed.calls = 0
        front = client.request(method, url)
        assert routed.calls == 1 and front.status_code == 401
        with route_only():
            _same(front, client.request(method, url))
    owner = client.get(url, headers=auth(alice))
    assert owner.status_code == 200 and owner.headers["cache-control"].startswith("private")


def test_credentials_and_ranges_go_to_the_route(
    client: TestClient, alice: str, routed: Routed, route_only: Any, tmp_path: Path
) -> None:
    name = _wheel(client, alice, tmp_path)
    url = f"/pypi/alice/files/demo/{name}"
    cases: list[tuple[str, dict[str, str], int]] = [
        (url, auth(alice), 200),
        (f"/pypi/t/{alice}/alice/files/demo/{name}", {}, 200),
        (url, {"Authorization": "Basic !!!"}, 401),  # malformed: the route says what is wrong
        (url, {"Authorization": "Bearer not-a-token"}, 401),
        (url, {"X-Auth": "not-a-token"}, 401),
        (url, {"Range": "bytes=0-9"}, 206),
    ]
    for path, headers, status in cases:
        routed.calls = 0
        front = client.get(path, headers=headers)
        assert routed.calls == 1, headers
        assert front.status_code == status, (headers, front.text)
        with route_only():
            _same(front, client.get(path, headers=headers))


def test_the_front_counts_downloads_as_the_route_does(
    client: TestClient, alice: str, routed: Routed, tmp_path: Path
) -> None:
    name = _wheel(client, alice, tmp_path)
    downloads = client.app.state.services.downloads  # type: ignore[attr-defined]
    downloads.flush()
    url = f"/pypi/alice/files/demo/{name}"
    etag = client.get(url).headers["etag"]
    client.get(url)
    client.head(url)  # not a download
    client.get(url, headers={"If-None-Match": etag})  # nor is a 304
    client.get(f"{url}.metadata")  # nor the metadata
    assert routed.calls == 0
    assert list(downloads.pending().values()) == [2]
    downloads.flush()
    listed = client.get("/api/package/alice/demo").json()
    assert sum(f["ndownloads"] for f in listed["files"]) == 2


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_conda_package_files_too(
    client: TestClient, alice: str, routed: Routed, route_only: Any, tmp_path: Path, fmt: Any
) -> None:
    def put(name: str, labels: list[str] | None = None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        path = build_conda(folder, name=name, version="1.0", subdir="noarch", fmt=fmt)
        response = upload(
            client, alice, "alice", name, "1.0", path, f"noarch/{path.name}", "conda", labels=labels
        )
        assert response.status_code == 200, response.text
        return path

    public, dev, hidden = put("one"), put("two", labels=["dev"]), put("three")
    edited = client.patch("/api/package/alice/three", headers=auth(alice), json={"access": "private"})
    assert edited.status_code == 200, edited.text
    downloads = client.app.state.services.downloads  # type: ignore[attr-defined]
    downloads.flush()
    url = f"/conda/alice/noarch/{public.name}"
    etag = client.get(url).headers["etag"]
    assert routed.calls == 0 and client.get(url).content == public.read_bytes()
    for method in ("GET", "HEAD"):
        for headers in ({}, {"If-None-Match": etag}):
            front = client.request(method, url, headers=headers)
            assert routed.calls == 0
            with route_only():
                _same(front, client.request(method, url, headers=headers))
            routed.calls = 0
    assert client.get(f"/conda/alice/label/dev/noarch/{dev.name}").status_code == 200 and routed.calls == 0
    assert sorted(downloads.pending().values()) == [1, 4]  # 3 GETs of the front, 1 of the route; 1 of dev
    cases: list[tuple[str, dict[str, str], int]] = [
        (f"/conda/alice/noarch/{dev.name}", {}, 401),  # not in main: answered as a private name
        (f"/conda/alice/label/nope/noarch/{public.name}", {}, 404),  # an unknown label
        (f"/conda/alice/noarch/{hidden.name}", {}, 401),
        (f"/conda/alice/noarch/{hidden.name}", auth(alice), 200),
        (f"/conda/t/{alice}/alice/noarch/{public.name}", {}, 200),
        (url, {"Range": "bytes=0-9"}, 206),
    ]
    for path, headers, status in cases:
        routed.calls = 0
        front = client.get(path, headers=headers)
        assert routed.calls == 1 and front.status_code == status, (path, headers)
        with route_only():
            _same(front, client.get(path, headers=headers))
