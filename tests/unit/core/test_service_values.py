"""Services called from several edges (REST, CLI, the web UI to come) take plain values and return plain data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from packyard.core import queries
from packyard.core.auth import Identity, identity_for
from packyard.core.errors import BadRequest, NotFound
from packyard.core.services.accounts import create_user
from packyard.core.services.orgs import create_org
from packyard.core.services.packages import (
    PackageInfo,
    PackageName,
    create_package,
    delete_package,
    set_access,
    transfer,
    update_package,
)
from packyard.core.services.tokens import TokenInfo, create_token, list_tokens, remove_token


def test_tokens_take_an_org_login_and_return_plain_data(db) -> None:
    alice = create_user(db, "alice", "password-123")
    create_org(db, identity_for(db, alice), "acme")
    ident = identity_for(db, alice)

    info, secret = create_token(db, ident, name="ci", scopes=["repos"], org="acme")

    assert isinstance(info, TokenInfo) and secret.startswith("py-")
    assert (info.name, info.org, info.scopes) == ("ci", "acme", ("repos",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"  # type: ignore[misc]
    assert [(t.name, t.org) for t in list_tokens(db, ident)] == [("ci", "acme")]
    with pytest.raises(NotFound):
        remove_token(db, ident, name="ci")  # the caller's own token of that name is the org's, not theirs
    remove_token(db, ident, name="ci", org="acme")
    assert list_tokens(db, ident) == []


def test_a_token_for_an_unknown_org_is_404(db) -> None:
    alice = create_user(db, "alice", "password-123")
    with pytest.raises(NotFound):
        create_token(db, identity_for(db, alice), name="ci", org="nobody")


def _alice_with_demo(db) -> Identity:
    alice = create_user(db, "alice", "password-123")
    create_org(db, identity_for(db, alice), "acme")
    ident = identity_for(db, alice)
    create_package(db, ident, alice, "Demo_Pkg", PackageInfo(summary="first"))
    return ident


def _row(db, owner: str, name: str) -> tuple[str, str, str, str | None]:
    with db.read() as session:
        pkg = queries.package(session, owner, name)
        return (pkg.owner.login, pkg.name, pkg.access, pkg.summary)


def test_package_services_take_logins_and_names(db) -> None:
    """The edges (REST, CLI, the web UI) pass what the URL or command line says; no row crosses sessions."""
    ident = _alice_with_demo(db)

    update_package(db, ident, "ALICE", "demo-pkg", PackageInfo(summary="second", access="private"))
    assert _row(db, "alice", "Demo_Pkg") == ("alice", "Demo_Pkg", "private", "second")
    set_access(db, ident, "alice", ["demo.pkg"], "authenticated")
    assert _row(db, "alice", "Demo_Pkg")[2] == "authenticated"

    moved = transfer(db, ident, "alice", "demo_pkg", "Acme")
    assert moved == PackageName("acme", "Demo_Pkg")
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.owner = "alice"  # type: ignore[misc]
    assert _row(db, "acme", "Demo_Pkg")[:2] == ("acme", "Demo_Pkg")

    delete_package(db, ident, "acme", "DEMO-PKG")
    with pytest.raises(NotFound):
        _row(db, "acme", "Demo_Pkg")


def test_an_update_refused_for_its_access_changes_nothing(db) -> None:
    """The access and the other fields change in one transaction: all of the update or none of it."""
    ident = _alice_with_demo(db)
    with pytest.raises(BadRequest):
        update_package(db, ident, "alice", "Demo_Pkg", PackageInfo(summary="second", access="secret"))
    assert _row(db, "alice", "Demo_Pkg") == ("alice", "Demo_Pkg", "public", "first")


def test_delete_by_exact_name_is_the_cli_rule(db) -> None:
    """`packyard package delete` names a package exactly: a name that only shares its key is not it."""
    ident = _alice_with_demo(db)
    with pytest.raises(NotFound):
        delete_package(db, ident, "alice", "demo-pkg", exact=True)
    delete_package(db, ident, "alice", "Demo_Pkg", exact=True)
    with pytest.raises(NotFound):
        _row(db, "alice", "Demo_Pkg")


@pytest.mark.parametrize(("owner", "name"), [("nobody", "Demo_Pkg"), ("alice", "missing")])
@pytest.mark.parametrize("service", ["update", "access", "transfer", "delete"])
def test_an_unknown_owner_or_package_is_404(db, owner: str, name: str, service: str) -> None:
    """Also what a request that lost the race to a concurrent delete gets: the lookup is in the write."""
    ident = _alice_with_demo(db)
    call: dict[str, Callable[[], object]] = {
        "update": lambda: update_package(db, ident, owner, name, PackageInfo(summary="x")),
        "access": lambda: set_access(db, ident, owner, ["Demo_Pkg", name], "private"),
        "transfer": lambda: transfer(db, ident, owner, name, "acme"),
        "delete": lambda: delete_package(db, ident, owner, name),
    }
    with pytest.raises(NotFound):
        call[service]()
    assert _row(db, "alice", "Demo_Pkg") == ("alice", "Demo_Pkg", "public", "first")


def test_a_transfer_to_an_unknown_owner_is_404(db) -> None:
    ident = _alice_with_demo(db)
    with pytest.raises(NotFound, match="nobody"):
        transfer(db, ident, "alice", "Demo_Pkg", "nobody")
    assert _row(db, "alice", "Demo_Pkg")[0] == "alice"


def test_a_private_package_of_another_is_refused_before_the_write(db) -> None:
    """READ is asked first, as the package's URL does: bob is told what a missing name tells, nothing about admin
    (private names are never confirmed, docs/security.md)."""
    alice = _alice_with_demo(db)
    set_access(db, alice, "alice", ["Demo_Pkg"], "private")
    bob = identity_for(db, create_user(db, "bob", "password-123"))
    for call in (
        lambda: delete_package(db, bob, "alice", "Demo_Pkg"),
        lambda: transfer(db, bob, "alice", "Demo_Pkg", "bob"),
        lambda: update_package(db, bob, "alice", "Demo_Pkg", PackageInfo(summary="x")),
    ):
        with pytest.raises(NotFound, match="not found, or you may not see it"):
            call()
    assert _row(db, "alice", "Demo_Pkg") == ("alice", "Demo_Pkg", "private", "first")
