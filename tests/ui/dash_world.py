"""The dashboard and activity tests' own corner of the shared live site (tests/ui/conftest.py `site`).

Its own people and organization, so that adding members, uploading and marking notifications read here changes
nothing another test module counts on: nora owns the organization orbit, omar is in orbit's read group `devs`
(which lists orbit/tool only), pia belongs to nothing. orbit/hidden is private: only nora may see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.builders import build_wheel
from tests.ui.conftest import PASSWORD, Site, api_token, create_package
from tests.unit.api.helpers import auth, upload

OWNER, MEMBER, OUTSIDER, ORG = "nora", "omar", "pia", "orbit"


@dataclass
class World:
    site: Site
    tokens: dict[str, str] = field(default_factory=dict)


_worlds: dict[str, World] = {}


def ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response


def upload_wheel(client: httpx.Client, token: str, owner: str, name: str, version: str, tmp: Path) -> str:
    folder = tmp / f"{owner}-{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(folder, name=name, version=version)
    ok(upload(client, token, owner, name, version, wheel, wheel.name, "pypi", create=False))
    return wheel.name


def world(site: Site, tmp: Path) -> World:
    """Built once per live site, whichever of the modules asks first."""
    if site.url in _worlds:
        return _worlds[site.url]
    for login in (OWNER, MEMBER, OUTSIDER):
        site.server.create_user(login, PASSWORD)
    made = World(site)
    with site.client() as client:
        for login in (OWNER, MEMBER, OUTSIDER):
            made.tokens[login] = api_token(client, login)
        nora = auth(made.tokens[OWNER])
        ok(client.post(f"/api/orgs/{ORG}", headers=nora, json={"name": "Orbit Lab"}))
        ok(client.post(f"/api/group/{ORG}/devs", headers=nora, json={"perms": "read"}))
        create_package(client, made.tokens[OWNER], ORG, "tool", summary="Orbit's shared tool")
        upload_wheel(client, made.tokens[OWNER], ORG, "tool", "1.0", tmp)
        create_package(client, made.tokens[OWNER], ORG, "hidden", public=False, summary="classified work")
        upload_wheel(client, made.tokens[OWNER], ORG, "hidden", "0.1", tmp)
        ok(client.put(f"/api/group/{ORG}/devs/packages/tool", headers=nora))
        ok(client.put(f"/api/group/{ORG}/devs/members/{MEMBER}", headers=nora))
    _worlds[site.url] = made
    return made
