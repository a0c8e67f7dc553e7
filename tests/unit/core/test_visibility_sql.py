"""`permissions.can_see_clause` (SQL, for listings and counts) agrees with `permissions.can_see` (one package).

The pages count and page through "packages this identity may see" in SQL; if the clause and the per-package
function ever disagreed, a listing would show a private name the package page then hides (or the reverse). The
world is the permission matrix's (tests/unit/matrix_support.py: a user namespace and an organization with groups,
collaborators, public/authenticated/private targets, a decoy), plus a site administrator and organization tokens;
every identity is asked through every interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import auth, migrate, permissions
from packyard.core.db import Database
from packyard.core.models import Account, Package
from packyard.core.services.accounts import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.unit.matrix_support import (
    NAMESPACES,
    TOKEN_SCOPES,
    USER_OF,
    World,
    build_world,
    fast_passwords,
    make_credential,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("visibility") / "data"
    data.mkdir()
    settings = Settings(data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast_passwords(monkeypatch)
        with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
            built = build_world(client, db)
            assert not built.problems, built.problems
            create_user(db, "root", "root-password-1", is_admin=True)
            # Organization tokens (`anaconda auth --create --org acme`): otto's grants count only inside acme.
            otto = built.user_tokens["otto"]
            for kind in ("org-token", "org-token-conda"):
                header = make_credential(client, otto, "otto", kind, "acme")
                built.scoped_tokens[(kind, "org")] = header["Authorization"].split(" ", 1)[1]
            # Tokens limited to one channel (seed 004): otto's, limited to acme (which he owns) or to olivia.
            for namespace, channel in (("org", "acme"), ("user", "olivia")):
                made = client.post(
                    "/api/authentications",
                    headers={"Authorization": f"token {otto}"},
                    json={"note": f"channel-{channel}", "scopes": ["repos"], "channel": channel},
                )
                assert made.status_code == 200, made.text
                built.scoped_tokens[("channel-token", namespace)] = made.json()["token"]
            yield built
    db.dispose()


def identities(world: World) -> dict[str, auth.Identity]:
    """Every identity the matrix knows, as the request path would build it: signed in (session or password),
    each user's full token, the scoped and organization tokens, and the site administrator."""
    db = world.db
    found: dict[str, auth.Identity] = {"anonymous": auth.ANONYMOUS}
    with db.read() as session:
        accounts = {a.login: a for a in session.scalars(select(Account))}
    for role, login in USER_OF.items():
        found[f"{role}/session"] = auth.identity_for(db, accounts[login])
        found[f"{role}/token"] = auth.authenticate_token(db, world.user_tokens[login])
    found["site-admin/session"] = auth.identity_for(db, accounts["root"])
    for (kind, namespace), secret in world.scoped_tokens.items():
        if kind in TOKEN_SCOPES or kind.startswith(("org-token", "channel-token")):
            found[f"{kind}/{namespace}"] = auth.authenticate_token(db, secret)
    return found


def test_the_sql_clause_agrees_with_can_see_for_every_identity_and_interface(world: World) -> None:
    vias = sorted(permissions.interfaces())
    assert {"api", "web", "conda", "pypi"} <= set(vias)
    with world.db.read() as session:
        packages = list(session.scalars(select(Package)))
        assert len(packages) >= 7, "the matrix world has its targets and the decoy"
        disagreements = []
        seen_counts = set()
        for name, ident in identities(world).items():
            for via in vias:
                expected = {p.id for p in packages if permissions.can_see(ident, p, via=via)}
                clause = permissions.can_see_clause(ident, via=via)
                got = set(session.scalars(select(Package.id).where(clause)))
                if got != expected:
                    disagreements.append(f"{name} via {via}: sql {sorted(got)} != can_see {sorted(expected)}")
                seen_counts.add(len(expected))
    assert disagreements == []
    # Not a vacuous agreement: some identities see only public packages, some see more, an admin sees all.
    assert len(seen_counts) >= 4 and len(packages) in seen_counts


def test_equal_visibilities_see_the_same_packages_and_differ_when_the_rights_do(world: World) -> None:
    """`visibility()` is the cache key of the pages: equal keys must mean equal answers."""
    found = identities(world)
    key = permissions.visibility
    assert key(found["anonymous"]) == key(found["token-api-read/user"], via="conda")  # reads only the API
    assert key(found["owner/session"]) == key(found["owner/token"])  # both olivia, full rights
    assert key(found["readers-listed/session"]) != key(found["readers-unlisted/session"])
    assert key(found["stranger/session"]) != key(found["anonymous"])  # authenticated packages
    assert key(found["org-token/org"]) != key(found["org-owner/session"])


def test_an_organization_token_sees_its_owners_packages_only_inside_the_organization(world: World) -> None:
    ident = identities(world)["org-token/org"]
    with world.db.read() as session:
        rows = session.execute(
            select(Account.login, Package.name, Package.access)
            .join(Account, Account.id == Package.owner_id)
            .where(permissions.can_see_clause(ident, via="web"))
        ).all()
    private = {(login, name) for login, name, access in rows if access == "private"}
    assert ("acme", "decoy") in private and ("acme", "pkg-private-org") in private
    assert all(login == "acme" for login, _ in private)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_stranger_never_sees_a_private_target(world: World, namespace: str) -> None:
    ident = identities(world)["stranger/session"]
    with world.db.read() as session:
        names = set(session.scalars(select(Package.name).where(permissions.can_see_clause(ident, via="web"))))
    assert f"pkg-public-{namespace}" in names and f"pkg-authenticated-{namespace}" in names
    assert f"pkg-private-{namespace}" not in names


def test_a_channel_limited_token_sees_private_packages_of_its_channel_only(world: World) -> None:
    found = identities(world)
    for name, channel in (("channel-token/org", "acme"), ("channel-token/user", "olivia")):
        with world.db.read() as session:
            rows = session.execute(
                select(Account.login, Package.name, Package.access)
                .join(Account, Account.id == Package.owner_id)
                .where(permissions.can_see_clause(found[name], via="conda"))
            ).all()
        private = {(login, pkg) for login, pkg, access in rows if access == "private"}
        assert all(login == channel for login, _ in private), (name, private)
        if channel == "acme":
            assert ("acme", "decoy") in private  # otto owns acme: the token reaches its private packages
    assert permissions.visibility(found["channel-token/org"]) != permissions.visibility(
        found["org-owner/session"]
    )
    assert not permissions.is_unrestricted(found["channel-token/org"])
