"""The labels page's actions in Chromium (ui/label_actions.py): create, copy, rename, lock, unlock, remove.

A locked label shows as locked (icon and text), and every change to it is refused with a message naming the lock:
from the page, from REST, and from the real anaconda-client (`upload -l`, `label --copy`, `copy --to-label`).
Forged POSTs (another user's session and CSRF token, no token, a wrong typed word) are refused and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from packyard.config import Settings
from packyard.core.models import Event
from tests.builders import build_conda
from tests.clients.anaconda import Anaconda
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

OWNER = "filesets-lena"
STRANGER = "filesets-max"


@dataclass
class World:
    site: Site
    token: str
    tmp: Path

    def labels(self) -> dict[str, dict]:
        with self.site.client() as client:
            response = client.get(f"/api/channels/{OWNER}", headers=auth(self.token))
            assert response.status_code == 200, response.text
            return response.json()

    def in_label(self, label: str) -> list[str]:
        with self.site.client() as client:
            response = client.get(f"/api/channels/{OWNER}/{label}", headers=auth(self.token))
            if response.status_code == 404:
                return []
            return sorted(f["basename"] for f in response.json()["files"])


@pytest.fixture(scope="module")
def world(site: Site, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("labels")
    for login in (OWNER, STRANGER):
        site.server.create_user(login, PASSWORD)
    with site.client() as client:
        token = api_token(client, OWNER)
        for name in ("lbpkg", "lbother"):
            create_package(client, token, OWNER, name, summary=f"{name} for the label actions")
            for version in ("1.0", "2.0"):
                folder = tmp / f"{name}-{version}"
                folder.mkdir()
                path = build_conda(folder, name=name, version=version, noarch="generic")
                committed = upload(
                    client, token, OWNER, name, version, path, f"noarch/{path.name}", "conda", None, False
                )
                assert committed.status_code == 200, committed.text
    return World(site, token, tmp)


def event_kinds_of(site: Site, owner: str) -> set[str]:
    engine = create_engine(Settings(data=site.server.data).sqlalchemy_url)
    try:
        with engine.begin() as db:
            return set(db.scalars(select(Event.kind).where(Event.owner == owner)))
    finally:
        engine.dispose()


def _row(page, label: str):
    return page.locator("table.labels tbody tr", has=page.locator(f"th a.tag:text-is('{label}')"))


def _open(page, label: str):
    row = _row(page, label)
    row.locator("summary").click()
    return row


def _flash(page) -> str:
    return page.locator(".flash").inner_text()


def test_create_copy_rename_lock_unlock_remove_in_the_browser(world: World, page, tmp_path) -> None:
    site = world.site
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/{OWNER}/labels")
    # create: a label exists on files, so it is put on one version of a package
    page.fill("#new-label-name", "test")
    page.fill("#new-label-package", "lbpkg")
    page.fill("#new-label-version", "2.0")
    page.click(".new-label button[type=submit]")
    page.wait_for_load_state()
    assert "Created the label test on 1 file." in _flash(page)
    assert world.in_label("test") == ["noarch/lbpkg-2.0-0.tar.bz2"]

    row = _open(page, "test")
    row.locator("input[name=to]").first.fill("qa")
    row.locator("form[action$='/copy'] button").click()
    page.wait_for_load_state()
    assert "Copied 1 file from test to qa." in _flash(page)
    assert world.in_label("qa") == world.in_label("test")

    row = _open(page, "qa")
    row.locator("form[action$='/rename'] input[name=to]").fill("staging")
    row.locator("form[action$='/rename'] button").click()
    page.wait_for_load_state()
    assert "Renamed the label qa to staging." in _flash(page)
    assert "qa" not in world.labels() and world.in_label("staging") == ["noarch/lbpkg-2.0-0.tar.bz2"]

    row = _open(page, "staging")
    row.locator("form[action$='/lock'] button").click()
    page.wait_for_load_state()
    assert "The label staging is locked." in _flash(page)
    assert world.labels()["staging"]["is_locked"] is True
    locked = _row(page, "staging")
    assert locked.locator(".badge-locked").inner_text().strip() == "Locked"
    assert locked.locator(".badge-locked svg.lock-icon").count() == 1
    locked.locator("summary").click()
    assert locked.locator("form[action$='/rename'], form[action$='/remove']").count() == 0  # not offered
    assert axe_problems(page) == []
    shoot(page, "filesets-labels", tmp_path)

    locked.locator("form[action$='/unlock'] button").click()
    page.wait_for_load_state()
    assert "The label staging is unlocked." in _flash(page)

    row = _open(page, "test")
    row.locator("form[action$='/remove'] button[type=submit]").click()
    dialog = page.locator("dialog.confirm-dialog[open]")
    dialog.locator("input").fill("test")
    dialog.locator("button.danger").click()
    page.wait_for_load_state()
    assert "Removed the label test" in _flash(page)
    assert "test" not in world.labels()
    assert world.in_label("main")  # the files stay
    kinds = event_kinds_of(site, OWNER)
    assert {"label.added", "label.removed", "label.locked", "label.unlocked"} <= kinds


def test_a_locked_label_refuses_every_change_from_the_page_rest_and_anaconda(
    world: World, page, tmp_path
) -> None:
    site = world.site
    with site.client() as client:
        body = {"package": "lbother", "version": "1.0"}
        assert (
            client.post(f"/api/channels/{OWNER}/frozen", headers=auth(world.token), json=body).status_code
            == 201
        )
        assert client.post(f"/api/channels/{OWNER}/frozen/lock", headers=auth(world.token)).status_code == 201
    before = world.in_label("frozen")
    sign_in(page, site, OWNER)
    # from the page: the Files tab's batch, and the labels page's actions (forged: the page does not offer them)
    page.goto(f"{site.url}/{OWNER}/lbother/files")
    page.locator("input[name=file][value^='2.0/']").check()
    page.select_option("#fa-label", "frozen")
    page.click("button[value=add_label]")
    page.wait_for_load_state()
    assert "label 'frozen' is locked" in _flash(page)
    token = csrf_from(page.content())
    for action, data in (("rename", {"to": "thawed"}), ("remove", {"confirm": "frozen"})):
        response = page.request.post(
            f"{site.url}/{OWNER}/labels/frozen/{action}", form={**data, "csrf_token": token}, max_redirects=0
        )
        assert response.status == 303
        page.goto(f"{site.url}/{OWNER}/labels")
        assert "locked" in _flash(page)
    # from REST
    with site.client() as client:
        refused = client.post(
            f"/api/channels/{OWNER}/frozen",
            headers=auth(world.token),
            json={"package": "lbother", "version": "2.0"},
        )
        assert refused.status_code == 409 and "locked" in refused.json()["error"]
    # from the real anaconda-client
    anaconda = Anaconda(tmp_path / "anaconda", site.server.api).configure().login(OWNER, PASSWORD)
    folder = tmp_path / "new"
    folder.mkdir()
    newer = build_conda(folder, name="lbother", version="3.0", noarch="generic")
    upload_out = anaconda.run("upload", "-u", OWNER, "-l", "frozen", str(newer), check=False)
    assert upload_out.returncode != 0 and "locked" in upload_out.stdout + upload_out.stderr
    copy_out = anaconda.run("label", "-o", OWNER, "--copy", "main", "frozen", check=False)
    assert copy_out.returncode != 0 and "locked" in copy_out.stdout + copy_out.stderr
    spec = f"{OWNER}/lbother/2.0"
    copied = anaconda.run("copy", "--from-label", "main", "--to-label", "frozen", spec, check=False)
    # anaconda copy prints its own text for any 409 ("File conflict while copying!"), not the server's message
    assert copied.returncode != 0 and "Conflict" in copied.stdout + copied.stderr
    assert world.in_label("frozen") == before
    assert world.labels()["frozen"]["is_locked"] is True


def test_callers_who_may_not_manage_labels_get_no_forms(world: World, page) -> None:
    for who in (None, STRANGER):
        if who:
            sign_in(page, world.site, who)
        page.goto(f"{world.site.url}/{OWNER}/labels")
        assert page.locator("table.labels").count() == 1
        assert (
            page.locator("details.label-actions, .new-label, form[method=post][action*='/labels']").count()
            == 0
        )


def test_forged_label_posts_are_refused_and_change_nothing(world: World) -> None:
    site = world.site
    with site.client() as client:
        body = {"package": "lbpkg", "version": "1.0"}
        assert (
            client.post(f"/api/channels/{OWNER}/keep", headers=auth(world.token), json=body).status_code
            == 201
        )
    before = world.labels()
    base = f"/{OWNER}/labels"
    posts = [
        (f"{base}/keep/rename", {"to": "stolen"}),
        (f"{base}/keep/copy", {"to": "stolen"}),
        (f"{base}/keep/lock", {}),
        (f"{base}/keep/remove", {"confirm": "keep"}),
        (f"{base}/new", {"name": "stolen", "package": "lbpkg"}),
    ]
    with site.client() as max_:
        assert http_sign_in(max_, STRANGER).status_code == 303
        token = csrf_from(max_.get(base).text)
        for path, data in posts:
            assert max_.post(path, data={**data, "csrf_token": token}).status_code == 403, path
        unconfirmed = max_.post(f"{base}/keep/remove", data={"csrf_token": token})
        assert unconfirmed.status_code == 403  # not even the page asking for the word
    with site.client() as lena:
        assert http_sign_in(lena, OWNER).status_code == 303
        for path, data in posts:
            assert lena.post(path, data=data).status_code == 403, path  # no CSRF token
            assert lena.post(path, data={**data, "csrf_token": token}).status_code == 403, path  # another's
        mine = csrf_from(lena.get(base).text)
        wrong = lena.post(f"{base}/keep/remove", data={"confirm": "kep", "csrf_token": mine})
        assert wrong.status_code == 400 and "type 'keep' exactly" in wrong.text
        asked = lena.post(f"{base}/keep/remove", data={"csrf_token": mine})
        assert asked.status_code == 200 and "Type <strong>keep</strong> to confirm" in asked.text
    assert world.labels() == before


def test_creating_a_label_that_exists_or_on_nothing_says_what_to_do(world: World, page) -> None:
    sign_in(page, world.site, OWNER)
    page.goto(f"{world.site.url}/{OWNER}/labels")
    page.fill("#new-label-name", "main")
    page.fill("#new-label-package", "lbpkg")
    page.click(".new-label button[type=submit]")
    page.wait_for_load_state()
    assert "exists already" in _flash(page)
    page.fill("#new-label-name", "fresh")
    page.fill("#new-label-package", "no-such-package")
    page.click(".new-label button[type=submit]")
    page.wait_for_load_state()
    assert "no files match" in _flash(page)
    assert "fresh" not in world.labels()
