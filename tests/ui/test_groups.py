"""An organization's groups in Chromium (docs/manage/orgs.md, "Groups"): +New Group with a permission, members and
packages; changing a group's permission; adding and removing members and packages; deleting a group; and the
client-visible effect: a member of a group given Read-Only on a private package installs it with pip through
their token URL, a non-member cannot, and after the member is removed the install fails.

Forged forms (another user's session and CSRF token, no CSRF token, a wrong typed name) are refused and change
nothing. The module's own people and organization are prefixed `orgs-` (the live server is shared).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.builders import build_wheel
from tests.clients.anaconda import clients_bin
from tests.ui.conftest import (
    PASSWORD,
    Site,
    api_token,
    axe_problems,
    create_package,
    csrf_from,
    http_sign_in,
    shoot,
    sign_in,
)
from tests.ui.test_install_lines_real import client_env
from tests.unit.api.helpers import auth, upload

ORG, OWNER, MEMBER, OUTSIDER = "orgs-guild", "orgs-gwen", "orgs-gary", "orgs-gus"
VAULT = "orgsvault"  # private: only what a group gives lets anyone but the owners install it
SETTINGS = f"/organization/{ORG}/settings/groups"


@dataclass
class Guild:
    site: Site
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, login: str = OWNER) -> dict[str, str]:
        return auth(self.tokens[login])


def ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response


@pytest.fixture(scope="module")
def guild(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Guild:
    tmp = tmp_path_factory.mktemp("orgs-groups")
    for login in (OWNER, MEMBER, OUTSIDER):
        site.server.create_user(login, PASSWORD)
    made = Guild(site)
    with site.client() as client:
        for login in (OWNER, MEMBER, OUTSIDER):
            made.tokens[login] = api_token(client, login)
        ok(
            client.post(
                f"/api/orgs/{ORG}", headers=made.api(), json={"name": "The Guild", "email": "g@example.org"}
            )
        )
        create_package(client, made.tokens[OWNER], ORG, VAULT, public=False, summary="The guild's vault")
        wheel = build_wheel(tmp, name=VAULT, version="1.0")
        ok(upload(client, made.tokens[OWNER], ORG, VAULT, "1.0", wheel, wheel.name, "pypi", create=False))
        create_package(client, made.tokens[OWNER], ORG, "orgs-ledger", summary="Public ledger")
        # the member belongs to the organization through a group with no packages: a member, not yet a reader
        ok(client.post(f"/api/group/{ORG}/lobby", headers=made.api(), json={"perms": "read"}))
        ok(client.put(f"/api/group/{ORG}/lobby/members/{MEMBER}", headers=made.api()))
    return made


def pip_install(site: Site, token: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The real pip, through the member's token URL (`/pypi/t/TOKEN/ORG/simple`), in a clean environment."""
    target = tmp / "target"
    env = client_env(tmp)
    argv = [str(clients_bin() / "pip"), "install", "--no-deps", "--target", str(target),
            "--index-url", f"{site.url}/pypi/t/{token}/{ORG}/simple", VAULT]  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run(argv, cwd=tmp, env=env, text=True, capture_output=True, timeout=300)


def group_json(guild: Guild, name: str) -> dict:
    with guild.site.client() as client:
        response = client.get(f"/api/group/{ORG}/{name}", headers=guild.api())
    assert response.status_code == 200, response.text
    return response.json()


def test_new_group_gives_a_member_pip_install_and_removing_them_takes_it_away(
    site, guild, browser, page, tmp_path
) -> None:
    assert pip_install(site, guild.tokens[MEMBER], tmp_path / "before").returncode != 0  # not a reader yet

    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{ORG}/groups/")  # seed 001's address
    assert page.locator("h1").inner_text() == "The Guild"
    assert axe_problems(page) == []
    page.click("details.new-group > summary")
    page.fill("#ng-name", "readers")
    page.check("input[name=permission][value=read]")
    page.fill("#ng-members", MEMBER)
    page.fill("#ng-packages", VAULT)
    assert axe_problems(page) == []
    shoot(page, "orgs-new-group", tmp_path)
    page.click("details.new-group button[type=submit]")
    page.wait_for_url(f"{site.url}{SETTINGS}/readers")
    assert "Group readers created." in page.locator(".flash").inner_text()
    assert page.locator("#g-perm").input_value() == "read"
    assert MEMBER in page.locator("section[aria-labelledby=members-h]").inner_text()
    assert VAULT in page.locator("section[aria-labelledby=packages-h]").inner_text()
    assert axe_problems(page) == []
    shoot(page, "orgs-group", tmp_path)
    shown = group_json(guild, "readers")
    assert (
        shown["perms"] == "read" and shown["member_logins"] == [MEMBER] and shown["package_names"] == [VAULT]
    )

    installed = pip_install(site, guild.tokens[MEMBER], tmp_path / "member")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (tmp_path / "member" / "target" / VAULT / "__init__.py").is_file()
    refused = pip_install(site, guild.tokens[OUTSIDER], tmp_path / "outsider")
    assert refused.returncode != 0 and not (tmp_path / "outsider" / "target" / VAULT).exists()

    # the member was told, on their dashboard, by the page's action
    other = browser.new_context()
    member_page = other.new_page()
    sign_in(member_page, site, MEMBER)
    notes = member_page.locator("section[aria-labelledby=notes-h]").inner_text()
    assert f"{OWNER} added you to the organization {ORG} (group readers)" in notes
    other.close()

    page.click(f"button[aria-label='Remove {MEMBER} from readers']")
    page.wait_for_url(f"{site.url}{SETTINGS}/readers")
    assert f"Removed {MEMBER}." in page.locator(".flash").inner_text()
    assert group_json(guild, "readers")["member_logins"] == []
    gone = pip_install(site, guild.tokens[MEMBER], tmp_path / "after")
    assert gone.returncode != 0 and not (tmp_path / "after" / "target" / VAULT).exists()


def test_a_group_permission_level_changes_in_the_page_and_through_the_api(site, guild, page) -> None:
    with site.client() as client:
        ok(client.post(f"/api/group/{ORG}/writers", headers=guild.api(), json={"perms": "read"}))
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}{SETTINGS}/writers")
    page.select_option("#g-perm", "write")
    page.click("form[action$='/writers/permission'] button")
    page.wait_for_url(f"{site.url}{SETTINGS}/writers")
    assert "Permission changed to Read-Write." in page.locator(".flash").inner_text()
    assert group_json(guild, "writers")["perms"] == "write"
    page.goto(f"{site.url}/organization/{ORG}/dashboard")
    assert f"{OWNER} changed group writers from read to write" in page.locator("ol.feed").inner_text()

    with site.client() as client:
        changed = client.patch(f"/api/group/{ORG}/writers", headers=guild.api(), json={"permission": "admin"})
        assert changed.status_code == 200 and changed.json()["perms"] == "admin", changed.text
        member = client.patch(
            f"/api/group/{ORG}/writers", headers=guild.api(MEMBER), json={"permission": "read"}
        )
        assert member.status_code == 403
        bad = client.patch(f"/api/group/{ORG}/writers", headers=guild.api(), json={"permission": "superuser"})
        assert bad.status_code == 400 and "read, write, admin" in bad.text
        owners = client.patch(f"/api/group/{ORG}/owners", headers=guild.api(), json={"permission": "read"})
        assert owners.status_code == 400
        schema = client.get("/api/openapi.json").json()
        assert "patch" in schema["paths"]["/api/group/{org}/{name}"]
    assert group_json(guild, "writers")["perms"] == "admin"


def test_packages_are_added_and_removed_in_the_packages_box(site, guild, page) -> None:
    with site.client() as client:
        ok(client.post(f"/api/group/{ORG}/shelf", headers=guild.api(), json={"perms": "read"}))
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}{SETTINGS}/shelf")
    page.fill("#g-packages", "nope-not-here")
    page.click("form[action$='/shelf/packages'] button")
    assert "not found" in page.locator("section[aria-labelledby=packages-h] .alert").inner_text()
    assert group_json(guild, "shelf")["package_names"] == []
    page.fill("#g-packages", f"{VAULT}, orgs-ledger")
    page.click("form[action$='/shelf/packages'] button")
    page.wait_for_url(f"{site.url}{SETTINGS}/shelf")
    assert sorted(group_json(guild, "shelf")["package_names"]) == sorted([VAULT, "orgs-ledger"])
    page.click("button[aria-label='Remove orgs-ledger from shelf']")
    page.wait_for_url(f"{site.url}{SETTINGS}/shelf")
    assert group_json(guild, "shelf")["package_names"] == [VAULT]


def test_a_group_is_deleted_after_typing_its_name(site, guild, page) -> None:
    with site.client() as client:
        ok(client.post(f"/api/group/{ORG}/doomed", headers=guild.api(), json={"perms": "read"}))
        sign_in_client = site.client()
    with sign_in_client as browser:
        assert http_sign_in(browser, OWNER).status_code == 303
        token = csrf_from(browser.get(f"{SETTINGS}/doomed").text)
        wrong = browser.post(f"{SETTINGS}/doomed/delete", data={"csrf_token": token, "confirm": "doome"})
        assert wrong.status_code == 400
        asked = browser.post(f"{SETTINGS}/doomed/delete", data={"csrf_token": token})
        assert asked.status_code == 200 and 'name="confirm"' in asked.text  # the no-JavaScript confirm page
        no_csrf = browser.post(f"{SETTINGS}/doomed/delete", data={"confirm": "doomed"})
        assert no_csrf.status_code == 403
    assert group_json(guild, "doomed")["name"] == "doomed"

    sign_in(page, site, OWNER)
    page.goto(f"{site.url}{SETTINGS}/doomed")
    page.click("form[action$='/doomed/delete'] button[type=submit]")
    dialog = page.locator("dialog.confirm-dialog")
    dialog.locator("input").fill("doomed")
    dialog.locator("button.danger").click()
    page.wait_for_url(f"{site.url}{SETTINGS}")
    assert "Group doomed deleted." in page.locator(".flash").inner_text()
    with site.client() as client:
        assert client.get(f"/api/group/{ORG}/doomed", headers=guild.api()).status_code == 404


def test_members_read_the_groups_and_forged_forms_change_nothing(site, guild, page, tmp_path) -> None:
    sign_in(page, site, MEMBER)
    page.goto(f"{site.url}/{ORG}/groups")
    assert page.locator("table.org-groups").count() == 1
    assert page.locator("details.new-group, form[action$='/groups/add'], button.remove-x").count() == 0
    assert axe_problems(page) == []
    shoot(page, "orgs-groups-member", tmp_path)
    page.goto(f"{site.url}{SETTINGS}/lobby")
    assert page.locator("#g-perm, button.remove-x, form[action$='/delete']").count() == 0
    with site.client() as client:  # a group listing a private package the member may not see
        ok(client.post(f"/api/group/{ORG}/vaulted", headers=guild.api(), json={"perms": "read"}))
        ok(client.put(f"/api/group/{ORG}/vaulted/packages/{VAULT}", headers=guild.api()))
        ok(client.put(f"/api/group/{ORG}/vaulted/packages/orgs-ledger", headers=guild.api()))
    page.goto(f"{site.url}{SETTINGS}/vaulted")
    listed = page.locator("section[aria-labelledby=packages-h]").inner_text()
    assert "orgs-ledger" in listed and VAULT not in listed

    def before() -> list[str]:
        with site.client() as client:
            return sorted(g["name"] for g in client.get(f"/api/groups/{ORG}", headers=guild.api()).json())

    names = before()
    for login, expected in ((MEMBER, 403), (OUTSIDER, 404)):
        with site.client() as browser:
            assert http_sign_in(browser, login).status_code == 303
            token = csrf_from(browser.get("/").text)  # the forger's own valid session and token
            made = browser.post(SETTINGS, data={"csrf_token": token, "name": "forged", "permission": "admin",
                                                "members": login, "packages": VAULT})  # fmt: skip
            assert made.status_code == expected, made.text
            added = browser.post(
                f"{SETTINGS}/add", data={"csrf_token": token, "group": "owners", "logins": login}
            )
            assert added.status_code == expected
            perm = browser.post(
                f"{SETTINGS}/lobby/permission", data={"csrf_token": token, "permission": "admin"}
            )
            assert perm.status_code == expected
            dropped = browser.post(f"{SETTINGS}/lobby/delete", data={"csrf_token": token, "confirm": "lobby"})
            assert dropped.status_code == expected
    with site.client() as browser:  # the owner's own session, without the CSRF token
        assert http_sign_in(browser, OWNER).status_code == 303
        assert browser.post(SETTINGS, data={"name": "forged", "permission": "read"}).status_code == 403
        other = site.client()
        assert http_sign_in(other, MEMBER).status_code == 303
        stolen = csrf_from(other.get("/").text)  # another user's valid token on the owner's session
        assert browser.post(SETTINGS, data={"csrf_token": stolen, "name": "forged"}).status_code == 403
        other.close()
    assert before() == names
    assert group_json(guild, "owners")["member_logins"] == [OWNER]
    assert group_json(guild, "lobby")["perms"] == "read"


def test_owners_add_people_to_a_group_by_name_and_unknown_names_add_nobody(site, guild, page) -> None:
    with site.client() as client:
        ok(client.post(f"/api/group/{ORG}/crew", headers=guild.api(), json={"perms": "read"}))
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}{SETTINGS}")
    page.select_option("#add-group", "crew")
    page.fill("#add-logins", f"{OUTSIDER} orgs-nobody-like-this")
    page.click("form[action$='/groups/add'] button")
    assert re.search("not found", page.locator("#add-error").inner_text(), re.I)
    assert group_json(guild, "crew")["member_logins"] == []  # all or none
    page.fill("#add-logins", OUTSIDER)
    page.click("form[action$='/groups/add'] button")
    page.wait_for_url(f"{site.url}{SETTINGS}")
    assert group_json(guild, "crew")["member_logins"] == [OUTSIDER]


def test_groups_of_a_user_namespace_are_still_a_package_address(site, guild) -> None:
    with site.client() as client:
        assert client.get(f"/{OWNER}/groups", headers={"Accept": "text/html"}).status_code == 404
        anonymous = client.get(f"/{ORG}/groups/", headers={"Accept": "text/html"})
        assert anonymous.status_code == 404  # not a member: the same 404 as a package that is not there
