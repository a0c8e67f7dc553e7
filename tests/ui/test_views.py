"""Notebooks, environments, projects and reStructuredText on the package page, and /api/docs, in Chromium.

The module runs its own server (`views`), so the packages it uploads never change what tests/ui/test_pages.py
counts on the shared one. Every page here is checked for running nothing it should not (a payload sets
`window.__pwned`), for loading nothing from another host, for CSP reports, and with axe.
"""

from __future__ import annotations

import base64
import gzip
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from packyard.ui.render import description
from packyard.ui.security import CSP
from packyard.ui.views import MAX_PROJECT_FILES_SHOWN, sanitise_notebook
from tests.builders import build_wheel, rewrite_zip, tar_bytes
from tests.conftest import LiveServer, start_server
from tests.ui.conftest import PASSWORD, api_token, axe_problems, create_package, shoot, sign_in
from tests.unit.api.helpers import auth

HTML = {"Accept": "text/html"}
FOREIGN = "https://evil.example"

ENV_YAML = """name: analysis-env
channels:
  - conda-forge
dependencies:
  - python >=3.11
  - numpy
  - "pandas <script>window.__pwned = 'env'</script>"
  - pip:
      - requests
"""
RST_DESCRIPTION = """Usage
=====

Some *emphasis*, ``literal text``, a `safe link <https://example.org/rst>`_ and a
`bad link <javascript:window.__pwned='rst-link'>`_.

.. note:: Install it first.

.. raw:: html

   <script>window.__pwned = 'rst-raw'</script><b>RAW-PAYLOAD</b>

.. include:: /etc/passwd

.. image:: javascript:window.__pwned='rst-image'

- one
- two
"""
PLAIN_DESCRIPTION = "Plain text: <b>not bold</b>, *not emphasis*.\n  indented line"


def _png(width: int = 240, height: int = 60) -> bytes:
    """A green-to-amber bar as a PNG, written here (zlib and struct) rather than shipped."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"".join(
        bytes((31 + 125 * x // width, 92 - 13 * x // width, 69 - 55 * x // width)) for x in range(width)
    )
    rows = b"".join(b"\x00" + row for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def notebook(title: str = "Results") -> bytes:
    nb = new_notebook()
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.metadata["language_info"] = {"name": "python"}
    png = base64.b64encode(_png()).decode()
    nb.cells = [
        new_markdown_cell(f"# {title}\n\nThe *answer* is below, see [the docs](https://example.org/nb)."),
        new_code_cell(
            "print(6 * 7)",
            execution_count=1,
            outputs=[
                new_output("stream", name="stdout", text="42\n"),
                new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            ],
        ),
    ]
    return nbformat.writes(nb).encode()


def hostile_notebook() -> bytes:
    """Every way we know a notebook can carry a script, a style or a request to another host."""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(
            "# Hostile\n\n"
            "<img src=x onerror=\"window.__pwned='md-img'\">\n\n"
            "[md link](javascript:window.__pwned='md-link')\n\n"
            "<a href=\"javascript:window.__pwned='md-a'\">raw link</a>\n\n"
            '<svg onload="window.__pwned=\'md-svg\'"><circle r="5"/></svg>\n\n'
            "<script>window.__pwned='md-script'</script>\n\n"
            "<style>body { display: none }</style>\n\n"
            f'<img src="{FOREIGN}/track.png" alt="tracker">'
        ),
        new_code_cell(
            "show()",
            execution_count=1,
            outputs=[
                new_output(
                    "display_data",
                    data={"application/javascript": "window.__pwned = 'js-output'", "text/plain": "js"},
                ),
                new_output(
                    "display_data",
                    data={
                        "text/html": "<b>bold</b><script>window.__pwned='html-script'</script>"
                        "<img src=y onerror=\"window.__pwned='html-img'\">"
                        "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>"
                        '<div style="position:fixed;top:0;left:0;width:100%;height:100%" '
                        "onmouseover=\"window.__pwned='div'\">cover</div>"
                        "<a href=\"data:text/html,<script>alert('data')</script>\">data link</a>"
                        f'<form action="{FOREIGN}/steal"><input name="x" aria-label="x"></form>'
                        f'<base href="{FOREIGN}/"><link rel="stylesheet" href="{FOREIGN}/x.css">'
                    },
                ),
                new_output(
                    "display_data",
                    data={
                        "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" '
                        "onload=\"window.__pwned='svg-output'\"><script>window.__pwned='svg-script'</script>"
                        '<rect width="10" height="10"/></svg>'
                    },
                ),
                new_output("display_data", data={"text/markdown": "[m](javascript:window.__pwned='md-out')"}),
            ],
        ),
    ]
    return nbformat.writes(nb).encode()


def project_archive(files: dict[str, bytes]) -> bytes:
    return gzip.compress(tar_bytes(files.items()), mtime=0)


def wheel_with_description(tmp: Path, name: str, body: str, content_type: str | None) -> Path:
    """A wheel whose METADATA carries `body` as its long description (builders writes a fixed one)."""
    overrides = {"Description-Content-Type": content_type} if content_type else None
    path = build_wheel(tmp, name=name, version="1.0", metadata_overrides=overrides)
    with zipfile.ZipFile(path) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = archive.read(meta).decode().split("\n\n", 1)[0]
    return rewrite_zip(path, drop=[meta], add=[(meta, f"{headers}\n\n{body}\n".encode())])


def repo_upload(
    client: httpx.Client, token: str, owner: str, filetype: str, filename: str, data: bytes, **fields: str
) -> None:
    response = client.post(
        f"/api/repo/{owner}",
        headers=auth(token),
        data={"filetype": filetype, **fields},
        files={"content": (filename, data)},
    )
    assert response.status_code == 200, response.text


@dataclass
class World:
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("views")
    server = start_server(tmp)
    try:
        server.create_user("nora", PASSWORD)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            token = api_token(client, "nora")
            for version, title in (("1", "First results"), ("2", "Results")):
                repo_upload(
                    client, token, "nora", "ipynb", "analysis.ipynb", notebook(title), name="analysis",
                    version=version,
                )  # fmt: skip
            repo_upload(
                client, token, "nora", "ipynb", "h.ipynb", hostile_notebook(), name="hostile", version="1"
            )
            old_env = ENV_YAML.replace("  - numpy\n", "")
            repo_upload(client, token, "nora", "env", "environment.yml", old_env.encode(), version="1.0")
            repo_upload(client, token, "nora", "env", "environment.yml", ENV_YAML.encode(), version="1.1")
            create_package(client, token, "nora", "hidden-env", public=False, summary="Private environment")
            hidden = ENV_YAML.replace("name: analysis-env", "name: hidden-env")
            repo_upload(client, token, "nora", "env", "environment.yml", hidden.encode(), version="1")
            first = {"proj/README.md": b"# Project\n", "proj/app.py": b"print('v1')\n"}
            second = {**first, "proj/app.py": b"print('v2')\n", "proj/data/values.csv": b"a,b\n1,2\n"}
            repo_upload(client, token, "nora", "project", "proj.tar.gz", project_archive(first), name="proj")
            repo_upload(client, token, "nora", "project", "proj.tar.gz", project_archive(second), name="proj")
            many = {f"big/file-{i:04d}.txt": b"x" for i in range(MAX_PROJECT_FILES_SHOWN + 5)}
            repo_upload(client, token, "nora", "project", "big.tar.gz", project_archive(many), name="big")
            for name, body, ctype in (
                ("rst-demo", RST_DESCRIPTION, "text/x-rst"),
                ("rst-default", RST_DESCRIPTION, None),
                ("plain-demo", PLAIN_DESCRIPTION, "text/plain; charset=UTF-8"),
                ("md-demo", "# Markdown title\n\nSome **bold**.", "text/markdown; variant=GFM"),
            ):
                wheel = wheel_with_description(tmp, name, body, ctype)
                # Like twine: the package is created from the wheel's metadata, description included.
                repo_upload(client, token, "nora", "bdist_wheel", wheel.name, wheel.read_bytes())
        yield World(server)
    finally:
        server.stop()


class Watch:
    """What a page did: requests to other hosts, CSP reports, dialogs."""

    def __init__(self, page, site_url: str) -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: self.console.append(message.text))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.site_url = site_url

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.site_url) and not u.startswith("data:")]

    def csp_reports(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m]


def _goto(page, world: World, path: str):
    response = page.goto(f"{world.url}{path}")
    assert response is not None and response.status == 200, path
    assert response.headers.get("content-security-policy") == CSP, path
    page.wait_for_load_state("networkidle")
    return response


# --- notebooks -------------------------------------------------------------------------------------------------


def test_a_notebook_is_rendered_inside_the_layout(views, page) -> None:
    watch = Watch(page, views.url)
    _goto(page, views, "/nora/analysis")
    assert page.locator("header.site .brand").count() == 1 and page.locator("footer.site").count() == 1
    nb = page.locator("section.notebook-view .notebook")
    assert nb.locator("h1").inner_text().startswith("Results")
    assert nb.locator("em").inner_text() == "answer"
    assert nb.locator("a[href='https://example.org/nb']").count() == 1
    assert "print" in nb.locator(".input_area").inner_text()
    assert "42" in nb.locator(".output_stdout").inner_text()
    assert nb.locator("img[src^='data:image/png;base64,']").count() == 1
    assert nb.locator("[style]").count() == 0
    # The highlighting comes from packyard.css: `print` is a builtin (pygments' `nb` class), coloured by the site.
    colour = nb.locator(".highlight .nb").first.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(29, 90, 135)"
    meta = page.locator("section.notebook-view .view-meta").inner_text()
    assert "2" in meta and "python" in meta and "2 cells" in meta
    assert page.locator("section.notebook-view a[href='/notebooks/nora/analysis/2']").count() == 1
    assert watch.foreign() == [] and watch.csp_reports() == []


def test_every_notebook_version_has_its_page_without_javascript(views, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _goto(page, views, "/nora/analysis")
        page.select_option("#nb-version", "1")
        page.click("form.version-pick button[type=submit]")
        page.wait_for_load_state()
        assert page.url.endswith("/nora/analysis?version=1")
        assert page.locator(".notebook h1").inner_text().startswith("First results")
        assert page.locator("section.notebook-view .view-meta .version").inner_text() == "1"
    finally:
        context.close()
    with httpx.Client(base_url=views.url) as client:
        assert client.get("/nora/analysis?version=9", headers=HTML).status_code == 404


def test_a_hostile_notebook_is_shown_inert(views, page) -> None:
    watch = Watch(page, views.url)
    _goto(page, views, "/nora/hostile")
    page.mouse.move(200, 200)
    page.mouse.move(600, 500)
    for link in page.locator(".notebook a").all():
        if link.is_visible():
            link.hover()
    assert page.evaluate("window.__pwned") is None
    assert watch.dialogs == [] and watch.foreign() == [] and watch.csp_reports() == []
    assert page.locator("script:not([src])").count() == 0
    nb = page.locator(".notebook")
    assert nb.locator("script, style, iframe, form, input, base, link, svg, object, embed").count() == 0
    assert nb.locator("[style], [onerror], [onload], [onmouseover]").count() == 0
    for href in nb.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        assert href.startswith(("https://", "http://", "mailto:", "#")), href
    for src in nb.locator("img[src]").evaluate_all("els => els.map(e => e.getAttribute('src'))"):
        assert src.startswith("data:image/"), src
    text = nb.inner_text()
    assert "bold" in text and "cover" in text and "data link" in text  # the harmless parts are still shown
    assert nb.locator("b").first.inner_text() == "bold"
    assert page.locator("body").is_visible()  # the <style> in the notebook did not hide the page


# --- environments ----------------------------------------------------------------------------------------------


def test_an_environment_shows_its_yaml_and_how_to_create_it(views, page) -> None:
    watch = Watch(page, views.url)
    _goto(page, views, "/nora/analysis-env")
    assert page.locator("pre.env-yaml").inner_text() == ENV_YAML  # as uploaded, the <script> as text
    assert page.evaluate("window.__pwned") is None and watch.csp_reports() == []
    commands = page.locator("section.env-view .cmd code").all_inner_texts()
    url = f"{views.url}/envs/nora/analysis-env"
    assert commands == [f"conda env create --file {url}", "conda env create nora/analysis-env"]
    meta = page.locator("section.env-view .view-meta").inner_text()
    assert "1.1" in meta and "4 dependencies" in meta and "conda-forge" in meta
    with httpx.Client() as client:
        served = client.get(url)  # the URL the page shows gives conda this very file
        assert served.status_code == 200 and served.text == ENV_YAML
    _goto(page, views, "/nora/analysis-env?version=1.0")
    assert "numpy" not in page.locator("pre.env-yaml").inner_text()
    commands = page.locator("section.env-view .cmd code").all_inner_texts()
    assert commands == [f"conda env create --file {url}/1.0"]


def test_a_private_environment_is_shown_to_its_owner_with_token_urls(views, page) -> None:
    with httpx.Client(base_url=views.url) as client:
        missing = client.get("/nora/no-such-env", headers=HTML)
        hidden = client.get("/nora/hidden-env", headers=HTML)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace("hidden-env", "NAME") == missing.text.replace("no-such-env", "NAME")
    sign_in(page, views, "nora")
    _goto(page, views, "/nora/hidden-env")
    commands = page.locator("section.env-view .cmd code").all_inner_texts()
    assert commands[0] == f"conda env create --file {views.url}/t/<TOKEN>/envs/nora/hidden-env"


# --- projects --------------------------------------------------------------------------------------------------


def test_a_project_shows_revisions_files_and_history(views, page) -> None:
    _goto(page, views, "/nora/proj")
    rows = page.locator("section.project-view table.files").first.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").first.inner_text() == "2"  # newest first
    assert "nora" in rows.nth(0).inner_text()
    files = page.locator("table.project-files tbody td.file-name").all_inner_texts()
    assert files == ["proj/README.md", "proj/app.py", "proj/data/values.csv"]
    assert page.locator("#proj-files-h").inner_text() == "Files of revision 2"
    history = page.locator("ol.history li").all_inner_texts()
    assert any("nora uploaded proj.tar.gz (2)" in item for item in history), history
    assert any("nora uploaded proj.tar.gz (1)" in item for item in history), history
    rows.nth(1).locator("a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("?version=1#proj-files-h")
    assert page.locator("#proj-files-h").inner_text() == "Files of revision 1"
    files = page.locator("table.project-files tbody td.file-name").all_inner_texts()
    assert files == ["proj/README.md", "proj/app.py"]
    with httpx.Client(base_url=views.url) as client:
        archive = page.locator("section.project-view .view-meta a").get_attribute("href")
        assert archive == "/nora/proj/files/1/proj.tar.gz"  # the session-aware route (ui/files.py)
        assert client.get(archive).status_code == 200


def test_a_large_project_lists_its_first_files_and_links_the_rest(views, page) -> None:
    _goto(page, views, "/nora/big")
    assert page.locator("table.project-files tbody tr").count() == MAX_PROJECT_FILES_SHOWN
    more = page.locator("section.project-view p.muted", has_text="5 more")
    link = more.locator("a").get_attribute("href")
    assert link == "/api/projects/nora/big/1/files"
    with httpx.Client(base_url=views.url) as client:
        assert len(client.get(link).json()) == MAX_PROJECT_FILES_SHOWN + 5


# --- descriptions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rst-demo", "rst-default"])
def test_a_restructuredtext_description_is_rendered_and_safe(views, page, name) -> None:
    """`rst-default` says no Description-Content-Type: the core metadata specification makes that RST."""
    watch = Watch(page, views.url)
    _goto(page, views, f"/nora/{name}")
    prose = page.locator(".prose .rst")
    assert prose.locator("h2").first.inner_text() == "Usage"
    assert prose.locator("em").inner_text() == "emphasis"
    assert prose.locator("a[href='https://example.org/rst']").inner_text() == "safe link"
    assert prose.locator(".admonition.note").count() == 1
    assert prose.locator("li").all_inner_texts() == ["one", "two"]
    assert prose.locator("a[href^='javascript:' i], script, img[src]").count() == 0
    content = page.content()
    assert "RAW-PAYLOAD" not in content and "root:" not in content  # neither raw HTML nor an included file
    assert page.evaluate("window.__pwned") is None and watch.csp_reports() == []


def test_plain_and_markdown_descriptions(views, page) -> None:
    _goto(page, views, "/nora/plain-demo")
    assert (
        page.locator(".prose pre.plain-description").inner_text() == PLAIN_DESCRIPTION + "\n"
    )  # as uploaded
    assert page.locator(".prose b, .prose em").count() == 0
    _goto(page, views, "/nora/md-demo")
    assert page.locator(".prose h1").inner_text() == "Markdown title"
    assert page.locator(".prose strong").inner_text() == "bold"


@pytest.mark.parametrize(
    "hostile",
    [
        ".. raw:: html\n\n   <script>alert(1)</script>\n",
        ".. include:: /etc/passwd\n",
        ".. csv-table:: t\n   :file: /etc/passwd\n",
        ".. csv-table:: t\n   :url: https://evil.example/x.csv\n",
        "`x <javascript:alert(1)>`_\n",
        ".. image:: javascript:alert(1)\n",
        ".. image:: data:text/html;base64,PHNjcmlwdD4=\n",
        ":raw-html:`<script>alert(1)</script>`\n",
        ".. role:: raw-html(raw)\n   :format: html\n\n:raw-html:`<script>alert(1)</script>`\n",
        "Title\n=====\n\n.. |x| raw:: html\n\n   <script>alert(1)</script>\n\n|x|\n",
    ],
)
def test_restructuredtext_never_lets_active_content_or_files_through(hostile: str) -> None:
    html = str(description(f"Intro paragraph.\n\n{hostile}\nLast paragraph.\n", "text/x-rst"))
    assert "root:" not in html and "evil.example" not in html  # nothing read from a file or another host
    elements = _elements(html)
    assert {tag for tag, _ in elements} <= {"div", "pre", "p", "a", "img", "section", "h2", "em", "span"}, (
        html
    )
    for _tag, attrs in elements:
        assert not [name for name, _ in attrs if name.startswith("on") or name in ("style", "srcset")], html
        for name, value in attrs:
            if name in ("href", "src"):
                assert (value or "").startswith(("https://", "http://", "mailto:", "#")), html


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element a browser would build from `html`, with its attributes (text that looks like a tag is text)."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_an_rst_error_shows_the_text_as_written() -> None:
    html = str(description("Title\n=====\n\n.. unknown-directive:: <b>x</b>\n", "text/x-rst"))
    assert html.startswith('<pre class="plain-description">') and "&lt;b&gt;x&lt;/b&gt;" in html


def test_the_notebook_sanitiser_keeps_structure_and_drops_the_rest() -> None:
    page = (
        b'<html><head><style>p{}</style></head><body><main class="notebook">'
        b'<div class="cell code_cell evil-class button" id="c1" style="color:red">'
        b'<h1 id="main">T<a class="anchor-link" href="#main">x</a></h1>'
        b'<img src="https://evil.example/x.png"><img src="data:image/png;base64,AAAA">'
        b'<a href="data:text/html,x">d</a><a href="HTTPS://ok.example/">ok</a></div></main></body></html>'
    )
    html = sanitise_notebook(page)
    assert '<div class="cell code_cell" id="user-content-c1">' in html
    assert '<h1 id="user-content-main">' in html and 'href="#user-content-main"' in html
    assert "evil.example" not in html and "style" not in html and "<style" not in html
    assert '<img src="data:image/png;base64,AAAA">' in html
    assert "<a>d</a>" in html.replace(' rel="nofollow noopener noreferrer ugc"', "")
    assert 'href="HTTPS://ok.example/"' in html


# --- accessibility and phones ----------------------------------------------------------------------------------

VIEW_PAGES = {
    "notebook": "/nora/analysis",
    "notebook-hostile": "/nora/hostile",
    "environment": "/nora/analysis-env",
    "project": "/nora/proj",
    "rst-description": "/nora/rst-demo",
}


@pytest.mark.parametrize("name", list(VIEW_PAGES))
def test_view_pages_are_accessible_and_fit_a_phone(views, page, name, tmp_path) -> None:
    _goto(page, views, VIEW_PAGES[name])
    assert axe_problems(page) == []
    shoot(page, name, tmp_path)


# --- /api/docs -------------------------------------------------------------------------------------------------


def test_api_docs_render_the_operations_with_nothing_from_another_host(views, page) -> None:
    watch = Watch(page, views.url)
    response = page.goto(f"{views.url}/api/docs")
    assert response is not None and response.status == 200
    assert response.headers.get("content-security-policy") == CSP
    page.wait_for_selector(".opblock", timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert page.locator(".opblock").count() > 30
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/package/{owner}/{name}" in [p.replace("\u200b", "") for p in paths]
    assert watch.foreign() == [] and watch.csp_reports() == []
    assert any(u.endswith("/api/openapi.json") for u in watch.requests)
    assert page.locator("script:not([src])").count() == 0
    assert axe_problems(page) == []


def test_api_docs_page_is_static_and_served_from_here(views) -> None:
    with httpx.Client(base_url=views.url) as client:
        page = client.get("/api/docs", headers={"Authorization": "token not-a-real-token"})
        assert page.status_code == 200  # no credential is read: the same page for everyone
        assert "<script>" not in page.text and " style=" not in page.text
        scripts = [line for line in page.text.splitlines() if "<script" in line]
        assert scripts and all('src="/static/' in line for line in scripts)
        for line in scripts:
            src = line.split('src="', 1)[1].split('"', 1)[0]
            asset = client.get(src)
            assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
            assert b"sourceMappingURL" not in asset.content[-200:]
        assert "cdn" not in page.text.lower()
