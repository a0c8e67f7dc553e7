"""Mirrors in Chromium (docs/mirrors.md, docs/ui.md "Mirrors"), with a second Packyard process as the upstream.

The story: an owner opens "New mirror" from account menu > Organizations, is told what is wrong with a bad URL and
a bad rule (on the form, with what was typed), creates a PyPI mirror of the upstream, sees the "Mirror of UPSTREAM
(PyPI)" banner on the organization's page with an index URL that works, edits the rules, pre-fetches a package
with its dependency (queued; refreshing the tab shows it done, and an excluded one failed, saying why), and deletes the mirror by typing its name (its cached packages
stay). Members read the banner but get no settings; a private mirror's banner is shown to nobody else; forged
forms change nothing. The module's people and mirrors are prefixed `mir-`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests.builders import build_wheel
from tests.conftest import LiveServer, start_server
from tests.ui.conftest import PASSWORD, Site, api_token, axe_problems, csrf_from, http_sign_in, shoot, sign_in
from tests.unit.api.helpers import auth, upload

OWNER, MEMBER, OUTSIDER = "mir-olga", "mir-mia", "mir-nick"
UP_OWNER = "mir-up"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second Packyard whose PyPI index has mx-lib 1.0, mx-app 1.0 (needs mx-lib) and mx-bad 1.0; yields the
    index URL a mirror of it is given."""
    tmp = tmp_path_factory.mktemp("mirror-upstream")
    server: LiveServer = start_server(tmp)
    try:
        server.create_user(UP_OWNER, PASSWORD)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            token = api_token(client, UP_OWNER)
            for name, requires in (("mx-lib", []), ("mx-app", ["mx-lib>=1.0"]), ("mx-bad", [])):
                folder = tmp / name
                folder.mkdir()
                wheel = build_wheel(folder, name=name, version="1.0", requires_dist=requires)
                committed = upload(client, token, UP_OWNER, name, "1.0", wheel, wheel.name, "pypi")
                assert committed.status_code == 200, committed.text
        yield f"{server.url}/pypi/{UP_OWNER}/simple/"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tokens(site: Site) -> dict[str, str]:
    made = {}
    with site.client() as client:
        for login in (OWNER, MEMBER, OUTSIDER):
            site.server.create_user(login, PASSWORD)
            made[login] = api_token(client, login)
    return made


def mirror_json(site: Site, name: str, token: str) -> httpx.Response:
    with site.client() as client:
        return client.get(f"/api/mirrors/{name}", headers=auth(token))


def signed_in_client(site: Site, login: str) -> tuple[httpx.Client, str]:
    client = site.client()
    assert http_sign_in(client, login).status_code == 303
    return client, csrf_from(client.get("/").text)


def settled(page, row: str, timeout: float = 60):
    """Refresh the page (no JavaScript needed) until the sync in `row` is done or failed; that row."""
    deadline = time.monotonic() + timeout
    while page.locator(row).get_attribute("data-state") in ("queued", "running"):
        assert time.monotonic() < deadline, page.locator(row).inner_text()
        time.sleep(0.3)
        page.reload()
    return page.locator(row)


def test_a_pypi_mirror_is_created_edited_filled_and_deleted_in_the_browser(
    site, tokens, upstream, page, tmp_path
) -> None:
    name = "mir-pypi"
    sign_in(page, site, OWNER)
    assert page.locator("main a[href='/organizations/mirror']").count() == 1  # the dashboard's link
    page.click("header details.account-menu > summary")
    page.click("header details.account-menu a[href='/organizations']")
    page.click("a:has-text('New mirror')")
    page.wait_for_url(f"{site.url}/organizations/mirror")
    assert axe_problems(page) == []

    form = "form[action='/organizations/mirror']"
    page.fill("#m-name", name)
    page.fill("#m-upstream", "ftp://example.org/simple/")  # a URL, but not one a mirror can use
    page.fill("#m-exclude", "mx-bad")
    page.click(f"{form} button[type=submit]")
    assert "must be an http:// or https:// URL" in page.locator("#mirror-error").inner_text()
    assert page.locator("#m-name").input_value() == name  # what was typed stays
    assert page.locator("#m-exclude").input_value() == "mx-bad"

    page.fill("#m-upstream", upstream)
    page.fill("#m-include", "mx-*\nnot a rule!")
    page.click(f"{form} button[type=submit]")
    assert "'not a rule!' is not a pattern" in page.locator("#mirror-error").inner_text()
    assert axe_problems(page) == []
    shoot(page, "mirror-new-error", tmp_path)
    assert mirror_json(site, name, tokens[OWNER]).status_code == 404  # nothing half-made

    page.fill("#m-include", "")
    page.fill("#m-ttl", "0")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{site.url}/{name}")
    assert f"Mirror {name} created" in page.locator(".flash").inner_text()
    banner = page.locator("section.mirror-banner")
    assert banner.locator("h2").inner_text() == f"Mirror of {upstream} (PyPI)"
    assert "mx-bad" in banner.locator("dl").inner_text()
    assert page.locator("a:has-text('Upload to')").count() == 0  # a mirror refuses first-party uploads
    pip_line = banner.locator("code[data-install=pip]").inner_text()
    index = re.search(r"--index-url (\S+)", pip_line).group(1)  # type: ignore[union-attr]
    assert index == f"{site.url}/pypi/{name}/simple/"
    assert axe_problems(page) == []
    shoot(page, "mirror-banner", tmp_path)
    with site.client() as client:  # the banner's index URL is the mirror's: upstream's files through it
        listed = client.get(f"{index}mx-lib/")
        assert listed.status_code == 200 and "mx_lib-1.0-py3-none-any.whl" in listed.text
    page.reload()
    assert banner.locator("dl").inner_text().count("never") == 0  # the last successful fetch is shown

    page.click("a:has-text('Mirror settings')")
    page.wait_for_url(f"{site.url}/organization/{name}/settings/mirror")
    assert page.locator("nav.org-tabs a[aria-current=page]").inner_text() == "Mirror"
    assert axe_problems(page) == []
    edit = f"form[action='/organization/{name}/settings/mirror']"
    page.fill("#pypi-ttl", "soon")
    page.click(f"{edit} button[type=submit]")
    assert "TTL must be a whole number of seconds" in page.locator("#pypi-edit-error").inner_text()
    assert page.locator("#pypi-ttl").input_value() == "soon"
    page.fill("#pypi-ttl", "3600")
    page.fill("#pypi-exclude", "mx-bad\ntype:sdist")
    page.click(f"{edit} button[type=submit]")
    assert "settings were saved" in page.locator(".flash").inner_text()
    shown = mirror_json(site, name, tokens[OWNER]).json()
    assert shown["exclude"] == ["mx-bad", "type:sdist"] and shown["ttl"] == 3600

    sync = f"form[action='/organization/{name}/settings/mirror/sync']"
    assert "None yet" in page.locator("section[aria-labelledby='pypi-sync-h']").inner_text()
    page.fill("#pypi-packages", "mx-bad")
    page.click(f"{sync} button[type=submit]")
    assert "Pre-fetch queued (sync " in page.locator(".flash").inner_text()
    refused = settled(page, "#pypi-syncs tbody tr:first-child")
    assert refused.get_attribute("data-state") == "failed"
    assert "excluded by mirror mir-pypi's rule 'mx-bad'" in refused.locator(".sync-result").inner_text()
    page.fill("#pypi-packages", "mx-app")
    assert page.locator("#pypi-deps").is_checked()
    page.click(f"{sync} button[type=submit]")
    assert "Refresh this page to see how it goes" in page.locator(".flash").inner_text()
    filled = settled(page, "#pypi-syncs tbody tr:first-child")
    assert filled.get_attribute("data-state") == "done", filled.inner_text()
    result = filled.locator(".sync-result").inner_text()
    assert "2 files cached" in result and "mx_lib-1.0-py3-none-any.whl" in result
    assert f"by {OWNER}" in filled.inner_text() and "mx-app" in filled.inner_text()
    assert page.locator("#pypi-syncs tbody tr").count() == 2  # the refused one stays listed below it
    with site.client() as client:  # stored through add_file: packages of the organization like any other
        assert client.get(f"/api/package/{name}/mx-lib").status_code == 200
    assert axe_problems(page) == []
    shoot(page, "mirror-settings", tmp_path)

    delete = f"form[action='/organization/{name}/settings/mirror/delete']"
    page.click(f"{delete} button[type=submit]")
    dialog = page.locator("dialog.confirm-dialog")
    dialog.locator("input").fill(name)
    dialog.locator("button.danger").click()
    page.wait_for_url(f"{site.url}/{name}")
    assert "the packages it cached stay" in page.locator(".flash").inner_text()
    assert page.locator("section.mirror-banner").count() == 0
    assert mirror_json(site, name, tokens[OWNER]).status_code == 404
    with site.client() as client:
        assert client.get(f"/api/package/{name}/mx-lib").status_code == 200
        assert (
            client.get(f"/organization/{name}/settings/mirror", headers=auth(tokens[OWNER])).status_code
            == 404
        )


def test_members_get_no_settings_and_a_private_mirror_is_hidden(site, tokens, upstream, browser) -> None:
    name = "mir-private"
    with site.client() as client:
        made = client.post(
            f"/api/mirrors/{name}",
            headers=auth(tokens[OWNER]),
            json={"format": "pypi", "upstream": upstream, "public": False},
        )
        assert made.status_code == 201, made.text
        assert client.post(
            f"/api/group/{name}/staff", headers=auth(tokens[OWNER]), json={"perms": "read"}
        ).is_success
        assert client.put(f"/api/group/{name}/staff/members/{MEMBER}", headers=auth(tokens[OWNER])).is_success

        anonymous = client.get(f"/{name}")
        assert anonymous.status_code == 200 and "mirror-banner" not in anonymous.text
        assert upstream not in anonymous.text

    for login, banner, settings in ((OWNER, True, 200), (MEMBER, True, 403), (OUTSIDER, False, 404)):
        viewer, _ = signed_in_client(site, login)
        with closing(viewer):
            shown = viewer.get(f"/{name}").text
            assert ("mirror-banner" in shown) is banner, login
            assert ("/settings/mirror" in shown) is (login == OWNER), login
            assert viewer.get(f"/organization/{name}/settings/mirror").status_code == settings, login
            if login == MEMBER:
                profile = viewer.get(f"/organization/{name}/settings/profile").text
                assert "/settings/mirror" not in profile  # no Mirror tab
    member_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = member_ctx.new_page()
        sign_in(page, site, MEMBER)
        page.goto(f"{site.url}/{name}")
        banner = page.locator("section.mirror-banner")
        assert "Private" in banner.inner_text()
        assert "/t/<TOKEN>/pypi/" in banner.locator("code[data-install=pip]").inner_text()
        assert banner.locator("a:has-text('Mirror settings')").count() == 0
        assert axe_problems(page) == []
    finally:
        member_ctx.close()


def test_bad_input_and_forged_forms_answer_with_a_message_and_change_nothing(site, tokens, upstream) -> None:
    name = "mir-forms"
    owner, token = signed_in_client(site, OWNER)
    with closing(owner):
        base = {"csrf_token": token, "format": "pypi", "upstream": upstream, "public": "public"}
        cases = [
            ({"name": name, "upstream": "not a url"}, 400, "must be an http:// or https:// URL"),
            ({"name": name, "include": "type:egg"}, 400, "type must be one of sdist, wheel"),
            ({"name": name, "ttl": "-5"}, 400, "TTL must be a whole number"),
            ({"name": name, "format": "npm"}, 400, "format must be one of"),
            ({"name": name, "include": "subdir:linux-64"}, 400, "has the unknown qualifier"),
            ({"name": ""}, 400, "Enter a name for the mirror"),
            ({"name": "mir has space"}, 400, "not a valid login"),
            ({"name": OUTSIDER}, 409, "already taken"),
        ]
        for fields, status, text in cases:
            sent = owner.post("/organizations/mirror", data={**base, **fields})
            assert sent.status_code == status, (fields, sent.text[:500])
            assert text.lower() in sent.text.lower(), (fields, text)  # the message starts the sentence
        made = owner.post(
            "/organizations/mirror", data={**base, "name": name, "exclude": "mx-bad", "ttl": "60"}
        )
        assert made.status_code == 303 and made.headers["location"] == f"/{name}"
        api = auth(tokens[OWNER])
        assert owner.post(f"/api/group/{name}/staff", headers=api, json={"perms": "read"}).is_success
        assert owner.put(f"/api/group/{name}/staff/members/{MEMBER}", headers=api).is_success
        assert owner.post("/organizations/mirror", data={**base, "name": name}).status_code == 409

        action = f"/organization/{name}/settings/mirror"
        assert (
            owner.post(action, data={"format": "pypi", "upstream": upstream, "ttl": "1"}).status_code == 403
        )
        unknown = owner.post(
            action, data={"csrf_token": token, "format": "npm", "upstream": upstream, "ttl": "1"}
        )
        assert unknown.status_code == 404 and "has no npm mirror" in unknown.text
        empty = owner.post(f"{action}/sync", data={"csrf_token": token, "format": "pypi", "packages": ""})
        assert empty.status_code == 400 and "Enter the packages to pre-fetch" in empty.text
        asked = owner.post(f"{action}/delete", data={"csrf_token": token, "format": "pypi"})
        assert asked.status_code == 200 and 'name="confirm"' in asked.text  # the no-JavaScript confirm page
        assert 'name="format" value="pypi"' in asked.text
        wrong = owner.post(
            f"{action}/delete", data={"csrf_token": token, "format": "pypi", "confirm": "mir-form"}
        )
        assert wrong.status_code == 400
    for login, status in ((MEMBER, 403), (OUTSIDER, 404)):
        forger, forged = signed_in_client(site, login)
        with closing(forger):
            sent = forger.post(
                f"{action}/delete", data={"csrf_token": forged, "format": "pypi", "confirm": name}
            )
            assert sent.status_code == status
            edited = forger.post(
                action, data={"csrf_token": forged, "format": "pypi", "upstream": upstream, "ttl": "1"}
            )
            assert edited.status_code == status
    shown = mirror_json(site, name, tokens[OWNER]).json()
    assert shown["ttl"] == 60 and shown["exclude"] == ["mx-bad"]
