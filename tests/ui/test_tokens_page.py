"""Access tokens made in the browser (`/settings/access`, `/organization/ORG/settings/access`), then used by the
real clients through the URLs the page shows: py-rattler for conda, pip for the PyPI index.

The world (logins prefixed `account-`, on the shared live server): account-tok owns the private package
`accthush` (a noarch conda package and a wheel); account-oth owns the private `acctother` (conda) and made
account-tok a collaborator, so account-tok's own credentials read it: a token limited to account-tok's channel
must not. account-tok also owns the organization account-lab, with a private package of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import rattler

from tests.builders import build_conda, build_wheel
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
from tests.ui.test_install_lines_real import client_env, conda_installs, pip_installs
from tests.unit.api.helpers import auth, upload

pytestmark = [pytest.mark.clients]

OWNER, OTHER, ORG = "account-tok", "account-oth", "account-lab"


@pytest.fixture(scope="module")
def world(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("account-tokens")
    for login in (OWNER, OTHER):
        site.server.create_user(login, PASSWORD)
    with site.client() as client:
        mine, theirs = api_token(client, OWNER), api_token(client, OTHER)
        for token, owner, name in ((mine, OWNER, "accthush"), (theirs, OTHER, "acctother")):
            create_package(client, token, owner, name, public=False, summary=f"{name}, private")
            folder = tmp / name
            folder.mkdir()
            conda = build_conda(
                folder, name=name, version="1.0", noarch="generic", files={f"share/{name}/hello.txt": b"hi\n"}
            )
            wheel = build_wheel(folder, name=name, version="1.0")
            for path, basename, kind in (
                (conda, f"noarch/{conda.name}", "conda"),
                (wheel, wheel.name, "pypi"),
            ):
                done = upload(client, token, owner, name, "1.0", path, basename, kind, create=False)
                assert done.status_code == 200, done.text
        added = client.put(f"/api/packages/{OTHER}/acctother/collaborators/{OWNER}", headers=auth(theirs))
        assert added.status_code == 201, added.text
        assert client.get(f"/api/package/{OTHER}/acctother", headers=auth(mine)).status_code == 200
        assert (
            client.post(f"/api/orgs/{ORG}", headers=auth(mine), json={"name": "Account lab"}).status_code
            == 201
        )
        create_package(client, mine, ORG, "labonly", public=False, summary="the lab's own")
    return {"mine": mine, "theirs": theirs}


def make_token(
    page, site: Site, path: str, name: str, scopes: list[str], channel: str = ""
) -> dict[str, str]:
    """Fill the form on `path` and read what the answer shows: the token and its URLs."""
    page.goto(f"{site.url}{path}")
    page.fill("#token-name", name)
    for scope in scopes:
        page.check(f"input[name=scopes][value='{scope}']")
    if channel:
        page.fill("#token-channel", channel)
    page.click("form.token-form button[type=submit]")
    page.wait_for_load_state()
    shown = {"token": page.locator("#new-token").inner_text().strip()}
    for kind in ("conda", "pip", "r"):
        shown[kind] = page.locator(f"code[data-url={kind}]").inner_text().strip()
    assert page.locator(f"[data-copy='{shown['token']}']").count() == 1
    return shown


def rattler_solves(channel: str, name: str, tmp: Path) -> list[str]:
    async def solve() -> list[str]:
        records = await rattler.solve(
            sources=[channel],
            specs=[name],
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=rattler.Gateway(cache_dir=tmp / "cache-other"),
        )
        return [r.name.normalized for r in records]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, solve()).result(timeout=300)


def test_the_scope_list_says_what_each_scope_allows(site: Site, page, world) -> None:
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/settings/access")
    conda = page.locator("label:has(code:text-is('conda:download'))").inner_text()
    assert "Allow private downloads from Conda repositories" in conda
    with site.client() as client:
        described = client.get("/api/scopes").json()
    assert described["conda:download"] == "Allow private downloads from Conda repositories"
    shown = page.locator(".scope-list li").count()
    assert shown == len(described)


def test_a_channel_limited_token_installs_with_rattler_and_pip_until_revoked(
    site: Site, page, world, tmp_path: Path
) -> None:
    sign_in(page, site, OWNER)
    shown = make_token(
        page, site, "/settings/access", "laptop", ["conda:download", "pypi:download"], channel=OWNER
    )
    token = shown["token"]
    assert shown["conda"] == f"{site.url}/t/{token}/{OWNER}"
    assert shown["pip"] == f"{site.url}/pypi/t/{token}/{OWNER}/simple/"
    assert shown["r"] == f"{site.url}/cran/t/{token}/{OWNER}"
    assert page.locator("tr[data-token] .token-name", has_text="laptop").count() == 1

    # conda through py-rattler, pip through the index URL: both as shown.
    conda_installs(f"conda install --channel {shown['conda']} accthush", "accthush", tmp_path / "conda")
    pip_installs(f"pip install --index-url {shown['pip']} accthush", "accthush", tmp_path / "pip")

    # The same token does not reach the other owner's private package, though its account does.
    with site.client() as client:
        assert client.get(f"/api/package/{OTHER}/acctother", headers=auth(world["mine"])).status_code == 200
        assert client.get(f"/api/package/{OTHER}/acctother", headers=auth(token)).status_code in (403, 404)
    with pytest.raises(Exception, match=r"acctother|404 Not Found"):  # refused, or nothing to solve from
        rattler_solves(f"{site.url}/t/{token}/{OTHER}", "acctother", tmp_path)

    # Shown once: the list and a reload never show the secret again; only its hash is stored.
    page.goto(f"{site.url}/settings/access")
    assert token not in page.content()
    stored = b"".join(p.read_bytes() for p in site.server.data.glob("packyard.db*"))
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored

    # Revoke: the URLs stop working.
    page.click("tr:has(.token-name:text-is('laptop')) button:has-text('Revoke')")
    page.wait_for_load_state()
    assert "The token laptop was revoked" in page.locator(".flash").inner_text()
    assert page.locator("tr[data-token] .token-name", has_text="laptop").count() == 0
    with site.client() as client:
        assert client.get(f"/t/{token}/{OWNER}/noarch/repodata.json").status_code == 401
    failed = subprocess.run(
        ["bash", "-c", f"pip install --index-url {shown['pip']} accthush"],
        cwd=tmp_path,
        env=client_env(tmp_path, PIP_TARGET=str(tmp_path / "after")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode != 0


def test_an_organization_token_from_the_org_page_acts_only_in_the_org(
    site: Site, page, world, tmp_path: Path
) -> None:
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/settings/access")
    page.click(f".org-token-links a:text-is('{ORG}')")
    page.wait_for_url(f"{site.url}/organization/{ORG}/settings/access")
    shown = make_token(page, site, f"/organization/{ORG}/settings/access", "lab-ci", ["api:read"])
    assert shown["conda"].endswith(f"/{ORG}")
    row = page.locator("tr:has(.token-name:text-is('lab-ci'))")
    assert "organization account-lab" in row.inner_text()
    with site.client() as client:
        assert client.get(f"/api/package/{ORG}/labonly", headers=auth(shown["token"])).status_code == 200
        assert client.get(f"/api/package/{OWNER}/accthush", headers=auth(shown["token"])).status_code in (
            403,
            404,
        )
        listed = client.get("/api/authentications", headers=auth(world["mine"])).json()
    assert any(t["name"] == "lab-ci" and t["org"] == ORG for t in listed)
    assert axe_problems(page) == []
    shoot(page, "account-org-tokens", tmp_path)


def test_the_org_token_page_is_for_its_administrators_only(site: Site, world) -> None:
    with site.client() as client:
        assert http_sign_in(client, OTHER).status_code == 303
        assert client.get(f"/organization/{ORG}/settings/access").status_code == 404
        assert f"/organization/{ORG}/settings/access" not in client.get("/settings/access").text
        csrf = csrf_from(client.get("/settings/access").text)
        forged = client.post(
            f"/organization/{ORG}/settings/access",
            data={"csrf_token": csrf, "name": "sneaky", "expires_days": "7", "scopes": "all"},
        )
        assert forged.status_code == 404
        listed = client.get("/api/authentications", headers=auth(world["theirs"])).json()
    assert not any(t["name"] == "sneaky" for t in listed)


def test_forged_revokes_and_creates_change_nothing(site: Site, world) -> None:
    with site.client() as owner, site.client() as other:
        assert http_sign_in(owner, OWNER).status_code == 303
        assert http_sign_in(other, OTHER).status_code == 303
        made = owner.post(
            "/api/authentications",
            headers=auth(world["mine"]),
            json={"note": "keep-me", "scopes": "api:read"},
        ).json()
        victim = made["id"]
        # Another user's valid session and CSRF token: the token is not theirs, so it is "not found".
        csrf = csrf_from(other.get("/settings/access").text)
        assert (
            other.post("/settings/access/revoke", data={"csrf_token": csrf, "token": victim}).status_code
            == 404
        )
        # The owner's session without a CSRF token, or with the other session's.
        assert owner.post("/settings/access/revoke", data={"token": victim}).status_code == 403
        assert (
            owner.post("/settings/access/revoke", data={"csrf_token": csrf, "token": victim}).status_code
            == 403
        )
        assert (
            owner.post(
                "/settings/access", data={"name": "no-csrf", "expires_days": "7", "scopes": "all"}
            ).status_code
            == 403
        )
        assert owner.get("/api/user", headers=auth(made["token"])).status_code == 200
        names = [t["name"] for t in owner.get("/api/authentications", headers=auth(world["mine"])).json()]
    assert "keep-me" in names and "no-csrf" not in names


def test_a_form_without_scopes_says_so_and_makes_nothing(site: Site, page, world) -> None:
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/settings/access")
    page.fill("#token-name", "empty-scopes")
    page.click("form.token-form button[type=submit]")
    page.wait_for_load_state()
    assert "Choose at least one scope." in page.locator("#token-scopes-error").inner_text()
    assert page.locator("#new-token").count() == 0
    page.fill("#token-name", "nowhere")
    page.check("input[name=scopes][value='api:read']")
    page.fill("#token-channel", "account-nobody-here")
    page.click("form.token-form button[type=submit]")
    page.wait_for_load_state()
    assert "There is no user or organization" in page.locator("#token-channel-error").inner_text()


MANY_SCOPES = ["api:read", "api:write", "conda:download", "pypi:download", "pypi:upload", "cran:download"]


def test_token_pages_are_accessible(site: Site, page, world, tmp_path: Path) -> None:
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/settings/access")
    assert axe_problems(page) == []
    make_token(
        page, site, "/settings/access", "docs-example", ["conda:download", "pypi:download"], channel=OWNER
    )
    assert axe_problems(page) == []
    shoot(page, "account-token-created", tmp_path)
    make_token(page, site, "/settings/access", "many-scopes", MANY_SCOPES)
    page.goto(f"{site.url}/settings/access")
    shoot(page, "account-tokens", tmp_path)
    # On a phone every scope of a long list stays inside its row (they wrap; none is clipped).
    page.set_viewport_size({"width": 390, "height": 844})
    row = page.locator("tr[data-token]", has_text="many-scopes")
    edge = row.bounding_box()
    assert edge is not None
    codes = row.locator("td[data-label=Scopes] code")
    assert codes.count() == len(MANY_SCOPES)
    for i in range(codes.count()):
        box = codes.nth(i).bounding_box()
        assert box is not None and box["x"] + box["width"] <= min(edge["x"] + edge["width"], 390) + 0.5, i


def test_the_account_menu_links_to_settings_and_tokens(site: Site, page, world) -> None:
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/")
    page.click("header summary.who")
    page.click("header .menu-panel a:text-is('Access tokens')")
    page.wait_for_url(f"{site.url}/settings/access")
    page.click("header summary.who")
    page.click("header .menu-panel a:text-is('Settings')")
    page.wait_for_url(f"{site.url}/settings")


def test_signed_out_visitors_are_sent_to_sign_in(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        for path in (
            "/settings/access",
            f"/organization/{ORG}/settings/access",
            "/settings",
            "/settings/password",
        ):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_token_events_show_on_the_dashboard_without_the_secret(site: Site, page, world) -> None:
    sign_in(page, site, OWNER)
    shown = make_token(page, site, "/settings/access", "feed-check", ["api:read"])
    page.click("tr:has(.token-name:text-is('feed-check')) button:has-text('Revoke')")
    page.wait_for_load_state()
    page.goto(f"{site.url}/")
    feed = page.locator("main").inner_text()
    assert "created the access token feed-check" in feed
    assert "revoked the access token feed-check" in feed
    assert shown["token"] not in page.content()
