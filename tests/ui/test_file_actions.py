"""The Files tab's actions in Chromium (ui/file_actions.py): tick files, then delete (typed account name), add or
remove a label, copy or move to a label; "Actions > Remove" a whole version. Client-visible effects are checked
with the real clients (py-rattler from the label channel, pip against the live index), and forged POSTs (another
user's session and CSRF token, no token, a wrong typed word) are refused and change nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from packyard.config import Settings
from packyard.core.models import Event
from tests.builders import build_conda, build_wheel
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
from tests.ui.test_install_lines_real import client_env, conda_installs
from tests.unit.api.helpers import auth, upload

OWNER = "filesets-ann"
STRANGER = "filesets-bob"


@dataclass
class World:
    site: Site
    token: str
    stranger_token: str

    def api(self) -> httpx.Client:
        return self.site.client()

    def files(self, name: str) -> dict[str, list[str]]:
        """basename -> labels, as the REST API shows them to the owner."""
        with self.api() as client:
            response = client.get(f"/api/package/{OWNER}/{name}", headers=auth(self.token))
            assert response.status_code == 200, response.text
            return {f["basename"]: sorted(f["labels"]) for f in response.json()["files"]}


def _conda(client: httpx.Client, token: str, tmp: Path, name: str, version: str, labels=None) -> str:
    folder = tmp / f"{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    path = build_conda(
        folder, name=name, version=version, noarch="generic", files={f"share/{name}/hello.txt": b"hi\n"}
    )
    committed = upload(
        client, token, OWNER, name, version, path, f"noarch/{path.name}", "conda", labels, False
    )
    assert committed.status_code == 200, committed.text
    return f"noarch/{path.name}"


def _wheel(client: httpx.Client, token: str, tmp: Path, name: str, version: str) -> str:
    folder = tmp / f"{name}-{version}-whl"
    folder.mkdir(parents=True, exist_ok=True)
    path = build_wheel(folder, name=name, version=version)
    committed = upload(client, token, OWNER, name, version, path, path.name, "pypi", None, False)
    assert committed.status_code == 200, committed.text
    return path.name


@pytest.fixture(scope="module")
def world(site: Site, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("filesets")
    for login in (OWNER, STRANGER):
        site.server.create_user(login, PASSWORD)
    with site.client() as client:
        token = api_token(client, OWNER)
        stranger = api_token(client, STRANGER)
        for name in ("fsmove", "fslabels", "fsversion", "fslocked", "fsforged", "fsnojs"):
            create_package(client, token, OWNER, name, summary=f"{name} for the file actions")
        _conda(client, token, tmp, "fsmove", "1.0")
        for version in ("1.0", "1.1"):
            _conda(client, token, tmp, "fslabels", version)
        for version in ("1.0", "2.0"):
            _conda(client, token, tmp, "fsversion", version)
        _conda(client, token, tmp, "fslocked", "1.0", ["frozen"])
        _conda(client, token, tmp, "fslocked", "1.1")
        assert client.post(f"/api/channels/{OWNER}/frozen/lock", headers=auth(token)).status_code == 201
        _conda(client, token, tmp, "fsforged", "1.0")
        for version in ("1.0", "2.0"):
            _conda(client, token, tmp, "fsnojs", version)
        create_package(client, token, OWNER, "fswheel", summary="wheels to delete")
        for version in ("1.0", "2.0"):
            _wheel(client, token, tmp, "fswheel", version)
    return World(site, token, stranger)


def _tick(page, *basenames: str) -> None:
    for basename in basenames:
        page.locator(f"input[name=file][value$='/{basename}']").check()


def _flash(page) -> str:
    return page.locator(".flash").inner_text()


def event_kinds(site: Site, package: str) -> set[str]:
    """The kinds of the events recorded for one of the owner's packages (what the dashboards' activity shows)."""
    engine = create_engine(Settings(data=site.server.data).sqlalchemy_url)
    try:
        with engine.begin() as db:
            rows = db.scalars(select(Event.kind).where(Event.owner == OWNER, Event.package == package))
            return set(rows)
    finally:
        engine.dispose()


def _rattler(site: Site, channel: str, name: str, tmp: Path) -> None:
    conda_installs(f"conda install --channel {site.url}{channel} {name}", name, tmp)


# --- the actions in the browser --------------------------------------------------------------------------------


def test_moving_a_conda_file_to_dev_moves_it_between_channels_for_rattler(
    world: World, page, tmp_path
) -> None:
    site = world.site
    _rattler(site, f"/{OWNER}", "fsmove", tmp_path / "before")  # installs from main first
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/fsmove/files")
    basename = next(iter(world.files("fsmove")))
    _tick(page, basename)
    page.fill("#fa-new-label", "dev")
    page.click("button[value=move]")
    page.wait_for_load_state()
    assert "Moved 1 file to the label dev." in _flash(page)
    assert world.files("fsmove") == {basename: ["dev"]}
    _rattler(site, f"/{OWNER}/label/dev", "fsmove", tmp_path / "dev")
    with pytest.raises(Exception, match="fsmove"):
        _rattler(site, f"/{OWNER}", "fsmove", tmp_path / "main")
    assert {"label.added", "label.removed"} <= event_kinds(site, "fsmove")


def test_adding_removing_and_copying_labels_in_the_browser(world: World, page) -> None:
    site = world.site
    files = world.files("fslabels")
    old, new = sorted(files)
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/fslabels/files")
    assert page.locator("button[value=add_label]").is_disabled()  # nothing ticked yet
    assert page.locator("button[value=delete]").is_disabled()
    _tick(page, old, new)
    assert page.locator("#file-actions .pick-count").inner_text() == "2 selected"
    assert page.locator("button[value=add_label]").is_enabled()
    page.fill("#fa-new-label", "test")
    page.click("button[value=add_label]")
    page.wait_for_load_state()
    assert "Added the label test to 2 files." in _flash(page)
    assert world.files("fslabels") == {old: ["main", "test"], new: ["main", "test"]}

    _tick(page, old)
    page.select_option("#fa-label", "test")
    page.click("button[value=remove_label]")
    page.wait_for_load_state()
    assert "Removed the label test from 1 file." in _flash(page)
    assert world.files("fslabels") == {old: ["main"], new: ["main", "test"]}

    _tick(page, old)
    page.fill("#fa-new-label", "stable")
    page.click("button[value=copy]")
    page.wait_for_load_state()
    assert "Copied 1 file to the label stable." in _flash(page)
    assert world.files("fslabels") == {old: ["main", "stable"], new: ["main", "test"]}
    # the label filter now offers the new labels, and the table shows them
    assert page.locator("#f-label option[value=stable]").count() == 1


def test_deleting_a_wheel_in_the_browser_takes_it_off_the_pip_index(world: World, page, tmp_path) -> None:
    site = world.site
    index = f"{site.url}/pypi/{OWNER}/simple/"
    env = client_env(tmp_path)

    def pip_download(spec: str) -> subprocess.CompletedProcess[str]:
        argv = [str(clients_bin() / "pip"), "download", "--no-deps", "-d", str(tmp_path / "dl"), "--index-url", index, spec]  # fmt: skip
        return subprocess.run(argv, env=env, text=True, capture_output=True, timeout=300, cwd=tmp_path)

    assert pip_download("fswheel==2.0").returncode == 0
    wheel = next(b for b in world.files("fswheel") if "-2.0-" in b)
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/fswheel/files")
    _tick(page, wheel)
    page.click("button[value=delete]")
    dialog = page.locator("dialog.confirm-dialog[open]")
    assert dialog.is_visible()
    ok = dialog.locator("button.danger")
    dialog.locator("input").fill("filesets")  # not the account name yet
    assert ok.is_disabled()
    dialog.locator("input").fill(OWNER)
    ok.click()
    page.wait_for_load_state()
    assert "Deleted 1 file." in _flash(page)
    assert "file.removed" in event_kinds(site, "fswheel")
    assert wheel not in world.files("fswheel")
    missing = pip_download("fswheel==2.0")
    assert missing.returncode != 0 and "fswheel==2.0" in missing.stderr + missing.stdout
    assert pip_download("fswheel").returncode == 0
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(
        {wheel, next(b for b in world.files("fswheel"))}
    )


def test_removing_a_version_from_its_actions_menu(world: World, page) -> None:
    site = world.site
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/fsversion/files")
    row = page.locator("table.versions-manage tr", has=page.locator("th", has_text=re.compile(r"^1\.0$")))
    row.locator("summary").click()
    row.locator("button.danger[type=submit]").click()
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.locator("input").fill("1.0")
    dialog.locator("button.danger").click()
    page.wait_for_load_state()
    assert "Removed version 1.0 and its files." in _flash(page)
    with site.client() as client:
        assert client.get(f"/api/release/{OWNER}/fsversion/1.0").status_code == 404
        assert client.get(f"/api/release/{OWNER}/fsversion/2.0").status_code == 200
    assert {"release.removed", "file.removed"} <= event_kinds(site, "fsversion")


def test_a_locked_label_refuses_the_whole_batch_and_says_so(world: World, page) -> None:
    site = world.site
    before = world.files("fslocked")
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/fslocked/files")
    _tick(page, *before)  # one file is in the locked label, the other is not
    page.fill("#fa-new-label", "later")
    page.click("button[value=move]")
    page.wait_for_load_state()
    assert "label 'frozen' is locked" in _flash(page)
    assert page.locator(".flash-error").count() == 1
    _tick(page, *before)
    page.click("button[value=delete]")
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.locator("input").fill(OWNER)
    dialog.locator("button.danger").click()
    page.wait_for_load_state()
    assert "locked" in _flash(page)
    assert world.files("fslocked") == before  # all or nothing: the unlocked file was not changed either
    with site.client() as client:  # and the REST batch says the same
        refused = client.post(
            f"/api/files/{OWNER}/fslocked",
            headers=auth(world.token),
            json={
                "action": "delete",
                "files": [{"version": "1.0", "basename": b} for b in before if "1.0" in b],
            },
        )
        assert refused.status_code == 409 and "locked" in refused.json()["error"]


def test_without_javascript_delete_asks_for_the_word_on_a_page(world: World, browser) -> None:
    site = world.site
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site, OWNER)
        page.goto(f"{site.url}/{OWNER}/fsnojs/files")
        assert page.locator("#fa-confirm").is_visible()  # the word's field is inline without the dialog
        old, new = sorted(world.files("fsnojs"))
        _tick(page, old)
        page.click("button[value=delete]")
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Delete 1 file?"
        assert old in page.locator(".confirm-items").inner_text()
        assert old in world.files("fsnojs")  # not yet
        page.click("a.button.secondary")  # Cancel goes back to the Files tab, nothing deleted
        page.wait_for_load_state()
        assert page.url.endswith(f"/{OWNER}/fsnojs/files")
        assert old in world.files("fsnojs")
        _tick(page, old)  # again, with the word typed this time on the confirmation page
        page.click("button[value=delete]")
        page.wait_for_load_state()
        page.fill("#confirm-word", OWNER)
        page.click("form button.danger")
        page.wait_for_load_state()
        assert "Deleted 1 file." in _flash(page)
        assert world.files("fsnojs") == {new: ["main"]}
        # a version, too: its Actions menu is a <details>, its word field inline
        page.locator("table.versions-manage summary").first.click()
        page.locator("table.versions-manage input[name=confirm]").first.fill("2.0")
        page.locator("table.versions-manage button.danger").first.click()
        page.wait_for_load_state()
        assert "Removed version 2.0" in _flash(page)
        assert world.files("fsnojs") == {}
    finally:
        context.close()


# --- who may --------------------------------------------------------------------------------------------------


def test_callers_who_may_not_write_get_no_checkboxes_or_buttons(world: World, page) -> None:
    site = world.site
    for who in (None, STRANGER):
        if who:
            sign_in(page, site, who)
        page.goto(f"{site.url}/{OWNER}/fsforged/files")
        assert page.locator("table.files-tab").count() == 1
        assert page.locator("#file-actions, td.pick, table.versions-manage").count() == 0


def test_a_collaborator_who_may_write_gets_the_actions(world: World, page) -> None:
    site = world.site
    collaborator = "filesets-cora"
    site.server.create_user(collaborator, PASSWORD)
    with site.client() as client:
        added = client.put(
            f"/api/packages/{OWNER}/fslabels/collaborators/{collaborator}", headers=auth(world.token)
        )
        assert added.status_code == 201, added.text
    sign_in(page, site, collaborator)
    page.goto(f"{site.url}/{OWNER}/fslabels/files")
    assert page.locator("#file-actions").count() == 1
    assert page.locator("table.files-tab td.pick input").count() == len(world.files("fslabels"))
    page.goto(f"{site.url}/{OWNER}/labels")  # labels of the whole namespace are the owner's to manage
    assert page.locator("details.label-actions, .new-label").count() == 0


def test_forged_posts_are_refused_and_change_nothing(world: World) -> None:
    site = world.site
    before = world.files("fsforged")
    basename = next(iter(before))
    target = f"/{OWNER}/fsforged/files/change"
    ticked = {"file": f"1.0/{basename}", "action": "delete", "confirm": OWNER}
    with site.client() as bob:
        assert http_sign_in(bob, STRANGER).status_code == 303
        token = csrf_from(bob.get(f"/{OWNER}/fsforged/files").text)
        assert bob.post(target, data={**ticked, "csrf_token": token}).status_code == 403
        unconfirmed = {k: v for k, v in ticked.items() if k != "confirm"}
        assert (
            bob.post(target, data={**unconfirmed, "csrf_token": token}).status_code == 403
        )  # no confirm page
        moved = {**ticked, "action": "move", "new_label": "evil", "csrf_token": token}
        assert bob.post(target, data=moved).status_code == 403
        version = {"version": "1.0", "confirm": "1.0", "csrf_token": token}
        assert bob.post(f"/{OWNER}/fsforged/files/remove-version", data=version).status_code == 403
        del version["confirm"]
        assert bob.post(f"/{OWNER}/fsforged/files/remove-version", data=version).status_code == 403
    with site.client() as ann:
        assert http_sign_in(ann, OWNER).status_code == 303
        assert ann.post(target, data=ticked).status_code == 403  # no CSRF token
        assert ann.post(target, data={**ticked, "csrf_token": token}).status_code == 403  # bob's token
        mine = csrf_from(ann.get(f"/{OWNER}/fsforged/files").text)
        wrong = ann.post(target, data={**ticked, "confirm": "filesets-bob", "csrf_token": mine})
        assert wrong.status_code == 400 and "type 'filesets-ann' exactly" in wrong.text
        stale = ann.post(
            f"/{OWNER}/fsforged/files/remove-version",
            data={"version": "1.0", "confirm": "0.9", "csrf_token": mine},
        )
        assert stale.status_code == 400
        asked = ann.post(
            target, data={**{k: v for k, v in ticked.items() if k != "confirm"}, "csrf_token": mine}
        )
        assert asked.status_code == 200 and "Type <strong>filesets-ann</strong> to confirm" in asked.text
    with site.client() as client:  # the REST batch asks the same permission function
        refused = client.post(
            f"/api/files/{OWNER}/fsforged",
            headers=auth(world.stranger_token),
            json={"action": "delete", "files": [{"version": "1.0", "basename": basename}]},
        )
        assert refused.status_code == 403
    assert world.files("fsforged") == before


def test_the_rest_batch_is_in_the_openapi_schema(world: World) -> None:
    with world.api() as client:
        paths = client.get("/api/openapi.json").json()["paths"]
    operation = paths["/api/files/{owner}/{name}"]["post"]
    assert "FileBatch" in str(operation["requestBody"])


def test_the_files_tab_with_actions_is_accessible(world: World, page, tmp_path) -> None:
    sign_in(page, world.site, OWNER)
    page.goto(f"{world.site.url}/{OWNER}/fslabels/files")
    assert axe_problems(page) == []
    page.locator("table.files-tab td.pick input").first.check()
    shoot(page, "filesets-files", tmp_path)
    page.goto(f"{world.site.url}/{OWNER}/fsversion/files")
    page.locator("table.versions-manage summary").first.click()
    assert axe_problems(page) == []
    shoot(page, "filesets-versions", tmp_path)
    page.goto(f"{world.site.url}/{OWNER}/fslabels/files")
    page.locator("table.files-tab td.pick input").first.check()
    page.click("button[value=delete]")
    assert axe_problems(page) == []
    out = os.environ.get("PACKYARD_UI_SCREENSHOTS")
    page.screenshot(path=str(Path(out) if out else tmp_path) + "/filesets-delete-dialog-desktop.png")
