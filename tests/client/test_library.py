"""Every method of `packyard.client.Client` against a live server, with the failure paths a user meets (a wrong
token, a missing package, no permission) and the server's messages they carry."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from enum import Enum
from pathlib import Path

import certifi
import pytest

from packyard.client import Binstar, Client, api_url, errors
from tests.client.conftest import PASSWORD, Account, new_account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-library")

DATA = b"0123456789abcdef" * 4096  # 64 KiB: several chunks


def publish(
    api: Client, owner: str, package: str, version: str = "1.0", basename: str = "data.bin", **kw
) -> dict:
    """A package with one release holding one plain file (what `anaconda upload -t file` makes)."""
    try:
        api.package(owner, package)
    except errors.NotFound:
        api.add_package(owner, package, summary=f"{package} for tests", **kw)
    try:
        api.release(owner, package, version)
    except errors.NotFound:
        api.add_release(owner, package, version, [], None, {})
    return api.upload(owner, package, version, basename, io.BytesIO(DATA), "file")


def test_api_url_accepts_what_users_type() -> None:
    assert api_url("http://h:8080") == "http://h:8080/api"
    assert api_url("http://h:8080/api/") == "http://h:8080/api"
    assert api_url("packages.example.org") == "https://packages.example.org/api"
    with pytest.raises(ValueError, match="not a server URL"):
        api_url("http://")
    assert Binstar(token="t", domain="http://h:1/api").domain == "http://h:1/api"
    with Client("https://h", verify=certifi.where()):  # a CA bundle's path
        pass
    with pytest.raises(FileNotFoundError):
        Client("https://h", verify="/nonexistent/ca.pem")
    legacy = Binstar("t", "http://h:1/api", False, site="local", retries=0)  # binstar ignores unknown kwargs
    assert (legacy.token, legacy.url, legacy._t.retries) == ("t", "http://h:1", 0)


def test_server_identity_and_tokens(live_server: LiveServer, account: Account, api: Client) -> None:
    api.check_server()
    assert api.authentication_type() == "password"
    me = api.user()
    assert me["login"] == account.login and me["user_type"] == "user"
    assert api.whoami()["login"] == account.login
    assert api.user_licenses() == []
    assert "all" in api.list_scopes() and api.scopes() == api.list_scopes()
    assert api.update_user(company="Example Lab")["company"] == "Example Lab"

    with Client(live_server.url) as anonymous:
        with pytest.raises(errors.Unauthorized, match="token is missing"):
            anonymous.user()
        assert anonymous.user(account.login)["login"] == account.login  # public profile
        token = anonymous.authenticate(account.login, PASSWORD, "script", scopes=["all"])
        assert anonymous.token == token and anonymous.user()["login"] == account.login
        assert anonymous.authentication()["application"] == "script"

    made = api.create_token("ci", ["conda:download"], max_age=3600)
    assert made["token"] and made["scopes"] == ["conda:download"] and made["expires"]
    names = {t["application"] for t in api.tokens()}
    assert {"tests", "script", "ci"} <= names and api.tokens() == api.authentications()
    with Client(live_server.url, made["token"]) as limited:
        with pytest.raises(errors.Forbidden) as caught:
            limited.add_package(account.login, "nope", summary="s")
        assert caught.value.status == 403 and "scope" in caught.value.message
    api.revoke_token("ci")
    assert "ci" not in {t["application"] for t in api.tokens()}
    api.create_token("binstar_client:bob@laptop/2", ["conda:download"])  # anaconda-client's names: quoted
    api.revoke_token("binstar_client:bob@laptop/2")
    assert "binstar_client:bob@laptop/2" not in {t["application"] for t in api.tokens()}
    with pytest.raises(errors.NotFound):
        api.revoke_token("never-made")
    with Client(live_server.url, made["token"]) as revoked, pytest.raises(errors.Unauthorized):
        revoked.user()

    with Client(live_server.url, token) as script:
        script.remove_authentication()  # logout: the token used for the request
        with pytest.raises(errors.Unauthorized) as caught:
            script.user()
    assert caught.value.status == 401 and caught.value.message


def test_wrong_token_and_password(live_server: LiveServer, account: Account) -> None:
    with Client(live_server.url, "not-a-token") as api:
        with pytest.raises(errors.Unauthorized) as caught:
            api.user()
        assert caught.value.args == (caught.value.message, 401)
        assert isinstance(caught.value, errors.BinstarError)
        with pytest.raises(errors.Unauthorized, match=r"(?i)password"):
            api.authenticate(account.login, "wrong-password", "x")


def test_packages_releases_files(account: Account, api: Client, tmp_path: Path) -> None:
    owner = account.login
    created = api.add_package(owner, "demo", summary="A demo", license="MIT", public=False)
    assert created["full_name"] == f"{owner}/demo" and created["public"] is False
    with pytest.raises(errors.Conflict):
        api.add_package(owner, "Demo", summary="again")  # PEP 503 names: the same package
    assert api.update_package(owner, "demo", {"summary": "Changed"})["summary"] == "Changed"
    release = api.add_release(owner, "demo", "1.0", ["numpy"], "first", {"summary": "one"})
    assert release["version"] == "1.0" and release["requirements"] == ["numpy"]
    assert api.update_release(owner, "demo", "1.0", {"description": "notes"})["version"] == "1.0"

    seen: list[tuple[int, int]] = []
    done = api.upload(
        owner,
        "demo",
        "1.0",
        "data.bin",
        io.BytesIO(DATA),
        "file",
        attrs={"k": "v"},
        callback=lambda d, t: seen.append((d, t)),
    )
    assert done["basename"] == "data.bin" and done["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert seen[-1] == (len(DATA), len(DATA)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(errors.Conflict):
        api.upload(owner, "demo", "1.0", "data.bin", io.BytesIO(DATA), "file")
    with pytest.raises(TypeError, match="attrs must be a dictionary"):
        api.upload(owner, "demo", "1.0", "x.bin", io.BytesIO(DATA), "file", attrs=["no"])  # type: ignore[arg-type]

    assert api.distribution(owner, "demo", "1.0", "data.bin")["attrs"]["k"] == "v"
    assert api.release(owner, "demo", "1.0")["distributions"][0]["basename"] == "data.bin"
    assert [p["name"] for p in api.user_packages(owner, access="private")] == ["demo"]
    assert api.user_packages(owner, access="public") == []
    assert "demo" in [p["name"] for p in api.user_packages()]
    assert any(p["name"] == "demo" for p in api.all_packages())
    assert [p["name"] for p in api.search("demo") if p["owner"]["login"] == owner] == ["demo"]

    with api.download(owner, "demo", "1.0", "data.bin") as got:  # type: ignore[union-attr]
        assert got.status_code == 200 and got.content == DATA
    got = api.download(owner, "demo", "1.0", "data.bin")
    assert got is not None and b"".join(got.iter_content(1000)) == DATA
    got = api.download(owner, "demo", "1.0", "data.bin")
    assert got is not None and got.raw.read(10) == DATA[:10] and got.raw.read() == DATA[10:]
    assert api.download(owner, "demo", "1.0", "data.bin", md5=hashlib.md5(DATA).hexdigest()) is None
    steps: list[int] = []
    path = api.download_file(
        owner, "demo", "1.0", "data.bin", tmp_path, callback=lambda d, t: steps.append(d)
    )
    assert path == tmp_path / "data.bin" and path.read_bytes() == DATA and steps[-1] == len(DATA)

    with pytest.raises(errors.NotFound) as caught:
        api.package(owner, "missing")
    assert caught.value.message == f"{owner}/missing: not found, or you may not see it"
    assert isinstance(caught.value, IndexError) and caught.value.msg == caught.value.message
    with pytest.raises(errors.NotFound):
        api.download_file(owner, "demo", "1.0", "nope.bin", tmp_path)
    assert not (tmp_path / "nope.bin").exists()

    assert api.remove_dist(owner, "demo", "1.0", "data.bin")["basename"] == "data.bin"
    with pytest.raises(TypeError, match="basename"):
        api.remove_dist(owner, "demo", "1.0")
    api.remove_release(owner, "demo", "1.0")
    api.remove_package(owner, "demo")
    with pytest.raises(errors.NotFound):
        api.package(owner, "demo")


def test_someone_elses_packages(
    live_server: LiveServer, account: Account, other: Account, api: Client
) -> None:
    publish(api, account.login, "mine", public=False)
    with other.client() as stranger:
        with pytest.raises(errors.NotFound):
            stranger.package(account.login, "mine")  # private: not even its name is confirmed
        with pytest.raises(errors.Forbidden) as caught:
            stranger.add_package(account.login, "theirs", summary="s")
        assert caught.value.status == 403 and account.login in caught.value.message
    api.add_collaborator(account.login, "mine", other.login, permission="read")
    assert api.collaborators(account.login, "mine") == [
        {"login": other.login, "name": "", "permission": "read"}
    ]
    with other.client() as reader:
        assert reader.package(account.login, "mine")["name"] == "mine"
        with pytest.raises(errors.Forbidden):
            reader.remove_package(account.login, "mine")
    api.package_add_collaborator(account.login, "mine", other.login)  # anaconda-client's: write
    assert api.package_collaborators(account.login, "mine")[0]["permission"] == "write"
    api.remove_collaborator(account.login, "mine", other.login)
    assert api.collaborators(account.login, "mine") == []


def test_access_transfer_bulk_delete_yank(account: Account, api: Client) -> None:
    owner = account.login
    for name in ("one", "two", "three"):
        publish(api, owner, name)
    changed = api.set_access(owner, ["one", "two"], "authenticated")
    assert [(p["name"], p["access"]) for p in changed] == [("one", "authenticated"), ("two", "authenticated")]
    assert {p["name"] for p in api.user_packages(owner, access="authenticated")} == {"one", "two"}
    api.set_access(owner, "one", "private")
    assert [p["name"] for p in api.user_packages(owner, access="private")] == ["one"]
    with pytest.raises(errors.BadRequest):
        api.set_access(owner, "one", "secret")

    api.create_org(f"{owner}-org")
    moved = api.transfer(owner, "two", f"{owner}-org")
    assert moved["full_name"] == f"{owner}-org/two" == api.package(f"{owner}-org", "two")["full_name"]
    with pytest.raises(errors.NotFound):
        api.package(owner, "two")

    yanked = api.yank(owner, "three", "1.0", "data.bin", reason="broken")
    assert yanked
    api.unyank(owner, "three", "1.0", "data.bin")
    assert sorted(api.remove_packages(owner, ["one", "three"])) == ["one", "three"]
    with pytest.raises(errors.NotFound):
        api.remove_packages(owner, ["missing"])


def test_labels(account: Account, api: Client) -> None:
    owner = account.login
    publish(api, owner, "lab")
    api.add_label(owner, "dev", "lab", "1.0")
    assert set(api.labels(owner)) == {"main", "dev"} and api.labels(owner) == api.list_channels(owner)
    assert [f["basename"] for f in api.label(owner, "dev")["files"]] == ["data.bin"]
    api.copy_label(owner, "dev", "staging")
    api.rename_label(owner, "staging", "rc")
    assert set(api.labels(owner)) == {"main", "dev", "rc"}
    api.lock_label(owner, "rc")
    assert api.show_channel("rc", owner)["is_locked"] is True
    with pytest.raises(errors.Conflict, match="locked"):
        api.remove_label(owner, "rc")
    api.unlock_label(owner, "rc")
    api.remove_label(owner, "rc")
    assert set(api.labels(owner)) == {"main", "dev"}
    api.remove_label(owner, "dev", "lab", "1.0", "data.bin")
    assert api.label(owner, "dev")["files"] == [] and api.labels(owner)["dev"]["num_files"] == 0
    with pytest.raises(errors.NotFound):
        api.label(owner, "rc")


def test_copy_between_labels_and_owners(account: Account, api: Client) -> None:
    owner = account.login
    publish(api, owner, "cp")
    copied = api.copy(owner, "cp", "1.0", to_label="dev")
    assert [f["basename"] for f in copied] == ["data.bin"]
    api.create_org(f"{owner}-cp")
    assert api.copy(owner, "cp", "1.0", "data.bin", to_owner=f"{owner}-cp")[0]["basename"] == "data.bin"
    with pytest.raises(errors.Conflict, match="replace=True"):
        api.copy(owner, "cp", "1.0", "data.bin", to_owner=f"{owner}-cp")
    assert api.copy(owner, "cp", "1.0", "data.bin", to_owner=f"{owner}-cp", replace=True)


def test_organizations_and_groups(
    live_server: LiveServer, account: Account, other: Account, api: Client
) -> None:
    org = f"{account.login}-lab"
    made = api.create_org(org, name="The Lab", email="lab@example.org")
    assert made["login"] == org and made["user_type"] == "org"
    with pytest.raises(errors.Conflict):
        api.create_org(org)
    assert api.org(org)["name"] == "The Lab"
    assert api.update_org(org, company="Lab Inc.")["company"] == "Lab Inc."
    assert [o["login"] for o in api.user_orgs()] == [org]
    assert [m["login"] for m in api.org_owners(org)] == [account.login]
    assert [m["login"] for m in api.org_members(org)] == [account.login]

    publish(api, org, "tool")
    api.create_group(org, "devs", "write")
    assert api.group(org, "devs")["name"] == "devs"
    assert {g["name"] for g in api.groups(org)} >= {"owners", "devs"}
    assert "owners" in {g["name"] for g in api.groups()}  # your own memberships
    assert api.set_group_permission(org, "devs", "admin")
    api.add_group_member(org, "devs", other.login)
    assert api.is_group_member(org, "devs", other.login) is True
    assert api.is_group_member(org, "devs", account.login) is False
    assert [m["login"] for m in api.group_members(org, "devs")] == [other.login]
    api.add_group_package(org, "devs", "tool")
    assert [p["full_name"] for p in api.group_packages(org, "devs")] == [f"{org}/tool"]
    with other.client() as member:
        assert member.org_members(org)  # members see each other
        with pytest.raises(errors.Forbidden):
            member.create_group(org, "mine")
    api.remove_group_package(org, "devs", "tool")
    api.remove_group_member(org, "devs", other.login)
    api.remove_group(org, "devs")
    with pytest.raises(errors.NotFound):
        api.group(org, "devs")

    api.add_org_owner(org, other.login)
    assert {m["login"] for m in api.org_owners(org)} == {account.login, other.login}
    api.remove_org_owner(org, other.login)
    with pytest.raises(errors.Conflict, match="owner"):
        api.remove_org_owner(org, account.login)
    api.delete_org(org)
    with pytest.raises(errors.NotFound):
        api.org(org)


NOTEBOOK = {
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Results"]}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
ENVIRONMENT = "name: analysis\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy\n"


def test_notebooks_environments_projects(account: Account, api: Client, tmp_path: Path) -> None:
    owner = account.login
    nb = tmp_path / "report.ipynb"
    nb.write_text(json.dumps(NOTEBOOK))
    steps: list[int] = []
    assert (
        api.upload_notebook(owner, nb, version="1", callback=lambda d, t: steps.append(d))
        == f"uploaded {owner}/report/1/report.ipynb"
    )
    assert steps[-1] == nb.stat().st_size
    assert "Results" in api.notebook_html(owner, "report") and "Results" in api.notebook_html(
        owner, "report", "1"
    )
    assert json.loads(api.download_notebook(owner, "report", tmp_path / "got.ipynb").read_text()) == NOTEBOOK

    env = tmp_path / "environment.yml"
    env.write_text(ENVIRONMENT)
    assert api.upload_environment(owner, env, version="1", labels=["dev"]).startswith("uploaded")
    assert [e["name"] for e in api.environments(owner)] == ["analysis"]
    assert api.environment(owner, "analysis") == ENVIRONMENT == api.environment(owner, "analysis", "1")
    assert api.download_environment(owner, "analysis", tmp_path).read_text() == ENVIRONMENT
    assert "dev" in api.labels(owner)

    folder = tmp_path / "survey"
    (folder / "data").mkdir(parents=True)
    (folder / "main.py").write_text("print('hi')\n")
    (folder / "data" / "a.csv").write_text("x\n1\n")
    os.symlink(folder / "main.py", folder / "link.py")  # left out: the server accepts files and folders only
    assert api.upload_project(owner, folder).startswith("uploaded")
    shown = api.project(owner, "survey")
    assert shown["latest_revision"] == "1" and len(shown["revisions"]) == 1
    assert sorted(f["path"] for f in api.project_files(owner, "survey", "1")) == [
        "survey/data/a.csv",
        "survey/main.py",
    ]
    archive = api.download_project(owner, "survey", tmp_path)
    assert archive.name == "survey.tar.gz" and archive.stat().st_size > 0

    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    with pytest.raises(errors.BadRequest) as caught:
        api.upload_notebook(owner, bad)
    assert caught.value.status == 400
    assert caught.value.message.startswith("Invalid distribution file. the notebook is not valid JSON")
    with pytest.raises(errors.BadRequest, match="Invalid value for filetype: 'exe'"):
        api.upload_repo(owner, bad, "exe")
    with pytest.raises(errors.NotFound, match="no env file"):
        api.download_environment(owner, "report", tmp_path)


def test_a_corrupt_download_raises_and_leaves_nothing(
    live_server: LiveServer, account: Account, api: Client, tmp_path: Path
) -> None:
    publish(api, account.login, "rot")
    digest = hashlib.sha256(DATA).hexdigest()
    blob = live_server.data / "blobs" / digest[:2] / digest[2:4] / digest
    assert blob.exists(), f"the blob store's layout changed: {blob}"
    blob.chmod(blob.stat().st_mode | stat.S_IWUSR)
    blob.write_bytes(DATA[:-1] + b"!")  # bit rot on the server's disk
    with pytest.raises(errors.ChecksumMismatch, match="nothing was kept"):
        api.download_file(account.login, "rot", "1.0", "data.bin", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_orgs_tokens_are_separate(live_server: LiveServer, account: Account, api: Client) -> None:
    org = f"{account.login}-tk"
    api.create_org(org)
    made = api.create_token("deploy", ["repos"], org=org, username=account.login, password=PASSWORD)
    assert made["token"]
    api.revoke_token("deploy", org=org)
    with Client(live_server.url, made["token"]) as gone, pytest.raises(errors.Unauthorized):
        gone.user()
    fresh = new_account(live_server, "tk")
    assert fresh.login != account.login


def test_bearer_enum_arguments_and_the_upload_forms_message(
    live_server: LiveServer, account: Account, api: Client
) -> None:
    with Client(live_server.url) as fresh:
        token = fresh.bearer_authentication("via-bearer", auth=account.token)
        assert fresh.user()["login"] == account.login and token != account.token
    publish(api, account.login, "enum-demo")

    class PackageType(Enum):  # what anaconda-client passes
        FILE = "file"

    found = api.search("enum-demo", package_type=PackageType.FILE)
    assert [p["full_name"] for p in found] == [f"{account.login}/enum-demo"]
    assert api.search("enum-demo", package_type="conda") == []
    assert [o["login"] for o in api.user_orgs(account.login)] == []
    with pytest.raises(
        errors.BadRequest
    ) as caught:  # a wrong Content-MD5: the form's XML message, not a guess
        api.upload(
            account.login,
            "enum-demo",
            "1.0",
            "other.bin",
            io.BytesIO(DATA),
            "file",
            md5="AAAAAAAAAAAAAAAAAAAAAA==",
        )
    assert caught.value.status == 400 and "md5" in caught.value.message.lower()
