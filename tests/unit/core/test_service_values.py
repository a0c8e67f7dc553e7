"""Services called from several edges (REST, CLI, the web UI to come) take plain values and return plain data."""

from __future__ import annotations

import dataclasses

import pytest

from packyard.core.auth import identity_for
from packyard.core.errors import NotFound
from packyard.core.services.accounts import create_user
from packyard.core.services.orgs import create_org
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
