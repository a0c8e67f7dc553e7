"""The unmodified anaconda-client against a live Packyard: organizations, groups, collaborators and scoped tokens.

One organization per module run. Its owner creates it (REST: anaconda-client has no command for that) and manages
its groups with `anaconda groups`; `devs` (write) and `viewers` (read) both list the private package `PKG`.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda
from tests.clients.anaconda import Anaconda
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("anaconda_orgs")]

PASSWORD = "secret-pass-1"


@dataclass
class Org:
    name: str
    logins: dict[str, str]
    clients: dict[str, Anaconda]
    package: str
    first: Path
    """The file the owner uploaded as PKG 1.0."""
    folder: Path

    def conda(self, version: str, name: str | None = None) -> Path:
        out = self.folder / f"{name or self.package}-{version}"
        out.mkdir(exist_ok=True)
        return build_conda(out, name=name or self.package, version=version, subdir="noarch", fmt="tar.bz2")


def stored_token(client: Anaconda) -> str:
    tokens = list((client.home / "binstar").rglob("*.token"))
    assert tokens, "anaconda login stored no token"
    return tokens[0].read_text().strip()


def rest(client: Anaconda, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
    token = token or stored_token(client)
    return httpx.request(
        method, f"{client.api_url}{path}", headers={"Authorization": f"token {token}"}, timeout=30, **kw
    )


def versions(org: Org, package: str | None = None) -> list[str]:
    response = rest(org.clients["owner"], "GET", f"/package/{org.name}/{package or org.package}")
    assert response.status_code == 200, response.text
    return response.json()["versions"]


def failed(result: subprocess.CompletedProcess[str]) -> bool:
    """The command failed because the server refused it (403), not for some other reason."""
    return result.returncode != 0 and "403" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def org(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Org:
    suffix = uuid.uuid4().hex[:6]
    roles = ("owner", "dev", "viewer", "collab", "outsider")
    logins = {role: f"{role}{suffix}" for role in roles}
    clients = {}
    for role, login in logins.items():
        live_server.create_user(login, PASSWORD)
        client = Anaconda(tmp_path_factory.mktemp(role), live_server.api).configure()
        clients[role] = client.login(login, PASSWORD)
    name = f"org{suffix}"
    owner = clients["owner"]

    created = rest(owner, "POST", f"/orgs/{name}", json={"name": "Client test org"})
    assert created.status_code == 201, created.text
    assert created.json()["user_type"] == "org" and created.json()["login"] == name

    owner.run("groups", "add", f"{name}/devs", "--perms", "write")
    owner.run("groups", "add", f"{name}/viewers", "--perms", "read")
    owner.run("groups", "add_member", f"{name}/devs/{logins['dev']}")
    owner.run("groups", "add_member", f"{name}/viewers/{logins['viewer']}")

    folder = tmp_path_factory.mktemp("org-packages")
    result = Org(name, logins, clients, package="orgthing", first=folder, folder=folder)
    result.first = result.conda("1.0")
    owner.run("upload", "-u", name, "--private", str(result.first))
    owner.run("groups", "add_package", f"{name}/devs/{result.package}")
    owner.run("groups", "add_package", f"{name}/viewers/{result.package}")
    return result


def test_the_org_and_its_groups(org: Org) -> None:
    owner = org.clients["owner"]
    user = rest(owner, "GET", f"/user/{org.name}").json()
    assert user["user_type"] == "org"
    mine = rest(owner, "GET", "/user/orgs").json()
    assert org.name in [o["login"] for o in mine]

    listing = owner.output("groups", "show", org.name)
    assert "devs" in listing and "viewers" in listing
    shown = owner.output("groups", "show", f"{org.name}/devs")
    assert "devs" in shown and "write" in shown
    assert org.logins["dev"] in owner.output("groups", "members", f"{org.name}/devs")
    members = owner.output("groups", "members", f"{org.name}/viewers")
    assert org.logins["viewer"] in members and org.logins["dev"] not in members
    assert f"{org.name}/{org.package}" in owner.output("groups", "packages", f"{org.name}/viewers")
    # a member may look at the groups too
    assert "viewers" in org.clients["viewer"].output("groups", "show", org.name)


def test_only_owners_manage_groups(org: Org) -> None:
    dev = org.clients["dev"]
    assert failed(dev.run("groups", "add", f"{org.name}/sneaky", "--perms", "admin", check=False))
    assert failed(dev.run("groups", "add_member", f"{org.name}/devs/{org.logins['outsider']}", check=False))
    members = org.clients["owner"].output("groups", "members", f"{org.name}/devs")
    assert org.logins["outsider"] not in members
    assert failed(org.clients["outsider"].run("groups", "show", org.name, check=False))


def test_write_member_uploads_with_u_org(org: Org) -> None:
    org.clients["dev"].run("upload", "-u", org.name, str(org.conda("2.0")))
    assert "2.0" in versions(org)


def test_write_member_creates_a_package_in_the_org(org: Org) -> None:
    dev = org.clients["dev"]
    dev.run("upload", "-u", org.name, "--private", str(org.conda("1.0", name="devmade")))
    # the new package joined the devs' list, so its creator can keep uploading to it
    assert f"{org.name}/devmade" in org.clients["owner"].output("groups", "packages", f"{org.name}/devs")
    dev.run("upload", "-u", org.name, str(org.conda("1.1", name="devmade")))
    assert versions(org, "devmade") == ["1.0", "1.1"]


def test_read_member_downloads_a_private_package_but_cannot_upload(org: Org, tmp_path: Path) -> None:
    viewer = org.clients["viewer"]
    viewer.run("download", f"{org.name}/{org.package}", cwd=tmp_path)
    assert (tmp_path / "noarch" / org.first.name).read_bytes() == org.first.read_bytes()
    assert failed(viewer.run("upload", "-u", org.name, str(org.conda("3.0")), check=False))
    assert "3.0" not in versions(org)
    assert failed(viewer.run("upload", "-u", org.name, str(org.conda("1.0", name="viewermade")), check=False))
    assert rest(org.clients["owner"], "GET", f"/package/{org.name}/viewermade").status_code == 404


def test_outsider_sees_nothing(org: Org, tmp_path: Path) -> None:
    outsider = org.clients["outsider"]
    outsider.run("download", f"{org.name}/{org.package}", cwd=tmp_path, check=False)
    assert not list(tmp_path.rglob("*.tar.bz2"))
    private = rest(outsider, "GET", f"/package/{org.name}/{org.package}")
    missing = rest(outsider, "GET", f"/package/{org.name}/nosuchpackage")
    assert private.status_code == missing.status_code == 404  # a private name is never confirmed
    assert org.package not in rest(outsider, "GET", f"/packages/{org.name}").text
    assert failed(outsider.run("upload", "-u", org.name, str(org.conda("3.1")), check=False))


def test_collaborator_uploads(org: Org) -> None:
    owner, collab = org.clients["owner"], org.clients["collab"]
    assert failed(collab.run("upload", "-u", org.name, str(org.conda("4.0")), check=False))
    owner.run("package", f"{org.name}/{org.package}", "--add-collaborator", org.logins["collab"])
    assert org.logins["collab"] in owner.output(
        "package", f"{org.name}/{org.package}", "--list-collaborators"
    )
    collab.run("upload", "-u", org.name, str(org.conda("4.0")))
    assert "4.0" in versions(org)


def test_download_only_token(org: Org, tmp_path: Path) -> None:
    owner = org.clients["owner"]
    created = owner.run(
        "org", "auth", "--create", "--name", "dl", "--scopes", "conda:download", input=f"{PASSWORD}\n"
    )
    token = created.stdout.strip().splitlines()[-1]
    anonymous = Anaconda(tmp_path / "home", owner.api_url).configure()
    out = tmp_path / "out"
    out.mkdir()
    anonymous.run("download", f"{org.name}/{org.package}", token=token, cwd=out)
    assert (out / "noarch" / org.first.name).read_bytes() == org.first.read_bytes()
    refused = anonymous.run("upload", "-u", org.name, str(org.conda("5.0")), token=token, check=False)
    assert failed(refused)
    assert "5.0" not in versions(org)


def test_org_token(org: Org, tmp_path: Path) -> None:
    owner = org.clients["owner"]
    created = owner.run(
        "org",
        "auth",
        "--create",
        "--org",
        org.name,
        "--name",
        "org-ci",
        "--scopes",
        "conda:download",
        input=f"{PASSWORD}\n",
    )
    token = created.stdout.strip().splitlines()[-1]
    assert token.replace("-", "").isalnum()
    out = tmp_path / "out"
    out.mkdir()
    Anaconda(tmp_path / "home", owner.api_url).configure().run(
        "download", f"{org.name}/{org.package}", token=token, cwd=out
    )
    assert (out / "noarch" / org.first.name).read_bytes() == org.first.read_bytes()
    # only an owner of the org may create one
    refused = org.clients["dev"].run(
        "org", "auth", "--create", "--org", org.name, "--name", "dev-ci", input=f"{PASSWORD}\n", check=False
    )
    assert failed(refused)
    assert "dev-ci" not in rest(org.clients["dev"], "GET", "/authentications").text
    owner.run("org", "auth", "--remove", "org-ci", "--org", org.name)
    assert rest(owner, "GET", f"/package/{org.name}/{org.package}", token=token).status_code == 401
