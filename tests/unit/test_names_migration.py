"""Migration 0008 (package keys follow PEP 503) on databases written under the old, lower-case rule.

Colliding packages must survive the upgrade untouched, the server must refuse to start until an administrator
has resolved them, and `packyard names check` / `packyard package delete` are how he does it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.auth import Identity, identity_for
from packyard.core.db import Database
from packyard.core.migrate import MIGRATIONS
from packyard.core.models import Package
from packyard.core.services.accounts import create_user
from packyard.core.services.packages import transfer
from packyard.formats.pypi.models import PypiFile
from tests.builders import build_wheel
from tests.conftest import free_port
from tests.unit.api.helpers import auth, login
from tests.unit.test_cli import cli

HEAD_REVISION = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def twine(client: TestClient, token: str, owner: str, path: Path) -> None:
    data = path.read_bytes()
    response = client.post(
        f"/pypi/{owner}/",
        headers=auth(token),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "filetype": "bdist_wheel",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        },
        files={"content": (path.name, data, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text


def wheel(tmp_path: Path, name: str, version: str) -> Path:
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir()
    return build_wheel(folder, name=name, version=version)


def keys(db: Database) -> dict[str, str]:
    with db.read() as session:
        return dict(session.execute(select(Package.name, Package.name_key)).all())


def revision(db: Database) -> str:
    with db.read() as session:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_colliding_packages_survive_and_block_start_until_resolved(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(data=data, base_url="http://testserver")
    url = settings.sqlalchemy_url
    migrate.upgrade(url)
    db = Database(url)
    root = identity_for(db, create_user(db, "root", "password-123", is_admin=True))
    for name in ("owner", "mallory"):
        create_user(db, name, "password-123")
    # What the old rule let happen: acme/shared-lib (the owner's) and acme/Shared_Lib (someone else's), both
    # PyPI project shared-lib and even holding a file of the same name; likewise acme/tool_x and acme/Tool-X.
    legit = wheel(tmp_path, "shared-lib", "1.0")
    with TestClient(create_app(settings, db=db)) as client:
        owner, mallory = (login(client, name, "password-123") for name in ("owner", "mallory"))
        assert client.post("/api/orgs/acme", headers=auth(owner), json={}).status_code == 201
        twine(client, owner, "acme", wheel(tmp_path, "Other_Pkg", "1.0"))
        twine(client, owner, "acme", wheel(tmp_path, "tool_x", "1.0"))
        for name, version in (("Shared_Lib", "1.0"), ("Shared_Lib", "9.0"), ("Tool-X", "2.0")):
            twine(client, mallory, "mallory", wheel(tmp_path, name, version))
        _old_key(db, "tool_x")
        _move(db, root, "Shared_Lib")
        _old_key(db, "Shared_Lib")
        _move(db, root, "Tool-X")
        twine(client, owner, "acme", legit)
    command.downgrade(migrate.alembic_config(url), "0007")  # keys lower(name), as the old rule made them
    assert revision(db) == "0007"
    before = {"shared-lib", "Shared_Lib", "Other_Pkg", "tool_x", "Tool-X"}
    assert keys(db) == {name: name.lower() for name in before}

    upgraded = cli(data, "migrate", check=False)
    assert upgraded.returncode == 3, upgraded.stdout + upgraded.stderr
    assert revision(db) == HEAD_REVISION
    # nothing merged or dropped: the colliding pairs keep their old keys, the rest has the new one
    assert keys(db) == {**{name: name.lower() for name in before}, "Other_Pkg": "other-pkg"}
    with db.read() as session:
        assert (
            len(session.scalars(select(PypiFile.file_id).where(PypiFile.project == "shared-lib")).all()) == 3
        )

    listed = cli(data, "names", "check", check=False)
    assert listed.returncode == 1, listed.stdout + listed.stderr
    rows = [[cell for cell in line.split() if cell != "│"] for line in listed.stdout.splitlines()]
    assert sorted(tuple(row[:5]) for row in rows if row[:1] == ["acme"]) == [
        ("acme", "shared-lib", "Shared_Lib", "pypi", "2"),
        ("acme", "shared-lib", "shared-lib", "pypi", "1"),
        ("acme", "tool-x", "Tool-X", "pypi", "1"),
        ("acme", "tool-x", "tool_x", "pypi", "1"),
    ]

    refused = cli(data, "serve", "--port", str(free_port()), check=False)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "2 set(s)" in refused.stderr
    assert "Shared_Lib" in refused.stderr
    assert "Tool-X" in refused.stderr
    assert "packyard names check" in refused.stderr

    not_admin = cli(data, "package", "delete", "acme", "Shared_Lib", "--as", "owner", check=False)
    assert not_admin.returncode == 2
    assert "not a site administrator" in not_admin.stderr
    cli(data, "package", "delete", "acme", "Shared_Lib", "--as", "root")
    cli(data, "package", "transfer", "acme", "Tool-X", "mallory", "--as", "root")
    assert "no package name collisions" in cli(data, "names", "check").stdout
    assert keys(db)["tool_x"] == "tool_x"
    cli(data, "migrate")  # a start (or migrate) keys the package the transfer freed
    assert keys(db) == {
        "shared-lib": "shared-lib",
        "Other_Pkg": "other-pkg",
        "tool_x": "tool-x",
        "Tool-X": "tool-x",
    }

    with TestClient(create_app(settings, db=db)) as client:
        page = client.get(
            "/pypi/acme/simple/shared-lib/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ).json()
        # the deletion removed the impostor's same-named file only, not the owner's
        assert [(f["filename"], f["hashes"]["sha256"]) for f in page["files"]] == [
            (legit.name, hashlib.sha256(legit.read_bytes()).hexdigest())
        ]
        assert client.get("/api/package/acme/Tool.X").json()["name"] == "tool_x"
        assert client.get("/api/package/mallory/TOOL_X").json()["name"] == "Tool-X"
    db.dispose()


def _old_key(db: Database, name: str) -> None:
    with db.write() as session:
        session.execute(update(Package).where(Package.name == name).values(name_key=name.lower()))


def _move(db: Database, admin: Identity, name: str) -> None:
    transfer(db, admin, "mallory", name, "acme", exact=True)


def test_upgrade_without_collisions_round_trips(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = Settings(data=data).sqlalchemy_url
    # The account is made with today's model, then the schema goes back to 0007 (accounts keep their rows).
    migrate.upgrade(url)
    db = Database(url)
    alice = create_user(db, "alice", "password-123")
    command.downgrade(migrate.alembic_config(url), "0007")
    old = {"Foo_Bar": "foo_bar", "data.table": "data.table", "plain": "plain", "A-B.c__d": "a-b.c__d"}
    with db.write() as session:
        for name, key in old.items():
            session.add(Package(owner_id=alice.id, name=name, name_key=key, package_types=[], attrs={}))
    new = {"Foo_Bar": "foo-bar", "data.table": "data-table", "plain": "plain", "A-B.c__d": "a-b-c-d"}
    migrate.upgrade(url)
    assert keys(db) == new
    assert "no package name collisions" in cli(data, "names", "check").stdout
    command.downgrade(migrate.alembic_config(url), "0007")
    assert keys(db) == {name: name.lower() for name in old}
    migrate.upgrade(url)
    assert keys(db) == new
    assert revision(db) == HEAD_REVISION
    db.dispose()
