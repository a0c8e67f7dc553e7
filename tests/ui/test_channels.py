"""Channels and labels in Chromium: `/OWNER/labels`, `/OWNER/label/L`, the channel menu, privacy, accessibility.

quinn's namespace (built here, beside the shared world): `tool` (public; 1.0 in main and the locked `stable`, 2.0
in `beta`), `wheelie` (public, a wheel in main), `noarch` (public, named like a subdir) and `hidden` (private, its
only file labelled `hushlabel`, a label nobody else may learn of). No label here is called `dev`: test_owner_search
expects no public file of the shared server to carry one. quinn's organization `qlab` has a private
`labonly` labelled `internal`, which its group `team` (read; `qmate` is a member) lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda, build_wheel
from tests.ui.conftest import (
    PASSWORD,
    Site,
    api_token,
    axe_problems,
    create_package,
    http_sign_in,
    shoot,
    sign_in,
)
from tests.ui.test_pages import HTML
from tests.unit.api.helpers import auth, upload


@dataclass(frozen=True)
class Quinn:
    site: Site
    token: str

    @property
    def url(self) -> str:
        return self.site.url


@pytest.fixture(scope="module")
def quinn(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Quinn:
    tmp = tmp_path_factory.mktemp("channels")
    site.server.create_user("quinn", PASSWORD)
    site.server.create_user("qmate", PASSWORD)  # not bob: the shared world's users keep their memberships
    with site.client() as client:
        token = api_token(client, "quinn")

        def put(name: str, version: str, labels: list[str], *, public: bool = True) -> None:
            folder = tmp / f"{name}-{version}"
            folder.mkdir()
            conda = build_conda(folder, name=name, version=version, subdir="noarch", fmt="conda")
            if client.get(f"/api/package/quinn/{name}", headers=auth(token)).status_code == 404:
                create_package(client, token, "quinn", name, public=public, summary=f"{name} by quinn")
            committed = upload(
                client, token, "quinn", name, version, conda, f"noarch/{conda.name}", "conda", labels=labels
            )
            assert committed.status_code == 200, committed.text

        owner = auth(token)
        assert client.post("/api/orgs/qlab", headers=owner, json={"name": "Q Lab"}).status_code == 201
        folder = tmp / "labonly"
        folder.mkdir()
        conda = build_conda(folder, name="labonly", version="1.0", subdir="noarch", fmt="conda")
        create_package(client, token, "qlab", "labonly", public=False, summary="For the team only")
        basename = f"noarch/{conda.name}"
        committed = upload(
            client, token, "qlab", "labonly", "1.0", conda, basename, "conda", labels=["internal"]
        )
        assert committed.status_code == 200, committed.text
        assert client.post("/api/group/qlab/team", headers=owner, json={"perms": "read"}).status_code == 204
        assert client.put("/api/group/qlab/team/members/qmate", headers=owner).status_code == 204
        assert client.put("/api/group/qlab/team/packages/labonly", headers=owner).status_code == 204
        put("tool", "1.0", ["main", "stable"])
        put("tool", "2.0", ["beta"])
        put("noarch", "1.0", ["main"])
        put("hidden", "0.1", ["hushlabel"], public=False)
        wheel = build_wheel(tmp, name="wheelie", version="3.0")
        create_package(client, token, "quinn", "wheelie", summary="A wheel")
        assert upload(client, token, "quinn", "wheelie", "3.0", wheel, wheel.name, "pypi").status_code == 200
        assert client.post("/api/channels/quinn/stable/lock", headers=auth(token)).status_code == 201
    return Quinn(site, token)


def _rows(html: str) -> dict[str, list[str]]:
    """The labels table: label -> [packages, files, state]."""
    out = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        name = re.sub(r"<[^>]+>", "", row.split("</th>")[0]).strip()
        out[name] = cells[:3]
    return out


def _menu(html: str) -> list[str]:
    select = re.search(r'<select id="channel-label" name="label"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the page has a channel menu"
    return re.findall(r'<option value="([^"]+)"', select.group(1))


def test_the_labels_page_counts_only_what_the_caller_may_see(quinn: Quinn) -> None:
    with quinn.site.client() as anonymous:
        page = anonymous.get("/quinn/labels", headers=HTML)
        assert page.status_code == 200
        rows = _rows(page.text)
        assert list(rows) == ["main", "beta", "stable"]  # main first; hushlabel holds only a private file
        assert rows["main"] == ["3", "3", "Open"] and rows["beta"] == ["1", "1", "Open"]
        assert rows["stable"] == ["1", "1", "Locked"]
        assert "hushlabel" not in page.text and "hidden by quinn" not in page.text
        assert _menu(page.text) == ["main", "beta", "stable"]
    with quinn.site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        assert "hushlabel" not in bob.get("/quinn/labels", headers=HTML).text
    with quinn.site.client() as owner:
        assert http_sign_in(owner, "quinn").status_code == 303
        rows = _rows(owner.get("/quinn/labels", headers=HTML).text)
        assert list(rows) == ["main", "beta", "hushlabel", "stable"] and rows["hushlabel"] == [
            "1",
            "1",
            "Open",
        ]
    by_token = httpx.get(f"{quinn.url}/t/{quinn.token}/quinn/labels", headers=HTML, timeout=30)
    assert "hushlabel" in by_token.text  # a token in the path is a credential for the pages too


def test_a_hidden_label_is_the_same_404_as_a_missing_one(quinn: Quinn) -> None:
    def answers(client: httpx.Client) -> list[tuple[int, str]]:
        out = []
        for path in ("/quinn/label/hushlabel", "/quinn/label/nolabel"):
            response = client.get(path, headers=HTML)
            out.append(
                (response.status_code, response.text.replace("hushlabel", "X").replace("nolabel", "X"))
            )
        return out

    with quinn.site.client() as anonymous:
        hidden, missing = answers(anonymous)
        assert hidden[0] == 404 and hidden == missing
    with quinn.site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        hidden, missing = answers(bob)
        assert hidden[0] == 404 and hidden == missing
        assert "hushlabel" not in bob.get("/quinn", headers=HTML).text  # nor in the owner page's menu
    with quinn.site.client() as owner:
        assert http_sign_in(owner, "quinn").status_code == 303
        page = owner.get("/quinn/label/hushlabel", headers=HTML)
        assert page.status_code == 200 and "/quinn/hidden" in page.text
        assert "hushlabel" in _menu(owner.get("/quinn", headers=HTML).text)


def test_the_channel_page_lists_its_packages_and_how_to_use_it(quinn: Quinn, page) -> None:
    page.goto(f"{quinn.url}/quinn/label/beta")
    assert page.locator("h1").inner_text() == "quinn/label/beta"
    names = page.locator(".pkgs .pkg-name").all_inner_texts()
    assert names == ["tool"]
    assert page.locator(".pkgs .version").inner_text() == "2.0"  # the version in this label, not main's 1.0
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda install --channel {quinn.url}/quinn/label/beta <PACKAGE>" in commands
    assert not any("<TOKEN>" in line for line in commands)  # everything here is public
    page.goto(f"{quinn.url}/quinn/label/main")
    assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["noarch", "tool", "wheelie"]
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda config --add channels {quinn.url}/quinn" in commands
    assert f"pip install --index-url {quinn.url}/pypi/quinn/simple/ <PACKAGE>" in commands
    page.goto(f"{quinn.url}/quinn/label/stable")
    assert page.locator(".pkg-badges .badge-locked").count() == 1


def test_the_owner_sees_token_urls_for_a_private_channel(quinn: Quinn, page) -> None:
    sign_in(page, quinn.site, "quinn")
    page.goto(f"{quinn.url}/quinn/label/hushlabel")
    assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["hidden"]
    assert page.locator(".pkgs .badge-private").count() == 1
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda config --add channels {quinn.url}/t/<TOKEN>/quinn/label/hushlabel" in commands


def test_the_package_page_names_the_channel_at_the_root_and_has_the_menu(quinn: Quinn, page) -> None:
    page.goto(f"{quinn.url}/quinn/tool")
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda install --channel {quinn.url}/quinn tool" in commands
    assert f"conda install --channel {quinn.url}/quinn/label/beta tool" in commands
    options = page.locator("#channel-label option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["main", "beta", "stable"]
    page.click("dl.pairs a.tag.label:text-is('beta')")  # the latest version per label links to its channel
    page.wait_for_load_state()
    assert page.url == f"{quinn.url}/quinn/label/beta"


def test_the_channel_menu_opens_a_channel_with_javascript(quinn: Quinn, page) -> None:
    page.goto(f"{quinn.url}/quinn")
    with page.expect_navigation():
        page.select_option("#channel-label", "beta")  # packyard.js submits on change
    assert page.url == f"{quinn.url}/quinn/label/beta"
    assert page.locator("#channel-label").input_value() == "beta"


def test_the_channel_menu_works_without_javascript(quinn: Quinn, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{quinn.url}/quinn/noarch")  # the package page of a package named like a subdir
        assert page.locator("h1").inner_text() == "noarch"
        page.select_option("#channel-label", "stable")
        assert page.url == f"{quinn.url}/quinn/noarch"  # nothing happens before the button
        page.click("form.channel-picker button[type=submit]")
        page.wait_for_load_state()
        assert page.url == f"{quinn.url}/quinn/label/stable"
        assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["tool"]
    finally:
        context.close()


def test_the_menu_only_goes_to_label_urls(quinn: Quinn) -> None:
    with quinn.site.client() as client:
        went = client.get("/quinn/labels?label=beta", headers=HTML)
        assert went.status_code == 303 and went.headers["location"] == "/quinn/label/beta"
        for odd in ("//evil.example", "../x", "a b", "https://evil.example"):
            stays = client.get("/quinn/labels", params={"label": odd}, headers=HTML)
            assert stays.status_code == 200 and "location" not in stays.headers, odd
        assert client.get("/nobody-at-all/labels", headers=HTML).status_code == 404


def test_an_organization_member_sees_the_labels_of_what_the_group_lets_them_read(quinn: Quinn) -> None:
    with quinn.site.client() as anonymous:
        assert "internal" not in anonymous.get("/qlab/labels", headers=HTML).text
        assert anonymous.get("/qlab/label/internal", headers=HTML).status_code == 404
    with quinn.site.client() as alice:  # signed in, not a member
        assert http_sign_in(alice, "alice").status_code == 303
        assert alice.get("/qlab/label/internal", headers=HTML).status_code == 404
    with quinn.site.client() as member:  # of the group that lists labonly
        assert http_sign_in(member, "qmate").status_code == 303
        rows = _rows(member.get("/qlab/labels", headers=HTML).text)
        assert rows["internal"] == ["1", "1", "Open"]
        page = member.get("/qlab/label/internal", headers=HTML)
        assert page.status_code == 200 and "/qlab/labonly" in page.text and "badge-private" in page.text
        assert "internal" in _menu(member.get("/qlab", headers=HTML).text)


CHANNEL_PAGES = {
    "labels": "/quinn/labels",
    "channel": "/quinn/label/main",
    "channel-beta": "/quinn/label/beta",
}


@pytest.mark.parametrize("name", list(CHANNEL_PAGES))
def test_channel_pages_are_accessible(quinn: Quinn, page, name: str, tmp_path: Path) -> None:
    page.goto(f"{quinn.url}{CHANNEL_PAGES[name]}")
    assert axe_problems(page) == []
    shoot(page, name, tmp_path)


def test_the_owners_private_channel_page_is_accessible(quinn: Quinn, page, tmp_path: Path) -> None:
    sign_in(page, quinn.site, "quinn")
    page.goto(f"{quinn.url}/quinn/label/hushlabel")
    assert axe_problems(page) == []
    shoot(page, "channel-private", tmp_path)
