"""Channels and labels in Chromium: `/OWNER/labels`, `/OWNER/label/L`, the channel menu, privacy, accessibility.

carol's namespace (built here, beside the shared world): `tool` (public; 1.0 in main and the locked `stable`,
2.0 in `dev`), `wheelie` (public, a wheel in main), `noarch` (public, named like a subdir) and `hidden` (private,
its only file labelled `hushlabel`, a label nobody else may learn of).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda, build_wheel
from tests.ui.conftest import PASSWORD, Site, api_token, create_package, http_sign_in, sign_in
from tests.ui.test_pages import HTML, _axe_problems, _shoot
from tests.unit.api.helpers import auth, upload


@dataclass(frozen=True)
class Carol:
    site: Site
    token: str

    @property
    def url(self) -> str:
        return self.site.url


@pytest.fixture(scope="module")
def carol(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Carol]:
    tmp = tmp_path_factory.mktemp("channels")
    site.server.create_user("carol", PASSWORD)
    with site.client() as client:
        token = api_token(client, "carol")

        def put(name: str, version: str, labels: list[str], *, public: bool = True) -> None:
            folder = tmp / f"{name}-{version}"
            folder.mkdir()
            conda = build_conda(folder, name=name, version=version, subdir="noarch", fmt="conda")
            if client.get(f"/api/package/carol/{name}", headers=auth(token)).status_code == 404:
                create_package(client, token, "carol", name, public=public, summary=f"{name} by carol")
            committed = upload(
                client, token, "carol", name, version, conda, f"noarch/{conda.name}", "conda", labels=labels
            )
            assert committed.status_code == 200, committed.text

        put("tool", "1.0", ["main", "stable"])
        put("tool", "2.0", ["dev"])
        put("noarch", "1.0", ["main"])
        put("hidden", "0.1", ["hushlabel"], public=False)
        wheel = build_wheel(tmp, name="wheelie", version="3.0")
        create_package(client, token, "carol", "wheelie", summary="A wheel")
        assert upload(client, token, "carol", "wheelie", "3.0", wheel, wheel.name, "pypi").status_code == 200
        assert client.post("/api/channels/carol/stable/lock", headers=auth(token)).status_code == 201
    return Carol(site, token)


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


def test_the_labels_page_counts_only_what_the_caller_may_see(carol: Carol) -> None:
    with carol.site.client() as anonymous:
        page = anonymous.get("/carol/labels", headers=HTML)
        assert page.status_code == 200
        rows = _rows(page.text)
        assert list(rows) == ["main", "dev", "stable"]  # main first; hushlabel holds only a private file
        assert rows["main"] == ["3", "3", "Open"] and rows["dev"] == ["1", "1", "Open"]
        assert rows["stable"] == ["1", "1", "Locked"]
        assert "hushlabel" not in page.text and "hidden by carol" not in page.text
        assert _menu(page.text) == ["main", "dev", "stable"]
    with carol.site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        assert "hushlabel" not in bob.get("/carol/labels", headers=HTML).text
    with carol.site.client() as owner:
        assert http_sign_in(owner, "carol").status_code == 303
        rows = _rows(owner.get("/carol/labels", headers=HTML).text)
        assert list(rows) == ["main", "dev", "hushlabel", "stable"] and rows["hushlabel"] == [
            "1",
            "1",
            "Open",
        ]
    by_token = httpx.get(f"{carol.url}/t/{carol.token}/carol/labels", headers=HTML, timeout=30)
    assert "hushlabel" in by_token.text  # a token in the path is a credential for the pages too


def test_a_hidden_label_is_the_same_404_as_a_missing_one(carol: Carol) -> None:
    def answers(client: httpx.Client) -> list[tuple[int, str]]:
        out = []
        for path in ("/carol/label/hushlabel", "/carol/label/nolabel"):
            response = client.get(path, headers=HTML)
            out.append(
                (response.status_code, response.text.replace("hushlabel", "X").replace("nolabel", "X"))
            )
        return out

    with carol.site.client() as anonymous:
        hidden, missing = answers(anonymous)
        assert hidden[0] == 404 and hidden == missing
    with carol.site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        hidden, missing = answers(bob)
        assert hidden[0] == 404 and hidden == missing
        assert "hushlabel" not in bob.get("/carol", headers=HTML).text  # nor in the owner page's menu
    with carol.site.client() as owner:
        assert http_sign_in(owner, "carol").status_code == 303
        page = owner.get("/carol/label/hushlabel", headers=HTML)
        assert page.status_code == 200 and "/carol/hidden" in page.text
        assert "hushlabel" in _menu(owner.get("/carol", headers=HTML).text)


def test_the_channel_page_lists_its_packages_and_how_to_use_it(carol: Carol, page) -> None:
    page.goto(f"{carol.url}/carol/label/dev")
    assert page.locator("h1").inner_text() == "carol/label/dev"
    names = page.locator(".pkgs .pkg-name").all_inner_texts()
    assert names == ["tool"]
    assert page.locator(".pkgs .version").inner_text() == "2.0"  # the version in this label, not main's 1.0
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda install --channel {carol.url}/carol/label/dev <PACKAGE>" in commands
    assert not any("<TOKEN>" in line for line in commands)  # everything here is public
    page.goto(f"{carol.url}/carol/label/main")
    assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["noarch", "tool", "wheelie"]
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda config --add channels {carol.url}/carol" in commands
    assert f"pip install --index-url {carol.url}/pypi/carol/simple/ <PACKAGE>" in commands
    page.goto(f"{carol.url}/carol/label/stable")
    assert page.locator(".pkg-badges .badge-locked").count() == 1


def test_the_owner_sees_token_urls_for_a_private_channel(carol: Carol, page) -> None:
    sign_in(page, carol.site, "carol")
    page.goto(f"{carol.url}/carol/label/hushlabel")
    assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["hidden"]
    assert page.locator(".pkgs .badge-private").count() == 1
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda config --add channels {carol.url}/t/<TOKEN>/carol/label/hushlabel" in commands


def test_the_package_page_names_the_channel_at_the_root_and_has_the_menu(carol: Carol, page) -> None:
    page.goto(f"{carol.url}/carol/tool")
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda install --channel {carol.url}/carol tool" in commands
    assert f"conda install --channel {carol.url}/carol/label/dev tool" in commands
    options = page.locator("#channel-label option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["main", "dev", "stable"]


def test_the_channel_menu_opens_a_channel_with_javascript(carol: Carol, page) -> None:
    page.goto(f"{carol.url}/carol")
    with page.expect_navigation():
        page.select_option("#channel-label", "dev")  # packyard.js submits on change
    assert page.url == f"{carol.url}/carol/label/dev"
    assert page.locator("#channel-label").input_value() == "dev"


def test_the_channel_menu_works_without_javascript(carol: Carol, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{carol.url}/carol/noarch")  # the package page of a package named like a subdir
        assert page.locator("h1").inner_text() == "noarch"
        page.select_option("#channel-label", "stable")
        assert page.url == f"{carol.url}/carol/noarch"  # nothing happens before the button
        page.click("form.channel-picker button[type=submit]")
        page.wait_for_load_state()
        assert page.url == f"{carol.url}/carol/label/stable"
        assert page.locator(".pkgs .pkg-name").all_inner_texts() == ["tool"]
    finally:
        context.close()


def test_the_menu_only_goes_to_label_urls(carol: Carol) -> None:
    with carol.site.client() as client:
        went = client.get("/carol/labels?label=dev", headers=HTML)
        assert went.status_code == 303 and went.headers["location"] == "/carol/label/dev"
        for odd in ("//evil.example", "../x", "a b", "https://evil.example"):
            stays = client.get("/carol/labels", params={"label": odd}, headers=HTML)
            assert stays.status_code == 200 and "location" not in stays.headers, odd
        assert client.get("/nobody-at-all/labels", headers=HTML).status_code == 404


CHANNEL_PAGES = {"labels": "/carol/labels", "channel": "/carol/label/main", "channel-dev": "/carol/label/dev"}


@pytest.mark.parametrize("name", list(CHANNEL_PAGES))
def test_channel_pages_are_accessible(carol: Carol, page, name: str, tmp_path: Path) -> None:
    page.goto(f"{carol.url}{CHANNEL_PAGES[name]}")
    assert _axe_problems(page) == []
    _shoot(page, name, tmp_path)


def test_the_owners_private_channel_page_is_accessible(carol: Carol, page, tmp_path: Path) -> None:
    sign_in(page, carol.site, "carol")
    page.goto(f"{carol.url}/carol/label/hushlabel")
    assert _axe_problems(page) == []
    _shoot(page, "channel-private", tmp_path)
