"""An organization's private package as its members and as everybody else; and the site by keyboard alone.

The organization is this module's own (an owner, a member of its `readers` group which lists the package, a
member of a group which does not), so the shared world's pages, counts and dashboards stay as other tests
expect them.
"""

from __future__ import annotations

import httpx
import pytest

from tests.ui.conftest import PASSWORD, Site, api_token, create_package, http_sign_in, sign_in
from tests.unit.api.helpers import auth

ORG, PACKAGE = "kiln", "furnace"
BOSS, READER, GUEST = "kiln-boss", "kiln-reader", "kiln-guest"
HTML = {"Accept": "text/html"}

FOCUS_STYLE = """el => {
  const style = getComputedStyle(el);
  return {
    focusVisible: el.matches(":focus-visible"),
    outline: !["none", "auto"].includes(style.outlineStyle) && parseFloat(style.outlineWidth) >= 2,
    shadow: style.boxShadow !== "none",
  };
}"""
"""The site's own indicator: Chromium's default ring (`auto`, 1px) does not count, so a stylesheet that loses
its focus rule, or an `outline: none`, fails the test."""
DESCRIBE = """el => el.id ? "#" + el.id
  : el.tagName === "A" ? "a " + el.getAttribute("href")
  : el.tagName.toLowerCase() + " " + el.textContent.trim()"""


@pytest.fixture(scope="module")
def org(site: Site) -> Site:
    """The shared site, with this module's organization in it."""
    for login in (BOSS, READER, GUEST):
        site.server.create_user(login, PASSWORD)
    with site.client() as client:
        token = api_token(client, BOSS)
        boss = auth(token)

        def ok(response: httpx.Response) -> None:
            assert response.status_code in (201, 204), response.text

        ok(client.post(f"/api/orgs/{ORG}", headers=boss, json={"name": "Kiln Works"}))
        create_package(client, token, ORG, PACKAGE, public=False, summary="Kiln only")
        for group, member in (("readers", READER), ("guests", GUEST)):
            ok(client.post(f"/api/group/{ORG}/{group}", headers=boss, json={"perms": "read"}))
            ok(client.put(f"/api/group/{ORG}/{group}/members/{member}", headers=boss))
        ok(client.put(f"/api/group/{ORG}/readers/packages/{PACKAGE}", headers=boss))
    return site


# --- who sees the organization's private package ----------------------------------------------------------------


def test_a_member_of_the_group_sees_the_private_package(org: Site, page) -> None:
    site = org
    sign_in(page, site, READER)
    response = page.goto(f"{site.url}/{ORG}/{PACKAGE}")
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == PACKAGE
    assert page.locator(".badge-private").count() == 1
    assert "Kiln only" in page.locator(".lede").inner_text()
    shown = page.locator(".install code[data-install=anaconda]").all_inner_texts()
    assert f"anaconda -t <TOKEN> download {ORG}/{PACKAGE}" in shown  # the private form of the line
    page.goto(f"{site.url}/{ORG}")
    assert page.locator(f"a[href='/{ORG}/{PACKAGE}']").count() >= 1  # listed on the organization's page


@pytest.mark.parametrize("login", [None, "bob", GUEST], ids=["anonymous", "unrelated", "other-group"])
def test_everybody_else_gets_the_404_of_a_missing_package(org: Site, page, login: str | None) -> None:
    site = org
    if login:
        sign_in(page, site, login)
    bodies = []
    for name in (PACKAGE, "no-such-package"):
        response = page.goto(f"{site.url}/{ORG}/{name}")
        assert response is not None and response.status == 404, name
        bodies.append(page.locator("main").inner_text().replace(name, "NAME"))
    assert bodies[0] == bodies[1]  # "does not exist" and "you may not see it" read the same
    page.goto(f"{site.url}/{ORG}")
    assert page.locator(f"a[href='/{ORG}/{PACKAGE}']").count() == 0
    assert "Kiln only" not in page.content()
    page.goto(f"{site.url}/search?q={PACKAGE}")
    assert page.locator(f"a[href='/{ORG}/{PACKAGE}']").count() == 0


def test_the_page_answers_by_cookie_only_what_the_session_may_see(org: Site) -> None:
    """The same through plain HTTP, so the browser's view is not a rendering accident."""
    for login, status in ((READER, 200), (GUEST, 404), ("bob", 404), (BOSS, 200)):
        with org.client() as client:
            assert http_sign_in(client, login).status_code == 303
            assert client.get(f"/{ORG}/{PACKAGE}", headers=HTML).status_code == status, login


# --- keyboard ----------------------------------------------------------------------------------------------------


def tab_through(page, presses: int) -> list[tuple[str, dict[str, bool]]]:
    """Press Tab `presses` times from the top of the page; what got focus each time, and how it looks."""
    page.locator("body").focus()
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        seen.append((focused.evaluate(DESCRIBE), focused.evaluate(FOCUS_STYLE)))
    return seen


def in_order(names: list[str], expected: list[str]) -> bool:
    positions = [names.index(name) for name in expected if name in names]
    return len(positions) == len(expected) and positions == sorted(positions)


def test_tab_reaches_the_header_and_the_sign_in_form_in_order_with_a_visible_focus(site: Site, page) -> None:
    page.goto(f"{site.url}/login")
    seen = tab_through(page, 9)
    names = [name for name, _ in seen]
    expected = ["a #main", "a /", "#site-q", "a /login", "#login", "#password", "button Sign in"]
    assert in_order(names, expected), names
    for name, style in seen:
        assert style["focusVisible"], f"{name} has focus but does not match :focus-visible"
        assert style["outline"] or style["shadow"], f"{name} has no visible focus indicator: {style}"


def test_signed_in_header_by_keyboard_and_signing_in_without_a_mouse(site: Site, page) -> None:
    page.goto(f"{site.url}/login")
    page.locator("#login").focus()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/")
    seen = tab_through(page, 6)
    names = [name for name, _ in seen]
    header = ["a #main", "a /", "#site-q", "a /notifications", "#account-summary", "button Sign out"]
    assert in_order(names, header), names  # the bell, then the account menu (ui/menu.py)
    assert all(style["outline"] or style["shadow"] for _, style in seen), seen


def test_the_skip_link_and_the_search_box_work_from_the_keyboard(site: Site, page) -> None:
    page.goto(f"{site.url}/alice")
    page.locator("body").focus()
    page.keyboard.press("Tab")
    assert page.locator(":focus").inner_text() == "Skip to the content"
    page.keyboard.press("Enter")
    page.wait_for_url("**#main")  # the jump is a navigation: wait for it rather than race it
    page.keyboard.press("Tab")  # the next stop is inside the content, not the header again
    assert page.locator(":focus").evaluate("el => !!el.closest('main')")
    page.locator("#site-q").focus()
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/search?q=demo")
    assert page.locator("main a[href='/alice/demo']").count() >= 1


SEEN_BEFORE = """(el, n) => { const seen = "stop" in el.dataset; el.dataset.stop = n; return seen; }"""
"""Marks each stop (several are alike: the Copy buttons), so focus coming round again ends the walk."""


@pytest.mark.parametrize(
    "path", ["/", "/alice", "/alice/demo", "/search?q=demo", "/login", "/alice/nothing-here"]
)
def test_every_focus_stop_of_a_page_shows_the_focus_indicator(site: Site, page, path: str) -> None:
    """Tab through the whole page (until focus leaves it or comes round again): each stop is visibly focused.
    On a package page that includes the Copy buttons the script adds to the install lines."""
    page.goto(f"{site.url}{path}")
    page.locator("body").focus()
    stops: list[str] = []
    for number in range(80):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        if focused.count() == 0 or focused.evaluate(SEEN_BEFORE, number):
            break
        name = focused.evaluate(DESCRIBE)
        stops.append(name)
        style = focused.evaluate(FOCUS_STYLE)
        assert style["focusVisible"] and (style["outline"] or style["shadow"]), f"{path}: {name} {style}"
    assert stops[0] == "a #main" and in_order(stops, ["a #main", "a /", "#site-q"]), stops
    if path == "/alice/demo":
        assert stops.count("button Copy") == page.locator(".install div.cmd").count(), stops
