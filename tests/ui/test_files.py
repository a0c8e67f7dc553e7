"""The Files tab and the browser's download route in Chromium (ui/files.py, docs/ui.md "Files").

Besides the shared world of tests/ui/conftest.py, this module gives the user `filer` a public package `box` with 55
plain files in two versions (so two pages), some labelled `nightly`, one whose name is an HTML payload, and one with a
label carrying a payload (written straight into the database: the label rules would refuse it, an old database
or a future rule might not).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from packyard.config import Settings
from packyard.core.models import Account, File, FileLabel, Label
from packyard.ui.security import CSP
from tests.ui.conftest import PASSWORD, Site, api_token, axe_problems, http_sign_in, shoot, sign_in
from tests.unit.api.helpers import auth

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
XSS_FILE = "<img src=x onerror=window.__pwned='file'>.txt"
"""No double quote: a multipart file name carries it escaped (%22), and the file would be named otherwise."""
XSS_LABEL = "<svg onload=window.__pwned='label'>"
V1, V2 = 30, 25
"""Files of version 1.0 and 2.0 in filer/box; every third one of 2.0 is labelled nightly as well as main
(not `dev`: the session's site is shared, and test_owner_search.py keeps `dev` for a private package)."""
DEV = len(range(0, V2, 3))


@pytest.fixture(scope="module")
def box(site: Site) -> Site:
    site.server.create_user("filer", PASSWORD)
    with site.client() as client:
        token = api_token(client, "filer")

        def put(version: str, basename: str, data: bytes, label: str = "main") -> None:
            response = client.post(
                "/api/repo/filer",
                headers=auth(token),
                data={"filetype": "file", "name": "box", "version": version, "label": label},
                files={"content": (basename, data)},
            )
            assert response.status_code == 200, response.text

        for i in range(V1):
            put("1.0", f"one-{i:02}.csv", f"one,{i}\n".encode())
        for i in range(V2):
            put("2.0", f"two-{i:02}.csv", f"two,{i}\n".encode(), "main,nightly" if i % 3 == 0 else "main")
        put("3.0", XSS_FILE, b"not html\n")
    engine = create_engine(Settings(data=site.server.data).sqlalchemy_url)
    with engine.begin() as db:
        owner_id = db.scalar(select(Account.id).where(Account.login_key == "filer"))
        file_id = db.scalar(select(File.id).where(File.basename == XSS_FILE))
        assert owner_id and file_id
        label_id = db.execute(insert(Label).values(owner_id=owner_id, name=XSS_LABEL)).inserted_primary_key[0]
        db.execute(insert(FileLabel).values(file_id=file_id, label_id=label_id))
    engine.dispose()
    return site


def _rows(page) -> list[dict[str, str]]:
    """The Files table as the visitor sees it: one dict per row."""
    out = []
    for row in page.locator("table.files-tab tbody tr").all():
        cells = row.locator("td:not(.pick)")  # the owner also gets a checkbox column (ui/file_actions.py)
        out.append(
            {
                "name": cells.nth(0).locator("a").first.inner_text(),
                "href": cells.nth(0).locator("a").first.get_attribute("href") or "",
                "sha256": cells.nth(0).locator(".sha code").inner_text(),
                "version": cells.nth(1).inner_text(),
                "platform": cells.nth(2).inner_text(),
                "labels": " ".join(cells.nth(3).locator(".tag").all_inner_texts()),
                "uploaded": cells.nth(5).inner_text(),
                "downloads": cells.nth(6).inner_text(),
            }
        )
    return out


def test_the_package_page_has_overview_files_and_badges_tabs(site, page) -> None:
    page.goto(f"{site.url}/alice/demo")
    tabs = page.locator("nav.pkg-tabs a")
    assert [t.split()[0] for t in tabs.all_inner_texts()] == ["Overview", "Files", "Badges"]
    assert page.locator("nav.pkg-tabs a[aria-current='page']").inner_text() == "Overview"
    page.click("nav.pkg-tabs a:has-text('Files')")
    assert page.url == f"{site.url}/alice/demo/files"
    assert page.locator("nav.pkg-tabs a[aria-current='page']").inner_text().startswith("Files")
    rows = {row["name"]: row for row in _rows(page)}
    assert set(rows) == {"noarch/demo-1.2.0-0.tar.bz2", "demo-1.2.0-py3-none-any.whl"}
    assert rows["noarch/demo-1.2.0-0.tar.bz2"]["platform"] == "noarch"
    assert rows["demo-1.2.0-py3-none-any.whl"]["platform"] == "any"
    with site.client() as client:
        files = client.get("/api/package/alice/demo").json()["files"]
    for f in files:
        shown = rows[f["basename"]]
        assert shown["sha256"] == f["sha256"] and shown["version"] == "1.2.0" and shown["labels"] == "main"
        assert shown["uploaded"].startswith(f["upload_time"][:10]) and "by alice" in shown["uploaded"]
        assert shown["downloads"] == str(f["ndownloads"])
    page.click("nav.pkg-tabs a:has-text('Badges')")
    assert page.url == f"{site.url}/alice/demo/badges"
    images = page.locator(".badge-list img")
    assert images.count() == 5
    page.wait_for_load_state("load")
    widths = images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
    assert all(w > 40 for w in widths), widths  # each SVG loaded and drew something
    snippets = page.locator(".badge-list .cmd code").all_inner_texts()
    assert f"[![Latest version]({site.url}/alice/demo/badges/version.svg)]({site.url}/alice/demo)" in snippets


def test_filters_and_pages_work_without_javascript(box, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{box.url}/filer/box/files")
        total = V1 + V2 + 1
        assert page.locator("#files-count").inner_text() == f"{total} files, page 1 of 2."
        rows = _rows(page)
        assert len(rows) == 50 and rows[0]["version"] == "3.0" and rows[1]["version"] == "2.0"
        assert [r["version"] for r in rows] == sorted((r["version"] for r in rows), reverse=True)
        page.click("a[rel='next']")
        assert "page=2" in page.url and len(_rows(page)) == total - 50
        assert page.locator("a[rel='next']").count() == 0

        page.goto(f"{box.url}/filer/box/files")
        page.select_option("#f-label", "nightly")
        page.click("form.file-filters button[type='submit']")
        assert "label=nightly" in page.url
        rows = _rows(page)
        assert len(rows) == DEV and all(
            "nightly" in r["labels"].split() and r["version"] == "2.0" for r in rows
        )
        assert page.locator("#files-count").inner_text() == f"{DEV} files match the filters (of {total})."

        page.select_option("#f-version", "1.0")  # nightly and 1.0: nothing
        page.click("form.file-filters button[type='submit']")
        assert _rows(page) == [] and "No file matches" in page.locator("main").inner_text()
        page.click("text=Show all files")
        assert page.url == f"{box.url}/filer/box/files"

        page.select_option("#f-label", "main")
        page.click("form.file-filters button[type='submit']")
        assert (
            len(_rows(page)) == 50
        )  # every file is in main: two pages, and the filter stays on the next one
        page.click("a[rel='next']")
        assert "label=main" in page.url and "page=2" in page.url and len(_rows(page)) == total - 50

        page.goto(f"{box.url}/filer/box/files?version=1.0&type=file")
        rows = _rows(page)
        assert len(rows) == V1 and {r["version"] for r in rows} == {"1.0"}
        assert page.locator("#f-version").input_value() == "1.0"  # the form shows the filters in force
        assert page.locator("#f-type option").all_inner_texts() == ["All types", "file"]
    finally:
        context.close()


def test_the_type_filter_separates_formats(site, page) -> None:
    page.goto(f"{site.url}/alice/demo/files?type=pypi")
    assert [r["name"] for r in _rows(page)] == ["demo-1.2.0-py3-none-any.whl"]
    assert page.locator("#f-type option").all_inner_texts() == ["All types", "conda", "PyPI"]


def test_a_private_file_downloads_in_the_owners_browser_and_is_a_404_to_others(site, browser) -> None:
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        sign_in(page, site, "alice")
        page.goto(f"{site.url}/alice/secret/files")
        (row,) = _rows(page)
        href = row["href"]
        assert href == "/alice/secret/files/0.1/noarch/secret-0.1-0.tar.bz2"
        with page.expect_download() as info:
            page.click("td.file-name > a")
        download = info.value
        assert download.suggested_filename == "secret-0.1-0.tar.bz2"
        body = Path(download.path()).read_bytes()
        assert hashlib.sha256(body).hexdigest() == row["sha256"]

        again = page.request.get(f"{site.url}{href}")  # the same browser session
        assert again.status == 200 and again.body() == body
        assert again.headers["cache-control"].startswith("private")
        assert "Cookie" in again.headers["vary"]
        assert again.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert page.request.head(f"{site.url}{href}").status == 200
    finally:
        context.close()

    def answers(client: httpx.Client) -> list[tuple[int, str]]:
        out = []
        for path in (href, href.replace("secret-0.1", "nothing-0.1"), href.replace("/secret/", "/nopkg/")):
            response = client.get(path, headers=HTML)
            text = response.text
            for other in ("nothing-0.1", "nopkg"):
                text = text.replace(other, "secret-0.1" if other.startswith("nothing") else "secret")
            out.append((response.status_code, text))
        return out

    with site.client() as anonymous:
        private, missing_file, missing_package = answers(anonymous)
        assert private[0] == 404 and private == missing_file == missing_package
        assert "set-cookie" not in anonymous.get(href).headers
    with site.client() as bob:
        assert http_sign_in(bob, "bob").status_code == 303
        private, missing_file, missing_package = answers(bob)
        assert private[0] == 404 and private == missing_file == missing_package
        assert bob.get("/alice/secret/files", headers=HTML).status_code == 404
    with site.client() as alice:  # a token works too, as on every page
        assert alice.get(href, headers=auth(site.tokens["alice"])).content == body

    deadline = time.monotonic() + 15  # counted like any download: written within a few seconds
    with site.client() as client:
        while True:
            files = client.get("/api/package/alice/secret", headers=auth(site.tokens["alice"])).json()[
                "files"
            ]
            if files[0]["ndownloads"] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert files[0]["ndownloads"] >= 2  # the browser's download and the request above; HEAD is not counted


def test_a_private_packages_badges_show_to_its_owner_only(site, page) -> None:
    sign_in(page, site, "alice")
    page.goto(f"{site.url}/alice/secret/badges")
    assert "not public" in page.locator(".note").inner_text()
    page.wait_for_load_state("load")
    widths = page.locator(".badge-list img").evaluate_all(
        "els => els.map(e => e.complete ? e.naturalWidth : 0)"
    )
    assert len(widths) == 5 and all(w > 40 for w in widths), widths  # the session opens the images too
    with site.client() as anonymous:
        assert anonymous.get("/alice/secret/badges/version.svg").status_code == 404
        assert anonymous.get("/alice/secret/badges", headers=HTML).status_code == 404


def test_file_names_and_labels_carrying_payloads_are_text(box, page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{box.url}/filer/box/files?version=3.0")
    page.wait_for_load_state("load")
    page.mouse.move(300, 300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main [onerror], main [onload], main img, main svg").count() == 0
    (row,) = _rows(page)
    assert row["name"] == XSS_FILE
    assert XSS_LABEL in row["labels"]
    assert XSS_LABEL in page.locator("#f-label option").all_inner_texts()
    page.select_option("#f-label", XSS_LABEL)  # with JavaScript a choice applies at once (data-autosubmit)
    page.wait_for_url("**label=*")
    assert [r["name"] for r in _rows(page)] == [XSS_FILE]
    assert page.evaluate("window.__pwned") is None and dialogs == []
    with box.client() as client:
        response = client.get(row["href"])
        assert response.status_code == 200 and response.content == b"not html\n"
        assert response.headers["content-disposition"].startswith("attachment")
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_the_sha256_has_a_copy_button(site, context) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    page.goto(f"{site.url}/alice/demo/files")
    buttons = page.locator(".sha button.copy")
    assert buttons.count() == 2
    assert buttons.first.get_attribute("aria-label").startswith("Copy the sha256 of ")
    buttons.first.click()
    expected = page.locator(".sha code").first.inner_text()
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_the_tabs_carry_the_security_headers_and_no_cookie(box) -> None:
    with box.client() as client:
        for path in ("/filer/box/files", "/filer/box/files?label=nightly&page=2", "/alice/demo/badges"):
            response = client.get(path, headers=HTML)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == CSP, path
            assert "set-cookie" not in response.headers, path
            assert "<script>" not in response.text and " style=" not in response.text, path


@pytest.mark.parametrize(
    ("name", "path", "who"),
    [
        ("files", "/alice/demo/files", None),
        ("files-filtered", "/filer/box/files?label=nightly", None),
        ("files-paged", "/filer/box/files?page=2", None),
        ("files-private", "/alice/secret/files", "alice"),
        ("badges", "/alice/demo/badges", None),
        ("badges-private", "/alice/secret/badges", "alice"),
    ],
)
def test_the_tabs_are_accessible_and_fit_a_phone(box, page, name, path, who, tmp_path) -> None:
    if who:
        sign_in(page, box, who)
    page.goto(f"{box.url}{path}")
    assert axe_problems(page) == []
    shoot(page, name, tmp_path)
