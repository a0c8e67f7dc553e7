"""A live Packyard with a small world in it, and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work on these machines: the tests launch `/usr/bin/chromium`
(`apt-get install chromium`; `.ci/run` installs it) and fail, never skip, when it is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda, build_wheel
from tests.conftest import LiveServer, start_server
from tests.unit.api.helpers import auth, upload

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "password-123"

XSS_SUMMARY = '<script>window.__pwned = "summary"</script> summary <b onmouseover=alert(1)>bold</b>'
XSS_DESCRIPTION = """# Hostile README

<img src="x" onerror="window.__pwned = 'img'">

<script>window.__pwned = 'script'</script>

[a javascript link](javascript:window.__pwned='link')

<a href="javascript:window.__pwned='raw-link'">raw link</a>

<svg onload="window.__pwned = 'svg'"><circle r="5"/></svg>

Some **real** Markdown: `code`, a [safe link](https://example.org/docs), and a list:

- one
- two
"""
DEMO_DESCRIPTION = """Tools for the lab's **measurement pipeline**.

```python
import demo
demo.run()
```

See the [documentation](https://example.org/demo) for details.
"""


@dataclass
class Site:
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def api_token(client: httpx.Client, login: str) -> str:
    response = client.post("/api/authentications", auth=(login, PASSWORD), json={"note": "ui-tests"})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def create_package(client: httpx.Client, token: str, owner: str, name: str, *, public: bool = True, **attrs):
    response = client.post(
        f"/api/package/{owner}/{name}",
        headers=auth(token),
        json={"public": public, "publish": False, "public_attrs": attrs},
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui")
    # Every browser here signs in from 127.0.0.1: the per-address limit must not add up the whole session's failures.
    server = start_server(
        tmp,
        {
            "PACKYARD_ALLOW_SIGNUP": "true",
            "PACKYARD_LOGIN_FAILURES_ALLOWED": "3",
            "PACKYARD_LOGIN_FAILURES_PER_ADDRESS_ALLOWED": "10000",
        },
    )
    try:
        for login in ("alice", "bob", "locked"):
            server.create_user(login, PASSWORD)
        result = Site(server)
        with result.client() as client:
            alice = api_token(client, "alice")
            result.tokens["alice"] = alice
            result.tokens["bob"] = api_token(client, "bob")
            assert (
                client.post("/api/orgs/acme", headers=auth(alice), json={"name": "Acme Lab"}).status_code
                == 201
            )
            create_package(
                client,
                alice,
                "alice",
                "demo",
                summary="Measurement tools for the lab",
                description=DEMO_DESCRIPTION,
                license="BSD-3-Clause",
                home="https://example.org/demo",
            )
            conda = build_conda(tmp, name="demo", version="1.2.0", subdir="noarch")
            committed = upload(
                client, alice, "alice", "demo", "1.2.0", conda, f"noarch/{conda.name}", "conda"
            )
            assert committed.status_code == 200, committed.text
            wheel = build_wheel(tmp, name="demo", version="1.2.0")
            committed = upload(client, alice, "alice", "demo", "1.2.0", wheel, wheel.name, "pypi")
            assert committed.status_code == 200, committed.text
            create_package(client, alice, "alice", "secret", public=False, summary="Top secret work")
            conda = build_conda(tmp, name="secret", version="0.1", subdir="noarch")
            committed = upload(
                client, alice, "alice", "secret", "0.1", conda, f"noarch/{conda.name}", "conda"
            )
            assert committed.status_code == 200, committed.text
            create_package(client, alice, "alice", "xss", summary=XSS_SUMMARY, description=XSS_DESCRIPTION)
            create_package(client, alice, "acme", "lab-tools", summary="Shared by the Acme lab")
        yield result
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running in this thread while it is
    open, and every later test on the same xdist worker that starts a loop of its own (asyncio.run, anyio.run)
    would fail with "Already running asyncio in this thread". Closing it at the end of each module frees the
    thread for the next module's tests."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def sign_in(page, site: Site, login: str, password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def http_sign_in(client: httpx.Client, login: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login", data={"login": login, "password": password, "csrf_token": token, "next": "/"}
    )


def axe_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page (none is the goal of every page type)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def shoot(page, name: str, tmp_path: Path) -> None:
    """docs/ui/NAME-desktop.png and -phone.png with PACKYARD_UI_SCREENSHOTS=docs/ui; never scrolls sideways."""
    out = os.environ.get("PACKYARD_UI_SCREENSHOTS")
    folder = Path(out) if out else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})
