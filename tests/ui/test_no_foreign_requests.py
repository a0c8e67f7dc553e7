"""No page asks another host for anything: every request Chromium makes for a page goes to the server's origin.

Recorded for each page type (home, sign-in, sign-up, a user, an organization, a package of every type the world
holds, search, the 404s), anonymously and as a signed-in owner, and for the pages those link to on this site.
Chromium reports a request the Content-Security-Policy refuses too (stopped before the network, its failure
reads `csp`), and the page sees a `securitypolicyviolation` event: both are recorded, so a page that merely
*tries* to reach another host fails the test as well.
"""

from __future__ import annotations

import uuid
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.ui.conftest import PASSWORD, Site, api_token, create_package, sign_in
from tests.unit.api.helpers import auth

REFUSED_BY_CSP = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => window.__refused.push(e.blockedURI));
"""
"""Playwright injects it before the page's own code, outside the page's policy."""
CRAWL_LIMIT = 30
NOT_PAGES = ("/api/", "/static/", "/conda/", "/pypi/", "/cran/", "/t/")


def packages_by_type(site: Site) -> dict[str, str]:
    """One package page per package type the world holds (private ones too, as alice sees them)."""
    token = site.tokens["alice"]
    found: dict[str, str] = {}
    with site.client() as client:
        owners = [
            "alice",
            "bob",
            *(o["login"] for o in client.get("/api/user/orgs", headers=auth(token)).json()),
        ]
        for owner in owners:
            for pkg in client.get(f"/api/packages/{owner}", headers=auth(token)).json():
                for kind in pkg["package_types"] or ["(no files)"]:
                    found.setdefault(kind, f"/{pkg['full_name']}")
    return found


class Recorder:
    """Every URL a page requested, and every URL its Content-Security-Policy refused to load."""

    def __init__(self, context, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.failed: dict[str, str] = {}
        context.add_init_script(REFUSED_BY_CSP)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on(
            "requestfailed", lambda request: self.failed.setdefault(request.url, request.failure or "")
        )

    def visit(self, page, url: str) -> list[str]:
        """Open the page, wait until the network is quiet, and return the same-origin links it has."""
        page.goto(url)
        page.wait_for_load_state("networkidle")
        self.refused += [f"{url} -> {blocked}" for blocked in page.evaluate("window.__refused")]
        return [
            urljoin(url, href) for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        ]

    def foreign(self) -> list[str]:
        return [
            url for url in self.requests if not same_origin(url, self.origin) and not url.startswith("data:")
        ]


def same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def crawl(recorder: Recorder, page, start: list[str]) -> set[str]:
    """The start pages, then the pages they link to on this site (breadth first, one URL per path: `?next=` and
    filter variants are the same page type; at most CRAWL_LIMIT pages)."""
    queue, seen, paths = list(start), set(), {urlsplit(url).path for url in start}
    while queue and len(seen) < CRAWL_LIMIT:
        url = queue.pop(0).split("#")[0]
        if url in seen:
            continue
        seen.add(url)
        for link in recorder.visit(page, url):
            path = urlsplit(link).path
            if not same_origin(link, recorder.origin) or path in paths:
                continue
            # downloads are bytes, not pages: /OWNER/PACKAGE/VERSION/download/... and .../files/VERSION/...
            if not path.startswith(NOT_PAGES) and "/download/" not in path and "/files/" not in path:
                paths.add(path)
                queue.append(link)
    return seen


def page_types(site: Site) -> list[str]:
    packages = packages_by_type(site)
    assert {"conda", "pypi"} <= set(packages), packages
    paths = ["/", "/login", "/signup", "/alice", "/acme", "/search?q=demo", "/search?q=", *packages.values()]
    paths += ["/nobody-here", "/alice/no-such-package"]
    paths += ["/notifications", "/dashboard/acme"]  # the dashboards (anonymous: sent to sign in)
    return [f"{site.url}{path}" for path in paths]


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_every_page_requests_only_its_own_origin(site: Site, browser, who: str) -> None:
    context = browser.new_context()
    try:
        recorder = Recorder(context, site.url)
        page = context.new_page()
        if who != "anonymous":
            sign_in(page, site, who)
        visited = crawl(recorder, page, page_types(site))
    finally:
        context.close()
    assert recorder.foreign() == [] and recorder.refused == []
    assert f"{site.url}/alice/demo" in visited and len(visited) >= 12
    # the recorder saw the page's own assets, so it was listening
    assert any("/static/" in url and url.endswith(".css") for url in recorder.requests)
    assert any("/static/" in url and url.endswith(".js") for url in recorder.requests)


def test_a_readme_pointing_at_another_host_loads_nothing_from_it(site: Site, browser) -> None:
    """A README's remote image (the usual shields.io badge) is not fetched: the policy refuses it, and the
    recorder sees the attempt (which is why the test above would fail on such a page). A private package of a user of its own, so no other test's page changes."""
    login = f"remote{uuid.uuid4().hex[:6]}"
    site.server.create_user(login, PASSWORD)
    badge = "https://img.shields.io/badge/build-passing-green.svg"
    with site.client() as client:
        token = api_token(client, login)
        create_package(
            client, token, login, "badged", public=False, description=f"![build]({badge})\n\nText."
        )
    context = browser.new_context()
    try:
        recorder = Recorder(context, site.url)
        page = context.new_page()
        sign_in(page, site, login)
        recorder.visit(page, f"{site.url}/{login}/badged")
        assert page.locator(".prose img").count() == 1  # the image is there; only its load was refused
    finally:
        context.close()
    assert recorder.foreign() == [badge]  # tried...
    assert recorder.failed[badge] == "csp"  # ...and stopped before the network
    assert recorder.refused == [f"{site.url}/{login}/badged -> {badge}"]
    with httpx.Client(base_url=site.url) as client:
        assert client.get(f"/{login}/badged", headers={"Accept": "text/html"}).status_code == 404
