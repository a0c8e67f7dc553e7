"""Request bodies: declared in the OpenAPI document, validated by their models, never a 500.

The first tests replay what a fuzzer found (each was a 500); the last ones walk the OpenAPI document the way a
schema-driven fuzzer does, so a body added later is covered without being listed here.
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from packyard.api.body import body_model, routes
from packyard.core import queries
from packyard.core.auth import authenticate_token, identity_for
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import Release, Token
from packyard.core.services import packages as pkg_service
from packyard.core.services.tokens import MAX_TOKEN_AGE_SECONDS, create_token
from tests.builders import build_conda
from tests.unit.api.helpers import BASENAME, auth, fill, login, upload


@pytest.fixture
def alice(client, make_user, tmp_path) -> str:
    """A site administrator (so no permission check stops a request before its body is read) with a package."""
    make_user("alice", is_admin=True)
    token = login(client, "alice", "password-123", note="kept")
    conda = build_conda(tmp_path, name="demo", version="1.0", subdir="noarch")
    assert upload(client, token, "alice", "demo", "1.0", conda, BASENAME, "conda").status_code == 200
    assert client.post("/api/orgs/acme", headers=auth(token), json={"name": "Acme"}).status_code == 201
    return token


def refused(response: Any, field: str) -> None:
    """A 400 in Packyard's error shape whose message names the field."""
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert field in message, message


# --- what the fuzzer found ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "max_age", [10_000_000_000_000, 10**30, MAX_TOKEN_AGE_SECONDS + 1, -5, 0, "3600", True]
)
def test_a_bad_max_age_is_400_and_creates_no_token(client, make_user, db, max_age) -> None:
    make_user("alice")
    response = client.post(
        "/api/authentications", auth=("alice", "password-123"), json={"note": "x", "max-age": max_age}
    )
    refused(response, "max-age")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Token)) == 0


def test_the_token_service_bounds_max_age_too(make_user, db) -> None:
    """`packyard token create --max-age` reaches the service without a request body."""
    user = make_user("alice")
    with pytest.raises(BadRequest, match="max-age"):
        create_token(db, identity_for(db, user), name="cli", max_age=10_000_000_000_000)


def test_the_longest_max_age_is_accepted(client, make_user) -> None:
    make_user("alice")
    token = login(
        client, "alice", "password-123", note="long", max_age=MAX_TOKEN_AGE_SECONDS
    )  # either spelling
    listed = client.get("/api/authentications", headers=auth(token)).json()
    expires = dt.datetime.fromisoformat(listed[0]["expires"])
    assert expires.year >= dt.datetime.now(dt.UTC).year + 99


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"package_types": 5}, "package_types"),
        ({"package_types": ["conda", "nope"]}, "unknown package type"),
        ({"public_attrs": {"package_types": "conda"}}, "public_attrs.package_types"),
        ({"public_attrs": 5}, "public_attrs"),
        ({"public": "yes"}, "public"),
        ({"access": ["private"]}, "access"),
    ],
)
def test_a_bad_package_body_is_400_and_creates_nothing(client, alice, body, field) -> None:
    refused(client.post("/api/package/alice/x", headers=auth(alice), json=body), field)
    assert client.get("/api/package/alice/x", headers=auth(alice)).status_code == 404


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"license": ["MIT"]}, "public_attrs.license"),
        ({"license": {"name": ["MIT"]}}, "public_attrs.license"),  # license_name
        ({"license": {"name": "MIT", "url": 5}}, "public_attrs.license"),
        ({"home": ["https://example.org"]}, "public_attrs.home"),
        ({"summary": {"text": "s"}}, "public_attrs.summary"),
        ({"dev_url": 5}, "public_attrs.dev_url"),
    ],
    ids=["license", "license_name", "license_url", "home", "summary", "dev_url"],
)
def test_package_attributes_of_the_wrong_type_are_400(client, alice, attrs, field) -> None:
    before = client.get("/api/package/alice/demo").json()
    refused(client.patch("/api/package/alice/demo", headers=auth(alice), json={"public_attrs": attrs}), field)
    assert client.get("/api/package/alice/demo").json() == before


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("to_owner", [5, ["a"], {"login": "a"}, True])
def test_copy_to_an_owner_that_is_not_a_string_is_400(client, alice, method, to_owner) -> None:
    response = client.request(
        method,
        f"/api/copy/package/alice/demo/1.0/{BASENAME}",
        headers=auth(alice),
        json={"to_owner": to_owner},
    )
    refused(response, "to_owner")


def test_concurrent_deletes_of_a_release_give_one_201_and_404s(client, alice) -> None:
    statuses: list[int] = []
    start = threading.Barrier(4)

    def delete() -> None:
        start.wait()
        statuses.append(client.delete("/api/release/alice/demo/1.0", headers=auth(alice)).status_code)

    threads = [threading.Thread(target=delete) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 404, 404, 404]


@pytest.mark.parametrize("remove", ["release", "package"])
def test_a_delete_that_lost_the_race_is_not_found(client, alice, db, remove) -> None:
    """Deterministic version of the race: every loser looked the row up before the winner removed it."""
    ident = authenticate_token(db, alice)
    with db.read() as session:
        pkg = queries.package(session, "alice", "demo")
        rel = queries.release(pkg, "1.0")
    delete = (
        (lambda: pkg_service.delete_release(db, ident, rel))
        if remove == "release"
        else (lambda: pkg_service.delete_package(db, ident, "alice", "demo"))
    )
    delete()
    with pytest.raises(NotFound):
        delete()
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Release)) == 0


# --- what anaconda-client sends is still accepted ---------------------------------------------------------------


def test_anaconda_client_payloads_are_accepted(client, make_user, tmp_path) -> None:
    """The bodies binstar_client 1.16 builds, with its None values and the fields Packyard ignores."""
    make_user("bob")
    created = client.post(
        "/api/authentications",
        auth=("bob", "password-123"),
        json={
            "scopes": ["api:write", "conda"],
            "note": "binstar_client:bob@host",
            "note_url": "http://anaconda.org",
            "hostname": "host",
            "user": None,
            "max-age": None,
            "strength": "strong",
            "fail-if-exists": False,
        },
    )
    assert created.status_code == 200, created.text
    bob = auth(login(client, "bob", "password-123", note="all"))
    package = client.post(
        "/api/package/bob/demo",
        headers=bob,
        json={
            "public": True,
            "publish": False,
            "public_attrs": {
                "summary": "a demo",
                "package_types": ["conda"],
                "license": {"name": "MIT", "url": None, "family": None},
                "name": "demo",
                "dev_url": None,
                "home": "https://example.org",
                "unknown": {"kept": "out"},
            },
        },
    )
    assert package.status_code == 200, package.text
    assert package.json()["license"] == "MIT" and package.json()["home"] == "https://example.org"
    release = client.post(
        "/api/release/bob/demo/1.0",
        headers=bob,
        json={
            "requirements": [],
            "announce": None,
            "description": None,
            "home_page": None,
            "source_git_tag": "v1",
        },
    )
    assert release.status_code == 200, release.text
    updated = client.patch(
        "/api/release/bob/demo/1.0", headers=bob, json={"public_attrs": {"description": "words", "x": [1]}}
    )
    assert updated.status_code == 200, updated.text
    conda = build_conda(tmp_path, name="demo", version="1.0", subdir="noarch")
    staged = client.post(
        f"/api/stage/bob/demo/1.0/{BASENAME}",
        headers=bob,
        json={
            "distribution_type": "conda",
            "description": None,
            "attrs": {"subdir": "noarch"},
            "dependencies": {"depends": []},
            "channels": ["main"],
            "sha256": None,
        },
    )
    assert staged.status_code == 200, staged.text
    assert client.patch("/api/package/bob/demo", headers=bob, json={"public_attrs": {}}).status_code == 200
    assert conda.exists()


# --- the OpenAPI document and a fuzz over it ---------------------------------------------------------------------

CLIENT_BODIES = {
    ("POST", "/api/authentications"),
    ("POST", "/api/package/{owner}/{name}"),
    ("PATCH", "/api/package/{owner}/{name}"),
    ("POST", "/api/release/{owner}/{name}/{version}"),
    ("PATCH", "/api/release/{owner}/{name}/{version}"),
    ("POST", "/api/stage/{owner}/{name}/{version}/{basename}"),
    ("POST", "/api/commit/{owner}/{name}/{version}/{basename}"),
    ("POST", "/api/copy/package/{owner}/{name}/{version}/{basename}"),
    ("PUT", "/api/copy/package/{owner}/{name}/{version}/{basename}"),
    ("PATCH", "/api/copy/package/{owner}/{name}/{version}/{basename}"),
    ("POST", "/api/channels/{owner}/{label}"),
    ("DELETE", "/api/channels/{owner}/{label}"),
    ("POST", "/api/group/{org}/{name}"),
}
"""Every route anaconda-client 1.16 sends a JSON body to (binstar_client/__init__.py and mixins/)."""

RAW_BODY = {
    ("GET", "/api/package_listing"): "anaconda-client sends modified_after as a form body on a GET, which "
    "OpenAPI cannot describe; the same parameter is declared as a query parameter",
}
"""Schema routes that read their body without a model, with the reason."""

READS_BODY = (
    "request.body()",
    "request.stream()",
    "request.json()",
    "request.form()",
    "json_body(",
)


def operation(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return schema["paths"][path][method.lower()]


def test_openapi_declares_a_body_for_every_route_that_reads_one(client) -> None:
    schema = client.get("/api/openapi.json").json()
    components = schema["components"]["schemas"]
    declared = set()
    for path, methods, route in routes(client.app):
        model = body_model(route) if hasattr(route, "dependant") else None
        for method in methods:
            op = schema["paths"].get(path, {}).get(method.lower())
            if op is None:
                continue  # not in the schema: protocol endpoints (multipart uploads, XML-RPC), the root checks
            source = inspect.getsource(route.endpoint)  # type: ignore[attr-defined]
            if model is None:
                reads = [p for p in READS_BODY if p in source]
                assert not reads or (method, path) in RAW_BODY, (
                    f"{method} {path} reads {reads} without a model"
                )
                continue
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{model.__name__}"
            assert components[model.__name__]["properties"], model
            assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
            declared.add((method, path))
    assert declared >= CLIENT_BODIES, CLIENT_BODIES - declared
    assert "HTTPValidationError" not in components  # the 422 shape Packyard never answers


SAMPLES: dict[str, Any] = {
    "string": "x",
    "integer": 10**13,
    "number": 1.5,
    "boolean": True,
    "array": ["a"],
    "object": {"a": 1},
}


def json_types(node: dict[str, Any], components: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema node accepts; None when it accepts anything."""
    if "$ref" in node:
        return {"object"}
    if "anyOf" in node:
        kinds: set[str] = set()
        for option in node["anyOf"]:
            found = json_types(option, components)
            if found is None:
                return None
            kinds |= found
        return kinds
    if "type" not in node:
        return None
    return {node["type"]}


def objects_in(node: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    refs = [node] if "$ref" in node else [o for o in node.get("anyOf", []) if "$ref" in o]
    return [components[r["$ref"].rsplit("/", 1)[-1]] for r in refs]


def wrong_bodies(model: dict[str, Any], components: dict[str, Any], depth: int = 0):
    """(body, field name) pairs: each field given each JSON type it does not accept, nested objects included."""
    for name, node in model.get("properties", {}).items():
        accepted = json_types(node, components)
        if accepted is None:
            continue
        for kind, value in SAMPLES.items():
            if kind not in accepted:
                yield {name: value}, name
        if "integer" in accepted:
            yield {name: 10**30}, name
            yield {name: -(10**30)}, name
        if depth < 2:
            for inner in objects_in(node, components):
                for body, field in wrong_bodies(inner, components, depth + 1):
                    yield {name: body}, f"{name}.{field}"


def test_fuzz_every_declared_body_with_wrong_types(client, alice) -> None:
    schema = client.get("/api/openapi.json").json()
    components = schema["components"]["schemas"]
    sent, failures = 0, []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            model = components[
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
            ]
            cases = [(body, field) for body, field in wrong_bodies(model, components)]
            cases += [([1], "JSON object"), ("text", "JSON object"), (5, "JSON object")]
            for body, field in cases:
                response = client.request(method.upper(), fill(path), json=body, headers=auth(alice))
                sent += 1
                message = response.json().get("error", "") if response.status_code < 500 else ""
                if response.status_code != 400 or field.split(".")[-1] not in message:
                    failures.append(
                        f"{method.upper()} {path} {body!r}: {response.status_code} {response.text}"
                    )
            bad_json = client.request(method.upper(), fill(path), content=b"{", headers=auth(alice))
            if bad_json.status_code != 400:
                failures.append(f"{method.upper()} {path} invalid JSON: {bad_json.status_code}")
    assert not failures, "\n".join(failures[:40])
    assert sent > 300, sent
