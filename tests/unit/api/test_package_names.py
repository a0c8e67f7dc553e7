"""Package identity follows PEP 503: a name that normalises to an existing package is that package.

`Shared_Lib`, `shared.lib` and `shared-lib` are one PyPI project, so they must be one package with one set of
permissions; otherwise a writer of the organization could publish into a project he may not write (issue #10).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import build_conda, build_r_source, build_wheel
from tests.unit.api.helpers import auth, login, stage, upload


@pytest.fixture
def people(client, make_user) -> dict[str, str]:
    tokens = {}
    for name in ("owner", "dev"):
        make_user(name)
        tokens[name] = login(client, name, "password-123")
    return tokens


@pytest.fixture
def acme(client, people) -> str:
    """acme with a write group `devs` holding `dev`; the packages the owner creates are not in its list."""
    owner = auth(people["owner"])
    assert client.post("/api/orgs/acme", headers=owner, json={}).status_code == 201
    assert client.post("/api/group/acme/devs", headers=owner, json={"perms": "write"}).status_code == 204
    assert client.put("/api/group/acme/devs/members/dev", headers=owner).status_code == 204
    return "acme"


def twine(client: TestClient, token: str, owner: str, path: Path, filetype: str = "bdist_wheel", **form: str):
    """The legacy upload API as twine speaks it (the name in the form is the one twine reads from the file)."""
    data = path.read_bytes()
    return client.post(
        f"/pypi/{owner}/",
        headers=auth(token),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "filetype": filetype,
            "md5_digest": hashlib.md5(data).hexdigest(),
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            **form,
        },
        files={"content": (path.name, data, "application/octet-stream")},
    )


def wheel(tmp_path: Path, name: str, version: str) -> Path:
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir()
    return build_wheel(folder, name=name, version=version)


def simple_files(client: TestClient, owner: str, project: str) -> list[str]:
    response = client.get(
        f"/pypi/{owner}/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert response.status_code == 200, response.text
    return sorted(f["filename"] for f in response.json()["files"])


def test_variant_upload_cannot_shadow_a_project_the_uploader_may_not_write(client, people, acme, tmp_path):
    legit = wheel(tmp_path, "shared-lib", "1.0")
    assert twine(client, people["owner"], "acme", legit, name="shared-lib").status_code == 200
    # dev may create packages in acme (write group) but may not write acme/shared-lib
    for variant in ("Shared_Lib", "shared.lib", "SHARED__LIB"):
        evil = wheel(tmp_path, variant, "9.0")
        refused = twine(client, people["dev"], "acme", evil, name=variant)
        assert refused.status_code == 403, (variant, refused.text)
    assert simple_files(client, "acme", "shared-lib") == [legit.name]
    packages = client.get("/api/packages/acme", headers=auth(people["owner"])).json()
    assert [p["name"] for p in packages] == ["shared-lib"]
    # nor through the REST API: creating the package under a variant is a conflict, staging a file a 403
    created = client.post("/api/package/acme/Shared_Lib", headers=auth(people["dev"]), json={})
    assert created.status_code == 409
    evil = wheel(tmp_path, "Shared_Lib", "9.1")
    staged = stage(client, people["dev"], "acme", "Shared_Lib", "9.1", evil.name, "pypi")
    assert staged.status_code == 403, staged.text


def test_variant_upload_adds_to_the_package_for_its_writers(client, people, acme, tmp_path):
    legit = wheel(tmp_path, "shared-lib", "1.0")
    assert twine(client, people["owner"], "acme", legit, name="shared-lib").status_code == 200
    owner = auth(people["owner"])
    assert client.put("/api/group/acme/devs/packages/shared-lib", headers=owner).status_code == 204
    dev = login(client, "dev", "password-123", note="with the grant")
    newer = wheel(tmp_path, "Shared_Lib", "2.0")
    assert twine(client, dev, "acme", newer, name="Shared_Lib").status_code == 200
    assert simple_files(client, "acme", "shared-lib") == sorted([legit.name, newer.name])
    # every variant finds the one package: REST, PyPI simple (redirect), JSON and downloads
    for variant in ("Shared_Lib", "shared.lib", "SHARED-LIB"):
        found = client.get(f"/api/package/acme/{variant}", headers=owner)
        assert found.status_code == 200
        assert found.json()["name"] == "shared-lib"
        assert [r["version"] for r in found.json()["releases"]] == ["1.0", "2.0"]
    page = client.get("/pypi/acme/simple/Shared_Lib/", follow_redirects=False)
    assert page.status_code in (301, 308)
    assert page.headers["location"].endswith("/pypi/acme/simple/shared-lib/")
    assert client.get("/pypi/acme/Shared.Lib/json").json()["info"]["version"] == "2.0"
    assert client.get(f"/pypi/acme/files/shared-lib/{newer.name}").content == newer.read_bytes()
    assert client.get(f"/acme/Shared_Lib/2.0/download/{newer.name}").content == newer.read_bytes()


def test_conda_names_differing_in_separators_are_one_package(client, people, acme, tmp_path):
    first = build_conda(tmp_path, name="foo_bar", version="1.0")
    done = upload(client, people["owner"], "acme", "foo_bar", "1.0", first, f"noarch/{first.name}", "conda")
    assert done.status_code == 200, done.text
    other = tmp_path / "other"
    other.mkdir()
    variant = build_conda(other, name="foo-bar", version="2.0")
    refused = stage(client, people["dev"], "acme", "foo-bar", "2.0", f"noarch/{variant.name}", "conda")
    assert refused.status_code == 403, refused.text
    # the owner may add it: conda still serves it under its own name, inside the one package
    done = upload(
        client, people["owner"], "acme", "foo-bar", "2.0", variant, f"noarch/{variant.name}", "conda"
    )
    assert done.status_code == 200, done.text
    pkg = client.get("/api/package/acme/FOO.BAR", headers=auth(people["owner"])).json()
    assert pkg["name"] == "foo_bar"
    assert sorted(f["basename"] for f in pkg["files"]) == sorted(
        [f"noarch/{first.name}", f"noarch/{variant.name}"]
    )
    repodata = client.get("/conda/acme/noarch/repodata.json").json()
    assert {r["name"] for r in repodata["packages"].values()} == {"foo_bar", "foo-bar"}


def test_r_names_are_case_insensitive_and_meet_pypi_variants(client, people, acme, tmp_path):
    source = build_r_source(tmp_path, name="Data.Table", version="1.0")
    done = twine(client, people["owner"], "acme", source, filetype="cran_source_package")
    assert done.status_code == 200, done.text
    other = tmp_path / "other"
    other.mkdir()
    case_variant = build_r_source(other, name="data.table", version="2.0")
    refused = twine(client, people["dev"], "acme", case_variant, filetype="cran_source_package")
    assert refused.status_code == 403, refused.text
    # a wheel named data_table would be PyPI project data-table: the same package, so the same 403
    refused = twine(client, people["dev"], "acme", wheel(tmp_path, "data_table", "9.0"), name="data_table")
    assert refused.status_code == 403, refused.text
    packages = client.get("/api/packages/acme", headers=auth(people["owner"])).json()
    assert [p["name"] for p in packages] == ["Data.Table"]
    assert client.get("/api/package/acme/data-table").json()["name"] == "Data.Table"
    assert "Package: Data.Table" in client.get("/cran/acme/src/contrib/PACKAGES").text
