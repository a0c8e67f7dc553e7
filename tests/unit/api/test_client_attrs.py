"""anaconda-client's `upload(..., attrs=...)` and `add_release(..., requirements, ...)` (issue #14 item 6).

The client's attrs are kept beside the server's parse and shown with the file; they never replace a computed
value, never reach the repodata, and are bounded. A release keeps the requirements it was created with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from packyard.core import client_attrs
from tests.builders import build_conda
from tests.unit.api.helpers import auth, ensure_package, login, post_form


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def staged_upload(
    client, token: str, path: Path, basename: str, dtype: str, attrs: Any, version: str = "1.0"
):
    """stage (with the client's attrs) -> POST -> commit; returns the stage response when it is not a 200."""
    ensure_package(client, token, "alice", "demo")
    data = path.read_bytes()
    staged = client.post(
        f"/api/stage/alice/demo/{version}/{quote(basename)}",
        headers=auth(token),
        json={"distribution_type": dtype, "attrs": attrs, "sha256": hashlib.sha256(data).hexdigest()},
    )
    if staged.status_code != 200:
        return staged
    assert post_form(client, staged.json(), data, basename).status_code == 201
    return client.post(
        f"/api/commit/alice/demo/{version}/{quote(basename)}",
        headers=auth(token),
        json={"dist_id": staged.json()["dist_id"]},
    )


def test_a_plain_file_keeps_the_clients_attrs(client, alice, tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\n")
    committed = staged_upload(
        client, alice, path, "notes.txt", "file", {"note": "x", "nested": {"a": [1, 2]}}
    )
    assert committed.status_code == 200, committed.text
    assert committed.json()["attrs"]["note"] == "x"
    shown = client.get("/api/dist/alice/demo/1.0/notes.txt").json()
    assert shown["attrs"]["note"] == "x" and shown["attrs"]["nested"] == {"a": [1, 2]}
    assert client_attrs.CLIENT_KEY not in shown["attrs"]


def test_a_conda_upload_keeps_the_computed_attrs_and_the_clients_extra_keys(client, alice, tmp_path) -> None:
    path = build_conda(tmp_path, name="demo", version="1.0", subdir="linux-64", fmt="tar.bz2")
    basename = f"linux-64/{path.name}"
    hostile = {"build": "1", "os": "osx", "subdir": "osx-64", "track_features": "evil", "note": "ci"}
    committed = staged_upload(client, alice, path, basename, "conda", hostile)
    assert committed.status_code == 200, committed.text
    attrs = client.get(f"/api/dist/alice/demo/1.0/{quote(basename)}").json()["attrs"]
    assert attrs["build"] == "0" and attrs["subdir"] == "linux-64"  # the parse, not the client
    assert attrs["os"] == "osx" and attrs["note"] == "ci" and attrs["track_features"] == "evil"
    # ...but only the REST API shows the client's keys: the repodata conda installs from is the parse alone.
    repodata = client.get("/conda/alice/linux-64/repodata.json").json()
    record = repodata["packages"][path.name]
    assert record["build"] == "0" and record["subdir"] == "linux-64"
    assert "os" not in record and "track_features" not in record and client_attrs.CLIENT_KEY not in record
    # The platform filter reads the parse too.
    listed = client.get("/api/packages/alice", params={"platform": "osx-64"}).json()
    assert [p["name"] for p in listed] == []


@pytest.mark.parametrize(
    ("attrs", "fragment"),
    [
        (["note"], "attrs must be a JSON object"),
        ("note", "attrs must be a JSON object"),
        ({"a": "x" * (client_attrs.MAX_BYTES + 1)}, "at most 65536 are kept"),
        ({f"k{i}": 1 for i in range(client_attrs.MAX_KEYS + 1)}, "keys; at most"),
        ({"": 1}, "every key of attrs"),
        ({"deep": [[[[[[[[[1]]]]]]]]]}, "nested more than"),
    ],
)
def test_attrs_that_are_not_a_bounded_object_are_400(client, alice, tmp_path, attrs, fragment) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\n")
    refused = staged_upload(client, alice, path, "notes.txt", "file", attrs)
    assert refused.status_code == 400, refused.text
    assert fragment in refused.text


def test_null_attrs_are_none(client, alice, tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\n")
    committed = staged_upload(client, alice, path, "notes.txt", "file", None)
    assert committed.status_code == 200, committed.text
    assert "note" not in committed.json()["attrs"]


def test_merge_and_public_are_pure() -> None:
    stored = client_attrs.merged({"build": "0"}, {"build": "1", "os": "osx", client_attrs.CLIENT_KEY: 1})
    assert stored == {"build": "0", client_attrs.CLIENT_KEY: {"os": "osx"}}
    assert client_attrs.public(stored) == {"build": "0", "os": "osx"}
    assert client_attrs.merged({"build": "0"}, {}) == {"build": "0"}
    assert client_attrs.public(None) == {}


# --- add_release(login, package, version, requirements, announce, release_attrs) ----------------------------------


def add_release(client, token: str, version: str, requirements: Any, **release_attrs: Any):
    """The body binstar_client's add_release sends."""
    body = {"requirements": requirements, "announce": None, "description": None, **release_attrs}
    return client.post(f"/api/release/alice/demo/{version}", headers=auth(token), content=orjson.dumps(body))


@pytest.mark.parametrize(
    "requirements",
    [[], ["numpy >=1.20", "python >=3.9"], {"conda": ["numpy"], "pip": ["requests"]}],
)
def test_add_release_keeps_the_requirements(client, alice, requirements) -> None:
    ensure_package(client, alice, "alice", "demo")
    created = add_release(client, alice, "2.0", requirements, summary="two")
    assert created.status_code == 200, created.text
    assert created.json()["requirements"] == requirements
    shown = client.get("/api/release/alice/demo/2.0").json()
    assert shown["requirements"] == requirements and shown["summary"] == "two"
    assert "requirements" not in shown["public_attrs"]


def test_a_release_without_requirements_shows_an_empty_list(client, alice) -> None:
    ensure_package(client, alice, "alice", "demo")
    assert client.post("/api/release/alice/demo/3.0", headers=auth(alice), json={}).status_code == 200
    assert client.get("/api/release/alice/demo/3.0").json()["requirements"] == []
    assert add_release(client, alice, "3.1", None).json()["requirements"] == []


@pytest.mark.parametrize(
    ("requirements", "fragment"),
    [
        ("numpy", "requirements must be a JSON list or object"),
        (7, "requirements must be a JSON list or object"),
        (["x" * client_attrs.MAX_BYTES], "at most 65536 are kept"),
    ],
)
def test_bad_requirements_are_400(client, alice, requirements, fragment) -> None:
    ensure_package(client, alice, "alice", "demo")
    refused = add_release(client, alice, "4.0", requirements)
    assert refused.status_code == 400 and fragment in refused.text
    assert client.get("/api/release/alice/demo/4.0").status_code == 404


def test_patching_the_requirements_checks_them(client, alice) -> None:
    ensure_package(client, alice, "alice", "demo")
    add_release(client, alice, "5.0", ["a"])
    path = "/api/release/alice/demo/5.0"
    patched = client.patch(path, headers=auth(alice), json={"public_attrs": {"requirements": ["b"]}})
    assert patched.status_code == 200 and patched.json()["requirements"] == ["b"]
    refused = client.patch(path, headers=auth(alice), json={"requirements": "b"})
    assert refused.status_code == 400
