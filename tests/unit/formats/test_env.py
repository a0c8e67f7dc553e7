"""Environments: the pure environment.yml parser, and the REST and /envs routes in-process."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from packyard.core import formats as registry
from packyard.core.artifacts import InvalidPackage
from packyard.formats.env import parse as env
from tests.unit.api.helpers import auth, upload
from tests.unit.formats.named_support import Server, env_yaml, mutate, repo_upload, server_fixture, stored

assert server_fixture  # the module-scoped app the tests share, as the fixture `server`

FULL = b"""\
name: analysis
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python >=3.11
  - numpy 1.26.*
  - sel(linux): libgcc
  - pip:
      - requests==2.32.0
      - -e .
variables:
  MODE: fast
  THREADS: 4
platforms: [linux-64, osx-arm64]
unknown_key: ignored
"""


def write(tmp_path: Path, data: bytes, name: str = "environment.yml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the parser -------------------------------------------------------------------------------------------------


def test_parse_a_full_environment(tmp_path: Path) -> None:
    artifact = env.parse(write(tmp_path, FULL), "environment.yml")
    assert artifact.package_type == "env" and artifact.name == "analysis"
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}\.\d{6}", artifact.version)
    assert artifact.summary == "Environment file" and artifact.basename == "environment.yml"
    assert artifact.attrs == {
        "name": "analysis",
        "channels": ["conda-forge", "nodefaults"],
        "dependencies": ["python >=3.11", "numpy 1.26.*", "libgcc"],
        "pip": ["requests==2.32.0", "-e ."],
        "variables": {"MODE": "fast", "THREADS": "4"},
        "platforms": ["linux-64", "osx-arm64"],
    }


def test_uploader_name_and_version(tmp_path: Path) -> None:
    path = write(tmp_path, env_yaml("analysis"))
    artifact = env.parse(path, "environment.yml", name="Analysis", version="2.0", summary="for Q1")
    assert (artifact.name, artifact.version, artifact.summary) == ("Analysis", "2.0", "for Q1")
    nameless = write(tmp_path, b"dependencies: [python]\n", "nameless.yml")
    assert env.parse(nameless, "nameless.yml", name="given", version="1").name == "given"


@pytest.mark.parametrize(
    ("data", "kw", "message"),
    [
        (b"name: x\ndependencies: [python\n", {}, "not valid YAML"),
        (b"\tname: x", {}, "not valid YAML"),
        (b"- just\n- a list\n", {}, "must be a YAML mapping"),
        (b"just text", {}, "must be a YAML mapping"),
        (b"", {}, "must be a YAML mapping"),
        (b"name: x\n", {}, "has no dependencies"),
        (b"name: x\ndependencies: []\n", {}, "has no dependencies"),
        (b"name: x\ndependencies:\n  - pip: []\n", {}, "has no dependencies"),
        (b"name: x\ndependencies: python\n", {}, "must be a list"),
        (b"name: x\ndependencies:\n  - 3\n", {}, "is not a package spec"),
        (b"name: x\ndependencies:\n  - npm: [left-pad]\n", {}, "unknown dependencies subsection"),
        (b"name: x\ndependencies:\n  - pip: requests\n", {}, "must be a list"),
        (b"name: x\nchannels: conda-forge\ndependencies: [python]\n", {}, "channels must be a list"),
        (b"name: a b\ndependencies: [python]\n", {}, "invalid environment name"),
        (b"name: x\ndependencies: [python]\nvariables: [1]\n", {}, "variables must be a mapping"),
        (b"dependencies: [python]\n", {}, "has no name"),
        (b"name: x\ndependencies: [python]\n", {"name": "y"}, "but the file says name"),
        (b"name: x\ndependencies: [python]\n", {"version": "1 0"}, "invalid environment version"),
        (b"\xff\xfe", {}, "not UTF-8"),
        (b'name: x\ndependencies: ["py\\0thon"]\n', {}, "invalid package spec"),
        (b"a: &a [x, x]\nb: &b [*a, *a]\nname: x\ndependencies: *b\n", {}, "aliases are not allowed"),
        (b"name: x\ndependencies: [python]\n---\nname: y\n", {}, "not valid YAML"),
        (b"name: !!python/object/apply:os.system [true]\ndependencies: [x]\n", {}, "not valid YAML"),
        (b"name: x\ndependencies: " + b"[" * 1000 + b"]" * 1000, {}, "nested too deeply"),
    ],
)
def test_bad_environments_are_refused(tmp_path: Path, data: bytes, kw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidPackage, match=re.escape(message)):
        env.parse(write(tmp_path, data), "environment.yml", **kw)


def test_names_agree_across_case_and_separators(tmp_path: Path) -> None:
    path = write(tmp_path, env_yaml("my_env"))
    assert env.parse(path, "environment.yml", name="My-Env", version="1").name == "My-Env"


def test_registered_and_detected(tmp_path: Path) -> None:
    assert registry.parser_for("env") is env.parse
    assert registry.detect(write(tmp_path, b"x: 1"), "environment.yaml") == "env"


def test_mutated_environments_only_raise_invalid_package(tmp_path: Path) -> None:
    rng = random.Random(20240701)
    path = tmp_path / "environment.yml"
    refused = 0
    for iteration in range(400):
        path.write_bytes(mutate(FULL, rng))
        try:
            env.parse(path, "environment.yml", version="1")
        except InvalidPackage:
            refused += 1
        except Exception as exc:
            pytest.fail(f"iteration {iteration}: {type(exc).__name__}: {exc}")
    assert refused > 40


# --- over HTTP ----------------------------------------------------------------------------------------------------


def test_upload_list_and_serve(server: Server) -> None:
    client, alice = server.client, server.alice
    first = env_yaml("science", "  - python\n")
    second = env_yaml("science", "  - python\n  - numpy\n")
    assert (
        repo_upload(client, alice, "alice", "env", "environment.yml", first, version="1.0").status_code == 200
    )
    assert (
        repo_upload(client, alice, "alice", "env", "environment.yml", second, version="1.1").status_code
        == 200
    )
    latest = client.get("/envs/alice/science")
    assert latest.status_code == 200 and latest.content == second
    assert latest.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(latest.content)["dependencies"] == ["python", "numpy"]
    assert client.get("/envs/alice/science/1.0").content == first
    assert client.get("/envs/alice/science/9.9").status_code == 404
    assert (
        client.get("/envs/alice/science", headers={"If-None-Match": latest.headers["etag"]}).status_code
        == 304
    )
    assert client.head("/envs/alice/science").status_code == 200
    listed = {e["name"]: e for e in client.get("/envs/alice").json()}
    assert listed["science"]["versions"] == ["1.0", "1.1"] and listed["science"]["latest_version"] == "1.1"
    assert listed["science"]["url"] == "http://testserver/envs/alice/science"
    files = client.get("/api/package/alice/science").json()["files"]
    assert {(f["type"], f["basename"], f["version"]) for f in files} == {
        ("env", "environment.yml", "1.0"),
        ("env", "environment.yml", "1.1"),
    }
    assert client.get("/api/download/alice/science/1.1/environment.yml").content == second
    assert client.get("/envs/nobody").status_code == 404


def test_name_from_the_file_and_a_timestamp_version(server: Server) -> None:
    data = env_yaml("stamped")
    response = repo_upload(server.client, server.alice, "alice", "env", "environment.yml", data)
    assert response.status_code == 200, response.text
    version = server.client.get("/api/package/alice/stamped").json()["latest_version"]
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}\.\d{6}", version)
    clash = repo_upload(server.client, server.alice, "alice", "env", "env.yml", data, name="other")
    assert clash.status_code == 400 and "file says name" in clash.text


def test_stage_commit_flow_like_anaconda_client(server: Server, tmp_path: Path) -> None:
    path = write(tmp_path, env_yaml("staged-env"))
    committed = upload(
        server.client,
        server.alice,
        "alice",
        "staged-env",
        "2024.01.02.030405",
        path,
        "environment.yml",
        "env",
    )
    assert committed.status_code == 200, committed.text
    assert server.client.get("/envs/alice/staged-env").content == path.read_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"name: broken\ndependencies: [python\n", "not valid YAML"), (b"name: broken\n", "no dependencies")],
)
def test_bad_environment_upload_stores_nothing(server: Server, data: bytes, message: str) -> None:
    before = stored(server.db)
    response = repo_upload(server.client, server.alice, "alice", "env", "environment.yml", data, version="1")
    assert response.status_code == 400 and message in response.text
    assert stored(server.db) == before
    assert server.client.get("/envs/alice/broken").status_code == 404


def test_private_environment_needs_credentials(server: Server) -> None:
    client, alice = server.client, server.alice
    data = env_yaml("hidden")
    assert repo_upload(client, alice, "alice", "env", "environment.yml", data, version="1").status_code == 200
    assert (
        client.patch("/api/package/alice/hidden", headers=auth(alice), json={"public": False}).status_code
        == 200
    )
    assert (
        client.get("/envs/alice/hidden").status_code == 404
    )  # private: answered as a missing name (docs/security.md)
    assert "hidden" not in {e["name"] for e in client.get("/envs/alice").json()}
    assert "hidden" in {e["name"] for e in client.get("/envs/alice", headers=auth(alice)).json()}
    assert client.get("/envs/alice/hidden", headers=auth(alice)).content == data
    assert client.get(f"/t/{alice}/envs/alice/hidden").content == data
    assert client.get("/envs/alice/hidden", auth=(alice, "x-auth-token")).content == data
    assert client.get("/envs/alice/hidden", headers=auth(server.bob)).status_code == 404
    assert "hidden" not in {e["name"] for e in client.get("/envs/alice", headers=auth(server.bob)).json()}


def test_envs_host_with_a_token_in_the_path(server: Server) -> None:
    from fastapi.testclient import TestClient

    from packyard.app import create_app

    data = env_yaml("hosted-env")
    repo_upload(server.client, server.alice, "alice", "env", "environment.yml", data, version="1")
    server.client.patch("/api/package/alice/hosted-env", headers=auth(server.alice), json={"public": False})
    app = create_app(server.settings.model_copy(update={"domain": "repo.test"}), db=server.db)
    with TestClient(app) as hosted:
        host = {"Host": "envs.repo.test"}
        assert hosted.get("/alice/hosted-env", headers=host).status_code == 404
        assert hosted.get(f"/t/{server.alice}/alice/hosted-env", headers=host).content == data


def test_listed_urls_work_on_the_envs_host_and_keep_a_path_token(server: Server) -> None:
    """Seed 001: `http://envs.<repo>/USERNAME` lists your environments; each listed `url` must open the file."""
    from fastapi.testclient import TestClient

    from packyard.app import create_app
    from packyard.config import Settings

    data = env_yaml("hosted", "  - python\n")
    assert (
        repo_upload(server.client, server.alice, "alice", "env", "environment.yml", data).status_code == 200
    )
    settings = Settings(data=server.settings.data, domain="example.org")
    with TestClient(create_app(settings, db=server.db), base_url="http://envs.example.org") as client:
        listed = {e["name"]: e["url"] for e in client.get("/alice").json()}
        assert listed["hosted"] == "http://envs.example.org/alice/hosted"
        assert client.get(listed["hosted"]).content == data
        token = server.alice
        with_token = {e["name"]: e["url"] for e in client.get(f"/t/{token}/alice").json()}
        assert with_token["hosted"] == f"http://envs.example.org/t/{token}/alice/hosted"
        assert client.get(with_token["hosted"]).content == data
    listed = {e["name"]: e["url"] for e in server.client.get("/envs/alice").json()}
    assert listed["hosted"] == "http://testserver/envs/alice/hosted"  # the main host keeps /envs
