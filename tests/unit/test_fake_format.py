"""A format is one registration: a tiny format defined here, and registered by this test alone, gets its parser
used by the one-request upload, its filetype accepted there, its scopes listed and honoured, its routes answered
(also under its /t/TOKEN/ prefix) and its names kept from logins — without an edit to any shared file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import formats
from packyard.core.artifacts import Artifact, InvalidPackage
from packyard.core.db import Database
from packyard.core.errors import BadRequest
from packyard.core.permissions import Permission, Scope
from packyard.core.services.accounts import create_user
from packyard.web.deps import Svc, readable_package, resolve_identity
from tests.unit.api.helpers import auth, login

MAGIC = b"FAKE1\n"


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    """NAME-VERSION.fake whose first line is the magic; the second line, if any, is the summary."""
    lines = path.read_bytes().split(b"\n")
    if not basename.endswith(".fake") or lines[0] + b"\n" != MAGIC:
        raise InvalidPackage(f"{basename} is not a fake package")
    stem, _, ver = basename.removesuffix(".fake").rpartition("-")
    return Artifact("fake", stem, ver, basename, summary=lines[1].decode() if len(lines) > 1 else None)


router = APIRouter()


@router.get("/fakes/{owner}/{name}")
def fake_package(owner: str, name: str, request: Request, svc: Svc) -> dict[str, Any]:
    identity = resolve_identity(request, svc)
    with svc.db.read() as session:
        pkg = readable_package(session, identity, owner, name, via="fake")
        return {"name": pkg.name, "versions": sorted(r.version for r in pkg.releases)}


FAKE = formats.FormatSpec(
    "fake",
    parse,
    aliases=("standard_fake",),
    sniff=lambda path, basename: basename.endswith(".fake"),
    routers=(router,),
    scopes=(
        Scope(
            "fake",
            frozenset({Permission.READ, Permission.WRITE}),
            frozenset({"fake", "api"}),
            "Download and upload fake packages",
            frozenset({"fake"}),
        ),
    ),
    filetypes={"fake_package": "api"},
    url_prefixes=("fakes",),
    reserved_names=("fakery",),
)


@pytest.fixture
def fake() -> Iterator[formats.FormatSpec]:
    formats.register(FAKE)
    try:
        yield FAKE
    finally:
        formats.unregister(FAKE.distribution_type)


@pytest.fixture
def fake_client(fake: formats.FormatSpec, settings: Settings, db: Database) -> Iterator[TestClient]:
    """The app reads the registry when it is built: build it after the fake format is registered."""
    create_user(db, "alice", "password-123")
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
        yield client


def upload(client: TestClient, token: str, filetype: str, basename: str, data: bytes, **fields: str) -> Any:
    return client.post(
        "/api/repo/alice",
        headers=auth(token),
        data={"filetype": filetype, **fields},
        files={"content": (basename, data)},
    )


def test_a_registered_format_is_served_end_to_end(fake_client: TestClient) -> None:
    client = fake_client
    assert client.get("/api/scopes").json()["fake"] == "Download and upload fake packages"

    full = login(client, "alice", "password-123")
    created = client.post("/api/package/alice/widget", headers=auth(full), json={"public": False})
    assert created.status_code == 200, created.text
    token = login(client, "alice", "password-123", scopes=["fake"])
    response = upload(client, token, "fake_package", "widget-1.2.fake", MAGIC + b"a widget")
    assert response.status_code == 200, response.text
    assert response.text == "uploaded alice/widget/1.2/widget-1.2.fake\n"

    # Its own parser ran: a file that is not a fake package is refused with the parser's message.
    refused = upload(client, token, "fake_package", "broken-1.0.fake", b"nope")
    assert refused.status_code == 400
    assert "broken-1.0.fake is not a fake package" in refused.text

    package = client.get("/api/package/alice/widget", headers=auth(token)).json()
    assert package["package_types"] == ["fake"]
    assert package["access"] == "private"

    # Its route answers (the package is private) through the Authorization header and its /t/TOKEN/ prefix;
    # without them, as for a missing name.
    assert client.get("/fakes/alice/widget").status_code == 404
    assert client.get("/fakes/alice/widget").json()["error"] == client.get("/fakes/alice/nothing").json()[
        "error"
    ].replace("nothing", "widget")
    assert client.get("/fakes/alice/widget", headers=auth(token)).json() == {
        "name": "widget",
        "versions": ["1.2"],
    }
    assert client.get(f"/fakes/t/{token}/alice/widget").json() == {"name": "widget", "versions": ["1.2"]}

    # Its scope acts on its own type only, as the built-in format scopes do.
    other = upload(client, token, "file", "notes.txt", b"x", name="notes", version="1")
    assert other.status_code == 403, other.text


def test_its_names_are_not_logins(fake: formats.FormatSpec, db: Database) -> None:
    for reserved in ("fakes", "fakery", "Fakery"):
        with pytest.raises(BadRequest, match="not a valid login"):
            create_user(db, reserved, "password-123")


def test_its_filetype_is_offered_and_type_detected(fake: formats.FormatSpec, tmp_path: Path) -> None:
    assert "fake_package" in formats.filetypes()
    assert "fake" in formats.distribution_types()
    path = tmp_path / "thing-3.fake"
    path.write_bytes(MAGIC)
    assert formats.detect(path, path.name) == "fake"
    assert formats.spec_for("standard_fake") is fake


def test_registration_is_undone(fake: formats.FormatSpec, settings: Settings, db: Database) -> None:
    create_user(db, "alice", "password-123")
    formats.unregister("fake")
    try:
        with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
            assert "fake" not in client.get("/api/scopes").json()
            assert client.get("/fakes/alice/widget").status_code == 404
            token = login(client, "alice", "password-123")
            reply = upload(client, token, "fake_package", "widget-1.2.fake", MAGIC)
            assert reply.status_code == 400
            assert "Invalid value for filetype: 'fake_package'" in reply.text
        with pytest.raises(InvalidPackage, match="unknown package type 'fake'"):
            formats.spec_for("fake")
        create_user(db, "fakery", "password-123")
    finally:
        formats.register(FAKE)


def test_a_clash_is_refused(fake: formats.FormatSpec) -> None:
    for clash in (
        formats.FormatSpec("other", parse, aliases=("standard_fake",)),
        formats.FormatSpec("other", parse, scopes=fake.scopes),
        formats.FormatSpec("other", parse, scopes=(Scope("repos", frozenset(), frozenset(), "shadowing"),)),
        formats.FormatSpec("other", parse, filetypes={"sdist": "pypi"}),
        formats.FormatSpec("other", parse, url_prefixes=("conda",)),
    ):
        with pytest.raises(ValueError, match="already registered"):
            formats.register(clash)
    assert "other" not in formats.distribution_types()
