"""The owner page's and search's SQL (ui/catalog.py) on SQLite and on PostgreSQL.

Filtering by type reads `package_types` as text, the platform filter and the platform choices cut a conda basename
at its first '/', search lower-cases and escapes LIKE patterns: each spelled so that both backends agree, which
only running them on both can show. A small world through the REST API: ann's public conda packages on linux-64
and noarch, a wheel, a private package in label `dev` on win-64; bob unrelated.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.core import auth, queries
from packyard.core.models import Account
from packyard.core.services.accounts import create_user
from packyard.ui import catalog
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth as auth_header
from tests.unit.api.helpers import login, upload
from tests.unit.core.conftest import Backend

PASSWORD = "catalog-password-1"


def _world(backend: Backend, client: TestClient, tmp: Path) -> None:
    for user in ("ann", "bob"):
        create_user(backend.db, user, PASSWORD)
    token = login(client, "ann", PASSWORD)
    for name, subdir, labels in (("lin", "linux-64", ["main"]), ("noa", "noarch", ["main"])):
        conda = build_conda(tmp, name=name, version="1.0", subdir=subdir)
        done = upload(client, token, "ann", name, "1.0", conda, f"{subdir}/{conda.name}", "conda", labels)
        assert done.status_code == 200, done.text
    wheel = build_wheel(tmp, name="wheely", version="1.0")
    assert (
        upload(client, token, "ann", "wheely", "1.0", wheel, wheel.name, "pypi", ["main"]).status_code == 200
    )
    created = client.post(
        "/api/package/ann/hidden",
        headers=auth_header(token),
        json={"public": False, "public_attrs": {"summary": "private lin_ 100% notes"}},
    )
    assert created.status_code == 200, created.text
    conda = build_conda(tmp, name="hidden", version="1.0", subdir="win-64")
    done = upload(
        client, token, "ann", "hidden", "1.0", conda, f"win-64/{conda.name}", "conda", ["dev"], False
    )
    assert done.status_code == 200, done.text


def _names(listing: catalog.Listing) -> list[str]:
    return [hit.name for hit in listing.hits]


def test_filters_sorts_search_and_choices_agree_on_both_backends(
    backend: Backend, backend_client: TestClient, tmp_path: Path
) -> None:
    _world(backend, backend_client, tmp_path)
    with backend.db.read() as session:
        accounts = {a.login: a for a in session.scalars(select(Account))}
    callers = {
        "anonymous": auth.ANONYMOUS,
        "ann": auth.identity_for(backend.db, accounts["ann"]),
        "bob": auth.identity_for(backend.db, accounts["bob"]),
    }

    def owner(caller: str, **params: str) -> catalog.Listing:
        with backend.db.read() as session:
            ann = queries.owner(session, "ann")
            filters = catalog.Filters.parse(params, search=False)
            return catalog.owner_listing(session, callers[caller], ann, filters)

    def search(caller: str, **params: str) -> catalog.Listing:
        with backend.db.read() as session:
            return catalog.search_listing(
                session, callers[caller], catalog.Filters.parse(params, search=True)
            )

    assert _names(owner("anonymous", sort="name")) == ["lin", "noa", "wheely"]
    assert _names(owner("ann", sort="name")) == ["hidden", "lin", "noa", "wheely"]
    assert _names(owner("bob", sort="name")) == ["lin", "noa", "wheely"]
    assert _names(owner("anonymous", type="conda", sort="name")) == ["lin", "noa"]
    assert _names(owner("anonymous", type="pypi")) == ["wheely"]
    assert _names(owner("anonymous", platform="linux-64")) == ["lin"]
    assert _names(owner("ann", platform="win-64")) == ["hidden"]
    assert _names(owner("anonymous", platform="win-64")) == []
    assert _names(owner("ann", label="dev")) == ["hidden"] and _names(owner("bob", label="dev")) == []
    assert _names(owner("ann", access="private")) == ["hidden"]
    assert _names(owner("anonymous", access="private")) == []

    public = owner("anonymous").facets
    assert public.platforms == ["linux-64", "noarch"] and public.labels == ["main"]
    assert public.types == {"conda": 2, "pypi": 1} and not public.offers_access
    mine = owner("ann").facets
    assert mine.platforms == ["linux-64", "noarch", "win-64"] and mine.labels == ["main", "dev"]
    assert mine.accesses == {"public": 3, "authenticated": 0, "private": 1} and mine.offers_access

    assert _names(search("anonymous", q="LIN")) == ["lin"]
    assert _names(search("ann", q="lin")) == ["lin", "hidden"]  # the name first, then the summary's words
    assert _names(search("ann", q="lin_")) == ["hidden"]  # '_' is a character, not LIKE's wildcard
    assert _names(search("ann", q="100%")) == ["hidden"] and _names(search("bob", q="100%")) == []
    assert _names(search("anonymous", q="ann/", sort="name")) == ["lin", "noa", "wheely"]
    assert _names(search("anonymous", type="conda", platform="noarch")) == ["noa"]
    assert search("bob", q="hidden").total == 0


def test_the_filters_keep_what_they_know_and_drop_the_rest() -> None:
    import packyard.formats  # noqa: F401 - registers the package types the type filter accepts

    parse = catalog.Filters.parse
    assert parse({"type": "notebook", "sort": "bogus"}, search=True) == catalog.Filters(
        type="ipynb", sort="relevance", default_sort="relevance"
    )
    assert parse({"type": "nope", "access": "secret", "platform": "../x"}, search=False) == catalog.Filters()
    assert [parse({"page": p}, search=False).page for p in ("0", "-3", "x", "1" * 5000, "999999")] == [
        1, 1, 1, 1, catalog.MAX_PAGE,
    ]  # fmt: skip
    assert parse({"q": "ann/x"}, search=False).q == ""  # the owner page has no words
    wanted = catalog.Filters(
        q="a b", type="conda", label="dev", sort="name", page=3, default_sort="relevance"
    )
    assert wanted.link(page=1) == "?q=a+b&type=conda&label=dev&sort=name"
    assert catalog.Filters(sort="updated").link(page=2) == "?page=2"
