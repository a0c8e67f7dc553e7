"""The pages in Chromium: headers, XSS, private packages, routing beside the protocols, accessibility, screenshots.

Screenshots of every page at desktop and phone width are always taken (a page that fails to render fails here);
with PACKYARD_UI_SCREENSHOTS=DIR they are also written there (`docs/ui/` holds the committed ones, see docs/ui.md).
"""

from __future__ import annotations

import re

import httpx
import pytest

from packyard.ui.security import CSP
from tests.ui.conftest import axe_problems, http_sign_in, shoot, sign_in

ANONYMOUS_PAGES = {
    "home": "/",
    "login": "/login",
    "signup": "/signup",
    "search": "/search?q=demo",
    "owner": "/alice",
    "org": "/acme",
    "package": "/alice/demo",
    "xss-package": "/alice/xss",
    "not-found": "/alice/no-such-package",
}
SIGNED_IN_PAGES = {
    "dashboard": "/",
    "private-package": "/alice/secret",
    "owner-signed-in": "/alice",
}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_every_page_carries_the_security_headers(site) -> None:
    with site.client() as client:
        for path in [*ANONYMOUS_PAGES.values(), "/nobody-here", "/alice/secret"]:
            response = client.get(path, headers=HTML)
            assert response.headers.get("content-security-policy") == CSP, path
            assert response.headers.get("x-content-type-options") == "nosniff", path
            assert response.headers.get("referrer-policy") == "same-origin", path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "<script>" not in response.text and " style=" not in response.text, path  # nothing inline


def test_static_files_are_versioned_and_cached_for_long(site) -> None:
    with site.client() as client:
        html = client.get("/").text
        css = re.search(r'href="(/static/[0-9a-f]{12}/packyard\.css)"', html)
        assert css, "the layout links a versioned stylesheet"
        response = client.get(css.group(1))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert (
            client.get("/static/000000000000/packyard.css").status_code == 404
        )  # another version: not this one


def test_xss_payloads_are_shown_as_text_and_nothing_runs(site, page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in ("/alice/xss", "/alice", "/search?q=xss", "/"):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("load")
        page.mouse.move(300, 300)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("script:not([src])").count() == 0, path
        assert page.locator("[onerror], [onload], [onmouseover]").count() == 0, path
        assert page.locator("a[href^='javascript:' i]").count() == 0, path
    page.goto(f"{site.url}/alice/xss")
    lede = page.locator(".pkg-page-head .lede").inner_text()
    assert '<script>window.__pwned = "summary"</script>' in lede  # the summary is text, as typed
    prose = page.locator(".prose")
    assert prose.locator("a[href='https://example.org/docs']").count() == 1  # real Markdown still works
    assert prose.locator("strong").inner_text() == "real"
    assert prose.locator("img, svg, script").count() == 0
    assert "onerror" in prose.inner_text()  # the raw HTML is visible as text
    assert dialogs == []


def test_a_private_package_is_the_same_404_as_a_missing_one(site) -> None:
    def answers(client: httpx.Client) -> list[tuple[int, str]]:
        out = []
        for path in ("/alice/secret", "/alice/no-such-package"):
            response = client.get(path, headers=HTML)
            body = response.text.replace("secret", "NAME").replace("no-such-package", "NAME")
            out.append((response.status_code, body))
        return out

    with site.client() as anonymous:
        (private, missing) = answers(anonymous)
        assert private[0] == 404 and private == missing
        assert "Top secret work" not in anonymous.get("/alice", headers=HTML).text
        found = anonymous.get("/search?q=secret", headers=HTML).text
        assert "Top secret work" not in found and "/alice/secret" not in found
    with site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        (private, missing) = answers(bob)
        assert private[0] == 404 and private == missing
        assert "/alice/secret" not in bob.get("/alice", headers=HTML).text
    with site.client() as alice:
        assert http_sign_in(alice, "alice").status_code == 303
        assert alice.get("/alice/secret", headers=HTML).status_code == 200
        assert "/alice/secret" in alice.get("/alice", headers=HTML).text


def test_json_clients_keep_json_errors_and_the_protocols_keep_their_routes(site) -> None:
    with site.client() as client:
        missing = client.get("/alice/no-such-package", headers={"Accept": "application/json"})
        assert missing.status_code == 404 and missing.json() == {
            "error": "package alice/no-such-package not found"
        }
        assert client.get("/alice/no-such-package").json()["error"]  # no Accept at all: JSON, as before
        assert client.get("/health").json()["ok"] is True
        assert client.head("/api").status_code == 200
        assert client.get("/api/nothing", headers=HTML).json() == {"error": "not found"}
        assert client.post("/api/nothing/here").status_code == 404  # not a 405 from the page catch-alls
        assert client.get("/conda/alice/noarch/repodata.json").status_code == 200
        assert client.get("/pypi/alice/simple/demo/").status_code == 200
        assert client.get("/api", headers=HTML).status_code == 200


def test_the_api_html_url_is_the_package_page(site) -> None:
    with site.client() as client:
        html_url = client.get("/api/package/alice/demo").json()["html_url"]
        assert html_url == f"{site.url}/alice/demo"
        response = client.get(html_url, headers=HTML)
        assert response.status_code == 200 and "<h1>demo</h1>" in response.text


def test_the_package_page_shows_how_to_install_from_this_server(site, page) -> None:
    page.goto(f"{site.url}/alice/demo")
    commands = page.locator(".install code").all_inner_texts()
    assert f"conda install --channel {site.url}/alice demo" in commands
    assert f"pip install --index-url {site.url}/pypi/alice/simple/ demo" in commands
    assert page.locator(".badge-public").count() == 1
    assert "BSD-3-Clause" in page.locator("dl.pairs").last.inner_text() or "BSD-3-Clause" in page.content()
    assert page.locator(".prose pre code").inner_text().startswith("import demo")


def test_a_private_package_page_shows_token_urls_to_those_who_may_see_it(site, page) -> None:
    sign_in(page, site, "alice")
    page.goto(f"{site.url}/alice/secret")
    assert page.locator(".badge-private").count() == 1
    commands = " ".join(page.locator(".install code").all_inner_texts())
    assert f"conda install --channel {site.url}/t/<TOKEN>/alice secret" in commands


@pytest.mark.parametrize("name", list(ANONYMOUS_PAGES))
def test_anonymous_pages_are_accessible(site, page, name, tmp_path) -> None:
    page.goto(f"{site.url}{ANONYMOUS_PAGES[name]}")
    assert axe_problems(page) == []
    shoot(page, name, tmp_path)


@pytest.mark.parametrize("name", list(SIGNED_IN_PAGES))
def test_signed_in_pages_are_accessible(site, page, name, tmp_path) -> None:
    sign_in(page, site, "alice")
    page.goto(f"{site.url}{SIGNED_IN_PAGES[name]}")
    assert axe_problems(page) == []
    shoot(page, name, tmp_path)


def test_pages_request_nothing_from_another_host(site, page) -> None:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    for path in ("/", "/alice/demo", "/alice", "/login"):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
    foreign = [url for url in seen if not url.startswith(site.url) and not url.startswith("data:")]
    assert seen and foreign == []


def test_pages_without_forms_set_no_cookie(site) -> None:
    """Anonymous reading pages stay cookie-free (cacheable, no tracking); the sign-in form sets its CSRF cookie."""
    with site.client() as client:
        for path in ("/", "/alice", "/alice/demo", "/search?q=demo", "/alice/no-such-package"):
            assert "set-cookie" not in client.get(path, headers=HTML).headers, path
        cookie = client.get("/login").headers["set-cookie"]
        assert cookie.startswith("packyard_csrf=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
