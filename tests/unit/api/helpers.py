"""Drive the REST API in-process the way anaconda-client does (stage -> multipart POST -> commit)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient


def login(client: TestClient, user: str, password: str, **body: Any) -> str:
    response = client.post("/api/authentications", auth=(user, password), json={"note": "test", **body})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def ensure_package(client: TestClient, token: str, owner: str, name: str, **attrs: Any) -> None:
    if client.get(f"/api/package/{owner}/{name}", headers=auth(token)).status_code == 404:
        response = client.post(
            f"/api/package/{owner}/{name}",
            headers=auth(token),
            json={"public": True, "publish": False, "public_attrs": {"summary": "test package", **attrs}},
        )
        assert response.status_code == 200, response.text


def stage(
    client: TestClient,
    token: str,
    owner: str,
    name: str,
    version: str,
    basename: str,
    dtype: str,
    sha256: str | None = None,
    labels: list[str] | None = None,
):
    return client.post(
        f"/api/stage/{owner}/{name}/{version}/{quote(basename)}",
        headers=auth(token),
        json={
            "distribution_type": dtype,
            "description": None,
            "attrs": {},
            "channels": labels or [],
            "sha256": sha256,
        },
    )


def post_form(
    client: TestClient,
    staged: dict[str, Any],
    data: bytes,
    basename: str,
    md5: bytes | None = None,
    size: int | None = None,
):
    fields = dict(staged["form_data"])
    fields["Content-Length"] = str(len(data) if size is None else size)
    fields["Content-MD5"] = base64.b64encode(md5 or hashlib.md5(data).digest()).decode()
    return client.post(
        staged["post_url"].replace("http://testserver", ""), data=fields, files={"file": (basename, data)}
    )


def upload(
    client: TestClient,
    token: str,
    owner: str,
    name: str,
    version: str,
    path: Path,
    basename: str,
    dtype: str,
    labels: list[str] | None = None,
    create: bool = True,
):
    """The full flow; returns the commit response (whatever its status)."""
    if create:
        ensure_package(client, token, owner, name)
    data = path.read_bytes()
    staged = stage(
        client, token, owner, name, version, basename, dtype, hashlib.sha256(data).hexdigest(), labels
    )
    assert staged.status_code == 200, staged.text
    posted = post_form(client, staged.json(), data, basename)
    assert posted.status_code == 201, posted.text
    return client.post(
        f"/api/commit/{owner}/{name}/{version}/{quote(basename)}",
        headers=auth(token),
        json={"dist_id": staged.json()["dist_id"]},
    )


# --- walking every route ---------------------------------------------------------------------------------------

BASENAME = "noarch/demo-1.0-0.tar.bz2"

VALUES = {
    "owner": "alice",
    "login": "alice",
    "name": "demo",
    "version": "1.0",
    "basename": BASENAME,
    "org": "acme",
    "label": "main",
    "to_label": "copied",
    "package": "demo",
    "stage_id": "0" * 24,
    "project": "demo",
    "revision": "1",
    "badge": "version",
    "sync_id": "1",
}
"""Path parameter -> a value naming something that exists (a route with a new parameter name fails loudly)."""

SPECIAL = {
    ("/conda/{path}", "path"): "alice/noarch/repodata.json",
    ("/{path}", "path"): "alice/noarch/repodata.json",  # the conda channels at the site root
    ("/pypi/{path}", "path"): "alice/simple/demo/",
    ("/cran/{path}", "path"): "alice/src/contrib/PACKAGES",
    ("/api/repo/{path}", "path"): "alice/elsewhere",
    ("/api/repo/{owner}/simple/{rest}", "rest"): "demo/",
    ("/api/repo/{owner}/files/{rest}", "rest"): "demo/demo-1.0.tar.gz",
    ("/api/repo/{owner}/label/{rest}", "rest"): "main/simple/",
    ("/api/repo/{owner}/cran/{path}", "path"): "src/contrib/PACKAGES",
    ("/api/authentications/name/{name}", "name"): "kept",
    ("/api/authentications/org/{org}/name/{name}", "name"): "kept",
    ("/api/group/{org}/{name}", "name"): "owners",
    ("/api/group/{org}/{name}/members", "name"): "owners",
    ("/api/group/{org}/{name}/members/{login}", "name"): "owners",
    ("/api/group/{org}/{name}/packages", "name"): "owners",
    ("/api/group/{org}/{name}/packages/{package}", "name"): "owners",
}


def fill(template: str) -> str:
    """A route's path template with plausible values: `/api/package/{owner}/{name}` -> `/api/package/alice/demo`."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if (template, name) in SPECIAL:
            return SPECIAL[template, name]
        return quote(VALUES[name], safe="/")

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, template)
