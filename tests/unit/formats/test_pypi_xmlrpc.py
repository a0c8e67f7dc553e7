"""PyPI's XML-RPC API through the real `xmlrpc.client.ServerProxy`: every method, privacy, hostile requests."""

from __future__ import annotations

import hashlib
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

import pytest

from packyard.formats.pypi import xmlrpc as pypi_xmlrpc
from tests.builders import build_conda
from tests.unit.api.helpers import auth, login, upload
from tests.unit.formats.pypi_support import app_client, fast_passwords, make_private, put_wheel, rpc

DEMO_META = {
    "Classifier": ["Framework :: Demo", "License :: OSI Approved :: MIT License"],
    "Author": "Ada Lovelace",
    "Author-email": "ada@example.org",
    "Keywords": "demo,example",
    "Project-URL": ["Source, https://git.example.org/demo"],
    "Platform": "any",
}


@pytest.fixture
def client(settings, db, monkeypatch):
    fast_passwords(monkeypatch)
    yield from app_client(settings, db)


@dataclass
class World:
    alice: str
    bob: str
    carol: str
    dave: str
    wheel: Path
    sdist: Path
    since: int


@pytest.fixture
def world(client, make_user, tmp_path) -> World:
    """alice: public Demo_Pkg 1.0 (wheel+sdist) and 2.0, private secret-pkg, a conda package and a dev-only
    project; bob collaborates on Demo_Pkg; carol owns the organization acme and its project tool; dave is
    signed in and has nothing."""
    since = int(time.time()) - 5
    for user in ("alice", "bob", "carol", "dave"):
        make_user(user)
    tokens = {user: login(client, user, "password-123") for user in ("alice", "bob", "carol", "dave")}
    alice = tokens["alice"]
    wheel = put_wheel(
        client, alice, tmp_path, "alice", "Demo_Pkg", "1.0", requires_python=">=3.9",
        requires_dist=["requests>=2"], metadata_overrides=DEMO_META,
    )  # fmt: skip
    sdist = put_wheel(
        client, alice, tmp_path, "alice", "Demo_Pkg", "1.0", sdist=True, metadata_overrides=DEMO_META
    )
    put_wheel(
        client,
        alice,
        tmp_path,
        "alice",
        "Demo_Pkg",
        "2.0",
        metadata_overrides={"Classifier": "Framework :: Demo"},
    )
    make_private(client, alice, "alice", "secret-pkg")
    put_wheel(
        client, alice, tmp_path, "alice", "secret-pkg", "1.0",
        metadata_overrides={"Classifier": "Framework :: Demo", "Summary": "a secret demo thing"},
    )  # fmt: skip
    put_wheel(client, alice, tmp_path, "alice", "devonly", "1.0", labels=["dev"])
    (tmp_path / "conda").mkdir()
    conda = build_conda(tmp_path / "conda", name="condaonly")
    response = upload(client, alice, "alice", "condaonly", "1.0", conda, f"noarch/{conda.name}", "conda")
    assert response.status_code == 200, response.text
    assert (
        client.put("/api/packages/alice/Demo_Pkg/collaborators/bob", headers=auth(alice)).status_code == 201
    )
    assert client.post("/api/orgs/acme", headers=auth(tokens["carol"]), json={}).status_code == 201
    put_wheel(client, tokens["carol"], tmp_path, "acme", "tool", "0.1")
    return World(alice, tokens["bob"], tokens["carol"], tokens["dave"], wheel, sdist, since)


def everything(proxy: xmlrpc.client.ServerProxy, since: int) -> str:
    """Every method's answer about everything, as one string."""
    answers = [
        proxy.list_packages(),
        proxy.list_packages_with_serial(),
        proxy.changelog_since_serial(0),
        proxy.changelog(since, True),
        proxy.changelog_last_serial(),
        proxy.changed_packages(since),
        proxy.updated_releases(since),
        proxy.top_packages(),
        proxy.browse(["Framework :: Demo"]),
        proxy.search({"name": ["secret", "demo"], "summary": ["secret", "demo"]}, "or"),
        proxy.search({"version": "1.0"}),
        proxy.user_packages("alice"),
    ]
    for name in ("secret-pkg", "secret_pkg", "Demo_Pkg"):
        answers += [
            proxy.package_releases(name, True),
            proxy.package_roles(name),
            proxy.release_urls(name, "1.0"),
            proxy.release_data(name, "1.0"),
            proxy.release_downloads(name, "1.0"),
        ]
    return repr(answers)


# --- listing ------------------------------------------------------------------------------------------------


def test_list_packages_only_visible_python_projects(client, world) -> None:
    assert rpc(client).list_packages() == ["Demo_Pkg", "tool"]
    assert rpc(client, "/RPC2").list_packages() == ["Demo_Pkg", "tool"]
    assert rpc(client, "/pypi/").list_packages() == ["Demo_Pkg", "tool"]
    assert rpc(client, token=world.alice).list_packages() == ["Demo_Pkg", "secret-pkg", "tool"]
    assert rpc(client, token=world.dave).list_packages() == ["Demo_Pkg", "tool"]
    assert rpc(client, f"/t/{world.alice}/pypi").list_packages() == ["Demo_Pkg", "secret-pkg", "tool"]
    # One owner's projects only:
    assert rpc(client, "/pypi/alice").list_packages() == ["Demo_Pkg"]
    assert rpc(client, "/pypi/alice", token=world.alice).list_packages() == ["Demo_Pkg", "secret-pkg"]
    assert rpc(client, "/pypi/acme").list_packages() == ["tool"]


def test_private_project_never_shown_to_others(client, world) -> None:
    for proxy in (
        rpc(client),
        rpc(client, token=world.dave),
        rpc(client, token=world.bob),
        rpc(client, "/pypi/alice"),
    ):
        seen = everything(proxy, world.since)
        assert "secret" not in seen
        assert "Demo_Pkg" in seen
    assert "secret-pkg" in everything(rpc(client, token=world.alice), world.since)


def test_package_releases(client, world) -> None:
    proxy = rpc(client)
    assert proxy.package_releases("Demo_Pkg") == ["1.0", "2.0"]
    for name in ("demo-pkg", "DEMO.PKG", "demo__pkg"):
        assert proxy.package_releases(name, True) == ["1.0", "2.0"]
    assert proxy.package_releases("nope") == []
    assert proxy.package_releases("secret-pkg") == []
    assert proxy.package_releases("condaonly") == []
    assert proxy.package_releases("devonly") == []
    assert rpc(client, token=world.alice).package_releases("secret_pkg") == ["1.0"]


def test_roles(client, world) -> None:
    proxy = rpc(client)
    assert proxy.package_roles("demo-pkg") == [["Owner", "alice"], ["Maintainer", "bob"]]
    assert proxy.package_roles("tool") == [["Owner", "carol"]]
    assert proxy.package_roles("secret-pkg") == []
    assert rpc(client, token=world.alice).package_roles("secret-pkg") == [["Owner", "alice"]]
    assert proxy.user_packages("alice") == [["Owner", "Demo_Pkg"]]
    assert proxy.user_packages("ALICE") == [["Owner", "Demo_Pkg"]]
    assert rpc(client, token=world.alice).user_packages("alice") == [
        ["Owner", "Demo_Pkg"],
        ["Owner", "secret-pkg"],
    ]
    assert proxy.user_packages("bob") == [["Maintainer", "Demo_Pkg"]]
    assert proxy.user_packages("carol") == [["Owner", "tool"]]
    assert proxy.user_packages("dave") == []
    assert proxy.user_packages("nobody") == []
    assert rpc(client, "/pypi/acme").user_packages("alice") == []


def test_same_name_under_two_owners(client, world, tmp_path) -> None:
    """Across owners a name is listed once (the caller's own wins); per owner it is unambiguous."""
    put_wheel(client, world.bob, tmp_path, "bob", "demo-pkg", "9.0")
    assert rpc(client).list_packages() == ["Demo_Pkg", "tool"]
    assert rpc(client).package_releases("demo-pkg") == ["1.0", "2.0"]
    assert rpc(client, token=world.bob).list_packages() == ["demo-pkg", "tool"]
    assert rpc(client, token=world.bob).package_releases("demo-pkg") == ["9.0"]
    assert rpc(client, "/pypi/bob").package_releases("Demo_Pkg") == ["9.0"]
    assert rpc(client).user_packages("bob") == [["Owner", "demo-pkg"], ["Maintainer", "Demo_Pkg"]]


# --- releases and files -------------------------------------------------------------------------------------


def test_release_urls(client, world) -> None:
    urls = rpc(client).release_urls("demo_pkg", "1.0")
    assert [u["filename"] for u in urls] == [world.wheel.name, world.sdist.name]
    wheel, sdist = urls
    data = world.wheel.read_bytes()
    assert wheel["url"] == f"http://testserver/pypi/alice/files/demo-pkg/{world.wheel.name}"
    assert wheel["path"] == f"/pypi/alice/files/demo-pkg/{world.wheel.name}"
    assert wheel["packagetype"] == "bdist_wheel"
    assert wheel["python_version"] == "py3"
    assert wheel["size"] == len(data)
    assert wheel["md5_digest"] == hashlib.md5(data).hexdigest()
    assert wheel["digests"] == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert wheel["has_sig"] is False
    assert wheel["comment_text"] == ""
    assert wheel["downloads"] == 0
    assert wheel["requires_python"] == ">=3.9"
    assert (wheel["yanked"], wheel["yanked_reason"]) == (False, None)
    assert isinstance(wheel["upload_time"], xmlrpc.client.DateTime)
    assert abs(time.mktime(wheel["upload_time"].timetuple()) - time.mktime(time.gmtime())) < 300
    assert (sdist["packagetype"], sdist["python_version"]) == ("sdist", "source")
    # Versions match canonically; unknown ones and invisible projects give [].
    assert rpc(client).release_urls("demo-pkg", "1.0.0") == urls
    assert rpc(client).release_urls("demo-pkg", "3.0") == []
    assert rpc(client).release_urls("secret-pkg", "1.0") == []
    # The URLs work, and keep a /t/TOKEN/ prefix the request came with.
    assert client.get(wheel["url"].removeprefix("http://testserver")).content == data
    private = rpc(client, f"/t/{world.alice}/pypi").release_urls("secret-pkg", "1.0")[0]
    assert private["url"].startswith(f"http://testserver/t/{world.alice}/pypi/alice/files/secret-pkg/")
    assert client.get(private["url"].removeprefix("http://testserver")).status_code == 200


def test_release_downloads_and_top_packages(client, world) -> None:
    proxy = rpc(client)
    assert proxy.release_downloads("Demo_Pkg", "1.0") == [[world.wheel.name, 0], [world.sdist.name, 0]]
    for _ in range(2):
        assert client.get(f"/pypi/alice/files/demo-pkg/{world.wheel.name}").status_code == 200
    assert client.get(f"/pypi/acme/files/tool/{'tool-0.1-py3-none-any.whl'}").status_code == 200
    client.app.state.services.downloads.flush()  # counts are written in batches
    assert proxy.release_downloads("demo-pkg", "1.0") == [[world.wheel.name, 2], [world.sdist.name, 0]]
    assert proxy.release_downloads("demo-pkg", "7.0") == []
    assert proxy.top_packages() == [["Demo_Pkg", 2], ["tool", 1]]
    assert proxy.top_packages(1) == [["Demo_Pkg", 2]]
    assert rpc(client, token=world.alice).top_packages() == [["Demo_Pkg", 2], ["tool", 1], ["secret-pkg", 0]]


SEED_RELEASE_DATA_KEYS = {
    "name", "version", "stable_version", "author", "author_email", "maintainer", "maintainer_email",
    "home_page", "license", "summary", "description", "keywords", "platform", "download_url", "classifiers",
    "requires", "requires_dist", "provides", "provides_dist", "requires_external", "requires_python",
    "obsoletes", "obsoletes_dist", "project_url", "docs_url",
}  # fmt: skip


def test_release_data(client, world) -> None:
    data = rpc(client).release_data("DEMO-PKG", "1.0")
    assert set(data) >= SEED_RELEASE_DATA_KEYS
    assert data["name"] == "Demo_Pkg"
    assert data["version"] == "1.0"
    assert data["stable_version"] == ""
    assert data["summary"] == "The Demo_Pkg demonstration package"
    assert "built by tests/builders.py" in data["description"]
    assert data["author"] == "Ada Lovelace"
    assert data["author_email"] == "ada@example.org"
    assert data["keywords"] == "demo,example"
    assert data["license"] == "MIT"
    assert data["platform"] == "any"
    assert data["home_page"] == "https://example.org/Demo_Pkg"
    assert data["classifiers"] == DEMO_META["Classifier"]
    assert data["requires_dist"] == ["requests>=2"]
    assert data["requires_python"] == ">=3.9"
    assert data["project_url"] == ["Source, https://git.example.org/demo"]
    assert data["project_urls"] == {"Source": "https://git.example.org/demo"}
    assert data["requires"] == data["provides"] == data["obsoletes"] == []
    assert data["yanked"] is False
    assert data["release_url"] == "http://testserver/pypi/alice/demo-pkg/1.0/json"
    assert rpc(client).release_data("demo-pkg", "1.0.0")["version"] == "1.0"
    assert rpc(client).release_data("demo-pkg", "5.0") == {}
    assert rpc(client).release_data("secret-pkg", "1.0") == {}
    assert (
        rpc(client, token=world.alice).release_data("secret-pkg", "1.0")["summary"] == "a secret demo thing"
    )


def test_yanked_file(client, world) -> None:
    wheel_2 = "demo_pkg-2.0-py3-none-any.whl"
    response = client.post(
        f"/api/yank/alice/Demo_Pkg/2.0/{wheel_2}", headers=auth(world.alice), json={"reason": "broken"}
    )
    assert response.status_code == 200, response.text
    proxy = rpc(client)
    [url] = proxy.release_urls("demo-pkg", "2.0")
    assert (url["yanked"], url["yanked_reason"]) == (True, "broken")
    data = proxy.release_data("demo-pkg", "2.0")
    assert (data["yanked"], data["yanked_reason"]) == (True, "broken")
    assert proxy.changelog_since_serial(0)[-1][:2] == ["Demo_Pkg", "2.0"]
    assert proxy.changelog_since_serial(0)[-1][3] == f"yank file {wheel_2}"


# --- search and browse --------------------------------------------------------------------------------------


def test_search_as_pip_does(client, world) -> None:
    # pip search --index URL/pypi Q calls search({"name": [Q], "summary": [Q]}, "or") and prints
    # "name (version) - summary" for each hit.
    hits = rpc(client).search({"name": ["demo_pkg"], "summary": ["demo_pkg"]}, "or")
    assert hits == [
        {
            "name": "Demo_Pkg",
            "version": "2.0",
            "summary": "The Demo_Pkg demonstration package",
            "_pypi_ordering": False,
        }
    ]
    assert rpc(client).search({"name": ["secret"], "summary": ["secret"]}, "or") == []
    mine = rpc(client, token=world.alice).search({"name": ["secret"], "summary": ["secret"]}, "or")
    assert [(h["name"], h["version"], h["summary"]) for h in mine] == [
        ("secret-pkg", "1.0", "a secret demo thing")
    ]


def test_search_fields_and_operators(client, world) -> None:
    proxy = rpc(client)
    assert [h["name"] for h in proxy.search({"name": "TOOL"})] == ["tool"]
    # Exact name matches first, then by name.
    assert [h["name"] for h in proxy.search({"name": ["tool", "demo"]})] == ["tool", "Demo_Pkg"]
    assert proxy.search({"name": "demo", "summary": "tool"}) == []
    assert [h["name"] for h in proxy.search({"name": "demo", "summary": "tool"}, "or")] == [
        "Demo_Pkg",
        "tool",
    ]
    assert [h["name"] for h in proxy.search({"name": "demo_pkg"})] == ["Demo_Pkg"]
    # Latest release only, unless a version is asked for: then one entry per matching release.
    assert proxy.search({"author": "lovelace"}) == []  # 2.0 has no author
    assert [(h["name"], h["version"]) for h in proxy.search({"version": ["1.0", "0.1"]})] == [
        ("Demo_Pkg", "1.0"),
        ("tool", "0.1"),
    ]
    assert [h["version"] for h in proxy.search({"author": "LOVELACE", "version": "1.0"})] == ["1.0"]
    assert proxy.search({"no_such_field": "demo"}) == []
    assert proxy.search({}) == []
    with pytest.raises(xmlrpc.client.Fault, match="operator"):
        proxy.search({"name": "demo"}, "xor")
    with pytest.raises(xmlrpc.client.Fault, match="list of strings"):
        proxy.search({"name": [1]})


def test_browse(client, world) -> None:
    proxy = rpc(client)
    assert proxy.browse(["Framework :: Demo"]) == [["Demo_Pkg", "1.0"], ["Demo_Pkg", "2.0"]]
    assert proxy.browse(["Framework :: Demo", "License :: OSI Approved :: MIT License"]) == [
        ["Demo_Pkg", "1.0"]
    ]
    assert proxy.browse(["Nope"]) == []
    assert proxy.browse([]) == []
    assert rpc(client, token=world.alice).browse(["Framework :: Demo"]) == [
        ["Demo_Pkg", "1.0"],
        ["Demo_Pkg", "2.0"],
        ["secret-pkg", "1.0"],
    ]
    with pytest.raises(xmlrpc.client.Fault, match="list of strings"):
        proxy.browse([1, 2])


# --- changes and the changelog ------------------------------------------------------------------------------


def test_updated_and_changed(client, world) -> None:
    proxy = rpc(client)
    assert proxy.updated_releases(world.since) == [["tool", "0.1"], ["Demo_Pkg", "2.0"], ["Demo_Pkg", "1.0"]]
    assert proxy.updated_releases(int(time.time()) + 60) == []
    assert proxy.changed_packages(world.since) == ["tool", "Demo_Pkg"]
    assert proxy.changed_packages(float(time.time() + 60)) == []
    assert rpc(client, token=world.alice).changed_packages(world.since) == ["tool", "secret-pkg", "Demo_Pkg"]


def test_changelog_shapes(client, world) -> None:
    proxy = rpc(client)
    entries = proxy.changelog_since_serial(0)
    serials = [e[4] for e in entries]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
    assert all(len(e) == 5 and isinstance(e[2], int) for e in entries)
    actions = [(e[0], e[1], e[3]) for e in entries]
    assert actions[:4] == [
        ("Demo_Pkg", None, "create"),
        ("Demo_Pkg", "1.0", "new release"),
        ("Demo_Pkg", "1.0", f"add py3 file {world.wheel.name}"),
        ("Demo_Pkg", "1.0", f"add source file {world.sdist.name}"),
    ]
    assert {e[0] for e in entries} == {"Demo_Pkg", "tool"}
    assert proxy.changelog_last_serial() == serials[-1]
    assert proxy.changelog_since_serial(serials[-2]) == entries[-1:]
    assert proxy.changelog_since_serial(serials[-1]) == []
    assert proxy.list_packages_with_serial() == {
        "Demo_Pkg": max(e[4] for e in entries if e[0] == "Demo_Pkg"),
        "tool": max(e[4] for e in entries if e[0] == "tool"),
    }
    assert proxy.changelog(world.since) == [e[:4] for e in entries]
    assert proxy.changelog(world.since, True) == entries
    assert proxy.changelog(int(time.time()) + 60) == []
    # The owner sees its private project's history; the serial moves past it.
    mine = rpc(client, token=world.alice)
    assert any(e[0] == "secret-pkg" for e in mine.changelog_since_serial(0))
    assert mine.changelog_last_serial() >= proxy.changelog_last_serial()
    assert mine.list_packages_with_serial().keys() == {"Demo_Pkg", "secret-pkg", "tool"}
    # Per owner:
    assert {e[0] for e in rpc(client, "/pypi/acme").changelog_since_serial(0)} == {"tool"}


def test_removals_of_public_projects_are_journalled(client, world) -> None:
    alice = auth(world.alice)
    wheel_2 = "demo_pkg-2.0-py3-none-any.whl"
    assert client.delete(f"/api/dist/alice/Demo_Pkg/2.0/{wheel_2}", headers=alice).status_code in (
        200,
        201,
        204,
    )
    assert client.delete("/api/release/alice/Demo_Pkg/1.0", headers=alice).status_code == 201
    assert client.delete("/api/package/alice/Demo_Pkg", headers=alice).status_code == 201
    assert client.delete("/api/package/alice/secret-pkg", headers=alice).status_code == 201
    proxy = rpc(client)
    tail = [(e[0], e[1], e[3]) for e in proxy.changelog_since_serial(0)][-5:]
    assert tail == [
        ("Demo_Pkg", "2.0", f"remove file {wheel_2}"),
        ("Demo_Pkg", "1.0", f"remove file {world.wheel.name}"),
        ("Demo_Pkg", "1.0", f"remove file {world.sdist.name}"),
        ("Demo_Pkg", "1.0", "remove release"),
        ("Demo_Pkg", None, "remove project"),
    ]
    assert proxy.list_packages() == ["tool"]
    assert "secret" not in everything(proxy, world.since)
    # The owner still sees the end of its private project.
    assert ("secret-pkg", None, "remove project") in [
        (e[0], e[1], e[3]) for e in rpc(client, token=world.alice).changelog_since_serial(0)
    ]


def test_a_reused_name_does_not_reveal_its_private_past(client, world, tmp_path) -> None:
    make_private(client, world.alice, "alice", "phoenix")
    put_wheel(client, world.alice, tmp_path, "alice", "phoenix", "0.1")
    assert client.delete("/api/package/alice/phoenix", headers=auth(world.alice)).status_code == 201
    put_wheel(client, world.alice, tmp_path, "alice", "phoenix", "2.0")  # public this time
    seen = [(e[1], e[3]) for e in rpc(client).changelog_since_serial(0) if e[0] == "phoenix"]
    assert seen == [
        (None, "create"),
        ("2.0", "new release"),
        ("2.0", "add py3 file phoenix-2.0-py3-none-any.whl"),
    ]
    assert "0.1" not in repr(rpc(client).release_urls("phoenix", "0.1")) + repr(
        rpc(client).package_releases("phoenix")
    )
    # Its owner sees both lives.
    mine = [
        (e[1], e[3]) for e in rpc(client, token=world.alice).changelog_since_serial(0) if e[0] == "phoenix"
    ]
    assert ("0.1", "add py3 file phoenix-0.1-py3-none-any.whl") in mine
    assert (None, "remove project") in mine


def test_access_changes(client, world) -> None:
    def set_access(access: str) -> None:
        response = client.post(
            "/api/packages/alice/access",
            headers=auth(world.alice),
            json={"packages": ["Demo_Pkg"], "access": access},
        )
        assert response.status_code == 200, response.text

    set_access("private")
    seen = everything(rpc(client), world.since)
    assert "Demo_Pkg" not in seen and "demo_pkg" not in seen
    set_access("authenticated")
    assert "Demo_Pkg" not in everything(rpc(client), world.since)
    assert rpc(client, token=world.dave).list_packages() == ["Demo_Pkg", "tool"]
    set_access("public")
    assert rpc(client).changelog_since_serial(0)[-1][::3] == ["Demo_Pkg", "update access"]


def test_transfer_keeps_public_history(client, world, tmp_path) -> None:
    put_wheel(client, world.carol, tmp_path, "carol", "moving", "1.0")
    response = client.post(
        "/api/package/carol/moving/transfer", headers=auth(world.carol), json={"to_owner": "acme"}
    )
    assert response.status_code == 200, response.text
    entries = [(e[1], e[3]) for e in rpc(client).changelog_since_serial(0) if e[0] == "moving"]
    assert entries == [
        (None, "create"),
        ("1.0", "new release"),
        ("1.0", "add py3 file moving-1.0-py3-none-any.whl"),
        ("1.0", "remove file moving-1.0-py3-none-any.whl"),
        ("1.0", "add py3 file moving-1.0-py3-none-any.whl"),
        (None, "create"),
    ]
    assert rpc(client, "/pypi/acme").package_roles("moving") == [["Owner", "carol"]]
    assert rpc(client, "/pypi/carol").list_packages() == []


# --- protocol and hostile requests --------------------------------------------------------------------------


def post(client, body: bytes | str, path: str = "/pypi", **headers: str):
    return client.post(path, content=body, headers={"Content-Type": "text/xml", **headers})


def fault_of(response) -> xmlrpc.client.Fault:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    with pytest.raises(xmlrpc.client.Fault) as excinfo:
        xmlrpc.client.loads(response.content)
    return excinfo.value


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>package_releases</methodName>
<params><param><value><string>&lol9;</string></value></param></params></methodCall>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>package_releases</methodName>
<params><param><value><string>&xxe;</string></value></param></params></methodCall>"""


def test_entity_expansion_and_external_entities_refused(client, world) -> None:
    started = time.monotonic()
    for body in (BILLION_LAUGHS, XXE, '<?xml version="1.0"?><!DOCTYPE methodCall><methodCall/>'):
        fault = fault_of(post(client, body))
        assert fault.faultCode == pypi_xmlrpc.PARSE_ERROR
        assert "not allowed" in fault.faultString
    assert time.monotonic() - started < 5
    assert rpc(client).list_packages() == ["Demo_Pkg", "tool"]  # and the server still answers


def test_oversized_body(client, world) -> None:
    big = xmlrpc.client.dumps(("x" * (pypi_xmlrpc.MAX_BODY + 10),), "package_releases")
    response = post(client, big)
    assert response.status_code == 413
    with pytest.raises(xmlrpc.client.Fault, match="over"):
        xmlrpc.client.loads(response.content)

    def chunks():  # no Content-Length: the limit holds while streaming
        yield b"<?xml version='1.0'?><methodCall><methodName>list_packages</methodName><params>"
        for _ in range(20):
            yield b" " * 65536

    assert post(client, chunks()).status_code == 413
    assert rpc(client).list_packages() == ["Demo_Pkg", "tool"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not xml at all",
        "<methodCall><methodName>list_packages</methodName>",
        "<methodCall><params><param><value><int>nope</int></value></param></params></methodCall>",
        "<a><b></a>",
        "\xff\xfe<methodCall/>",
    ],
)
def test_bad_xml_is_a_fault(client, world, body: str) -> None:
    fault = fault_of(post(client, body.encode("latin-1")))
    assert fault.faultCode in (pypi_xmlrpc.PARSE_ERROR, pypi_xmlrpc.INVALID_REQUEST)


def test_not_a_method_call(client, world) -> None:
    fault = fault_of(post(client, xmlrpc.client.dumps(([1],), methodresponse=True)))
    assert fault.faultCode == pypi_xmlrpc.INVALID_REQUEST
    fault = fault_of(post(client, xmlrpc.client.dumps(xmlrpc.client.Fault(1, "x"), methodresponse=True)))
    assert fault.faultCode == pypi_xmlrpc.INVALID_REQUEST


def test_unknown_method_and_bad_arguments(client, world) -> None:
    proxy = rpc(client)
    with pytest.raises(xmlrpc.client.Fault, match="method not found") as excinfo:
        proxy.no_such_method()
    assert excinfo.value.faultCode == pypi_xmlrpc.NO_METHOD
    cases = [
        (
            lambda: proxy.package_releases(),
            r"package_releases\(package_name, show_hidden=False\) takes 1 to 2",
        ),
        (lambda: proxy.package_releases("a", True, 3), "takes 1 to 2 argument"),
        (lambda: proxy.package_releases(42), "package_name must be str, not int"),
        (lambda: proxy.release_urls("a"), r"release_urls\(package_name, release_version\) takes 2"),
        (lambda: proxy.changelog_since_serial("5"), "since_serial must be int, not str"),
        (lambda: proxy.changelog_since_serial(True), "since_serial must be int, not bool"),
        (lambda: proxy.changelog(None), "since must be int or float, not nil"),
        (lambda: proxy.changelog(1e300), "not a valid UTC timestamp"),
        (lambda: proxy.search("demo"), "spec must be dict, not str"),
        (lambda: proxy.top_packages(-1), "must not be negative"),
        (lambda: proxy.browse("Framework"), "classifiers must be list"),
    ]
    for call, message in cases:
        with pytest.raises(xmlrpc.client.Fault, match=message) as excinfo:
            call()
        assert excinfo.value.faultCode == pypi_xmlrpc.INVALID_PARAMS
    assert "list_packages" in proxy.system.listMethods()


def test_wrong_credentials_are_401(client, world) -> None:
    with pytest.raises(xmlrpc.client.ProtocolError) as excinfo:
        rpc(client, token="py-not-a-real-token-at-all").list_packages()
    assert excinfo.value.errcode == 401


def test_unknown_owner_is_a_fault(client, world) -> None:
    with pytest.raises(xmlrpc.client.Fault, match="not found"):
        rpc(client, "/pypi/nobody").list_packages()


def test_gzip_body(client, world) -> None:
    import gzip

    body = gzip.compress(xmlrpc.client.dumps((), "list_packages").encode())
    response = post(client, body, **{"Content-Encoding": "gzip"})
    assert xmlrpc.client.loads(response.content)[0] == (["Demo_Pkg", "tool"],)
    bomb = gzip.compress(b" " * (pypi_xmlrpc.MAX_BODY * 4))
    assert fault_of(post(client, bomb, **{"Content-Encoding": "gzip"})).faultCode == pypi_xmlrpc.PARSE_ERROR


def test_marshalling_cleans_what_xml_cannot_carry() -> None:
    cleaned = pypi_xmlrpc._clean({"text": "a\x00b\x1bc", "big": 2**40, "ok": [1, True, None]})
    assert cleaned == {"text": "a\ufffdb\ufffdc", "big": float(2**40), "ok": [1, True, None]}
    body = pypi_xmlrpc._respond((cleaned,)).body
    assert xmlrpc.client.loads(body)[0][0]["text"] == "a\ufffdb\ufffdc"
