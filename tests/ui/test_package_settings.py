"""A package's settings in Chromium (ui/package_settings.py): details, access, collaborators, transfer, delete, and
release announcements (ui/news.py) on the package page and the dashboards.

Where an action changes what clients get, a real client checks it: after "Private" an anonymous pip download fails
and the token URL works; after a transfer to an organization py-rattler installs the conda package from the new
owner's channel and no longer from the old one; the announcement is sent by anaconda-client's own library
(`binstar_client.Binstar.add_release(..., announce=...)`). Forged forms (another user's session and CSRF token, no
token, a wrong word) are refused and change nothing. Logins are this module's own (`pkgset-s...`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import rattler

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
from tests.unit.api.helpers import auth, upload

SAM = "pkgset-sam"  # owns the packages and the organization
CORA = "pkgset-cora"  # becomes a collaborator
REX = "pkgset-rex"  # a stranger
MIA = "pkgset-mia"  # a member of the organization
LAB = "pkgset-lab"


@dataclass
class World:
    site: Site
    tokens: dict[str, str]
    tmp: Path

    def package(self, owner: str, name: str) -> httpx.Response:
        with self.site.client() as client:
            return client.get(f"/api/package/{owner}/{name}", headers=auth(self.tokens[SAM]))

    def collaborators(self, name: str) -> list[str]:
        return list(self.collaborator_levels(name))

    def collaborator_levels(self, name: str) -> dict[str, str]:
        with self.site.client() as client:
            found = client.get(f"/api/packages/{SAM}/{name}/collaborators", headers=auth(self.tokens[SAM]))
        assert found.status_code == 200, found.text
        return {c["login"]: c["permission"] for c in found.json()}


def _add(
    client: httpx.Client,
    token: str,
    owner: str,
    name: str,
    folder: Path,
    *,
    conda: bool = False,
    public: bool = True,
) -> None:
    create_package(client, token, owner, name, public=public, summary=f"{name} for the settings tests")
    sub = folder / f"{owner}-{name}"
    sub.mkdir()
    if conda:
        built = build_conda(
            sub, name=name, version="1.0", noarch="generic", files={f"share/{name}/hi.txt": b"hi\n"}
        )
        done = upload(client, token, owner, name, "1.0", built, f"noarch/{built.name}", "conda", create=False)
    else:
        built = build_wheel(sub, name=name, version="1.0")
        done = upload(client, token, owner, name, "1.0", built, built.name, "pypi", create=False)
    assert done.status_code == 200, done.text


@pytest.fixture(scope="module")
def world(site: Site, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("pkgset-settings")
    tokens = {}
    with site.client() as client:
        for login in (SAM, CORA, REX, MIA):
            site.server.create_user(login, PASSWORD)
            tokens[login] = api_token(client, login)
        sam = tokens[SAM]
        assert (
            client.post(f"/api/orgs/{LAB}", headers=auth(sam), json={"name": "Pkgset Lab"}).status_code == 201
        )
        assert (
            client.post(f"/api/group/{LAB}/readers", headers=auth(sam), json={"perms": "read"}).status_code
            == 204
        )
        assert client.put(f"/api/group/{LAB}/readers/members/{MIA}", headers=auth(sam)).status_code == 204
        _add(client, sam, SAM, "tool", tmp)
        _add(client, sam, SAM, "moving", tmp, conda=True)
        _add(client, sam, SAM, "doomed", tmp)
        _add(client, sam, SAM, "forged", tmp)
        _add(client, sam, SAM, "news", tmp)
        _add(client, sam, SAM, "hush", tmp, public=False)
        _add(client, sam, LAB, "labnews", tmp)
        added = client.put(f"/api/packages/{SAM}/news/collaborators/{CORA}", headers=auth(sam))
        assert added.status_code == 201
    return World(site, tokens, tmp)


def _session(world: World, login: str, path: str) -> tuple[httpx.Client, str]:
    client = world.site.client()
    assert http_sign_in(client, login).status_code == 303
    return client, csrf_from(client.get(path).text)


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


def _rattler_install(channel: str, name: str, tmp: Path) -> list[str]:
    """py-rattler solves `name` from `channel` alone and installs it (its own thread: Playwright's loop runs here)."""

    async def solve_and_install() -> list[str]:
        gateway = rattler.Gateway(cache_dir=tmp / "cache")
        records = await rattler.solve(
            sources=[channel],
            specs=[name],
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=gateway,
        )
        await rattler.install(
            records, target_prefix=tmp / "prefix", cache_dir=tmp / "cache/pkgs", show_progress=False
        )
        return [f"{r.name.normalized}={r.version}" for r in records]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, solve_and_install()).result(timeout=300)


# --- details ------------------------------------------------------------------------------------------------------


def test_the_settings_tab_edits_the_details(world: World, page, tmp_path) -> None:
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/tool")
    page.locator("nav.pkg-tabs").get_by_role("link", name="Settings").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/{SAM}/tool/settings")
    menu = page.locator("nav.settings-menu a").all_inner_texts()
    assert menu == ["Settings", "Collaborators", "Admin"]
    page.fill("#s-summary", "A tool, edited in the browser")
    page.fill("#s-license", "MIT")
    page.fill("#s-home", "https://example.org/tool")
    page.fill("#s-doc_url", "https://example.org/tool/docs")
    page.fill("#s-description", "# Tool\n\nNow with **bold** claims.\n\n<script>window.__pwned = 1</script>")
    shoot(page, "pkgset-settings-details", tmp_path)
    assert axe_problems(page) == []
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert "Saved the package's details." in page.locator(".flash-ok").inner_text()
    found = world.package(SAM, "tool").json()
    assert found["summary"] == "A tool, edited in the browser"
    assert found["license"] == "MIT"
    assert found["home"] == "https://example.org/tool"
    page.goto(f"{world.site.url}/{SAM}/tool")
    assert page.locator(".prose strong", has_text="bold").count() == 1
    assert page.evaluate("window.__pwned") is None


# --- access -------------------------------------------------------------------------------------------------------


def test_making_a_package_private_in_admin_stops_anonymous_pip(world: World, page, tmp_path) -> None:
    index = f"{world.site.url}/pypi/{SAM}/simple/"
    assert _pip_download(world, index, "tool").returncode == 0
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/tool/settings")
    page.locator("nav.settings-menu").get_by_role("link", name="Admin").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/{SAM}/tool/settings/admin")
    page.check("#a-private")
    page.get_by_role("button", name="Set access").click()
    page.wait_for_load_state()
    assert "Access set to Private." in page.locator(".flash-ok").inner_text()
    assert world.package(SAM, "tool").json()["access"] == "private"
    assert page.locator(".pkg-badges .badge-private").count() == 1
    shoot(page, "pkgset-settings-admin", tmp_path)
    assert axe_problems(page) == []
    assert _pip_download(world, index, "tool").returncode != 0
    fetched = _pip_download(world, f"{world.site.url}/pypi/t/{world.tokens[SAM]}/{SAM}/simple/", "tool")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr


# --- collaborators ------------------------------------------------------------------------------------------------


def test_collaborators_are_added_and_removed_with_the_red_x(world: World, page, context, tmp_path) -> None:
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/tool/settings/collaborators")
    page.fill("#c-login", "pkgset-nobody")
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state()
    assert "pkgset-nobody" in page.locator(".flash-error").inner_text()
    page.fill("#c-login", CORA)
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state()
    assert f"{CORA} is now a collaborator on tool (read and write)." in page.locator(".flash-ok").inner_text()
    assert world.collaborators("tool") == [CORA]
    assert page.locator("ul.collaborators li").count() == 1
    shoot(page, "pkgset-settings-collaborators", tmp_path)
    assert axe_problems(page) == []

    context.clear_cookies()  # the collaborator may edit the details, nothing else
    sign_in(page, world.site, CORA)
    page.goto(f"{world.site.url}/{SAM}/tool")
    page.locator("nav.pkg-tabs").get_by_role("link", name="Settings").click()
    page.wait_for_load_state()
    assert page.locator("nav.settings-menu a").all_inner_texts() == ["Settings"]
    for hidden in ("admin", "collaborators"):
        assert page.goto(f"{world.site.url}/{SAM}/tool/settings/{hidden}").status == 404

    context.clear_cookies()
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/tool/settings/collaborators")
    page.get_by_role("button", name=f"Remove {CORA} as a collaborator").click()
    page.wait_for_load_state()
    assert f"{CORA} is no longer a collaborator on tool." in page.locator(".flash-ok").inner_text()
    assert world.collaborators("tool") == []
    assert page.locator("ul.collaborators").count() == 0


def test_a_read_only_collaborator_installs_a_private_package_and_may_not_write(
    world: World, page, context
) -> None:
    token_index = f"{world.site.url}/pypi/t/{world.tokens[MIA]}/{SAM}/simple/"
    assert _pip_download(world, token_index, "hush").returncode != 0  # private: not even mia's token finds it
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/hush/settings/collaborators")
    page.fill("#c-login", MIA)
    page.select_option("#c-permission", "read")
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state()
    assert f"{MIA} is now a collaborator on hush (read)." in page.locator(".flash-ok").inner_text()
    assert page.locator("ul.collaborators .tag").inner_text() == "read only"
    assert world.collaborator_levels("hush") == {MIA: "read"}
    fetched = _pip_download(world, token_index, "hush")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    with world.site.client() as client:
        refused = client.patch(
            f"/api/package/{SAM}/hush",
            headers=auth(world.tokens[MIA]),
            json={"public_attrs": {"summary": "x"}},
        )
        assert refused.status_code == 403
    context.clear_cookies()
    sign_in(page, world.site, MIA)
    page.goto(f"{world.site.url}/{SAM}/hush")
    assert page.locator(".pkg-badges .badge-private").count() == 1
    assert page.locator("nav.pkg-tabs a", has_text="Settings").count() == 0
    assert page.goto(f"{world.site.url}/{SAM}/hush/settings").status == 404
    context.clear_cookies()  # the same form changes the level: now mia may write
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/hush/settings/collaborators")
    page.fill("#c-login", MIA)
    page.select_option("#c-permission", "write")
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state()
    assert world.collaborator_levels("hush") == {MIA: "write"}


# --- transfer -----------------------------------------------------------------------------------------------------


def test_transfer_to_an_organization_moves_the_conda_channel(world: World, page, tmp_path) -> None:
    assert _rattler_install(f"{world.site.url}/{SAM}", "moving", tmp_path / "before") == ["moving=1.0"]
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/moving/settings/admin")
    options = page.locator("#t-to option").all_inner_texts()
    assert any(o.startswith(LAB) for o in options)
    page.select_option("#t-to", LAB)
    page.locator("section.danger-zone form[action$='/transfer'] button[type=submit]").click()
    dialog = page.locator("form[action$='/transfer'] dialog.confirm-dialog")
    assert dialog.is_visible()
    dialog.locator("input").fill("moving")
    shoot(page, "pkgset-settings-transfer-dialog", tmp_path)
    dialog.get_by_role("button", name="Transfer ownership").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/{LAB}/moving")
    assert f"Transferred moving from {SAM} to {LAB}." in page.locator(".flash-ok").inner_text()
    assert world.package(LAB, "moving").status_code == 200
    assert world.package(SAM, "moving").status_code == 404
    assert _rattler_install(f"{world.site.url}/{LAB}", "moving", tmp_path / "after") == ["moving=1.0"]
    with pytest.raises(Exception, match="moving"):
        _rattler_install(f"{world.site.url}/{SAM}", "moving", tmp_path / "old")


# --- delete -------------------------------------------------------------------------------------------------------


def test_delete_the_package_after_typing_its_name(world: World, page, tmp_path) -> None:
    sign_in(page, world.site, SAM)
    page.goto(f"{world.site.url}/{SAM}/doomed/settings/admin")
    # Without the word (a browser without scripts): the confirm page, and nothing deleted yet.
    page.evaluate("document.querySelector(\"form[action$='/delete']\").submit()")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == f"Delete {SAM}/doomed?"
    assert world.package(SAM, "doomed").status_code == 200
    assert axe_problems(page) == []
    shoot(page, "pkgset-settings-delete-confirm", tmp_path)
    page.go_back()
    page.wait_for_load_state()
    page.locator("section.danger-zone form[action$='/delete'] button[type=submit]").click()
    dialog = page.locator("form[action$='/delete'] dialog.confirm-dialog")
    dialog.locator("input").fill("doomed")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith(f"/{SAM}")
    assert "Deleted the package doomed." in page.locator(".flash-ok").inner_text()
    assert world.package(SAM, "doomed").status_code == 404


# --- who may not --------------------------------------------------------------------------------------------------


def test_readers_get_the_missing_package_404_and_no_settings_tab(world: World, page, context) -> None:
    for login in (REX, None):
        context.clear_cookies()
        if login:
            sign_in(page, world.site, login)
        page.goto(f"{world.site.url}/{SAM}/forged")
        assert page.locator("nav.pkg-tabs a", has_text="Settings").count() == 0
        for section in ("", "/admin", "/collaborators"):
            shown = page.goto(f"{world.site.url}/{SAM}/forged/settings{section}")
            missing = page.goto(f"{world.site.url}/{SAM}/no-such-package/settings{section}")
            assert shown.status == missing.status == 404
    with world.site.client() as client:  # a token for the REST API is no way into the pages either
        assert client.get(f"/{SAM}/forged/settings", headers=auth(world.tokens[REX])).status_code == 404


def test_forged_posts_change_nothing(world: World) -> None:
    before = world.package(SAM, "forged").json()
    base = f"/{SAM}/forged/settings"
    forms = {
        base: {"summary": "pwned", "description": "pwned"},
        f"{base}/access": {"access": "private"},
        f"{base}/collaborators": {"login": REX},
        f"{base}/collaborators/remove": {"login": CORA},
        f"{base}/transfer": {"to": REX, "confirm": "forged"},
        f"{base}/delete": {"confirm": "forged"},
    }
    rex, rex_csrf = _session(world, REX, f"/{REX}")
    with closing(rex):
        for path, data in forms.items():
            refused = rex.post(path, data={"csrf_token": rex_csrf, **data})
            assert refused.status_code == 404, (path, refused.status_code)
    sam, sam_csrf = _session(world, SAM, f"{base}/admin")
    with closing(sam):
        for path, data in forms.items():
            assert sam.post(path, data=data).status_code == 403, path  # no CSRF token
            assert sam.post(path, data={**data, "csrf_token": rex_csrf}).status_code == 403, path  # another's
        wrong = sam.post(f"{base}/delete", data={"csrf_token": sam_csrf, "confirm": "Forged"})
        assert wrong.status_code == 400
        wrong = sam.post(f"{base}/transfer", data={"csrf_token": sam_csrf, "to": LAB, "confirm": "tool"})
        assert wrong.status_code == 400
        not_theirs = sam.post(
            f"{base}/transfer", data={"csrf_token": sam_csrf, "to_login": REX, "confirm": "forged"}
        )
        assert not_theirs.status_code == 403  # sam does not administer rex
    after = world.package(SAM, "forged").json()
    assert after == before
    assert world.collaborators("forged") == []


# --- release announcements ----------------------------------------------------------------------------------------


def _announce(world: World, owner: str, name: str, version: str, text: str) -> None:
    """anaconda-client's own library sends the release with its announcement (`anaconda` has no command for it)."""
    code = (
        "import json, sys\n"
        "from binstar_client import Binstar\n"
        "a = json.loads(sys.argv[1])\n"
        "api = Binstar(token=a['token'], domain=a['domain'])\n"
        "api.add_release(a['owner'], a['name'], a['version'], {}, a['text'], {})\n"
    )
    args = {"token": world.tokens[SAM], "domain": f"{world.site.url}/api", "owner": owner, "name": name,
            "version": version, "text": text}  # fmt: skip
    env = {
        **os.environ,
        "ANACONDA_TELEMETRY_ENABLED": "false",
        "OTEL_SDK_DISABLED": "true",
        "HOME": str(world.tmp),
    }
    done = subprocess.run(
        [str(clients_bin() / "python"), "-c", code, json.dumps(args)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_announcements_reach_the_package_page_and_the_dashboards(
    world: World, page, context, tmp_path
) -> None:
    _announce(world, SAM, "news", "2.0", "**Faster** solver. <script>window.__pwned = 'news'</script>")
    _announce(world, LAB, "labnews", "3.0", "The lab's tools now speak *R*.")
    page.goto(f"{world.site.url}/{SAM}/news")  # anonymous: the package is public
    box = page.locator("section.news")
    assert (box.locator("h3").first.text_content() or "").startswith("news 2.0")
    assert box.locator(".prose strong", has_text="Faster").count() == 1
    assert page.evaluate("window.__pwned") is None
    shoot(page, "pkgset-package-news", tmp_path)
    assert axe_problems(page) == []

    sign_in(page, world.site, CORA)  # a collaborator of news, member of nothing
    page.goto(f"{world.site.url}/")
    news = page.locator("ul.news").inner_text()
    assert f"{SAM} announced {SAM}/news 2.0" in news and "Faster" in news
    assert "labnews" not in news
    shoot(page, "pkgset-dashboard-news", tmp_path)
    assert axe_problems(page) == []

    context.clear_cookies()
    sign_in(page, world.site, MIA)  # a member of the organization
    page.goto(f"{world.site.url}/")
    assert "announced pkgset-lab/labnews 3.0" in page.locator("ul.news").inner_text()
    assert (
        "“The lab's tools now speak R.”" in page.locator("ol.feed").inner_text()
    )  # the feed too, as plain words

    context.clear_cookies()
    sign_in(page, world.site, REX)  # neither
    page.goto(f"{world.site.url}/")
    assert page.locator("ul.news").count() == 0


def test_an_announcement_is_quoted_as_plain_words_in_a_feed_line() -> None:
    import datetime as dt

    from packyard.core.models import Event
    from packyard.ui import activity

    long = "**Big** news: " + "word " * 200
    event = Event(kind="release.announced", owner="acme", package="tools", version="2.0", data={"text": long})
    event.at = dt.datetime.now(dt.UTC)
    text = "".join(p.text for p in activity.sentence(event, "alice", home="acme"))
    assert text.startswith("alice announced tools 2.0: “Big news: word word")
    assert text.endswith("…”") and len(text) < activity.ANNOUNCE_SHOWN + 60
    hostile = Event(
        kind="release.announced", owner="acme", package="tools", version="2.1", data={"text": "<b>x</b>"}
    )
    assert "".join(p.text for p in activity.sentence(hostile, "alice")).endswith(
        "“<b>x</b>”"
    )  # text, escaped later
