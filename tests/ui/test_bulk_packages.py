"""Packages in bulk on the owner page (ui/package_bulk.py), in Chromium: tick packages, Delete (type the account
name) or Set access; then pip checks what an anonymous user and a token URL get. Forged forms (another user's
session and CSRF token, no CSRF token, a wrong or missing word, a batch naming one package the caller may not change)
are refused and change nothing. Logins are this module's own (`pkgset-b...`): the live server is shared.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import closing
from dataclasses import dataclass
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
from tests.unit.api.helpers import auth, upload

OWNER = "pkgset-bowner"
OTHER = "pkgset-bother"
COLLAB = "pkgset-bcollab"


@dataclass
class World:
    site: Site
    tokens: dict[str, str]
    tmp: Path

    def get(self, owner: str, name: str, token: str | None = None) -> httpx.Response:
        with self.site.client() as client:
            headers = auth(token) if token else {}
            return client.get(f"/api/package/{owner}/{name}", headers=headers)

    def access(self, owner: str, name: str) -> str:
        found = self.get(owner, name, self.tokens[OWNER if owner == OWNER else OTHER])
        assert found.status_code == 200, found.text
        return found.json()["access"]

    def exists(self, owner: str, name: str) -> bool:
        token = self.tokens[OWNER if owner == OWNER else OTHER]
        status = self.get(owner, name, token).status_code
        assert status in (200, 404)
        return status == 200

    def add_package(self, owner: str, name: str, *, wheel: bool = False, public: bool = True) -> None:
        token = self.tokens[owner]
        with self.site.client() as client:
            create_package(client, token, owner, name, public=public, summary=f"{name} for the bulk tests")
            if wheel:
                folder = self.tmp / name
                folder.mkdir()
                built = build_wheel(folder, name=name, version="1.0")
                done = upload(client, token, owner, name, "1.0", built, built.name, "pypi", create=False)
                assert done.status_code == 200, done.text


@pytest.fixture(scope="module")
def world(site: Site, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("pkgset-bulk")
    tokens = {}
    with site.client() as client:
        for login in (OWNER, OTHER, COLLAB):
            site.server.create_user(login, PASSWORD)
            tokens[login] = api_token(client, login)
    w = World(site, tokens, tmp)
    w.add_package(OWNER, "bwheel", wheel=True)
    for name in ("bdel-one", "bdel-two", "bdel-nojs", "bkeep", "bshared"):
        w.add_package(OWNER, name)
    w.add_package(OTHER, "btheirs")
    with site.client() as client:
        added = client.put(
            f"/api/packages/{OWNER}/bshared/collaborators/{COLLAB}", headers=auth(tokens[OWNER])
        )
        assert added.status_code == 201, added.text
    return w


def _pip_download(world: World, index: str, name: str) -> subprocess.CompletedProcess[str]:
    home = world.tmp / f"pip-{abs(hash(index))}"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1"
    )
    return subprocess.run(
        [str(clients_bin() / "pip"), "download", "--no-deps", "--index-url", index, "-d", str(home / "out"), name],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip


def _session(world: World, login: str, path: str) -> tuple[httpx.Client, str]:
    """A signed-in session (cookie jar) and the CSRF token its pages carry."""
    client = world.site.client()
    assert http_sign_in(client, login).status_code == 303
    return client, csrf_from(client.get(path).text)


# --- in the browser ----------------------------------------------------------------------------------------------


def test_only_the_packages_the_caller_administers_have_a_checkbox(world: World, page, context) -> None:
    sign_in(page, world.site, OWNER)
    page.goto(f"{world.site.url}/{OWNER}")
    names = {box.get_attribute("value") for box in page.locator("input.pick").all()}
    assert {"bwheel", "bdel-one", "bdel-two", "bkeep", "bshared"} <= names
    for other in (COLLAB, OTHER):  # a collaborator may write, not delete; a stranger may do neither
        context.clear_cookies()
        sign_in(page, world.site, other)
        page.goto(f"{world.site.url}/{OWNER}")
        assert page.locator("a.pkg-name", has_text="bshared").count() == 1
        assert page.locator("input.pick").count() == 0
        assert page.locator("form#bulk").count() == 0
    context.clear_cookies()
    page.goto(f"{world.site.url}/{OWNER}")  # anonymous
    assert page.locator("input.pick").count() == 0


def test_set_access_private_in_the_browser_then_pip_needs_the_token(world: World, page, tmp_path) -> None:
    index = f"{world.site.url}/pypi/{OWNER}/simple/"
    assert _pip_download(world, index, "bwheel").returncode == 0  # public: anybody downloads it
    sign_in(page, world.site, OWNER)
    page.goto(f"{world.site.url}/{OWNER}")
    page.check("input.pick[value='bwheel']")
    page.select_option("#bulk-access", "private")
    page.get_by_role("button", name="Set access").click()
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith(f"/{OWNER}")
    assert "Made 1 package private: bwheel." in page.locator(".flash-ok").inner_text()
    assert world.access(OWNER, "bwheel") == "private"
    assert world.access(OWNER, "bkeep") == "public"  # only the ticked one
    refused = _pip_download(world, index, "bwheel")
    assert refused.returncode != 0
    token_index = f"{world.site.url}/pypi/t/{world.tokens[OWNER]}/{OWNER}/simple/"
    fetched = _pip_download(world, token_index, "bwheel")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    page.check("input.pick[value='bwheel']")  # and back to public, for everybody
    page.select_option("#bulk-access", "public")
    page.get_by_role("button", name="Set access").click()
    page.wait_for_load_state()
    assert world.access(OWNER, "bwheel") == "public"


def test_delete_asks_for_the_account_name_in_a_dialog(world: World, page, tmp_path) -> None:
    sign_in(page, world.site, OWNER)
    page.goto(f"{world.site.url}/{OWNER}")
    delete = page.locator(".bulk-bar button[value=delete]")
    assert delete.is_disabled() and page.get_by_role("button", name="Set access").is_disabled()
    assert page.locator("#bulk .pick-count").inner_text() == "None selected"
    page.check("input.pick[value='bdel-one']")
    assert delete.is_enabled()
    page.check("input.pick[value='bdel-two']")
    assert page.locator("#bulk .pick-count").inner_text() == "2 selected"
    shoot(page, "pkgset-bulk-selected", tmp_path)
    assert axe_problems(page) == []
    page.locator(".bulk-bar button[value=delete]").click()
    dialog = page.locator("dialog.confirm-dialog")
    assert dialog.is_visible()
    ok = dialog.get_by_role("button", name="Delete")
    dialog.locator("input").fill(OWNER.upper())
    assert ok.is_disabled()  # the exact name only
    dialog.locator("input").fill(OWNER)
    assert axe_problems(page) == []
    shoot(page, "pkgset-bulk-delete-dialog", tmp_path)
    ok.click()
    page.wait_for_load_state()
    assert "Deleted 2 packages" in page.locator(".flash-ok").inner_text()
    assert not world.exists(OWNER, "bdel-one") and not world.exists(OWNER, "bdel-two")
    assert world.exists(OWNER, "bkeep")


def test_delete_works_without_javascript_through_the_confirm_page(world: World, browser, tmp_path) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, world.site, OWNER)
        page.goto(f"{world.site.url}/{OWNER}")
        page.check("input.pick[value='bdel-nojs']")
        page.locator(".bulk-bar button[value=delete]").click()  # no word typed
        page.wait_for_load_state()
        assert page.locator("h1").inner_text().startswith("Delete 1 package")
        assert page.locator(".confirm-items").inner_text().strip() == "bdel-nojs"
        assert world.exists(OWNER, "bdel-nojs")
        shoot(page, "pkgset-bulk-confirm-page", tmp_path)  # (axe needs scripts: see the settings tests)
        page.fill("#confirm-word", OWNER)
        page.get_by_role("button", name="Delete").click()
        page.wait_for_load_state()
        assert "Deleted 1 package: bdel-nojs." in page.locator(".flash-ok").inner_text()
        assert not world.exists(OWNER, "bdel-nojs")
    finally:
        context.close()


# --- forged and refused forms ------------------------------------------------------------------------------------


def test_a_forged_post_from_another_users_session_changes_nothing(world: World) -> None:
    client, csrf = _session(world, OTHER, f"/{OTHER}")
    with closing(client):
        for path, extra in (("delete", {"confirm": OWNER}), ("access", {"access": "private"})):
            refused = client.post(
                f"/{OWNER}/packages/{path}", data={"csrf_token": csrf, "package": ["bkeep"], **extra}
            )
            assert refused.status_code == 403, refused.text
        # a private package of someone else is not even named back: the same 404 as a missing one
        world.add_package(OWNER, "bhidden", public=False)
        hidden = client.post(
            f"/{OWNER}/packages/delete", data={"csrf_token": csrf, "package": "bhidden", "confirm": OWNER}
        )
        missing = client.post(
            f"/{OWNER}/packages/delete", data={"csrf_token": csrf, "package": "bnothing", "confirm": OWNER}
        )
        assert hidden.status_code == missing.status_code == 404
    assert world.exists(OWNER, "bkeep") and world.access(OWNER, "bkeep") == "public"
    assert world.exists(OWNER, "bhidden")


def test_one_refused_name_refuses_the_whole_batch(world: World) -> None:
    client, csrf = _session(world, COLLAB, f"/{OWNER}")  # may write to bshared, may not delete it
    with closing(client):
        refused = client.post(
            f"/{OWNER}/packages/delete",
            data={"csrf_token": csrf, "package": ["bshared"], "confirm": OWNER},
            headers={"Accept": "text/html"},
        )
        assert refused.status_code == 403
        assert f"{OWNER}/bshared" in refused.text
    client, csrf = _session(world, OWNER, f"/{OWNER}")
    with closing(client):
        mixed = client.post(
            f"/{OWNER}/packages/access",
            data={"csrf_token": csrf, "package": ["bkeep", "bno-such"], "access": "private"},
            headers={"Accept": "text/html"},
        )
        assert mixed.status_code == 404 and "bno-such" in mixed.text
        mixed = client.post(
            f"/{OWNER}/packages/delete",
            data={"csrf_token": csrf, "package": ["bkeep", "bno-such"], "confirm": OWNER},
        )
        assert mixed.status_code == 404
    assert world.exists(OWNER, "bkeep") and world.access(OWNER, "bkeep") == "public"


def test_no_csrf_token_or_a_wrong_word_changes_nothing(world: World) -> None:
    client, csrf = _session(world, OWNER, f"/{OWNER}")
    with closing(client):
        no_token = client.post(f"/{OWNER}/packages/delete", data={"package": "bkeep", "confirm": OWNER})
        assert no_token.status_code == 403
        no_token = client.post(f"/{OWNER}/packages/access", data={"package": "bkeep", "access": "private"})
        assert no_token.status_code == 403
        other_session, other_csrf = _session(world, OTHER, f"/{OTHER}")
        other_session.close()
        stolen = client.post(
            f"/{OWNER}/packages/delete", data={"csrf_token": other_csrf, "package": "bkeep", "confirm": OWNER}
        )
        assert stolen.status_code == 403  # another session's token
        wrong = client.post(
            f"/{OWNER}/packages/delete", data={"csrf_token": csrf, "package": "bkeep", "confirm": "bkeep"}
        )
        assert wrong.status_code == 400
        asked = client.post(f"/{OWNER}/packages/delete", data={"csrf_token": csrf, "package": "bkeep"})
        assert asked.status_code == 200 and 'name="confirm"' in asked.text  # the confirm page, nothing done
        bad_access = client.post(
            f"/{OWNER}/packages/access", data={"csrf_token": csrf, "package": "bkeep", "access": "secret"}
        )
        assert bad_access.status_code == 400
    assert world.exists(OWNER, "bkeep") and world.access(OWNER, "bkeep") == "public"


# --- the REST API --------------------------------------------------------------------------------------------------


def test_the_rest_api_deletes_in_bulk_all_or_nothing(world: World) -> None:
    world.add_package(OWNER, "brest-one")
    world.add_package(OWNER, "brest-two")
    with world.site.client() as client:
        refused = client.post(
            f"/api/packages/{OWNER}/delete",
            headers=auth(world.tokens[OTHER]),
            json={"packages": ["brest-one"]},
        )
        assert refused.status_code == 403
        mixed = client.post(
            f"/api/packages/{OWNER}/delete",
            headers=auth(world.tokens[OWNER]),
            json={"packages": ["brest-one", "brest-missing"]},
        )
        assert mixed.status_code == 404 and "brest-missing" in mixed.text
        assert world.exists(OWNER, "brest-one")
        deleted = client.post(
            f"/api/packages/{OWNER}/delete",
            headers=auth(world.tokens[OWNER]),
            json={"packages": ["brest-one", "brest-two"]},
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"deleted": ["brest-one", "brest-two"]}
        schema = client.get("/api/openapi.json").json()
        assert "/api/packages/{owner}/delete" in schema["paths"]
    assert not world.exists(OWNER, "brest-one") and not world.exists(OWNER, "brest-two")
    session, _ = _session(world, OWNER, "/")
    with closing(session):
        feed = session.get("/").text  # every deletion is in the event log, so on the dashboard
    assert "removed package brest-two" in feed and "removed package brest-one" in feed
