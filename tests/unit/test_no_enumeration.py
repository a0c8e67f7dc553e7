"""Private names are never confirmed: for anyone who may not see a package, "private" and "missing" answer alike.

One world, built once: olivia's private package `secret` holding a conda, a wheel and an R file, and no package
`absent`. Every interface that names a package (INTERFACES: REST, the download routes, conda, the root channel,
PyPI simple/JSON/XML-RPC/files, CRAN, notebooks, envs, badges, the web pages) is asked the same URL with either
name, by every identity that may not see `secret`: anonymous, an unrelated signed-in user, and olivia's own
token whose scopes do not read through that interface (pypi-only on conda and CRAN, conda-only on PyPI). The
status must be the same, and so must the body once the name is replaced (issue #14 item 3, docs/security.md).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.services.accounts import create_user
from tests.builders import build_conda, build_r_source, build_wheel
from tests.conftest import ADMIN_PASSWORD
from tests.unit.api.helpers import upload

PASSWORD = "password-123"
OWNER = "olivia"
PRIVATE, MISSING = "secret", "absent"

CONDA_FILE = "noarch/{name}-1.0-0.tar.bz2"
WHEEL_FILE = "{name}-1.0-py3-none-any.whl"
R_FILE = "{name}_1.0.tar.gz"

# interface -> URL templates ({name} is the package; every other part exists for the private package).
INTERFACES: dict[str, list[str]] = {
    "api": [
        "/api/package/olivia/{name}",
        "/api/package/olivia/{name}/files",
        "/api/release/olivia/{name}/1.0",
        f"/api/dist/olivia/{{name}}/1.0/{CONDA_FILE}",
        f"/api/download/olivia/{{name}}/1.0/{CONDA_FILE}",
        "/api/packages/olivia/{name}/collaborators",
    ],
    "download": [f"/download/olivia/{{name}}/1.0/{CONDA_FILE}"],
    "conda": [
        f"/conda/olivia/{CONDA_FILE}",
        f"/conda/olivia/label/main/{CONDA_FILE}",
        f"/olivia/{CONDA_FILE}",
    ],
    "pypi": [
        "/pypi/olivia/simple/{name}/",
        "/pypi/olivia/{name}/json",
        "/pypi/olivia/{name}/1.0/json",
        f"/pypi/olivia/files/{{name}}/{WHEEL_FILE}",
        f"/pypi/olivia/files/{{name}}/{WHEEL_FILE}.metadata",
    ],
    "cran": [f"/cran/olivia/src/contrib/{R_FILE}", f"/api/repo/olivia/cran/src/contrib/{R_FILE}"],
    "notebook": ["/notebooks/olivia/{name}", "/notebooks/olivia/{name}/1.0"],
    "env": ["/envs/olivia/{name}", "/envs/olivia/{name}/1.0"],
    "badge": ["/olivia/{name}/badges/version.svg", "/olivia/{name}/badges"],
    "page": [
        "/olivia/{name}",
        "/olivia/{name}/files",
        f"/olivia/{{name}}/files/1.0/{CONDA_FILE}",
        "/olivia/{name}/settings/collaborators",
    ],
}

XMLRPC = (
    "<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>"
    "<param><value><string>{name}</string></value></param>{more}</params></methodCall>"
)
XMLRPC_CALLS = [
    ("package_releases", ""),
    ("release_urls", "<param><value><string>1.0</string></value></param>"),
]

# The token whose scopes do not read through each interface (olivia's own: she may read `secret` otherwise).
WRONG_SCOPE = {"conda": "pypi-token", "cran": "pypi-token", "pypi": "conda-token"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    tmp = tmp_path_factory.mktemp("enum")
    settings = Settings(data=tmp / "data", admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    settings.data.mkdir(parents=True)
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    for login in (OWNER, "stranger"):
        create_user(db, login, PASSWORD)
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
        token = _token(client, OWNER, ["all"])
        files: list[tuple[Path, str, str]] = [
            (build_conda(tmp, name=PRIVATE), CONDA_FILE.format(name=PRIVATE), "conda"),
            (build_wheel(tmp, name=PRIVATE), WHEEL_FILE.format(name=PRIVATE), "pypi"),
            (build_r_source(tmp, name=PRIVATE), R_FILE.format(name=PRIVATE), "r"),
        ]
        for i, (path, basename, dtype) in enumerate(files):
            done = upload(client, token, OWNER, PRIVATE, "1.0", path, basename, dtype, create=i == 0)
            assert done.status_code in (200, 201), done.text
        made_private = client.patch(
            f"/api/package/{OWNER}/{PRIVATE}", headers=_bearer(token), json={"public": False}
        )
        if made_private.status_code >= 400:
            made_private = client.post(
                f"/api/packages/{OWNER}/access",
                headers=_bearer(token),
                json={"packages": [PRIVATE], "access": "private"},
            )
        assert made_private.status_code < 400, made_private.text
        assert client.get(f"/api/package/{OWNER}/{PRIVATE}", headers=_bearer(token)).status_code == 200
        headers = {
            "anonymous": {},
            "stranger": {
                "Authorization": "Basic " + base64.b64encode(b"stranger:" + PASSWORD.encode()).decode()
            },
            "pypi-token": _bearer(_token(client, OWNER, ["pypi"])),
            "conda-token": _bearer(_token(client, OWNER, ["conda"])),
        }
        yield client, headers
    db.dispose()


def _token(client: TestClient, login: str, scopes: list[str]) -> str:
    made = client.post(
        "/api/authentications", auth=(login, PASSWORD), json={"note": "-".join(scopes), "scopes": scopes}
    )
    assert made.status_code == 200, made.text
    token: str = made.json()["token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def _cases() -> Iterator[Any]:
    for interface, templates in INTERFACES.items():
        who = ["anonymous", "stranger"] + ([WRONG_SCOPE[interface]] if interface in WRONG_SCOPE else [])
        for template in templates:
            for identity in who:
                yield pytest.param(template, identity, id=f"{interface}:{template}:{identity}")


def _same(private: Any, missing: Any, what: str) -> None:
    def shape(response: Any, name: str) -> tuple[int, str]:
        return response.status_code, response.text.replace(name, "NAME")

    assert shape(private, PRIVATE) == shape(missing, MISSING), what
    assert private.status_code >= 400, f"{what}: {private.status_code} {private.text[:200]}"
    assert private.status_code < 500, what


@pytest.mark.parametrize(("template", "identity"), list(_cases()))
def test_private_and_missing_answer_alike(world: Any, template: str, identity: str) -> None:
    client, headers = world
    answers = [client.get(template.format(name=n), headers=headers[identity]) for n in (PRIVATE, MISSING)]
    _same(*answers, f"{template} as {identity}")


@pytest.mark.parametrize("identity", ["anonymous", "stranger", "conda-token"])
@pytest.mark.parametrize(("method", "more"), XMLRPC_CALLS)
def test_xmlrpc_alike(world: Any, identity: str, method: str, more: str) -> None:
    client, headers = world
    answers = [
        client.post(
            "/pypi/olivia",
            content=XMLRPC.format(method=method, name=n, more=more),
            headers={**headers[identity], "Content-Type": "text/xml"},
        )
        for n in (PRIVATE, MISSING)
    ]
    assert (answers[0].status_code, answers[0].text.replace(PRIVATE, "NAME")) == (
        answers[1].status_code,
        answers[1].text.replace(MISSING, "NAME"),
    )


@pytest.mark.parametrize("interface", ["conda", "pypi", "cran"])
def test_indexes_ask_anonymous_callers_for_credentials(world: Any, interface: str) -> None:
    """pip retries with basic auth and conda with a token only after a 401: missing names answer 401 too."""
    client, _ = world
    for template in INTERFACES[interface]:
        if template.endswith("/json"):
            continue
        assert client.get(template.format(name=MISSING)).status_code == 401, template


def test_the_owner_still_sees_it(world: Any) -> None:
    """The check is not vacuous: the same URLs answer olivia's own password."""
    client, _ = world
    auth = (OWNER, PASSWORD)
    for template in (
        "/api/package/olivia/{name}",
        "/pypi/olivia/simple/{name}/",
        f"/conda/olivia/{CONDA_FILE}",
    ):
        assert client.get(template.format(name=PRIVATE), auth=auth).status_code == 200, template


def test_group_listings_show_members_only_what_they_may_see(world: Any) -> None:
    """GET /api/group/ORG/G/packages: any member may read a group, but not the names of private packages the
    group lists that the member may not see (the org's group page filters the same way)."""
    client, headers = world
    olivia = (OWNER, PASSWORD)
    assert client.post("/api/orgs/hushco", auth=olivia, json={"name": "Hush"}).status_code == 201
    assert client.post("/api/package/hushco/hush", auth=olivia, json={"public": False}).status_code == 200
    assert client.post("/api/package/hushco/loud", auth=olivia, json={"public": True}).status_code == 200
    for group in ("crew", "others"):
        assert (
            client.post(f"/api/group/hushco/{group}", auth=olivia, json={"perms": "read"}).status_code == 204
        )
    for package in ("hush", "loud"):
        assert client.put(f"/api/group/hushco/crew/packages/{package}", auth=olivia).status_code == 204
    assert client.put("/api/group/hushco/others/members/stranger", auth=olivia).status_code == 204

    def listed(who: dict[str, str] | None = None, auth: tuple[str, str] | None = None) -> set[str]:
        response = client.get("/api/group/hushco/crew/packages", headers=who, auth=auth)
        assert response.status_code == 200, response.text
        return {p["name"] for p in response.json()}

    assert listed(auth=olivia) == {"hush", "loud"}
    assert listed(headers["stranger"]) == {"loud"}
